"""The one place VOID Remove calls Nuke: thin on purpose, no decisions, one Nuke call (or a fixed
recipe of them) per function; no other module of :mod:`void_nuke` imports ``nuke``
(``tests/unit/test_host_seams.py`` checks). Tests swap ``nuke`` for
``tests/support/fakes/fake_nuke.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nuke


def nuke_version() -> str:
    return str(nuke.NUKE_VERSION_STRING)


def is_gui() -> bool:
    return bool(nuke.GUI)


def this_node() -> Any:
    return nuke.thisNode()


def this_knob_name() -> str:
    knob = nuke.thisKnob()
    return knob.name() if knob is not None else ""


def selected_nodes() -> list[Any]:
    return list(nuke.selectedNodes())


def to_node(full_name: str) -> Any:
    return nuke.toNode(full_name)


def all_nodes(node_class: str) -> list[Any]:
    return list(nuke.allNodes(filter=node_class, recurseGroups=True))


def full_name(node: Any) -> str:
    return node.fullName()


def live_full_name(node: Any) -> str | None:
    """The node's full name now (it follows a rename), or None once the node was deleted: Nuke
    keeps the Python object, which raises ValueError ("A PythonObject is not attached to a
    node") when used."""
    try:
        return str(node.fullName())
    except ValueError:
        return None


def short_name(node: Any) -> str:
    return node.name()


def class_name(node: Any) -> str:
    return node.Class()


def knob_value(node: Any, name: str) -> Any:
    return node[name].value()


def knob_values(node: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: node[name].value() for name in names}


def knob_evaluated(node: Any, name: str) -> str:
    """A text knob's value with its TCL expanded (``[file dirname [value root.name]]/void``)."""
    return node[name].evaluate()


def knob_script(node: Any, name: str) -> str:
    return node[name].toScript()


def set_knob(node: Any, name: str, value: Any) -> None:
    node[name].setValue(value)


def set_enabled(node: Any, name: str, enabled: bool) -> None:
    node[name].setEnabled(enabled)


def set_read_only(node: Any, name: str) -> None:
    """The artist can read and copy the knob but not edit it; Python's setValue still works."""
    node[name].setFlag(nuke.READ_ONLY)


def linked_value(node: Any, link: str) -> Any:
    """The value of the internal knob ``"Node.knob"`` a Link knob shows: the channel itself (a
    Link knob's ``toScript()`` may give the link's name, not the value)."""
    child_name, knob_name = link.split(".")
    return node.node(child_name)[knob_name].value()


def knob_scripts(node: Any) -> dict[str, str]:
    return {name: knob.toScript() for name, knob in node.knobs().items()}


def input_node(node: Any, index: int) -> Any:
    return node.input(index)


def set_input(node: Any, index: int, source: Any) -> None:
    node.setInput(index, source)


def graph_inputs(node: Any) -> list[Any]:
    """A node's inputs in order (None where unconnected), then the nodes its expressions read."""
    return [node.input(i) for i in range(node.inputs())] + list(node.dependencies(nuke.EXPRESSIONS))


def dependents(node: Any) -> list[Any]:
    """The nodes wired to ``node``'s output (``Node.dependent``: "List all nodes that read
    information from this node"); without forcing an evaluation of the tree."""
    return list(node.dependent(nuke.INPUTS | nuke.HIDDEN_INPUTS, forceEvaluate=False))


def frame_range(node: Any) -> tuple[int, int]:
    return int(node.firstFrame()), int(node.lastFrame())


def child(group: Any, name: str) -> Any:
    return group.node(name)


def create_node(node_class: str) -> Any:
    return nuke.createNode(node_class)


def create_in(group: Any, node_class: str) -> Any:
    """A node made with ``nuke.nodes`` (no selection wiring, no panel), inside ``group`` or at
    the script's top level when ``group`` is None."""
    if group is None:
        return getattr(nuke.nodes, node_class)()
    with group:
        return getattr(nuke.nodes, node_class)()


def set_name(node: Any, name: str) -> None:
    node.setName(name)


def is_read_only(node: Any, name: str) -> bool:
    return bool(node[name].getFlag(nuke.READ_ONLY))


def create_write(group: Any, source: Any) -> Any:
    with group:
        write = nuke.nodes.Write()
    write.setInput(0, source)
    return write


def delete(node: Any) -> None:
    nuke.delete(node)


def execute(node: Any, first: int, last: int, views: list[str] | None = None) -> None:
    """``nuke.execute(node, first, last, incr, views)``; ``views`` for a stereo Write."""
    if views:
        nuke.execute(node, first, last, 1, list(views))
    else:
        nuke.execute(node, first, last)


def executable() -> str:
    """``nuke.EXE_PATH``: this Nuke's executable, which renders the background export
    (void_nuke.export)."""
    return str(nuke.EXE_PATH)


def save_script_copy(path: str) -> None:
    """``nuke.scriptSave(filename)``: "Save to this file name without changing the script name
    in the project" (https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.scriptSave.html)."""
    nuke.scriptSave(path)


def views() -> list[str]:
    """``nuke.views()``: the script's views (``["main"]`` in a mono script)."""
    return list(nuke.views())


def reload_read(read: Any) -> None:
    read["reload"].execute()


def progress_task(title: str) -> Any:
    return nuke.ProgressTask(title)


def in_main_thread(function: Callable[..., Any], *args: Any) -> None:
    nuke.executeInMainThread(function, args)


def message(text: str) -> None:
    nuke.message(text)


def ask(text: str) -> bool:
    return bool(nuke.ask(text))


def script_name() -> str:
    return nuke.root()["name"].value()


def open_script(path: str) -> None:
    nuke.scriptOpen(path)


def save_script() -> None:
    nuke.scriptSave()


def add_before_render(function: Callable[[], None]) -> None:
    nuke.addBeforeRender(function)


def remove_before_render(function: Callable[[], None]) -> None:
    nuke.removeBeforeRender(function)


def add_knob_changed(function: Callable[[], None], node_class: str) -> None:
    nuke.addKnobChanged(function, nodeClass=node_class)


def add_update_ui(function: Callable[[], None], node_class: str) -> None:
    nuke.addUpdateUI(function, nodeClass=node_class)


def add_menu_command(
    menu: str, submenu: str, item: str, command: Callable[[], Any], shortcut: str
) -> None:
    nuke.menu(menu).addMenu(submenu).addCommand(item, command, shortcut)
