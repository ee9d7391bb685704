"""Atomic small-file writes: a temp file in the same folder, fsynced, then renamed over.

Readers see the old file or the new one, never half of either. The temp name starts with a
dot (hidden from file browsers and script menus) and is created with ``open(..., "x")`` so the
result gets the usual permissions from the umask, like any other file the user writes.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(
        f".{path.name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex[:8]}.tmp"
    )
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
