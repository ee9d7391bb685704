"""``void-remove task serve``: keep a farm job's engine loaded across the tasks of one worker
session (OpenJD step environment: started in ``onEnter``, stopped in ``onExit``).

The server listens on a Unix socket in the session's folder and runs one request at a time:
a window task sends ``{"first": A, "last": B}``, the server runs
:func:`~void_daemon.farm_tasks.run_windows_task` with the engine it keeps (loaded at the first
window that needs it), and streams back the task's progress lines then one ``{"ok": ...}``
line. Journals and the cache are exactly as for a task that loads its own engine, so a task
or a server that dies is resumed by the next task as before; a task that cannot reach the
server runs the windows itself. POSIX only (Unix sockets). See docs/farm.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from void_client.errors import ErrorCode, VoidError
from void_client.farm.farm_spec import FarmSpec

log = logging.getLogger(__name__)

#: Set (through ``openjd_env``) for the session's later actions: where the server listens.
SERVER_ENV = "VOID_REMOVE_TASK_SERVER"
#: Seconds ``serve --detach`` waits for the server to answer before giving up.
START_TIMEOUT_S = 60.0


def _send(conn: socket.socket, obj: dict) -> None:
    conn.sendall((json.dumps(obj) + "\n").encode())


def serve(farm: FarmSpec, path: str) -> None:
    """Answer window requests until a ``stop`` request; one at a time, engine kept warm."""
    from void_daemon.farm_tasks import engine_config, run_windows_task

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    warm: dict = {}
    config = engine_config(farm)
    log.info("task server for job %s on %s", farm.job_id, path)
    try:
        while True:
            conn, _ = srv.accept()
            with conn, conn.makefile("r") as reader:
                try:
                    req = json.loads(reader.readline() or "{}")
                except json.JSONDecodeError:
                    continue
                if req.get("stop"):
                    _send(conn, {"ok": True, "stopped": True})
                    return
                if req.get("ping"):
                    _send(conn, {"ok": True, "job": farm.job_id})
                    continue

                def progress(percent: float, message: str, conn: socket.socket = conn) -> None:
                    _send(conn, {"progress": percent, "status": message})

                try:
                    outcomes = run_windows_task(
                        farm, int(req["first"]), int(req["last"]), progress, config, warm
                    )
                    _send(
                        conn,
                        {
                            "ok": True,
                            "outcomes": [
                                [o.index, o.skipped, o.cached, round(o.seconds, 3)]
                                for o in outcomes
                            ],
                        },
                    )
                except VoidError as exc:
                    _send(conn, {"ok": False, **exc.to_dict()})
                except Exception as exc:  # the server outlives one bad request
                    log.exception("window request failed")
                    _send(conn, {"ok": False, "code": "engine_failed", "message": str(exc)})
    finally:
        srv.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _request(path: str, req: dict, timeout: float | None = None) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    conn.connect(path)
    _send(conn, req)
    return conn


def start_detached(spec_path: str, path: str) -> None:
    """``serve --detach``: start the server in its own session (it outlives the ``onEnter``
    action), wait until it answers, and hand its socket to the session's later actions."""
    log_path = Path(path).with_suffix(".log")
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "void_client.cli.main", "task", "serve"]
            + ["--spec", spec_path, "--socket", path],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise VoidError(
                ErrorCode.ENGINE_FAILED,
                f"the task server exited at once (status {proc.returncode}); see {log_path}",
                "serve",
            )
        try:
            with _request(path, {"ping": True}, timeout=5) as conn:
                if json.loads(conn.makefile("r").readline()).get("ok"):
                    Path(path).with_suffix(".pid").write_text(f"{proc.pid}\n")
                    print(f"openjd_env: {SERVER_ENV}={path}", flush=True)
                    return
        except (OSError, ValueError):
            time.sleep(0.2)
    proc.kill()
    raise VoidError(ErrorCode.ENGINE_FAILED, f"the task server did not answer on {path}", "serve")


def stop(path: str) -> None:
    """``serve --stop``: ask the server to exit; kill it by its pid file if it does not."""
    pid_file = Path(path).with_suffix(".pid")
    try:
        with _request(path, {"stop": True}, timeout=30) as conn:
            conn.makefile("r").readline()
    except OSError as exc:
        log.warning("task server on %s did not answer stop: %s", path, exc)
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), 15)
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()


def run_on_server(path: str, first: int, last: int) -> list | None:
    """Run windows ``first..last`` on the session's server, relaying its progress lines.

    ``None`` when no server answers (the task then runs the windows itself); raises the
    server's :class:`VoidError` when the windows failed there.
    """
    from void_daemon.task_command import farm_progress

    try:
        conn = _request(path, {"first": first, "last": last})
    except OSError as exc:
        log.warning("no task server on %s (%s); loading the engine in this task", path, exc)
        return None
    with conn, conn.makefile("r") as reader:
        for line in reader:
            msg = json.loads(line)
            if "progress" in msg:
                farm_progress(float(msg["progress"]), str(msg["status"]))
                continue
            if msg.get("ok"):
                return list(msg.get("outcomes", []))
            try:
                code = ErrorCode(msg.get("code", "engine_failed"))
            except ValueError:
                code = ErrorCode.ENGINE_FAILED
            raise VoidError(code, str(msg.get("message", "")), msg.get("field") or "")
    raise VoidError(
        ErrorCode.ENGINE_FAILED, f"the task server on {path} closed mid-request", "serve"
    )
