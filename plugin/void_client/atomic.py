"""Atomic writes: a temp file in the same folder, fsynced, renamed over, then the folder fsynced.

Readers see the old file or the new one, never half of either, and after a power cut the rename
is on disk too (the folder's fsync). The temp name starts with a dot (hidden from file browsers
and script menus) and is created with mode 0666 so the kernel applies the umask: results get the
same permissions as any other file the user writes (normally 0644), not ``mkstemp``'s 0600.
See docs/reliability.md, "Sources and outputs".
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from pathlib import Path


def temp_path_for(path: str | os.PathLike, suffix: str = ".tmp") -> str:
    """A fresh hidden name next to ``path``, created empty (exclusive, mode 0666 & ~umask)."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    while True:
        tmp = os.path.join(
            folder,
            f".{name}.{os.getpid()}{threading.get_ident() % 10000}{uuid.uuid4().hex[:8]}{suffix}",
        )
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # pragma: no cover - a 32-bit random clash
            continue
        os.close(fd)
        return tmp


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file's data to the disk (a file written by a library that does not fsync)."""
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable. Windows cannot open folders; NTFS journals renames."""
    if os.name != "posix":
        return
    fd = os.open(os.fspath(folder) or ".", os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some network filesystems refuse to fsync a folder
            os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """fsync ``tmp``, rename it over ``path``, fsync the folder: the one way results land."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.fspath(path)) or ".")


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
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
