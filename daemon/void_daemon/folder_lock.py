"""One daemon per jobs folder, on a folder only its user can write, on endpoints nobody else serves.

See ``docs/reliability.md`` ("One daemon per jobs folder"). Two daemons sharing a jobs folder
resume each other's live jobs and finalise frames twice, so the second one must refuse to
start; a jobs folder another user can write lets that user plant links that redirect a job's
files; and ZeroMQ's ``ipc://`` bind silently unlinks a socket file another daemon is serving.
Each check fails with a :class:`VoidError` whose message says what to run to fix it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import stat
from pathlib import Path

from void_client.errors import ErrorCode, VoidError

log = logging.getLogger(__name__)

LOCK_NAME = "daemon.lock"
#: How long a probe of an existing ipc socket waits for its owner to accept.
IPC_PROBE_TIMEOUT_S = 1.0


def _owner_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def check_jobs_folder(root: Path) -> None:
    """Refuse a jobs folder that is not owned by this user or that others may write to.

    The folder's own mode is what matters: whoever can write it can replace a job folder with a
    link. A merely readable folder (0755) is tightened to 0700 by :class:`JobStore`; a writable
    one is refused rather than "fixed", because someone may already have planted something.
    """
    if os.name != "posix":
        return
    try:
        st = os.stat(root)  # a link to the real folder is fine: the target is what is checked
    except FileNotFoundError:
        return  # made by the daemon, owner-only
    if not stat.S_ISDIR(st.st_mode):
        raise VoidError(
            ErrorCode.IO_ERROR,
            f"the jobs folder {root} is not a folder; remove it or pass another --jobs-dir",
            "jobs_dir",
        )
    me = os.geteuid()
    if st.st_uid != me:
        raise VoidError(
            ErrorCode.IO_ERROR,
            f"the jobs folder {root} belongs to {_owner_name(st.st_uid)} (uid {st.st_uid}), not to "
            f"this daemon's user {_owner_name(me)} (uid {me}); another user could redirect its "
            f"jobs. Run: sudo chown -R {me} {root} && chmod 700 {root}, or pass another --jobs-dir",
            "jobs_dir",
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise VoidError(
            ErrorCode.IO_ERROR,
            f"the jobs folder {root} is writable by other users (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); they could redirect its jobs. Run: chmod 700 {root}",
            "jobs_dir",
        )


class FolderLock:
    """An exclusive ``flock`` on ``<jobs>/daemon.lock`` for the daemon's life.

    The kernel drops the lock when the process dies, however it dies, so a SIGKILLed daemon
    never leaves a stale lock; the file's content (pid, endpoints) only serves the message.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, endpoints: list[str]) -> None:
        import fcntl

        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise VoidError(
                ErrorCode.IO_ERROR,
                f"cannot open the lock file {self.path}: {exc.strerror}; remove it if it is a link",
                "jobs_dir",
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise VoidError(
                    ErrorCode.IO_ERROR, f"cannot lock {self.path}: {exc.strerror}", "jobs_dir"
                ) from exc
            who = (
                f"void-daemon pid {holder.get('pid')} serving {', '.join(holder.get('endpoints', []))}"
                if holder
                else "another void-daemon"
            )
            raise VoidError(
                ErrorCode.IO_ERROR,
                f"the jobs folder {self.path.parent} is already used by {who}; two daemons on "
                "one folder would run the same jobs twice. Connect to that daemon, stop it, or "
                "pass another --jobs-dir",
                "jobs_dir",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "endpoints": endpoints}).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (harmless, reused)
            self._fd = None


def _read_holder(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data.decode()) if data else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def claim_ipc_endpoint(endpoint: str) -> None:
    """Refuse an ``ipc://`` endpoint another process answers on; clear a stale socket file.

    libzmq unlinks an existing socket file when it binds, which silently steals the endpoint
    from a live daemon. So: a socket file that accepts a connection is in use (refused); one
    that refuses connections was left by a dead process and may be replaced; anything that is
    not a socket is never deleted.
    """
    path = endpoint[len("ipc://") :] if endpoint.startswith("ipc://") else ""
    if not path or path.startswith("@") or os.name != "posix":
        return
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise VoidError(
            ErrorCode.IO_ERROR,
            f"{path} exists and is not a socket; remove it or choose another --ipc path",
            "ipc",
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(IPC_PROBE_TIMEOUT_S)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        log.info("replacing the stale socket %s (nobody answers on it)", path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    except OSError as exc:  # e.g. a socket of another user's: treat it as taken
        raise VoidError(
            ErrorCode.IO_ERROR,
            f"{endpoint} cannot be probed ({exc.strerror}); choose another --ipc path",
            "ipc",
        ) from exc
    finally:
        probe.close()
    raise VoidError(
        ErrorCode.IO_ERROR,
        f"{endpoint} is already served by another process; stop it or choose another --ipc path "
        f"(a daemon never takes over a live socket)",
        "ipc",
    )
