"""Where a host node's run is, as the host shows it: its stage and a one-line status, built
from the ``void-remove --progress jsonl`` events (docs/protocol.md, "Progress stream (jsonl)").
Standard library only, Python 3.6 (docs/nuke.md, "Host isolation").

A run has stages of its own around the worker's (``starting``, ``exporting``, ``reused``);
while the job runs the stream's ``state.stage`` (the daemon job's state: ``queued``,
``receiving``, ``running``...) passes through, and the final event ends it in ``done``,
``failed`` or ``cancelled``.
"""

from typing import Any, Dict

from void_hostlink.compat import dataclass
from void_hostlink.stream import (
    EVENT_CANCELLED,
    EVENT_DONE,
    EVENT_FAILED,
    EVENT_FRAME,
    EVENT_STATE,
    EVENT_WARNING,
)

STARTING = "starting"
EXPORTING = "exporting"
#: Ended without a job: an earlier run with the same fingerprint left every result frame.
REUSED = "reused"
DONE = EVENT_DONE
FAILED = EVENT_FAILED
CANCELLED = EVENT_CANCELLED
FINAL_STAGES = frozenset([DONE, FAILED, CANCELLED, REUSED])


@dataclass
class RunState:
    """Where a run is: a status line and a percentage."""

    total: int
    stage: str = STARTING
    window: int = 0
    windows: int = 0
    written: int = 0
    queue_position: int = 0
    eta_s: float = -1.0
    detail: str = ""
    seconds: float = 0.0
    job: str = ""
    #: The last ``warning`` event's text (a missing prompt, ...), shown after the status.
    warning: str = ""
    error_code: str = ""
    error_message: str = ""

    def update(self, event: Dict[str, Any]) -> None:
        """Apply one stream event."""
        kind = event.get("event")
        if event.get("job"):
            self.job = str(event["job"])
        if kind == EVENT_STATE:
            self.stage = str(event.get("stage") or self.stage)
            self.window = int(event.get("window") or 0)
            self.windows = int(event.get("windows") or 0)
            self.queue_position = int(event.get("queue_position") or 0)
            eta = event.get("eta_s")
            self.eta_s = float(eta) if eta is not None else -1.0
            self.detail = str(event.get("message") or "")
            self.total = int(event.get("total") or self.total)
            # The stream's count may lag the frame events already seen: never go back.
            self.written = max(self.written, int(event.get("written") or 0))
        elif kind == EVENT_FRAME:
            self.written += 1
        elif kind == EVENT_WARNING:
            self.warning = str(event.get("message") or "")
        elif kind == EVENT_DONE:
            self.stage = DONE
            self.written = int(event.get("written", self.written))
            self.seconds = float(event.get("seconds") or 0.0)
        elif kind == EVENT_CANCELLED:
            self.stage = CANCELLED
        elif kind == EVENT_FAILED:
            self.stage = FAILED
            error = event.get("error") or {}
            self.error_code = str(error.get("code") or "internal")
            self.error_message = str(error.get("message") or "the run ended without a result")

    @property
    def finished(self) -> bool:
        return self.stage in FINAL_STAGES

    @property
    def percent(self) -> int:
        if self.stage in (DONE, REUSED):
            return 100
        return int(100 * self.written / self.total) if self.total else 0

    def text(self) -> str:
        if self.stage == FAILED:
            return "error: {}".format(self.error_message or "unknown")
        if self.stage == CANCELLED:
            return "cancelled ({}/{} frames written)".format(self.written, self.total)
        if self.stage == DONE:
            return "done: {} frames in {:.1f} s".format(self.written, self.seconds)
        if self.stage == REUSED:
            return "up to date: {} frames from an earlier run".format(self.total)
        if self.queue_position > 0:
            parts = ["queued (position {})".format(self.queue_position)]
        else:
            parts = [self.stage]
        if self.windows:
            parts.append("window {}/{}".format(min(self.window + 1, self.windows), self.windows))
        parts.append("{}/{} frames".format(self.written, self.total))
        if self.eta_s >= 0:
            parts.append("ETA {:.0f} s".format(self.eta_s))
        line = ", ".join(parts)
        return "{}; {}".format(line, self.warning) if self.warning else line
