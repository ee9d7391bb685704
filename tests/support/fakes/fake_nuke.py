"""A stand-in for the ``nuke`` module: it records what the glue calls and answers what a test set.

Little of Nuke's behaviour is imitated: nothing renders and no expression is evaluated. A test
builds the graph it needs (nodes, knobs, inputs), sets the answers (``GUI``, ``ask_answer``,
``on_execute`` standing in for Nuke's renderer, a task's ``cancelled``), runs the glue, then reads
``calls``, knob values and ``main_thread`` (functions handed to ``executeInMainThread``, which the
test runs as Nuke's event loop would).

Where the real host is less kind than a recorder, the fake is as strict as the host, and each such
behaviour cites the Foundry page it models (issue 16):

* ``execute`` fires the ``beforeRender`` callbacks registered with ``addBeforeRender`` for a
  Write, in whatever process renders (GUI, ``nuke -t``, every ``nuke -x`` farm task), and an
  exception from one aborts the render;
* a Link knob (``remove_channel``) answers ``value()`` with the linked knob's value (the channel)
  but ``toScript()`` with the link's target name;
* knob flags (``setFlag(READ_ONLY)``) and the artist's edits through the panel
  (:meth:`Knob.artist_set`) which a read-only or disabled knob refuses;
* every knob serialisation (``toScript``) is counted in ``FakeNuke.serialisations``, so tests can
  bound what a check costs on Nuke's UI thread;
* ``Node.setName`` renames a node (its Python object follows it); ``nuke.delete`` detaches the
  Python object, which then raises ``ValueError`` on use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

INPUTS = 1
HIDDEN_INPUTS = 2
EXPRESSIONS = 4
#: Knob flag bits the glue uses. Values are Nuke's (``nuke.READ_ONLY`` = 0x10000000,
#: ``nuke.DISABLED`` = 0x80); only their being distinct matters here.
DISABLED = 0x80
READ_ONLY = 0x10000000


class Knob:
    def __init__(self, name: str, value: Any = None) -> None:
        self._name = name
        self._value = value
        self.enabled = True
        self.executed = 0
        self.flags = 0
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
        # Python's setValue is not refused by READ_ONLY or DISABLED: those flags stop interface
        # interaction only ("its value cannot be altered by interface interaction",
        # https://learn.foundry.com/nuke/developers/160/ndkdevguide/knobs-and-handles/knobflags.html).
        self._value = value
        self.history.append(value)
        self.threads.append(threading.get_ident())

    def setEnabled(self, enabled: bool) -> None:
        self.enabled = enabled

    # Knob.setFlag / clearFlag / getFlag: "Returns whether the input flag is set"
    # (https://learn.foundry.com/nuke/developers/160/pythondevguide/_autosummary/nuke.knob.html).
    def setFlag(self, flag: int) -> None:
        self.flags |= flag

    def clearFlag(self, flag: int) -> None:
        self.flags &= ~flag

    def getFlag(self, flag: int) -> bool:
        return bool(self.flags & flag)

    def artist_set(self, value: Any) -> bool:
        """The artist typing into the Properties panel (a test helper, not Nuke API): refused
        by a READ_ONLY or disabled knob, as the knob-flags page says (``READ_ONLY``, as in
        ``SetFlags(Knob::LOG_SLIDER | Knob::READ_ONLY)`` there, and ``DISABLED``: "its value
        cannot be altered by interface interaction")."""
        if self.getFlag(READ_ONLY) or not self.enabled:
            return False
        self.setValue(value)
        return True

    def execute(self) -> None:
        self.executed += 1

    def toScript(self) -> str:
        _count_serialisation()
        return str(self._value)


def _count_serialisation() -> None:
    current = getattr(FakeNuke, "current", None)
    if current is not None:
        current.serialisations += 1


class LinkKnob(Knob):
    """A Link_Knob (``addUserKnob {41 ... T Node.knob}``): "data storage and presentation is
    retrieved from the linked knob" (NDK ``LinkKnobI``,
    https://learn.foundry.com/nuke/developers/latest/ndkreference/Plugins/classDD_1_1Image_1_1LinkKnobI.html),
    so ``value()``/``setValue()`` reach the linked knob; ``getLink()`` returns the target's name
    (``nuke.Link_Knob``, https://learn.foundry.com/nuke/developers/113/pythonreference/nuke.Link_Knob-class.html),
    and so does ``toScript()`` here: what a script saves for a Link knob is its link, not the
    linked value, so a fingerprint built from ``toScript()`` never sees a channel switch."""

    def __init__(self, name: str, target: Knob, link: str) -> None:
        super().__init__(name)
        self._target = target
        self._link = link

    def value(self) -> Any:
        return self._target.value()

    getValue = value
    evaluate = value

    def setValue(self, value: Any) -> None:
        self._target.setValue(value)
        self.history.append(value)
        self.threads.append(threading.get_ident())

    def getLink(self) -> str:
        return self._link

    def getLinkedKnob(self) -> Knob:
        return self._target

    def toScript(self) -> str:
        _count_serialisation()
        return self._link


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
        self._knobs = {
            k: v if isinstance(v, Knob) else Knob(k, v) for k, v in (knobs or {}).items()
        }
        self._inputs: list[Node | None] = []
        self._frames = frames
        self._children = {c.name(): c for c in children or []}
        self._parent = parent
        self.open_knobs = open_knobs
        self.expression_links: list[Node] = []
        self.deleted = False
        for c in self._children.values():
            c._parent = self

    def _attached(self) -> None:
        # A node's Python object outlives the node: once nuke.delete() removed it, using the
        # object raises ValueError ("A PythonObject is not attached to a node"). Observed
        # behaviour, not stated on a Foundry page we could find: the self-test checks it.
        if self.deleted:
            raise ValueError("A PythonObject is not attached to a node")

    def Class(self) -> str:
        return self._cls

    def name(self) -> str:
        self._attached()
        return self._name

    def fullName(self) -> str:
        self._attached()
        return f"{self._parent.fullName()}.{self._name}" if self._parent is not None else self._name

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        """``Node.setName`` renames the node; the same Python object now answers the new name
        (https://learn.foundry.com/nuke/developers/160/pythondevguide/_autosummary/nuke.Node.html)."""
        self._attached()
        current = FakeNuke.current
        old = self.fullName()
        if self._parent is not None:  # Group.node(new name) finds it, as in Nuke
            self._parent._children.pop(self._name, None)
            self._parent._children[name] = self
        self._name = name
        for key in [k for k in current.registry if k == old or k.startswith(old + ".")]:
            node = current.registry.pop(key)
            current.registry[node.fullName()] = node

    def knobs(self) -> dict[str, Knob]:
        self._attached()
        return dict(self._knobs)

    def knob(self, name: str) -> Knob | None:
        return self._knobs.get(name)

    def __getitem__(self, name: str) -> Knob:
        self._attached()
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

    def dependent(
        self, what: int = INPUTS | HIDDEN_INPUTS | EXPRESSIONS, forceEvaluate: bool = True
    ) -> list[Node]:
        """``Node.dependent``: "List all nodes that read information from this node", the
        nodes wired to it (and those whose expressions read it, with ``EXPRESSIONS``)
        (https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.Node.html)."""
        out = []
        for node in FakeNuke.current.registry.values():
            if node.deleted or node is self:
                continue
            wired = what & INPUTS and any(i is self for i in node._inputs)
            linked = what & EXPRESSIONS and self in node.expression_links
            if wired or linked:
                out.append(node)
        return out

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


_MODULE = "https://learn.foundry.com/nuke/developers/130/pythonreference/nuke-module.html"
_NODE = "https://learn.foundry.com/nuke/developers/160/pythondevguide/_autosummary/nuke.Node.html"
_KNOB = "https://learn.foundry.com/nuke/developers/130/pythonreference/nuke.Knob-class.html"
_CALLBACKS = (
    "https://learn.foundry.com/nuke/developers/120/pythonreference/nuke.callbacks-module.html"
)

#: Every ``void_nuke.host`` call, the Nuke API this fake models for it and where that API is
#: documented. One source with the self-test: the calls ``void_nuke.self_test`` runs plus its
#: ``NOT_EXERCISED`` (with reasons) are exactly these keys, and ``void_nuke.host`` defines exactly
#: these functions (tests/unit/test_nuke_isolation.py checks both).
HOST_CALLS: dict[str, str] = {
    "nuke_version": f"nuke.NUKE_VERSION_STRING ({_MODULE})",
    "is_gui": f"nuke.GUI ({_MODULE})",
    "this_node": f"nuke.thisNode() ({_MODULE})",
    "this_knob_name": f"nuke.thisKnob().name() ({_MODULE})",
    "selected_nodes": f"nuke.selectedNodes() ({_MODULE})",
    "to_node": f"nuke.toNode(full name) ({_MODULE})",
    "all_nodes": f"nuke.allNodes(filter, recurseGroups=True) ({_MODULE})",
    "full_name": f"Node.fullName() ({_NODE})",
    "live_full_name": f"Node.fullName(), ValueError once deleted ({_NODE}; self-test step)",
    "short_name": f"Node.name() ({_NODE})",
    "class_name": f"Node.Class() ({_NODE})",
    "knob_value": f"Node[name].value() ({_KNOB})",
    "knob_values": f"Node[name].value() for several ({_KNOB})",
    "knob_evaluated": f"Knob.evaluate() ({_KNOB})",
    "knob_script": f"Knob.toScript() ({_KNOB})",
    "set_knob": f"Knob.setValue() ({_KNOB})",
    "set_enabled": f"Knob.setEnabled() ({_KNOB})",
    "set_read_only": f"Knob.setFlag(nuke.READ_ONLY) ({_KNOB})",
    "linked_value": f"Link_Knob.getLinkedKnob().value() ({_MODULE})",
    "knob_scripts": f"Node.knobs() and Knob.toScript() ({_NODE})",
    "input_node": f"Node.input(i) ({_NODE})",
    "set_input": f"Node.setInput(i, node) ({_NODE})",
    "graph_inputs": f"Node.dependencies(nuke.INPUTS | nuke.HIDDEN_INPUTS) ({_NODE})",
    "dependents": f"Node.dependent(nuke.INPUTS | nuke.HIDDEN_INPUTS) ({_NODE})",
    "frame_range": f"Node.firstFrame(), lastFrame() ({_NODE})",
    "child": f"Group.node(name) ({_MODULE})",
    "create_node": f"nuke.createNode(class) ({_MODULE})",
    "create_in": f"nuke.nodes.<Class>() inside ``with group`` ({_MODULE})",
    "set_name": f"Node.setName(name) ({_NODE})",
    "is_read_only": f"Knob.getFlag(nuke.READ_ONLY) ({_KNOB})",
    "create_write": f"nuke.nodes.Write() inside ``with group``, setInput ({_MODULE})",
    "delete": f"nuke.delete(node) ({_MODULE})",
    "execute": f"nuke.execute(node, first, last, incr, views) ({_MODULE})",
    "executable": f"nuke.EXE_PATH ({_MODULE})",
    "save_script_copy": f"nuke.scriptSave(filename) ({_MODULE})",
    "views": f"nuke.views() ({_MODULE})",
    "reload_read": f"Read['reload'].execute() ({_KNOB})",
    "progress_task": f"nuke.ProgressTask(title) ({_MODULE})",
    "in_main_thread": f"nuke.executeInMainThread(function, args) ({_MODULE})",
    "message": f"nuke.message(text) ({_MODULE})",
    "ask": f"nuke.ask(text) ({_MODULE})",
    "script_name": f"nuke.root()['name'].value() ({_MODULE})",
    "open_script": f"nuke.scriptOpen(path) ({_MODULE})",
    "save_script": f"nuke.scriptSave() ({_MODULE})",
    "add_before_render": f"nuke.addBeforeRender(call) ({_CALLBACKS})",
    "remove_before_render": f"nuke.removeBeforeRender(call) ({_CALLBACKS})",
    "add_knob_changed": f"nuke.addKnobChanged(call, nodeClass=...) ({_CALLBACKS})",
    "add_update_ui": f"nuke.addUpdateUI(call, nodeClass=...) ({_CALLBACKS})",
    "add_menu_command": f"nuke.menu(name).addMenu().addCommand() ({_MODULE})",
}


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
    DISABLED = DISABLED
    READ_ONLY = READ_ONLY
    #: ``nuke.NUKE_VERSION_STRING`` (e.g. "15.1v3" in Nuke); the self-test's report names it.
    NUKE_VERSION_STRING = "fake"
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
        #: Knob serialisations (``toScript``) so far: what a check costs on Nuke's UI thread.
        self.serialisations = 0
        #: Builders for node classes a test defines (a gizmo's knobs): ``nuke.nodes.X()`` uses them.
        self.factories: dict[str, Callable[[], Node]] = {}
        #: (function, args, kwargs, nodeClass) registered with addBeforeRender.
        self.before_render: list[tuple[Callable[..., Any], tuple, dict, str]] = []
        self.root_node = Node("Root", "Root", {"name": ""})  # an unsaved script
        #: ``nuke.views()``: the list of the script's view names; a mono script has the one
        #: view "main" (https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.views.html).
        self.script_views: list[str] = ["main"]
        #: ``nuke.EXE_PATH``: the running Nuke's executable, a constant of the ``nuke`` module
        #: (https://learn.foundry.com/nuke/developers/130/pythonreference/nuke-module.html);
        #: the background export runs it with ``-x``, tests point it at fake_nuke_exe.py.
        self.EXE_PATH = ""
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
        if cls in self.factories:  # e.g. a gizmo's node, built by the test with its knobs
            node = self.factories[cls]()
            node._name = f"{cls}{n}"
            node._parent = parent
        else:
            node = Node(cls, f"{cls}{n}", knobs, parent=parent, open_knobs=True)
        if parent is not None:
            parent._children[node.name()] = node
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
        name = node.fullName()
        self.calls.append(("delete", (name,)))
        for key in [k for k in self.registry if k == name or k.startswith(name + ".")]:
            self.registry.pop(key).deleted = True
        if node._parent is not None:
            node._parent._children.pop(node._name, None)
        node.deleted = True

    def execute(self, node: Node, first: int, last: int, incr: int = 1, views: Any = None) -> None:
        """``nuke.execute`` of a Write: first the beforeRender callbacks, in this process, with
        ``nuke.thisNode()`` the Write. The Write's "before render" functions "are run before the
        render starts with execute(). If an exception is thrown, the render is aborted" (the
        Python tab of render nodes, e.g. Profile's: https://learn.foundry.com/ja/nuke/current/content/reference_guide/image_nodes/profile.html), and ``addBeforeRender(call, args=(), kwargs={},
        nodeClass='Write')`` registers one for every Write
        (https://learn.foundry.com/nuke/developers/120/pythonreference/nuke.callbacks-module.html).
        Nuke runs them in every process that renders: the GUI, ``nuke -t`` and each ``nuke -x``
        farm task alike."""
        self.calls.append(("execute", (node.fullName(), first, last)))
        # ``nuke.execute(nameOrNode, start, end, incr, views, continueOnError=False)``, views
        # a list of view names (the nuke module reference,
        # https://learn.foundry.com/nuke/developers/130/pythonreference/nuke-module.html; the
        # self-test's "views" step checks it on a real Nuke). A view the script lacks: refused.
        if views is not None:
            wanted = list(views)
            unknown = [v for v in wanted if v not in self.script_views]
            if unknown:
                raise RuntimeError(f"execute: no view(s) {unknown} in {self.script_views}")
        previous = self.this_node
        try:
            for function, args, kwargs, node_class in list(self.before_render):
                if node_class in ("*", node.Class()):
                    self.this_node = node
                    try:
                        function(*args, **kwargs)
                    except Exception as exc:
                        # nuke.execute raises RuntimeError when a callback aborts the render.
                        raise RuntimeError(str(exc)) from exc
        finally:
            self.this_node = previous
        if self.on_execute is not None:
            if views is None:
                self.on_execute(node, first, last)
            else:
                self.on_execute(node, first, last, list(views))  # type: ignore[call-arg]

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

    def views(self) -> list[str]:
        return list(self.script_views)

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

    def removeBeforeRender(
        self,
        function: Callable[..., Any],
        args: tuple = (),
        kwargs: dict | None = None,
        nodeClass: str = "Write",
    ) -> None:
        """``removeBeforeRender(call, args=(), kwargs={}, nodeClass='Write')``: the counterpart
        of addBeforeRender in ``nuke.callbacks`` (same page as addBeforeRender)."""
        self.before_render = [c for c in self.before_render if c[0] is not function]

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
        self.before_render.append((function, tuple(args), dict(kwargs or {}), nodeClass))


class _Panels:
    def __init__(self) -> None:
        self.registered: list[tuple[str, str, str]] = []

    def registerWidgetAsPanel(self, widget: str, name: str, id: str, create: bool = False) -> None:
        self.registered.append((widget, name, id))


class FakeNukescripts:
    """Stand-in for ``nukescripts``: records panel registrations."""

    def __init__(self) -> None:
        self.panels = _Panels()
