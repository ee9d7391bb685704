"""What ``nuke_path/init.py`` and ``nuke_path/menu.py`` run when Nuke starts.

:func:`init` is safe in every mode Nuke starts in (GUI, ``nuke -t``, render): it registers the
before-render hook and imports no Qt. :func:`menu` (GUI only) adds the toolbar entry, the node's
callbacks and the dockable panel.
"""

from __future__ import annotations

from void_nuke import actions as node
from void_nuke import host
from void_nuke import node_spec as N

#: How Nuke's panel machinery builds the dockable panel's widget; evaluated only when opened.
PANEL_WIDGET = "__import__('void_nuke.panel', fromlist=['make_widget']).make_widget"


def init() -> None:
    host.add_before_render(node.before_render)


def menu() -> None:
    host.add_menu_command("Nodes", N.TOOLBAR_MENU, N.MENU_ITEM, node.create, N.SHORTCUT)
    host.add_knob_changed(node.knob_changed, N.NODE_CLASS)
    host.add_update_ui(node.update_ui, N.NODE_CLASS)
    host.register_panel(PANEL_WIDGET, N.PANEL_TITLE, N.PANEL_ID)
