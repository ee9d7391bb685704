"""The VOID Remove panel (PySide6, or PySide2 in Nuke 13-15).

``VoidPanel(parent=None, endpoint=DEFAULT_ENDPOINT)`` is the widget the Nuke and Resolve
helpers embed; ``show_panel()`` opens it standalone (``void-remove panel``).

Names are resolved lazily so ``void_client.panel.history`` stays importable without Qt.
"""

from __future__ import annotations

from typing import Any

__all__ = ["VoidPanel", "show_panel", "ViewMode", "JobHistory", "HistoryEntry"]

_WHERE = {
    "VoidPanel": ".panel",
    "show_panel": ".panel",
    "ViewMode": ".viewer",
    "JobHistory": ".history",
    "HistoryEntry": ".history",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
