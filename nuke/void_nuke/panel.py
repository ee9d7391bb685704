"""The dockable VOID Remove panel in Nuke: ``void_client.panel.VoidPanel``, imported when opened.

:mod:`void_nuke.startup` registers :func:`make_widget` with Nuke (through :mod:`void_nuke.host`).

The panel picks the Qt binding Nuke already loaded (PySide2 in Nuke 13-15, PySide6 in 16).
When it cannot be imported the panel says why instead of failing silently.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


def make_widget() -> Any:
    try:
        from void_client.panel import VoidPanel
    except ImportError as exc:
        return _notice(
            f"The VOID Remove panel cannot load here: {exc}.\nThe VOID Remove node works without it."
        )
    return VoidPanel()


def _notice(text: str) -> Any:
    # Use the binding Nuke has loaded: two Qt bindings in one process fight over the application.
    loaded = [name for name in ("PySide6", "PySide2") if name in sys.modules] or [
        "PySide6",
        "PySide2",
    ]
    for name in loaded:
        try:
            widgets = importlib.import_module(f"{name}.QtWidgets")
        except ImportError:
            continue
        label = widgets.QLabel(text)
        label.setWordWrap(True)
        return label
    raise ImportError(text)
