"""What ``nuke_path/init.py`` and ``nuke_path/menu.py`` run when Nuke starts.

Standard library only (docs/nuke.md, "Host isolation"): :func:`init` is safe in every mode Nuke
starts in (GUI, ``nuke -t``, render) and only registers the before-render hook; :func:`menu` (GUI
only) adds the toolbar entry, the node's callbacks and the panel's menu entry. Nothing here
starts a process or loads a library; the worker (``void-remove``) runs only when a button is
pressed.
"""

from __future__ import annotations

from void_hostlink import HostLinkError
from void_nuke import actions as node
from void_nuke import host
from void_nuke import node_spec as N

#: Where the panel's menu entry goes (Nuke's main menu bar).
PANEL_MENU = ("Nuke", "VOID", "VOID Remove panel")


def init() -> None:
    host.add_before_render(node.before_render)


def menu() -> None:
    host.add_menu_command("Nodes", N.TOOLBAR_MENU, N.MENU_ITEM, node.create, N.SHORTCUT)
    host.add_knob_changed(node.knob_changed, N.NODE_CLASS)
    host.add_update_ui(node.update_ui, N.NODE_CLASS)
    bar, submenu, item = PANEL_MENU
    host.add_menu_command(bar, submenu, item, open_panel, "")


def open_panel() -> None:
    """The panel's menu entry: ``void-remove panel`` in its own process (void_nuke.panel)."""
    from void_nuke import panel  # only when chosen: it starts a process

    try:
        panel.open_panel()
    except HostLinkError as exc:
        host.message(f"VOID Remove panel: {exc.message}")
