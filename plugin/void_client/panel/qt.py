"""One import point for Qt: PySide6 (Nuke 16, Resolve, standalone) or PySide2 (Nuke 13-15).

Everything in the panel imports Qt from here and nowhere else, so the differences between the
two bindings live in this file only:

* ``QAction`` moved from QtWidgets (Qt 5) to QtGui (Qt 6);
* ``QOpenGLWidget`` moved to QtOpenGLWidgets and the GL helpers (shader program, texture,
  vertex array) from QtGui to QtOpenGL in Qt 6;
* ``exec`` is ``exec_`` in PySide2;
* reading a QImage's bytes differs slightly.

The binding is chosen once, at import: ``$VOID_QT_API`` (``PySide6`` or ``PySide2``) if set;
else the binding the host already loaded (two Qt bindings in one process would fight over the
one QApplication); else PySide6, then PySide2.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING, Any, cast

import numpy as np

API_ENV = "VOID_QT_API"
APIS = ("PySide6", "PySide2")


def _choose_api() -> str:
    forced = os.environ.get(API_ENV, "").strip()
    if forced:
        if forced not in APIS:
            raise ImportError(f"${API_ENV} is {forced!r}; use one of {', '.join(APIS)}")
        return forced
    for name in APIS:
        if name in sys.modules:
            return name
    for name in APIS:
        if importlib.util.find_spec(name) is not None:
            return name
    raise ImportError(
        "the VOID Remove panel needs PySide6 (or PySide2 in Nuke 13-15); "
        "install it with: pip install 'void-remove[host]'"
    )


API = _choose_api()

# mypy checks the panel against PySide6's stubs (PySide2 ships none); ``TYPE_CHECKING`` makes it
# read the PySide6 branch only, while at run time the branch follows ``API``.
if TYPE_CHECKING or API == "PySide6":
    from PySide6 import QtCore, QtGui, QtWidgets

    QAction = QtGui.QAction
    try:  # the GL modules are optional: the viewer draws on the CPU without them
        from PySide6.QtOpenGL import (
            QOpenGLShader,
            QOpenGLShaderProgram,
            QOpenGLTexture,
            QOpenGLVertexArrayObject,
        )
        from PySide6.QtOpenGLWidgets import QOpenGLWidget
    except ImportError:  # pragma: no cover - depends on the PySide6 build
        # None marks "no GL" for viewer.gl_available; the names are classes everywhere else.
        QOpenGLWidget = QOpenGLShader = QOpenGLShaderProgram = None  # type: ignore[assignment,misc]
        QOpenGLTexture = QOpenGLVertexArrayObject = None  # type: ignore[assignment,misc]
else:  # pragma: no cover - exercised in Nuke <= 15 and by tests/test_panel.py's PySide2 check
    from PySide2 import QtCore, QtGui, QtWidgets

    QAction = QtWidgets.QAction
    QOpenGLWidget = QtWidgets.QOpenGLWidget
    QOpenGLShader = QtGui.QOpenGLShader
    QOpenGLShaderProgram = QtGui.QOpenGLShaderProgram
    QOpenGLTexture = QtGui.QOpenGLTexture
    QOpenGLVertexArrayObject = QtGui.QOpenGLVertexArrayObject

Qt = QtCore.Qt
Signal = QtCore.Signal
Slot = QtCore.Slot
QT_VERSION: str = QtCore.qVersion()


def exec_(obj: Any) -> int:
    """``obj.exec()`` (PySide6) or ``obj.exec_()`` (PySide2) for applications, dialogs, menus."""
    run = getattr(obj, "exec", None) or obj.exec_
    return int(run() or 0)


def application() -> tuple[QtWidgets.QApplication, bool]:
    """The running QApplication, or a new one; the flag says whether this call created it."""
    app = QtWidgets.QApplication.instance()
    if app is not None:
        # The panel is a widget: the hosts (Nuke, Resolve) and our own entry point all run a
        # QApplication, whatever instance() is declared to return.
        return cast(QtWidgets.QApplication, app), False
    return QtWidgets.QApplication(sys.argv[:1] or ["void-remove"]), True


def qimage_from_rgb8(rgb: np.ndarray) -> QtGui.QImage:
    """An RGB888 QImage that owns a copy of ``rgb`` (``(h, w, 3)`` uint8)."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = a.shape[:2]
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected (h, w, 3) uint8, got {a.shape}")
    # The constructor borrows the buffer; .copy() makes Qt own the pixels before ``a`` goes.
    return QtGui.QImage(a.tobytes(), w, h, 3 * w, QtGui.QImage.Format.Format_RGB888).copy()


def qimage_from_grey8(grey: np.ndarray) -> QtGui.QImage:
    """A Grayscale8 QImage that owns a copy of ``grey`` (``(h, w)`` uint8)."""
    a = np.ascontiguousarray(grey, dtype=np.uint8)
    h, w = a.shape
    return QtGui.QImage(a.tobytes(), w, h, w, QtGui.QImage.Format.Format_Grayscale8).copy()


def qimage_to_rgb8(image: QtGui.QImage) -> np.ndarray:
    """The pixels of ``image`` as ``(h, w, 3)`` uint8 (for tests and screenshots)."""
    img = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    bits = img.constBits()
    raw = bytes(bits) if not hasattr(bits, "asstring") else bits.asstring(bpl * h)
    rows = np.frombuffer(raw, np.uint8, count=bpl * h).reshape(h, bpl)
    return rows[:, : 3 * w].reshape(h, w, 3).copy()


__all__ = [
    "API",
    "QT_VERSION",
    "QAction",
    "QOpenGLShader",
    "QOpenGLShaderProgram",
    "QOpenGLTexture",
    "QOpenGLVertexArrayObject",
    "QOpenGLWidget",
    "Qt",
    "QtCore",
    "QtGui",
    "QtWidgets",
    "Signal",
    "Slot",
    "application",
    "exec_",
    "qimage_from_grey8",
    "qimage_from_rgb8",
    "qimage_to_rgb8",
]
