"""A job's progress as the panel shows it: per window, per step, with an ETA.

:class:`JobProgress` folds the daemon's ``progress`` messages into plain state (no Qt, so it
is easy to test and reuse); :class:`WindowBar` draws it, one segment per temporal window.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from void_client import protocol as P
from void_client.job_state import JobState, is_final
from void_client.panel.qt import QtCore, QtGui, QtWidgets

#: The daemon reports engine steps in ``Progress.message`` as ``"<what> <i>/<n>"``.
STEP_RE = re.compile(r"^(?P<what>.*?)\s*(?P<i>\d+)\s*/\s*(?P<n>\d+)\s*$")


@dataclass
class JobProgress:
    """``stage`` is a daemon :class:`~void_client.job_state.JobState` as sent on the wire, or
    one of the panel's own: ``idle`` (no job yet) and ``detached`` (stopped following it)."""

    job: str = ""
    stage: str = "idle"
    windows: int = 0
    #: Windows finished so far. The daemon runs a job's windows in order, so these are
    #: windows ``0 .. windows_done - 1`` and the one running is ``windows_done``.
    windows_done: int = 0
    cached: set[int] = field(default_factory=set)
    step_what: str = ""
    step: int = 0
    steps: int = 0
    frames_total: int = 0
    frames_received: int = 0
    frames_done: int = 0
    frames_written: int = 0
    #: Frames this client writes when fewer than the job's: a preview computes whole windows
    #: for context but writes only its frames (``RemoveRequest.keep``). 0: every frame.
    frames_kept: int = 0
    queue_position: int = -1
    eta_s: float = -1.0
    eta_at: float = 0.0
    started: float = field(default_factory=time.monotonic)
    finished_at: float = 0.0

    def update(self, msg: P.Progress, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.job = msg.job or self.job
        self.stage = msg.stage or self.stage
        if msg.windows:
            self.windows = msg.windows
        if msg.window > self.windows_done or msg.stage == JobState.DONE:
            # A new window started: the last one's steps are over.
            self.step_what, self.step, self.steps = "", 0, 0
        self.windows_done = max(self.windows_done, min(msg.window, self.windows or msg.window))
        if msg.cached and msg.window > 0:
            self.cached.add(msg.window - 1)
        m = STEP_RE.match(msg.message or "")
        if m:
            self.step_what, self.step, self.steps = m["what"], int(m["i"]), int(m["n"])
        self.frames_total = msg.frames_total or self.frames_total
        self.frames_received = max(self.frames_received, msg.frames_received)
        self.frames_done = max(self.frames_done, msg.frames_done)
        self.queue_position = msg.queue_position
        if msg.eta_s >= 0:
            self.eta_s, self.eta_at = msg.eta_s, now
        if is_final(self.stage) and not self.finished_at:
            self.finished_at = now
        if self.stage == JobState.DONE:
            self.windows_done = self.windows

    def finish(self, stage: str, now: float | None = None) -> None:
        self.stage = str(stage)  # a JobState becomes its wire string, like the daemon's
        self.finished_at = time.monotonic() if now is None else now

    @property
    def frames_out(self) -> int:
        """The frames this client writes, what "frames written" counts against."""
        return self.frames_kept or self.frames_total

    @property
    def running_window(self) -> int | None:
        if self.stage == JobState.RUNNING and self.windows_done < self.windows:
            return self.windows_done
        return None

    @property
    def step_fraction(self) -> float:
        return self.step / self.steps if self.steps else 0.0

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left: the daemon's estimate (per-window times) counted down since it came,
        else this client's frame rate so far; None before there is anything to go on."""
        now = time.monotonic() if now is None else now
        if is_final(self.stage):
            return 0.0
        if self.eta_s >= 0:
            return max(0.0, self.eta_s - (now - self.eta_at))
        done = max(self.frames_done, self.frames_written)
        if done and self.frames_total:
            rate = (now - self.started) / done
            return rate * (self.frames_total - done)
        return None

    def elapsed(self, now: float | None = None) -> float:
        end = self.finished_at or (time.monotonic() if now is None else now)
        return end - self.started

    def describe(self) -> str:
        """One line for the stage label."""
        if self.stage == JobState.QUEUED and self.queue_position > 0:
            ahead = self.queue_position  # the daemon's position 0 is the job it serves now
            return f"queued: {ahead} job{'s' if ahead != 1 else ''} ahead"
        if self.stage == JobState.RECEIVING:
            return f"sending frames {self.frames_received}/{self.frames_total}"
        if self.stage == JobState.RUNNING:
            k = self.running_window
            text = f"running window {k + 1}/{self.windows}" if k is not None else "finishing frames"
            if self.steps:
                text += f" · {self.step_what} {self.step}/{self.steps}".replace("  ", " ")
            return text
        return self.stage


def format_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    s = int(round(s))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class WindowBar(QtWidgets.QWidget):
    """One segment per temporal window: done, from cache, running (with its step fill), pending."""

    COLOURS = {
        "done": QtGui.QColor(86, 180, 120),
        "cached": QtGui.QColor(70, 150, 190),
        "running": QtGui.QColor(240, 170, 60),
        "pending": QtGui.QColor(80, 80, 84),
    }

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.progress = JobProgress()
        self.setMinimumHeight(18)
        self.setMinimumWidth(120)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed
        )

    def set_progress(self, progress: JobProgress) -> None:
        self.progress = progress
        n = progress.windows
        self.setToolTip(
            f"{progress.windows_done}/{n} windows done"
            + (f", {len(progress.cached)} from cache" if progress.cached else "")
            if n
            else ""
        )
        self.update()

    def state_of(self, k: int) -> str:
        p = self.progress
        if k in p.cached:
            return "cached"
        if k < p.windows_done:
            return "done"
        if k == p.running_window:
            return "running"
        return "pending"

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        painter = QtGui.QPainter(self)
        n = self.progress.windows
        r = self.rect().adjusted(0, 2, 0, -2)
        if n <= 0:
            painter.fillRect(r, self.COLOURS["pending"])
            painter.end()
            return
        gap = 3 if r.width() / n > 12 else 1
        seg_w = (r.width() - gap * (n - 1)) / n
        for k in range(n):
            x = r.left() + k * (seg_w + gap)
            seg = QtCore.QRectF(x, r.top(), seg_w, r.height())
            state = self.state_of(k)
            painter.fillRect(seg, self.COLOURS["pending"])
            if state == "running":
                fill = QtCore.QRectF(seg)
                fill.setWidth(seg_w * max(0.04, self.progress.step_fraction))
                painter.fillRect(fill, self.COLOURS["running"])
                painter.setPen(QtGui.QPen(self.COLOURS["running"], 1))
                painter.drawRect(seg.adjusted(0.5, 0.5, -0.5, -0.5))
            elif state != "pending":
                painter.fillRect(seg, self.COLOURS[state])
        painter.end()
