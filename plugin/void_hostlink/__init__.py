"""The thin, standard-library-only link between a host application and the ``void-remove`` worker.

Nuke and Resolve import this package (and nothing else of ours) to run ``void-remove ...
--progress jsonl`` in a separate process and read its machine-readable progress stream
(docs/protocol.md, "Progress stream (jsonl)"; docs/architecture.md, "Host isolation").

Rules kept by tests/unit/test_hostlink_isolation.py: standard library only, no import of any
other package of ours, and Python 3.6 (issue 16: any Resolve Python from 3.6, Nuke 13's 3.7 and
later). Every file parses as 3.6 (``ast.parse(feature_version=(3, 6))``, everywhere); where a real
3.6 is installed the package is imported and a worker run there, in a bare interpreter. 3.6 means:
``typing`` spellings (``Optional[str]``, ``List[int]``), no postponed annotations, and
``dataclass`` from :mod:`void_hostlink.compat` (the standard library's on 3.7+, a stand-in on 3.6).
"""

STREAM_VERSION = 1


class HostLinkError(Exception):
    """A problem the host can show the artist: ``code`` (stable, for programs) and ``message``
    (one line that says what to do)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return "{}: {}".format(self.code, self.message)


# Re-exports below the definitions: the submodules import HostLinkError from here.
from void_hostlink.locate import CONFIG_NAME, find_void_remove, record_executable  # noqa: E402
from void_hostlink.process import VoidRemoveProcess, run_void_remove  # noqa: E402
from void_hostlink.stream import (  # noqa: E402
    EVENT_CANCELLED,
    EVENT_DONE,
    EVENT_FAILED,
    EVENT_FRAME,
    EVENT_START,
    EVENT_STATE,
    EVENT_WARNING,
    FINAL_EVENTS,
    parse_event,
)

__all__ = [
    "CONFIG_NAME",
    "EVENT_CANCELLED",
    "EVENT_DONE",
    "EVENT_FAILED",
    "EVENT_FRAME",
    "EVENT_START",
    "EVENT_STATE",
    "EVENT_WARNING",
    "FINAL_EVENTS",
    "STREAM_VERSION",
    "HostLinkError",
    "VoidRemoveProcess",
    "find_void_remove",
    "parse_event",
    "record_executable",
    "run_void_remove",
]
