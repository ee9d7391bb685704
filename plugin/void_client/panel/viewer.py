"""The panel's viewer: source, result, before/after wipe, quadmask overlay and difference, frame
by frame, with fit / 1:1 zoom, pan, exposure and gamma, and the mattes' coverage per frame.

The Qt half only: what each mode shows is :func:`void_client.preview.compose` (numpy, no Qt),
and frames are read into :class:`~void_client.preview.FramePreview` proxies by
:class:`~void_client.preview.SequencePreviewSource` on a worker thread. Two ways to draw:

* :class:`CpuCanvas` always works. It paints :func:`~void_client.preview.compose`'s 8-bit
  image (the overlay through :func:`void_client.shader_reference.quadmask_overlay`, the one
  definition of the overlay colours) as a QImage.
* :class:`GlCanvas` draws with ``shaders/quadmask_overlay.frag`` (+ ``fullscreen.vert``) in a
  ``QOpenGLWidget``. It is only used where an OpenGL 3.3 context can be made: Qt's
  ``offscreen`` platform and some remote sessions have none.

Both draw from the same :class:`FramePreview` (display-referred 8-bit proxies, graded by
:func:`void_client.preview.prepare` for exposure, gamma, the difference view and the wipe's
matte outline), so they agree to the 8-bit code. The overlay tints display-referred values: the Okabe-Ito colours in
``shader_reference.py`` are that palette's sRGB codes, so this is where they look as intended.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from void_client.panel.qt import (
    QOpenGLShader,
    QOpenGLShaderProgram,
    QOpenGLTexture,
    QOpenGLVertexArrayObject,
    QOpenGLWidget,
    Qt,
    QtCore,
    QtGui,
    QtWidgets,
    Signal,
    qimage_from_grey8,
    qimage_from_rgb8,
)
from void_client.panel.worker import CoverageScanner, PreviewLoader
from void_client.preview import (
    FramePreview,
    MatteCoverage,
    MatteWarning,
    PreviewSource,
    SequencePreviewSource,
    ViewMode,
    ViewSettings,
    compose,
    fit_box,
    matte_warnings,
    one_to_one_zoom,
    prepare,
    view_box,
    wipe_column,
    wipe_position,
)
from void_client.quadmask import AFFECTED, OVERLAP, REMOVE
from void_client.shader_reference import OVERLAY_COLOURS, OVERLAY_OPACITY

log = logging.getLogger(__name__)

#: Frames kept in memory for scrubbing (each a plate, a result and a quadmask proxy, plus the
#: linear float16 plate and result for exposure and difference)...
CACHE_FRAMES = 32
#: ...and at most this many bytes of them (a 1280x720 frame with a result holds ~17 MB).
CACHE_BYTES = 384 * 1024 * 1024
#: Zoom limits (screen pixels per proxy pixel) for the mouse wheel.
MIN_ZOOM, MAX_ZOOM = 1 / 16, 64.0
#: ``$VOID_PANEL_GL``: ``0`` always draws on the CPU; anything else lets the viewer try GL.
GL_ENV = "VOID_PANEL_GL"
#: ``$VOID_REMOVE_SHADERS``: where the GLSL files are, if not in the source checkout.
SHADERS_ENV = "VOID_REMOVE_SHADERS"

BACKGROUND = QtGui.QColor(38, 38, 40)
#: The chosen view mode must read at a glance in any host's style.
MODE_BUTTON_STYLE = "QToolButton { padding: 2px 8px; } QToolButton:checked { background: #d89030; color: #141414; border: 1px solid #a06818; border-radius: 2px; }"

# Raw GL enums the draw code needs (Qt's Python bindings export the functions, not the enums).
GL_COLOR_BUFFER_BIT = 0x4000
GL_TRIANGLES = 0x0004
GL_SCISSOR_TEST = 0x0C11
GL_TEXTURE0 = 0x84C0


# --------------------------------------------------------------------------- drawing helpers


def fit_rect(image_w: int, image_h: int, area: QtCore.QRect) -> QtCore.QRectF:
    """The largest rectangle of the image's aspect centred in ``area`` (empty if either is)."""
    x, y, w, h = fit_box(image_w, image_h, area.x(), area.y(), area.width(), area.height())
    return QtCore.QRectF(x, y, w, h) if w > 0 else QtCore.QRectF()


def paint_decorations(
    painter: QtGui.QPainter,
    rect: QtCore.QRectF,
    mode: ViewMode,
    wipe: float,
    note: str,
    widget_rect: QtCore.QRect,
) -> None:
    """Wipe line and labels, and a note (e.g. "waiting for the result"), over either canvas."""
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
    if mode is ViewMode.WIPE and not rect.isEmpty():
        x = rect.left() + wipe * rect.width()
        painter.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255, 220), 1.5))
        painter.drawLine(QtCore.QPointF(x, rect.top()), QtCore.QPointF(x, rect.bottom()))
        painter.setBrush(QtGui.QColor(255, 255, 255, 220))
        painter.drawEllipse(QtCore.QPointF(x, rect.center().y()), 5.0, 5.0)
        _label(
            painter,
            QtCore.QPointF(rect.left() + 6, rect.top() + 6),
            "before",
            Qt.AlignmentFlag.AlignLeft,
        )
        _label(
            painter,
            QtCore.QPointF(rect.right() - 6, rect.top() + 6),
            "after",
            Qt.AlignmentFlag.AlignRight,
        )
    if mode is ViewMode.OVERLAY and not rect.isEmpty():
        _legend(painter, QtCore.QPointF(rect.left() + 6, rect.bottom() - 6))
    if note:
        _label(
            painter,
            QtCore.QPointF(widget_rect.center().x(), widget_rect.bottom() - 28),
            note,
            Qt.AlignmentFlag.AlignHCenter,
        )


def _legend(painter: QtGui.QPainter, bottom_left: QtCore.QPointF) -> None:
    """Colour chips for the overlay levels, from shader_reference.OVERLAY_COLOURS (the one definition)."""
    fm = painter.fontMetrics()
    entries = [(REMOVE, "remove"), (OVERLAP, "overlap"), (AFFECTED, "affected")]
    chip, pad, h = fm.height() - 4, 6, fm.height() + 4
    w = pad + sum(chip + 4 + fm.horizontalAdvance(name) + pad for _, name in entries)
    box = QtCore.QRectF(bottom_left.x(), bottom_left.y() - h, w, h)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QtGui.QColor(0, 0, 0, 150))
    painter.drawRoundedRect(box, 3, 3)
    x = box.left() + pad
    for level, name in entries:
        r, g, b = (int(round(c * 255)) for c in OVERLAY_COLOURS[level])
        painter.setPen(QtGui.QColor(20, 20, 20))
        painter.setBrush(QtGui.QColor(r, g, b))
        painter.drawRect(QtCore.QRectF(x, box.top() + (h - chip) / 2, chip, chip))
        x += chip + 4
        painter.setPen(QtGui.QColor(235, 235, 235))
        tw = fm.horizontalAdvance(name)
        painter.drawText(
            QtCore.QRectF(x, box.top(), tw + 2, h),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            name,
        )
        x += tw + pad


def _label(
    painter: QtGui.QPainter, anchor: QtCore.QPointF, text: str, align: Qt.AlignmentFlag
) -> None:
    fm = painter.fontMetrics()
    w, h = fm.horizontalAdvance(text) + 10, fm.height() + 4
    x = anchor.x() - (
        w
        if align == Qt.AlignmentFlag.AlignRight
        else w / 2
        if align == Qt.AlignmentFlag.AlignHCenter
        else 0
    )
    box = QtCore.QRectF(x, anchor.y(), w, h)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QtGui.QColor(0, 0, 0, 150))
    painter.drawRoundedRect(box, 3, 3)
    painter.setPen(QtGui.QColor(235, 235, 235))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


if TYPE_CHECKING:
    # Both canvases are widgets; the mixin says so to the type checker only (at run time it must
    # stay a plain class, ahead of the widget class in each canvas's bases).
    _CanvasBase = QtWidgets.QWidget
else:
    _CanvasBase = object


class _CanvasMixin(_CanvasBase):
    """State and mouse handling shared by both canvases; the interface the viewer uses."""

    preview: FramePreview | None
    mode: ViewMode
    wipe: float
    note: str
    decorate: bool
    #: ``"cpu"`` or ``"gl"``.
    backend: str
    if TYPE_CHECKING:
        wipe_moved: Signal

    def show_preview(
        self, preview: FramePreview | None, mode: ViewMode, wipe: float, note: str = ""
    ) -> None:
        raise NotImplementedError

    def rendered(self) -> QtGui.QImage | None:
        raise NotImplementedError

    def _init_state(self) -> None:
        self.preview = None
        self.mode = ViewMode.OVERLAY
        self.wipe = 0.5
        self.note = ""
        self._dragging = False
        #: Screen pixels per proxy pixel; None fits the picture to the canvas.
        self.zoom: float | None = None
        #: Offset of a zoomed picture from the centre, in screen pixels.
        self.pan = (0.0, 0.0)
        self._pan_from: tuple[float, float, float, float] | None = None
        #: Wipe line, labels and notes over the picture (off to compare raw pixels).
        self.decorate = True

    def image_rect(self) -> QtCore.QRectF:
        if self.preview is None:
            return QtCore.QRectF()
        w, h = self.preview.size
        if self.zoom is None:
            return fit_rect(w, h, self.rect())
        r = self.rect()
        x, y, bw, bh = view_box(w, h, (r.x(), r.y(), r.width(), r.height()), self.zoom, self.pan)
        return QtCore.QRectF(x, y, bw, bh)

    def set_zoom(self, zoom: float | None, pan: tuple[float, float] = (0.0, 0.0)) -> None:
        """``None`` fits; a number is screen pixels per proxy pixel (see ``one_to_one_zoom``)."""
        self.zoom = None if zoom is None else float(np.clip(zoom, MIN_ZOOM, MAX_ZOOM))
        self.pan = pan if zoom is not None else (0.0, 0.0)
        self.update()

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:  # noqa: N802
        if self.preview is None:
            return
        rect = self.image_rect()
        current = (
            self.zoom if self.zoom is not None else rect.width() / max(1, self.preview.size[0])
        )
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        new = float(np.clip(current * factor, MIN_ZOOM, MAX_ZOOM))
        # Keep the picture point under the pointer where it is.
        pos = event.position() if hasattr(event, "position") else event.posF()  # type: ignore[attr-defined]  # Qt 5
        cx, cy = self.rect().center().x(), self.rect().center().y()
        ix = (pos.x() - rect.center().x()) / current
        iy = (pos.y() - rect.center().y()) / current
        self.set_zoom(new, (pos.x() - cx - ix * new, pos.y() - cy - iy * new))

    def _wipe_at(self, x: float) -> None:
        rect = self.image_rect()
        wipe = wipe_position(x, rect.left(), rect.width())
        if wipe is not None:
            self.wipe = wipe
            self.wipe_moved.emit(self.wipe)
            self.update()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self.mode is ViewMode.WIPE and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self._wipe_at(_event_x(event))
        elif self.zoom is not None and event.button() in (
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.MiddleButton,
        ):
            # Pan a zoomed picture: left drag (middle drag in the wipe, where left moves it).
            self._pan_from = (_event_x(event), _event_y(event), *self.pan)

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if self._dragging:
            self._wipe_at(_event_x(event))
        elif self._pan_from is not None:
            x0, y0, px, py = self._pan_from
            self.pan = (px + _event_x(event) - x0, py + _event_y(event) - y0)
            self.update()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self._dragging = False
        self._pan_from = None


def _event_x(event: QtGui.QMouseEvent) -> float:
    pos = event.position() if hasattr(event, "position") else event.localPos()  # Qt 6 / Qt 5
    return float(pos.x())


def _event_y(event: QtGui.QMouseEvent) -> float:
    pos = event.position() if hasattr(event, "position") else event.localPos()
    return float(pos.y())


class CpuCanvas(_CanvasMixin, QtWidgets.QWidget):
    """Composes with numpy and paints a QImage: works on every platform, offscreen included."""

    wipe_moved = Signal(float)
    backend = "cpu"

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._init_state()
        self._image: QtGui.QImage | None = None
        self.setMinimumSize(160, 100)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding
        )

    def show_preview(
        self, preview: FramePreview | None, mode: ViewMode, wipe: float, note: str = ""
    ) -> None:
        self.preview, self.mode, self.wipe, self.note = preview, mode, wipe, note
        self._image = (
            qimage_from_rgb8(compose(preview, mode, wipe)) if preview is not None else None
        )
        self.update()

    def rendered(self) -> QtGui.QImage | None:
        """The composed picture at proxy resolution (before scaling to the widget)."""
        return self._image

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        painter = QtGui.QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        rect = self.image_rect()
        if self._image is not None and not rect.isEmpty():
            # Smooth when shrinking; nearest when enlarging so pixels (and mask edges) stay crisp.
            painter.setRenderHint(
                QtGui.QPainter.RenderHint.SmoothPixmapTransform, rect.width() < self._image.width()
            )
            painter.drawImage(rect, self._image)
        if self.decorate:
            paint_decorations(painter, rect, self.mode, self.wipe, self.note, self.rect())
        painter.end()


# --------------------------------------------------------------------------- GL side


def shaders_dir() -> Path | None:
    """The folder with ``quadmask_overlay.frag``: ``$VOID_REMOVE_SHADERS`` or the installed ``void_shaders``."""
    candidates = [os.environ.get(SHADERS_ENV, ""), str(files("void_shaders"))]
    for c in candidates:
        if (
            c
            and (Path(c) / "quadmask_overlay.frag").is_file()
            and (Path(c) / "fullscreen.vert").is_file()
        ):
            return Path(c)
    return None


def gl_format() -> QtGui.QSurfaceFormat:
    fmt = QtGui.QSurfaceFormat()
    fmt.setVersion(3, 3)  # the shaders are #version 330 core (macOS only offers it as core)
    fmt.setProfile(QtGui.QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    return fmt


@lru_cache(maxsize=1)
def gl_available() -> bool:
    """Whether the GL viewer can run here: Qt's GL classes, the shaders, and a 3.3 context."""
    if os.environ.get(GL_ENV, "") == "0" or QOpenGLWidget is None or shaders_dir() is None:
        return False
    app = QtGui.QGuiApplication.instance()
    if app is None or QtGui.QGuiApplication.platformName() in ("offscreen", "minimal"):
        return False
    ctx = QtGui.QOpenGLContext()
    ctx.setFormat(gl_format())
    if not ctx.create():
        return False
    surface = QtGui.QOffscreenSurface()
    surface.setFormat(ctx.format())
    surface.create()
    try:
        if not ctx.makeCurrent(surface):
            return False
        version = ctx.format().version()
        ctx.doneCurrent()
        return tuple(version) >= (3, 3)
    finally:
        surface.destroy()


if QOpenGLWidget is not None:

    class GlCanvas(_CanvasMixin, QOpenGLWidget):
        """Draws with the GLSL overlay shader; emits ``failed`` if the shaders do not build."""

        wipe_moved = Signal(float)
        failed = Signal(str)
        backend = "gl"

        def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
            super().__init__(parent)
            self._init_state()
            self.setFormat(gl_format())
            self.setMinimumSize(160, 100)
            self.setSizePolicy(
                QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding
            )
            self._program: QOpenGLShaderProgram | None = None
            self._vao: QOpenGLVertexArrayObject | None = None
            self._textures: dict[str, QOpenGLTexture] = {}
            self._uploaded: FramePreview | None = None
            self.error = ""

        def show_preview(
            self, preview: FramePreview | None, mode: ViewMode, wipe: float, note: str = ""
        ) -> None:
            # The textures hold the prepared pictures (a no-op for the viewer's, which come
            # prepared with its exposure, gamma and gain; a raw preview gets the neutral view).
            shown = prepare(preview, mode) if preview is not None else None
            self.preview, self.mode, self.wipe, self.note = shown, mode, wipe, note
            self.update()

        def rendered(self) -> QtGui.QImage:
            return self.grabFramebuffer()

        # ---- GL
        def initializeGL(self) -> None:  # noqa: N802
            folder = shaders_dir()
            program = QOpenGLShaderProgram(self)
            ok = False
            if folder is not None:
                ok = program.addShaderFromSourceCode(
                    QOpenGLShader.ShaderTypeBit.Vertex, (folder / "fullscreen.vert").read_text()
                )
                ok = ok and program.addShaderFromSourceCode(
                    QOpenGLShader.ShaderTypeBit.Fragment,
                    (folder / "quadmask_overlay.frag").read_text(),
                )
                ok = ok and program.link()
            if not ok:
                self.error = program.log() or "the GLSL shaders were not found"
                log.warning("GL viewer unavailable, drawing on the CPU: %s", self.error)
                QtCore.QTimer.singleShot(0, lambda: self.failed.emit(self.error))
                return
            self._program = program
            self._vao = QOpenGLVertexArrayObject(self)
            self._vao.create()  # core profile: a draw needs a bound VAO even without attributes
            self.context().aboutToBeDestroyed.connect(self._release_gl)

        def _release_gl(self) -> None:
            # GL objects die with the context current, or the driver keeps them.
            self.makeCurrent()
            for tex in self._textures.values():
                tex.destroy()
            self._textures.clear()
            self._uploaded = None
            if self._vao is not None:
                self._vao.destroy()
            self.doneCurrent()

        def _texture(self, key: str, image: QtGui.QImage, nearest: bool) -> QOpenGLTexture:
            old = self._textures.pop(key, None)
            if old is not None:
                old.destroy()
            tex = QOpenGLTexture(image, QOpenGLTexture.MipMapGeneration.DontGenerateMipMaps)
            filt = QOpenGLTexture.Filter.Nearest if nearest else QOpenGLTexture.Filter.Linear
            tex.setMinMagFilters(filt, filt)
            tex.setWrapMode(QOpenGLTexture.WrapMode.ClampToEdge)
            self._textures[key] = tex
            return tex

        def _upload(self, p: FramePreview) -> None:
            self._texture("plate", qimage_from_rgb8(p.plate), False)
            self._texture(
                "result", qimage_from_rgb8(p.result if p.result is not None else p.plate), False
            )
            qm = p.quadmask if p.quadmask is not None else np.full(p.plate.shape[:2], 255, np.uint8)
            # R8 via Grayscale8: the shader reads code / 255 and must never see blended codes.
            self._texture("quadmask", qimage_from_grey8(qm), True)
            self._uploaded = p

        def paintGL(self) -> None:  # noqa: N802
            f = self.context().functions()
            f.glClearColor(BACKGROUND.redF(), BACKGROUND.greenF(), BACKGROUND.blueF(), 1.0)
            f.glClear(GL_COLOR_BUFFER_BIT)
            rect = self.image_rect()
            p = self.preview
            if self._program is not None and p is not None and not rect.isEmpty():
                if self._uploaded is not p:
                    self._upload(p)
                self._draw(f, p, rect)
            if self.decorate:
                painter = QtGui.QPainter(self)
                paint_decorations(painter, rect, self.mode, self.wipe, self.note, self.rect())
                painter.end()

        def _draw(self, f: QtGui.QOpenGLFunctions, p: FramePreview, rect: QtCore.QRectF) -> None:
            dpr = self.devicePixelRatioF()
            x, w = round(rect.left() * dpr), round(rect.width() * dpr)
            h = round(rect.height() * dpr)
            y = round((self.height() - rect.bottom()) * dpr)  # GL's origin is bottom-left
            f.glViewport(x, y, w, h)
            prog, vao = self._program, self._vao
            assert prog is not None and vao is not None
            prog.bind()
            vao.bind()
            set_i = getattr(prog, "setUniformValue1i", prog.setUniformValue)
            set_f = getattr(prog, "setUniformValue1f", prog.setUniformValue)
            # By location, not by name: the bindings' stubs type a uniform's name as bytes, and
            # the by-name setters only look the location up themselves.
            loc = prog.uniformLocation
            # Textures hold the image top row first: flip v so it shows upright.
            prog.setUniformValue(loc("uv_scale"), QtGui.QVector2D(1.0, -1.0))
            prog.setUniformValue(loc("uv_offset"), QtGui.QVector2D(0.0, 1.0))
            set_i(loc("plate"), 0)
            set_i(loc("quadmask"), 1)
            opacity_at = loc("opacity")

            def draw(plate_key: str, opacity: float) -> None:
                f.glActiveTexture(GL_TEXTURE0)
                self._textures[plate_key].bind()
                f.glActiveTexture(GL_TEXTURE0 + 1)
                self._textures["quadmask"].bind()
                set_f(opacity_at, float(opacity))
                f.glDrawArrays(GL_TRIANGLES, 0, 3)

            if self.mode is ViewMode.OVERLAY:
                draw("plate", OVERLAY_OPACITY)
            elif self.mode is ViewMode.SOURCE:
                draw("plate", 0.0)  # opacity 0 passes the plate through unchanged
            elif self.mode in (ViewMode.RESULT, ViewMode.DIFFERENCE):
                draw("result", 0.0)  # prepare() put the difference in the result
            else:
                draw("result", 0.0)
                col = wipe_column(w, self.wipe)
                f.glEnable(GL_SCISSOR_TEST)
                f.glScissor(x, y, col, h)
                draw("plate", 0.0)
                f.glDisable(GL_SCISSOR_TEST)
            for tex in self._textures.values():
                tex.release()
            vao.release()
            prog.release()
            f.glActiveTexture(GL_TEXTURE0)

else:  # pragma: no cover
    GlCanvas = None  # type: ignore[assignment,misc]  # None: no GL here, make_canvas checks


def make_canvas(parent: QtWidgets.QWidget | None = None, prefer_gl: bool = True) -> _CanvasMixin:
    """The GL canvas where a GL 3.3 context exists, else the CPU canvas."""
    if prefer_gl and GlCanvas is not None and gl_available():
        return GlCanvas(parent)
    return CpuCanvas(parent)


# --------------------------------------------------------------------------- scrubbing


class FrameStrip(QtWidgets.QWidget):
    """A timeline bar: frames with a result are marked as they arrive; click or drag to scrub."""

    frame_picked = Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.first, self.last = 0, 0
        self.current = 0
        self.done: set[int] = set()
        #: Remove-matte coverage per frame (0..1), drawn as a line over the bar.
        self.coverage: dict[int, float] = {}
        #: Frames a matte warning names, marked red.
        self.flagged: set[int] = set()
        self.setMinimumHeight(22)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed
        )
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def set_range(self, first: int, last: int) -> None:
        self.first, self.last = first, max(first, last)
        self.done = {f for f in self.done if first <= f <= last}
        self.update()

    def _x(self, frame: float) -> float:
        n = self.last - self.first + 1
        return (frame - self.first) / n * self.width()

    def frame_at(self, x: float) -> int:
        n = self.last - self.first + 1
        return int(np.clip(self.first + int(x / max(1, self.width()) * n), self.first, self.last))

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        h = self.height()
        p.fillRect(self.rect(), QtGui.QColor(55, 55, 58))
        if not self.isEnabled():
            p.end()
            return
        green = QtGui.QColor(86, 180, 120)
        for f in self.done:
            x0, x1 = self._x(f), self._x(f + 1)
            p.fillRect(QtCore.QRectF(x0, 4, max(1.0, x1 - x0), h - 8), green)
        red = QtGui.QColor(213, 94, 0)
        for f in self.flagged:
            x0, x1 = self._x(f), self._x(f + 1)
            p.fillRect(QtCore.QRectF(x0, h - 4, max(1.0, x1 - x0), 4), red)
        if self.coverage:
            # Coverage on a square-root scale: a 1% matte still reads, a full frame hits the top.
            top = max(self.coverage.values())
            scale = (h - 6) / max(np.sqrt(top), 1e-6)
            path = QtGui.QPainterPath()
            for i, f in enumerate(sorted(self.coverage)):
                pt = QtCore.QPointF(
                    self._x(f + 0.5), h - 3 - float(np.sqrt(self.coverage[f])) * scale
                )
                path.moveTo(pt) if i == 0 else path.lineTo(pt)
            p.setPen(QtGui.QPen(QtGui.QColor(230, 230, 230, 200), 1.0))
            p.drawPath(path)
        x0, x1 = self._x(self.current), self._x(self.current + 1)
        p.fillRect(QtCore.QRectF(x0, 0, max(2.0, x1 - x0), h), QtGui.QColor(240, 200, 80))
        p.end()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self.frame_picked.emit(self.frame_at(_event_x(event)))

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.frame_picked.emit(self.frame_at(_event_x(event)))


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that, squeezed (the panel docked in a narrow pane), ends in "…" instead
    of being cut off mid-text; ``text()`` and the tooltip keep the full text."""

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self.setToolTip(text)
        self.update()

    def displayed_text(self) -> str:
        """The text as drawn at the label's width now: whole, or elided at the right."""
        return self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width()
        )

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802
        # Room for "…" only: the row gives the rest, up to sizeHint (the full text).
        hint = super().minimumSizeHint()
        fm = self.fontMetrics()
        m = self.contentsMargins()
        return QtCore.QSize(fm.horizontalAdvance("…") + m.left() + m.right(), hint.height())

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        painter = QtGui.QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment()), self.displayed_text())
        painter.end()


class ViewerWidget(QtWidgets.QWidget):
    """Mode buttons, the canvas, and a frame strip; frames load on a worker thread."""

    frame_shown = Signal(int)
    mode_changed = Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None, prefer_gl: bool = True) -> None:
        super().__init__(parent)
        self.source: PreviewSource | None = None
        self.frames: list[int] = []
        self._frame = 0
        self._mode = ViewMode.OVERLAY
        self._wipe = 0.5
        self.cache: OrderedDict[int, FramePreview] = OrderedDict()
        self.results: set[int] = set()
        #: The frames that get a result, when fewer than ``frames`` (a preview writes only its
        #: frames; the rest of its window is context); None: every frame.
        self.expected: frozenset[int] | None = None
        self.load_errors: dict[int, str] = {}
        self._reread: set[int] = set()
        self._view = ViewSettings()
        #: The mattes' coverage per frame (preview before Run) and the warnings it raises.
        self.coverage: dict[int, MatteCoverage] = {}
        self.warnings: list[MatteWarning] = []
        self.coverage_errors: dict[int, str] = {}
        self._scan_token = 0
        self.scanning = False
        #: What to say when there is nothing to show (the panel says why).
        self.empty_note = (
            "fill in the plate and remove matte to preview them, or pick a job in History"
        )

        self.mode_buttons: dict[ViewMode, QtWidgets.QToolButton] = {}
        top = QtWidgets.QHBoxLayout()
        group = QtWidgets.QButtonGroup(self)
        group.setExclusive(True)
        for mode in ViewMode:
            b = QtWidgets.QToolButton()
            b.setText(mode.label)
            b.setCheckable(True)
            b.setChecked(mode is self._mode)
            b.setStyleSheet(MODE_BUTTON_STYLE)
            b.clicked.connect(lambda _=False, m=mode: self.set_mode(m))
            group.addButton(b)
            top.addWidget(b)
            self.mode_buttons[mode] = b
        top.addStretch(1)
        self.follow = QtWidgets.QCheckBox("Follow")
        self.follow.setToolTip("jump to each frame as its result arrives")
        self.follow.setChecked(True)
        top.addWidget(self.follow)

        # QC controls: zoom, exposure and gamma (scene-linear, before the display curve), the
        # difference view's gain, the wipe's matte outline.
        qc = QtWidgets.QHBoxLayout()
        self.fit_button = QtWidgets.QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("fit the picture to the viewer")
        self.fit_button.clicked.connect(self.zoom_fit)
        self.one_to_one_button = QtWidgets.QToolButton()
        self.one_to_one_button.setText("1:1")
        self.one_to_one_button.setToolTip(
            "one plate pixel per screen pixel (wheel zooms, drag pans)"
        )
        self.one_to_one_button.clicked.connect(self.zoom_one_to_one)
        self.exposure_spin = QtWidgets.QDoubleSpinBox()
        self.exposure_spin.setRange(-16.0, 16.0)
        self.exposure_spin.setSingleStep(0.5)
        self.exposure_spin.setDecimals(1)
        self.exposure_spin.setSuffix(" stops")
        self.exposure_spin.setToolTip("exposure of the scene-linear plate and result, in stops")
        self.gamma_spin = QtWidgets.QDoubleSpinBox()
        self.gamma_spin.setRange(0.1, 8.0)
        self.gamma_spin.setSingleStep(0.1)
        self.gamma_spin.setValue(1.0)
        self.gamma_spin.setToolTip(
            "gamma on linear values, after exposure, before the display curve"
        )
        self.gain_spin = QtWidgets.QDoubleSpinBox()
        self.gain_spin.setRange(1.0, 10000.0)
        self.gain_spin.setValue(1.0)
        self.gain_spin.setToolTip("Difference view: |result - plate| multiplied by this")
        self.outline_check = QtWidgets.QCheckBox("Outline")
        self.outline_check.setToolTip("draw the edited region's outline in Before / After")
        self.outline_check.setChecked(True)
        for sp in (self.exposure_spin, self.gamma_spin, self.gain_spin):
            sp.setKeyboardTracking(False)
            sp.valueChanged.connect(self._on_view_controls)
        self.outline_check.toggled.connect(self._on_view_controls)
        qc.addWidget(self.fit_button)
        qc.addWidget(self.one_to_one_button)
        for label, spin in (
            ("Exposure", self.exposure_spin),
            ("Gamma", self.gamma_spin),
            ("Gain", self.gain_spin),
        ):
            qc.addWidget(QtWidgets.QLabel(label))
            qc.addWidget(spin)
        qc.addWidget(self.outline_check)
        # The rest of the row, right-aligned. When the row has no room for it whole (docked
        # narrow) it moves to a row of its own below, and elides there rather than be cut off
        # (its tooltip is the full text: ElidedLabel); see _place_coverage_label.
        self._qc_row = qc
        self._coverage_row = QtWidgets.QHBoxLayout()
        self.coverage_label = ElidedLabel("")
        self.coverage_label.setStatusTip(
            "how much of this frame the remove (and affected) matte covers, before dilation"
        )
        self.coverage_label.setWhatsThis(self.coverage_label.statusTip())
        self.coverage_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        qc.addWidget(self.coverage_label, 1)
        self.warnings_label = QtWidgets.QLabel("")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #e69f00;")
        self.warnings_label.hide()

        self.canvas = make_canvas(self, prefer_gl)
        self.canvas.wipe_moved.connect(self._on_wipe)
        failed = getattr(self.canvas, "failed", None)  # the GL canvas's shaders may not build
        if failed is not None:
            failed.connect(self._fall_back_to_cpu)

        bottom = QtWidgets.QHBoxLayout()
        self.prev_button = QtWidgets.QToolButton()
        self.prev_button.setArrowType(Qt.ArrowType.LeftArrow)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.frame_box = QtWidgets.QSpinBox()
        self.frame_box.setKeyboardTracking(False)
        self.frame_box.valueChanged.connect(self._scrub)
        self.next_button = QtWidgets.QToolButton()
        self.next_button.setArrowType(Qt.ArrowType.RightArrow)
        self.next_button.clicked.connect(lambda: self.step(1))
        self.strip = FrameStrip()
        self.strip.frame_picked.connect(self._scrub)
        self.count_label = QtWidgets.QLabel("no frames")
        for w in (self.prev_button, self.frame_box, self.next_button):
            bottom.addWidget(w)
        bottom.addWidget(self.strip, 1)
        bottom.addWidget(self.count_label)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        qc_box = QtWidgets.QVBoxLayout()  # one layout item: the canvas stays at its index
        qc_box.setSpacing(2)
        qc_box.addLayout(qc)
        qc_box.addLayout(self._coverage_row)
        lay.addLayout(qc_box)
        lay.addWidget(self.canvas, 1)
        lay.addLayout(bottom)
        lay.addWidget(self.warnings_label)
        self._canvas_index = 2

        self._loader_thread = QtCore.QThread(self)
        self._loader_thread.setObjectName("void-preview-loader")
        self.loader = PreviewLoader()
        self.loader.moveToThread(self._loader_thread)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self._loader_thread.start()
        self._coverage_thread = QtCore.QThread(self)
        self._coverage_thread.setObjectName("void-matte-coverage")
        self.scanner = CoverageScanner()
        self.scanner.moveToThread(self._coverage_thread)
        self.scanner.measured.connect(self._on_coverage)
        self.scanner.failed.connect(self._on_coverage_failed)
        self.scanner.finished.connect(self._on_coverage_finished)
        self._coverage_thread.start()
        self._update_controls()
        self._show()

    # ------------------------------------------------------------------ public API
    @property
    def backend(self) -> str:
        return self.canvas.backend

    def mode(self) -> ViewMode:
        return self._mode

    def frame(self) -> int:
        return self._frame

    def wipe(self) -> float:
        return self._wipe

    def view_settings(self) -> ViewSettings:
        return self._view

    def set_view(self, **changes: float | bool) -> None:
        """Change exposure, gamma, diff_gain or outline (the controls follow)."""
        view = dataclasses.replace(self._view, **changes)  # type: ignore[arg-type]
        for sp, value in (
            (self.exposure_spin, view.exposure),
            (self.gamma_spin, view.gamma),
            (self.gain_spin, view.diff_gain),
        ):
            sp.blockSignals(True)
            sp.setValue(float(value))
            sp.blockSignals(False)
        self.outline_check.blockSignals(True)
        self.outline_check.setChecked(bool(view.outline))
        self.outline_check.blockSignals(False)
        self._view = view
        self._show()

    def zoom_fit(self) -> None:
        self.canvas.set_zoom(None)

    def zoom_one_to_one(self) -> None:
        """One plate pixel per device pixel, centred."""
        p = self.canvas.preview or self.cache.get(self._frame)
        if p is not None:
            self.canvas.set_zoom(one_to_one_zoom(p, self.canvas.devicePixelRatioF()))

    def set_source(
        self, source: PreviewSource | None, frames: list[int], scan_coverage: bool = True
    ) -> None:
        """Show a new job's frames (or a job yet to run); results already on disk appear as
        they are loaded. With a remove matte, its coverage of every frame is measured on a
        worker thread and checked for empty, full-frame and flickering mattes."""
        self.source = source
        self.frames = sorted(frames)
        self.expected = None
        self.cache.clear()
        self.results.clear()
        self.load_errors.clear()
        self._reread.clear()
        self.strip.done.clear()
        self.coverage.clear()
        self.coverage_errors.clear()
        self.warnings = []
        self.strip.coverage.clear()
        self.strip.flagged.clear()
        self._show_warnings()
        self._scan_token += 1
        can_scan = getattr(source, "remove", None) is not None and hasattr(source, "coverage")
        if scan_coverage and can_scan and self.frames:
            self.scanning = True
            self.scanner.scan(self._scan_token, source, self.frames)
        else:
            self.scanning = False
            self.scanner.stop()
        if self.frames:
            self.strip.set_range(self.frames[0], self.frames[-1])
            self.frame_box.blockSignals(True)
            self.frame_box.setRange(self.frames[0], self.frames[-1])
            self.frame_box.blockSignals(False)
        self._frame = self.frames[0] if self.frames else 0
        self._update_controls()
        self._show()

    def set_expected(self, frames: Iterable[int] | None) -> None:
        """Only ``frames`` of the shown ones get a result (a preview's): the count says
        "1/1 results", not "1/21", once they are written. None: every frame."""
        self.expected = None if frames is None else frozenset(frames)
        self._update_controls()

    def mark_results(self, frames: list[int]) -> None:
        """Results for ``frames`` are on disk now (during a job, as they arrive)."""
        new = [f for f in frames if f not in self.results]
        if not new:
            return
        self.results.update(new)
        self.strip.done.update(new)
        for f in new:
            cached = self.cache.get(f)
            if cached is not None and cached.result is None:
                del self.cache[f]  # loaded before its result existed
        self._update_controls()
        if self.follow.isChecked():
            self.set_frame(max(new))
        elif self._frame in new:
            self._show()

    def set_frame(self, frame: int) -> None:
        if not self.frames:
            return
        frame = int(np.clip(frame, self.frames[0], self.frames[-1]))
        if frame == self._frame and frame in self.cache:
            return
        self._frame = frame
        self._update_controls()
        self._show()

    def step(self, delta: int) -> None:
        self._scrub(self._frame + delta)

    def _scrub(self, frame: int) -> None:
        # The artist took the playhead: stop jumping to each new result.
        self.follow.setChecked(False)
        self.set_frame(frame)

    def set_mode(self, mode: ViewMode | str) -> None:
        mode = ViewMode(mode)
        self._mode = mode
        self.mode_buttons[mode].setChecked(True)
        self._show()
        self.mode_changed.emit(mode.value)

    def set_wipe(self, position: float) -> None:
        self._wipe = float(np.clip(position, 0.0, 1.0))
        self._show()

    def current_preview(self) -> FramePreview | None:
        return self.cache.get(self._frame)

    def rendered(self) -> QtGui.QImage | None:
        return self.canvas.rendered()

    def shutdown(self) -> None:
        self.scanner.stop()
        self._coverage_thread.quit()
        self._coverage_thread.wait(5000)
        self._loader_thread.quit()
        self._loader_thread.wait(5000)

    # ------------------------------------------------------------------ matte coverage
    def _on_coverage(self, token: int, batch: list[MatteCoverage]) -> None:
        if token != self._scan_token:
            return
        for c in batch:
            self.coverage[c.frame] = c
            self.strip.coverage[c.frame] = c.remove
        self._update_warnings()
        self._update_coverage_label()
        self.strip.update()

    def _on_coverage_failed(self, token: int, frame: int, message: str) -> None:
        if token == self._scan_token:
            self.coverage_errors[frame] = message

    def _on_coverage_finished(self, token: int) -> None:
        if token == self._scan_token:
            self.scanning = False
            self._update_warnings()

    def _update_warnings(self) -> None:
        self.warnings = matte_warnings({f: c.remove for f, c in self.coverage.items()})
        self.strip.flagged = {f for w in self.warnings for f in w.frames}
        self._show_warnings()

    def _show_warnings(self) -> None:
        lines = [f"⚠ {w.message}" for w in self.warnings]
        if self.coverage_errors:
            first = min(self.coverage_errors)
            lines.append(
                f"⚠ {len(self.coverage_errors)} matte frame(s) unreadable, e.g. "
                f"{first}: {self.coverage_errors[first]}"
            )
        self.warnings_label.setText("\n".join(lines))
        self.warnings_label.setVisible(bool(lines))

    def _update_coverage_label(self) -> None:
        c = self.coverage.get(self._frame)
        if c is None:
            self.coverage_label.setText("")
            self._place_coverage_label()
            return
        text = f"remove {c.remove:.1%}"
        if c.affected is not None:
            text += f" · affected {c.affected:.1%}"
        self.coverage_label.setText(text)
        self._place_coverage_label()

    def coverage_label_wrapped(self) -> bool:
        """Whether the coverage label sits on its own row (the control row had no room)."""
        return self._coverage_row.indexOf(self.coverage_label) >= 0

    def _place_coverage_label(self) -> None:
        """The coverage label at the right of the control row when it fits there whole, else
        on a row of its own below (where it elides if even that is too narrow)."""
        row, label = self._qc_row, self.coverage_label
        items = [row.itemAt(i) for i in range(row.count())]
        others = [w for it in items if it is not None and (w := it.widget()) is not None]
        others = [w for w in others if w is not label and not w.isHidden()]
        need = sum(w.sizeHint().width() for w in others)
        need += row.spacing() * len(others) + label.sizeHint().width()
        outer = self.layout()
        m = outer.contentsMargins() if outer is not None else QtCore.QMargins()
        room = self.width() - m.left() - m.right()
        wrap = bool(label.text()) and need > room
        if wrap == self.coverage_label_wrapped():
            return
        (row if wrap else self._coverage_row).removeWidget(label)
        if wrap:
            self._coverage_row.addWidget(label, 1)
        else:
            row.addWidget(label, 1)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._place_coverage_label()

    def _on_view_controls(self, *_: object) -> None:
        self._view = ViewSettings(
            self.exposure_spin.value(),
            self.gamma_spin.value(),
            self.gain_spin.value(),
            self.outline_check.isChecked(),
        )
        self._show()

    # ------------------------------------------------------------------ internals
    def _update_controls(self) -> None:
        self.strip.current = self._frame
        self.strip.update()
        if self.frame_box.value() != self._frame:
            self.frame_box.blockSignals(True)
            self.frame_box.setValue(self._frame)
            self.frame_box.blockSignals(False)
        n = len(self.frames)
        if n and self.expected is not None:
            done = len(self.results & self.expected)
            self.count_label.setText(f"{done}/{len(self.expected)} results")
        else:
            self.count_label.setText(f"{len(self.results)}/{n} results" if n else "no frames")
        self._update_coverage_label()
        for w in (self.prev_button, self.next_button, self.frame_box, self.strip):
            w.setEnabled(bool(n))

    def _note(self, p: FramePreview | None) -> str:
        if self._frame in self.load_errors:
            return f"frame {self._frame}: {self.load_errors[self._frame]}"
        if p is None:
            return f"loading frame {self._frame}…" if self.frames else self.empty_note
        if self._mode in (ViewMode.RESULT, ViewMode.WIPE, ViewMode.DIFFERENCE) and p.result is None:
            return f"frame {self._frame}: no result yet"
        return ""

    def _show(self) -> None:
        p = self.cache.get(self._frame)
        if p is not None:
            self.cache.move_to_end(self._frame)
            self.canvas.show_preview(
                prepare(p, self._mode, self._view), self._mode, self._wipe, self._note(p)
            )
            self.frame_shown.emit(self._frame)
            return
        if self.source is not None and self.frames and self._frame not in self.load_errors:
            self.loader.request(self.source, self._frame)
        # Keep the last picture up while the next one loads: scrubbing stays smooth.
        shown = self.canvas.preview
        stale = (
            self.cache[shown.frame]
            if shown is not None
            and shown.frame in self.cache
            and self._frame not in self.load_errors
            else None
        )
        self.canvas.show_preview(
            prepare(stale, self._mode, self._view) if stale is not None else None,
            self._mode,
            self._wipe,
            self._note(None),
        )

    def _on_loaded(self, preview: FramePreview) -> None:
        if (
            preview.frame in self.results
            and preview.result is None
            and preview.frame not in self._reread
        ):
            # The result landed after the loader read the frame: read it again (once: a
            # result deleted from disk must not make the loader spin).
            self._reread.add(preview.frame)
            if self.source is not None:
                self.loader.request(self.source, preview.frame)
        self.cache[preview.frame] = preview
        self.cache.move_to_end(preview.frame)
        while len(self.cache) > 1 and (
            len(self.cache) > CACHE_FRAMES
            or sum(c.nbytes for c in self.cache.values()) > CACHE_BYTES
        ):
            self.cache.popitem(last=False)
        if preview.result is not None and preview.frame not in self.results:
            self.results.add(preview.frame)
            self.strip.done.add(preview.frame)
            self._update_controls()
        if preview.frame == self._frame:
            self._show()

    def _on_load_failed(self, frame: int, message: str) -> None:
        log.warning("viewer could not load frame %d: %s", frame, message)
        self.load_errors[frame] = message
        if frame == self._frame:
            self._show()

    def _on_wipe(self, position: float) -> None:
        self._wipe = position
        if self.canvas.preview is not None:
            self.canvas.show_preview(self.canvas.preview, self._mode, position, self.canvas.note)

    def _fall_back_to_cpu(self, reason: str) -> None:
        old = self.canvas
        self.canvas = CpuCanvas(self)
        self.canvas.set_zoom(old.zoom, old.pan)
        self.canvas.wipe_moved.connect(self._on_wipe)
        lay = self.layout()
        assert lay is not None  # set in __init__
        lay.replaceWidget(old, self.canvas)
        old.hide()
        old.deleteLater()
        self._show()


__all__ = [
    # The picture maths lives in void_client.preview; these names stay importable from here.
    "FramePreview",
    "PreviewSource",
    "SequencePreviewSource",
    "ViewMode",
    "compose",
    "wipe_column",
    # The Qt half.
    "CpuCanvas",
    "FrameStrip",
    "GlCanvas",
    "ViewerWidget",
    "fit_rect",
    "gl_available",
    "make_canvas",
    "paint_decorations",
    "shaders_dir",
]
