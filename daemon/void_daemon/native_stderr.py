"""Lines native libraries print to stderr, captured into the daemon's own messages.

OpenImageIO's format plugins report some failures twice: through ``geterror()`` (which our
one-line :class:`VoidError` carries) and by printing straight to file descriptor 2 from C
(libpng: ``libpng error: [00][00][00][00]: bad header (invalid type)``). In the daemon those raw
lines land in the log with no job, frame or file attached. :func:`native_stderr` points fd 2 at
a temporary file while an image library call runs; afterwards the lines it caught are returned
(so a failure can carry them) and everything else that was written meanwhile (other threads'
log records, which go through ``sys.stderr`` to the same descriptor) is written back to the
real stderr unchanged. One capture at a time (a lock): used around path-mode file reads on the
receiver threads only. See ``docs/reliability.md`` ("Admission, memory and connections").
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

_lock = threading.Lock()
#: What our own logging writes (text: "2026-12-01 14:47:57,858 LEVEL name: ...", or JSON lines):
#: such lines are passed through, not taken for a library's.
_OURS = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|\{\"t\": |Traceback |\s)")


@contextlib.contextmanager
def native_stderr() -> Iterator[list[str]]:
    """Capture what native code prints on fd 2 during the block; yields the list the captured
    library lines are appended to when the block ends."""
    caught: list[str] = []
    if os.name != "posix":
        yield caught
        return
    with _lock:
        _flush()
        saved = os.dup(2)
        try:
            with tempfile.TemporaryFile() as tmp:
                os.dup2(tmp.fileno(), 2)
                try:
                    yield caught
                finally:
                    _flush()
                    os.dup2(saved, 2)
                    tmp.seek(0)
                    text = tmp.read(1 << 20).decode("utf-8", "replace")
                    others: list[str] = []
                    for line in text.splitlines(keepends=True):
                        if not line.strip():
                            continue
                        (others if _OURS.match(line) else caught).append(line)
                    if others:
                        os.write(2, "".join(others).encode("utf-8", "replace"))
                    caught[:] = [line.strip() for line in caught]
        finally:
            os.close(saved)


def with_native_lines(message: str, lines: list[str], limit: int = 300) -> str:
    """``message`` with the library's own lines appended on the same line (bounded)."""
    if not lines:
        return message
    extra = "; ".join(dict.fromkeys(lines))  # in order, without repeats
    if len(extra) > limit:
        extra = extra[: limit - 1] + "…"
    return f"{message} (the image library said: {extra})"


def _flush() -> None:
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


__all__ = ["native_stderr", "with_native_lines"]
