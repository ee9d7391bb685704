"""Where a host run is, as a host shows it: its stage, a status line and a percentage.

A run has stages of its own around the daemon job's (:class:`RunStage`: ``starting``,
``checking``, ``connecting``, and ``reused`` when an earlier run's results are current); while
the job runs, the daemon's :class:`~void_client.job_state.JobState` passes through as the stage,
and a run ends in one of :data:`FINAL_STAGES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.job_state import FINAL_STATES, JobState


class RunStage(str, Enum):
    """A host run's own stages; between ``connecting`` and the end the daemon job's
    :class:`~void_client.job_state.JobState` (``queued``, ``receiving``, ``running``) is the stage."""

    STARTING = "starting"
    #: The exports are being checked (every frame there, the remove matte not empty).
    CHECKING = "checking"
    CONNECTING = "connecting"
    #: Ended without a job: an earlier run with the same fingerprint left every result frame.
    REUSED = "reused"

    def __str__(self) -> str:  # status lines show "checking", not "RunStage.CHECKING"
        return self.value


#: Stages a run never leaves: the job's final states, and ``reused``.
FINAL_STAGES: frozenset[str] = frozenset({*FINAL_STATES, RunStage.REUSED})


@dataclass
class RunState:
    """Where a run is, as a host shows it: a status line and a percentage."""

    total: int
    #: A :class:`RunStage`, or the daemon job's :class:`JobState` (as sent) while the job runs.
    stage: str = RunStage.STARTING
    window: int = 0
    windows: int = 0
    written: int = 0
    queue_position: int = 0
    eta_s: float = -1.0
    detail: str = ""
    seconds: float = 0.0
    job: str = ""
    error: VoidError | None = None

    def update(self, msg: P.Message) -> None:
        if isinstance(msg, P.Progress):
            self.stage = msg.stage or self.stage
            self.window, self.windows = msg.window, msg.windows
            self.queue_position = msg.queue_position
            self.eta_s = msg.eta_s
            self.detail = msg.message
            self.total = msg.frames_total or self.total
        if msg.job:
            self.job = msg.job

    @property
    def finished(self) -> bool:
        return self.stage in FINAL_STAGES

    @property
    def percent(self) -> int:
        if self.stage in (JobState.DONE, RunStage.REUSED):
            return 100
        return int(100 * self.written / self.total) if self.total else 0

    def text(self) -> str:
        if self.stage == JobState.FAILED:
            return f"error: {self.error.message if self.error else 'unknown'}"
        if self.stage == JobState.CANCELLED:
            return f"cancelled ({self.written}/{self.total} frames written)"
        if self.stage == JobState.DONE:
            return f"done: {self.written} frames in {self.seconds:.1f} s"
        if self.stage == RunStage.REUSED:
            return f"up to date: {self.total} frames from an earlier run"
        parts = [
            f"queued (position {self.queue_position})"
            if self.queue_position > 0
            else str(self.stage)
        ]
        if self.windows:
            parts.append(f"window {min(self.window + 1, self.windows)}/{self.windows}")
        parts.append(f"{self.written}/{self.total} frames")
        if self.eta_s >= 0:
            parts.append(f"ETA {self.eta_s:.0f} s")
        return ", ".join(parts)


def export_error(role: str, exc: BaseException) -> VoidError:
    """A host renderer's failure while exporting ``role``, as the error the artist sees."""
    text = str(exc) or type(exc).__name__
    if "cancel" in text.lower():
        return VoidError(ErrorCode.CANCELLED, f"the {role} export was cancelled")
    return VoidError(ErrorCode.IO_ERROR, f"the {role} export failed to render: {text}", role)
