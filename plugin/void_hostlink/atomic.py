"""Write a small text file so a reader sees the old file or the new one, never half of one.

One definition for the host side (docs/architecture.md, "Host isolation"): the installer's
record, a node run's manifest and Resolve's saved settings all go through it. Standard library
only, Python 3.6 syntax: Nuke's and Resolve's own interpreters import it.
"""

import os
import tempfile


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, flushed to disk,
    then ``os.replace`` (atomic on one file system). Creates the folder when it is missing."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
