"""Open files a client named, without letting the name freeze the daemon.

A path in a job spec or a path-mode ``frames`` message is chosen by the client. Opening a FIFO
blocks until someone opens its other end; reading a character device (``/dev/zero``) never
ends; a socket cannot be opened at all. Worse, some libraries (OpenColorIO's
``Config.CreateFromFile``) block *with the GIL held*, which stops every thread of the daemon
and even its SIGTERM handler. So every file the daemon opens on a client's behalf goes through
:func:`check_regular_file` (a ``stat``, which never blocks on a FIFO) and, where the daemon
reads the bytes itself, :func:`read_regular_file` (``O_NONBLOCK`` open, then ``fstat`` of the
descriptor actually opened, so a file swapped for a FIFO between the check and the open is
caught too). See ``docs/reliability.md`` ("Admission, memory and connections").
"""

from __future__ import annotations

import errno
import os
import stat

from void_client.errors import ErrorCode, VoidError

#: Largest file :func:`read_regular_file` reads (an OCIO config is a few KiB; a LUT-heavy one
#: a few MiB).
MAX_READ_BYTES = 64 << 20


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _refuse(path: str, what: str, field: str, code: ErrorCode = ErrorCode.BAD_SPEC) -> VoidError:
    return VoidError(code, f"{path} is {what}; give the path of a regular file", field)


def check_regular_file(path: str, field: str, code: ErrorCode = ErrorCode.BAD_SPEC) -> None:
    """Raise unless ``path`` (links followed) is an existing regular file. Never blocks on a
    FIFO or device: ``stat`` does not open the file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise VoidError(
            ErrorCode.MISSING_FRAMES if code == ErrorCode.MISSING_FRAMES else code,
            f"{path} does not exist on the daemon host",
            field,
        ) from None
    except OSError as exc:
        raise VoidError(code, f"{path} cannot be read: {exc.strerror or exc}", field) from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, _kind(st.st_mode), field, code)


def open_regular_file(path: str, field: str, code: ErrorCode = ErrorCode.BAD_SPEC) -> int:
    """An ``O_RDONLY`` descriptor of ``path``, refused unless the opened file is regular.

    ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for a writer, and the
    ``fstat`` of the descriptor checks the object actually opened, not the name checked before.
    The descriptor is switched back to blocking reads (a regular file never blocks on them).
    """
    check_regular_file(path, field, code)  # the clear message for the common case
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO/device with no driver behind it
            raise _refuse(path, "not a regular file", field, code) from None
        raise VoidError(code, f"{path} cannot be opened: {exc.strerror or exc}", field) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, _kind(st.st_mode), field, code)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular_file(
    path: str, field: str, limit: int = MAX_READ_BYTES, code: ErrorCode = ErrorCode.BAD_SPEC
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular_file`)."""
    fd = open_regular_file(path, field, code)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise VoidError(
                ErrorCode.TOO_LARGE,
                f"{path} is {size} bytes; at most {limit} are read for {field}",
                field,
            )
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # the file grew while it was read
            raise VoidError(ErrorCode.TOO_LARGE, f"{path} grew past {limit} bytes", field)
        return b"".join(chunks)
    finally:
        os.close(fd)


__all__ = ["MAX_READ_BYTES", "check_regular_file", "open_regular_file", "read_regular_file"]
