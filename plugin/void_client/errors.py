"""One error type for the whole project; its codes travel over the wire to the host."""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """Stable, machine-readable error codes. Hosts switch on these, humans read the message."""

    # protocol
    BAD_VERSION = "bad_version"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    SHAPE_MISMATCH = "shape_mismatch"
    NO_CREDIT = "no_credit"
    # job spec and inputs
    BAD_SPEC = "bad_spec"
    UNKNOWN_JOB = "unknown_job"
    UNKNOWN_FRAME = "unknown_frame"
    RESOLUTION_MISMATCH = "resolution_mismatch"
    FRAME_COUNT_MISMATCH = "frame_count_mismatch"
    NAN_IN_INPUT = "nan_in_input"
    MATTE_RANGE = "matte_range"
    EMPTY_MATTE = "empty_matte"
    MISSING_FRAMES = "missing_frames"
    CORRUPT_FRAME = "corrupt_frame"
    PATH_NOT_ALLOWED = "path_not_allowed"
    # engines
    UNKNOWN_ENGINE = "unknown_engine"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    WEIGHTS_MISSING = "weights_missing"
    ENGINE_FAILED = "engine_failed"
    #: A render farm's own client (deadlinecommand, openjd, the OpenCue API) is not installed here.
    FARM_TOOL_MISSING = "farm_tool_missing"
    # runtime
    CANCELLED = "cancelled"
    IO_ERROR = "io_error"
    #: The daemon has as many active jobs as it is configured to hold; retry later.
    QUEUE_FULL = "queue_full"
    #: The daemon serves as many clients as it is configured to (``--max-clients``); retry later.
    BUSY = "busy"
    DAEMON_UNREACHABLE = "daemon_unreachable"
    INTERNAL = "internal"
    # host applications (raised host-side, never by the daemon)
    #: No project, timeline or clip to work on; ``field`` says which.
    NOTHING_SELECTED = "nothing_selected"
    #: The host refused or failed an operation (render, import, placement); ``field`` says which.
    HOST_FAILED = "host_failed"
    #: A frame rate, resolution or codec the flow cannot carry through faithfully.
    UNSUPPORTED_MEDIA = "unsupported_media"


class VoidError(Exception):
    """An error with a code, a message that says what to do, and optionally the offending field."""

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        field: str | None = None,
        job: str | None = None,
    ) -> None:
        self.code = ErrorCode(code)
        self.message = message
        self.field = field
        self.job = job
        super().__init__(f"[{self.code.value}] {message}")

    def to_dict(self) -> dict:
        return {"code": self.code.value, "message": self.message, "field": self.field}
