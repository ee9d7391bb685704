"""A stand-in for the ``nuke`` module: it records what the glue calls and answers what a test set.

Nothing of Nuke's behaviour is imitated: nothing renders, no expression is evaluated, no
callback fires by itself. A test builds the graph it needs (nodes, knobs, inputs), sets the
answers (``GUI``, ``ask_answer``, ``on_execute`` standing in for Nuke's renderer, a task's
``cancelled``), runs the glue, then reads ``calls``, knob values and ``main_thread`` (functions
handed to ``executeInMainThread``, which the test runs as Nuke's event loop would).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

INPUTS = 1
HIDDEN_INPUTS = 2
EXPRESSIONS = 4


class Knob:
    def __init__(self, name: str, value: Any = None) -> None:
        self._name = name
        self._value = value
        self.enabled = True
        self.executed = 0
        self.history: list[Any] = []
        self.threads: list[
            int
        ] = []  # which thread set each value: UI updates belong to the main one

    def name(self) -> str:
        return self._name

    def value(self) -> Any:
        return self._value

    getValue = value
    evaluate = value  # no TCL here: the value as set

    def setValue(self, value: Any) -> None:
        self._value = value
        self.history.append(value)
        self.threads.append(threading.get_ident())

    def setEnabled(self, enabled: bool) -> None:
        self.enabled = enabled

    def execute(self) -> None:
        self.executed += 1

    def toScript(self) -> str:
        return str(self._value)


class Node:
    """A node with the knobs it was given. ``open_knobs`` nodes (those the glue creates, whose
    knob set the fake cannot know) make a knob on first use instead of raising NameError."""

    def __init__(
        self,
        cls: str,
        name: str,
        knobs: dict[str, Any] | None = None,
        frames: tuple[int, int] = (1, 1),
        children: list[Node] | None = None,
        parent: Node | None = None,
        open_knobs: bool = False,
    ) -> None:
        self._cls = cls
        self._name = name
        self._knobs = {k: Knob(k, v) for k, v in (knobs or {}).items()}
        self._inputs: list[Node | None] = []
        self._frames = frames
        self._children = {c.name(): c for c in children or []}
        self._parent = parent
        self.open_knobs = open_knobs
        self.expression_links: list[Node] = []
        for c in self._children.values():
            c._parent = self

    def Class(self) -> str:
        return self._cls

    def name(self) -> str:
        return self._name

    def fullName(self) -> str:
        return f"{self._parent.fullName()}.{self._name}" if self._parent is not None else self._name

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def knob(self, name: str) -> Knob | None:
        return self._knobs.get(name)

    def __getitem__(self, name: str) -> Knob:
        if name not in self._knobs:
            if not self.open_knobs:
                raise NameError(f"knob {name} does not exist")
            self._knobs[name] = Knob(name)
        return self._knobs[name]

    def input(self, index: int) -> Node | None:
        return self._inputs[index] if index < len(self._inputs) else None

    def inputs(self) -> int:
        return len(self._inputs)

    def setInput(self, index: int, node: Node | None) -> bool:
        while len(self._inputs) <= index:
            self._inputs.append(None)
        self._inputs[index] = node
        return True

    def dependencies(self, what: int = INPUTS | HIDDEN_INPUTS | EXPRESSIONS) -> list[Node]:
        out = [n for n in self._inputs if n is not None] if what & INPUTS else []
        return out + (list(self.expression_links) if what & EXPRESSIONS else [])

    def firstFrame(self) -> int:
        return self._frames[0]

    def lastFrame(self) -> int:
        return self._frames[1]

    def node(self, name: str) -> Node | None:
        return self._children.get(name)

    def __enter__(self) -> Node:
        FakeNuke.current.group_stack.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        FakeNuke.current.group_stack.pop()

    def __repr__(self) -> str:
        return f"<{self._cls} {self.fullName()}>"


class ProgressTask:
    def __init__(self, title: str) -> None:
        self.title = title
        self.messages: list[str] = []
        self.progress: list[int] = []
        self.cancelled = False

    def setMessage(self, text: str) -> None:
        self.messages.append(text)

    def setProgress(self, percent: int) -> None:
        self.progress.append(percent)

    def isCancelled(self) -> bool:
        return self.cancelled


class Menu:
    def __init__(self, name: str) -> None:
        self.name = name
        self.menus: dict[str, Menu] = {}
        self.commands: list[tuple[str, Any, str]] = []

    def addMenu(self, name: str, **kwargs: Any) -> Menu:
        return self.menus.setdefault(name, Menu(name))

    def addCommand(self, name: str, command: Any = None, shortcut: str = "", **kwargs: Any) -> None:
        self.commands.append((name, command, shortcut))


class _NodeConstructors:
    def __init__(self, owner: FakeNuke) -> None:
        self._owner = owner

    def __getattr__(self, cls: str) -> Callable[..., Node]:
        return lambda **knobs: self._owner._made(cls, knobs)


class FakeNuke:
    """Installed as ``sys.modules['nuke']`` (and as ``void_nuke.host.nuke``) by the tests."""

    INPUTS = INPUTS
    HIDDEN_INPUTS = HIDDEN_INPUTS
    EXPRESSIONS = EXPRESSIONS
    current: FakeNuke

    def __init__(self) -> None:
        FakeNuke.current = self
        self.GUI = True
        self.calls: list[tuple[str, tuple]] = []
        self.registry: dict[str, Node] = {}
        self.group_stack: list[Node] = []
        self.main_thread: list[tuple[Callable[..., Any], tuple]] = []
        self.tasks: list[ProgressTask] = []
        self.messages: list[str] = []
        self.questions: list[str] = []
        self.menus: dict[str, Menu] = {}
        self.selected: list[Node] = []
        self.ask_answer = False
        self.on_execute: Callable[[Node, int, int], None] | None = None
        self.this_node: Node | None = None
        self.this_knob: Knob | None = None
        self.root_node = Node("Root", "Root", {"name": ""})  # an unsaved script
        self.nodes = _NodeConstructors(self)

    # -------------------------------------------------------------- building a graph (tests)
    def add(self, node: Node) -> Node:
        self.registry[node.fullName()] = node
        for child in node._children.values():
            self.add(child)
        return node

    def _made(self, cls: str, knobs: dict[str, Any]) -> Node:
        parent = self.group_stack[-1] if self.group_stack else None
        n = sum(1 for x in self.registry.values() if x.Class() == cls) + 1
        node = Node(cls, f"{cls}{n}", knobs, parent=parent, open_knobs=True)
        self.calls.append(("create", (cls, parent.fullName() if parent else "")))
        return self.add(node)

    # -------------------------------------------------------------- the nuke API the glue uses
    def thisNode(self) -> Node | None:
        return self.this_node

    def thisKnob(self) -> Knob | None:
        return self.this_knob

    def toNode(self, name: str) -> Node | None:
        return self.registry.get(name)

    def allNodes(
        self, filter: str | None = None, group: Node | None = None, recurseGroups: bool = False
    ) -> list[Node]:
        return [n for n in self.registry.values() if filter is None or n.Class() == filter]

    def selectedNodes(self) -> list[Node]:
        return list(self.selected)

    def createNode(self, cls: str, args: str = "", inpanel: bool = True) -> Node:
        return self._made(cls, {})

    def delete(self, node: Node) -> None:
        self.calls.append(("delete", (node.fullName(),)))
        self.registry.pop(node.fullName(), None)

    def execute(self, node: Node, first: int, last: int, incr: int = 1, views: Any = None) -> None:
        self.calls.append(("execute", (node.fullName(), first, last)))
        if self.on_execute is not None:
            self.on_execute(node, first, last)

    def executeInMainThread(
        self, function: Callable[..., Any], args: tuple = (), kwargs: dict | None = None
    ) -> None:
        self.main_thread.append((function, tuple(args)))

    def ProgressTask(self, title: str) -> ProgressTask:
        task = ProgressTask(title)
        self.tasks.append(task)
        return task

    def message(self, text: str) -> None:
        self.messages.append(text)

    def ask(self, text: str) -> bool:
        self.questions.append(text)
        return self.ask_answer

    def root(self) -> Node:
        return self.root_node

    def scriptOpen(self, path: str) -> None:
        self.calls.append(("scriptOpen", (path,)))

    def scriptSave(self, path: str = "") -> None:
        self.calls.append(("scriptSave", (path,)))

    def menu(self, name: str) -> Menu:
        return self.menus.setdefault(name, Menu(name))

    def addKnobChanged(
        self,
        function: Callable[..., Any],
        args: tuple = (),
        kwargs: dict | None = None,
        nodeClass: str = "*",
    ) -> None:
        self.calls.append(("addKnobChanged", (function, nodeClass)))

    def addUpdateUI(
        self,
        function: Callable[..., Any],
        args: tuple = (),
        kwargs: dict | None = None,
        nodeClass: str = "*",
    ) -> None:
        self.calls.append(("addUpdateUI", (function, nodeClass)))

    def pluginAddPath(self, path: str) -> None:
        self.calls.append(("pluginAddPath", (path,)))

    def addBeforeRender(
        self,
        function: Callable[..., Any],
        args: tuple = (),
        kwargs: dict | None = None,
        nodeClass: str = "Write",
    ) -> None:
        self.calls.append(("addBeforeRender", (function,)))


class _Panels:
    def __init__(self) -> None:
        self.registered: list[tuple[str, str, str]] = []

    def registerWidgetAsPanel(self, widget: str, name: str, id: str, create: bool = False) -> None:
        self.registered.append((widget, name, id))


class FakeNukescripts:
    """Stand-in for ``nukescripts``: records panel registrations."""

    def __init__(self) -> None:
        self.panels = _Panels()
