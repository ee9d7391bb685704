"""Run ``void-remove ... --progress jsonl`` as a child process and follow its stream.

The host (Nuke, Resolve, a farm wrapper) never imports the client: it starts the worker from its
own virtual environment and reads one JSON event a line from its stdout on a daemon thread
(docs/protocol.md, "Progress stream (jsonl)"). stderr is the worker's log; the last lines are
kept for the error message when the worker dies without a final event. Cancel is SIGTERM
(Windows: CTRL_BREAK_EVENT to the worker's own process group), which the CLI treats like Ctrl-C:
it cancels the daemon job, removes no finished frame, leaves no half-written one, and ends the
stream with ``cancelled``.
"""

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
from typing import IO, Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Union

from void_hostlink import HostLinkError
from void_hostlink.locate import NOT_INSTALLED_MESSAGE, find_void_remove
from void_hostlink.stream import (
    EVENT_CANCELLED,
    EVENT_FAILED,
    FINAL_EVENTS,
    WORKER_DIED,
    parse_event,
)

log = logging.getLogger(__name__)

Event = Dict[str, Any]
OnEvent = Callable[[Event], None]

STDERR_LINES = 200
IS_WINDOWS = sys.platform.startswith("win")
#: Windows' exit status of a console process ended by a Ctrl-C/Ctrl-Break it did not handle.
STATUS_CONTROL_C_EXIT = 0xC000013A
#: After a cancel, how long a worker may take to end cleanly before it is killed.
CANCEL_GRACE_S = 60.0
#: The host's interpreter settings, not the worker's: Nuke and Resolve set some of these for their
#: own Python, and the worker is another interpreter (its own version, its own virtual
#: environment); PYTHONHOME from a 3.9 host stops a 3.11 worker from starting at all.
HOST_PYTHON_VARIABLES = (
    "PYTHONHOME",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONEXECUTABLE",
    "PYTHONUSERBASE",
    "__PYVENV_LAUNCHER__",
)


def worker_environment(base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """``base`` (default: this process's environment) without the host's Python settings."""
    env = dict(os.environ if base is None else base)
    for name in HOST_PYTHON_VARIABLES:
        env.pop(name, None)
    return env


class VoidRemoveProcess:
    """One ``void-remove`` run: ``exe + args + ["--progress", "jsonl"]``.

    ``on_event(dict)`` is called on the reader thread for every event, in stream order, and
    exactly once with a final event (``done``, ``failed`` or ``cancelled``): when the worker
    exits without one, a ``failed`` event with code ``worker_died`` is synthesized and delivered
    the same way. Hosts with a UI thread post from ``on_event`` to it.

    ``env``: the worker's whole environment; by default the host's, less the variables that
    configure the host's own Python (:data:`HOST_PYTHON_VARIABLES`).
    """

    def __init__(
        self,
        args: Sequence[str],
        on_event: Optional[OnEvent] = None,
        exe: Union[str, Sequence[str], None] = None,
        cwd: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.args = [str(a) for a in args]
        self.on_event = on_event
        self.exe = exe
        self.cwd = cwd
        self.env = dict(env) if env is not None else worker_environment()
        self.stderr_tail: Deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.final: Optional[Event] = None
        self.argv: List[str] = []
        self._proc: "Optional[subprocess.Popen[bytes]]" = None
        self._stdout_thread: Optional[threading.Thread] = None
        self._stderr_thread: Optional[threading.Thread] = None
        self._done = threading.Event()
        self._cancel_requested = False
        self._heard = False  # an event came: the worker's SIGTERM handler is in place

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> "VoidRemoveProcess":
        if self._proc is not None:
            raise HostLinkError("already_started", "this VoidRemoveProcess was started already")
        self.argv = find_void_remove(self.exe) + self.args + ["--progress", "jsonl"]
        kwargs: Dict[str, Any] = {}
        if IS_WINDOWS:
            # CTRL_BREAK_EVENT reaches only a process group: give the worker its own.
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        else:
            # Its own session: a Ctrl-C in the host's terminal is the host's to handle (it
            # cancels through cancel()), not a second, uncoordinated signal to the worker.
            kwargs["start_new_session"] = True
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                env=self.env,
                **kwargs,
            )
        except OSError as exc:
            raise HostLinkError(
                "not_installed", "{} ({}: {})".format(NOT_INSTALLED_MESSAGE, self.argv[0], exc)
            ) from exc
        self._stderr_thread = threading.Thread(
            target=self._read_stderr, name="void-remove-stderr", daemon=True
        )
        self._stdout_thread = threading.Thread(
            target=self._read_stdout, name="void-remove-stdout", daemon=True
        )
        self._stderr_thread.start()
        self._stdout_thread.start()
        return self

    def cancel(self) -> bool:
        """Ask the worker to cancel its job (it answers with a ``cancelled`` event). False when
        it is not running (never started, or already ended).

        A worker still starting (before its first event) has not installed its handler yet and
        ends at once; it has submitted nothing and written nothing then, so the stream ends with
        a synthesized ``cancelled`` (``job`` null) rather than ``worker_died``."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        self._cancel_requested = True
        try:
            if IS_WINDOWS:
                proc.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
            else:
                proc.send_signal(signal.SIGTERM)
        except OSError:  # it ended between poll() and the signal
            return False
        return True

    def kill(self) -> None:
        """Last resort when a cancelled worker does not end: the job keeps running on the
        daemon (``void-remove cancel <job>`` stops it) and the stream ends with worker_died."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass

    def wait(self, timeout: Optional[float] = None) -> Event:
        """The final event, once the worker has ended and its stream is read to the end.

        Raises HostLinkError("timeout") when it is still running after ``timeout`` seconds.
        """
        if self._proc is None:
            raise HostLinkError("not_started", "call start() before wait()")
        if not self._done.wait(timeout):
            raise HostLinkError(
                "timeout", "void-remove is still running after {} s".format(timeout)
            )
        assert self.final is not None
        return self.final

    # -- state ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True from start() until the final event has been delivered."""
        return self._proc is not None and not self._done.is_set()

    @property
    def returncode(self) -> Optional[int]:
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> Optional[int]:
        return None if self._proc is None else self._proc.pid

    # -- reader threads -------------------------------------------------------------------

    def _deliver(self, event: Event) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a host bug must not stop the stream (or the final event)
            log.exception("void_hostlink: on_event raised for %r", event.get("event"))

    def _read_stderr(self) -> None:
        assert self._proc is not None
        stream: Optional[IO[bytes]] = self._proc.stderr
        assert stream is not None
        for raw in iter(stream.readline, b""):
            self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
        stream.close()

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        final: Optional[Event] = None
        try:
            for raw in iter(proc.stdout.readline, b""):
                event = parse_event(raw.decode("utf-8", "replace"))
                if event is None:
                    # Not part of the stream (the worker keeps stdout for events, but a
                    # library could still print): keep it with the log, do not deliver it.
                    self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                    continue
                if final is not None:
                    log.warning("void_hostlink: event after the final one: %r", event)
                    continue
                self._heard = True
                if event.get("event") in FINAL_EVENTS:
                    final = event
                self._deliver(event)
            proc.stdout.close()
            code = proc.wait()
            if self._stderr_thread is not None:
                self._stderr_thread.join()
            if final is None:
                if self._cancel_requested and not self._heard and self._ended_by_cancel(code):
                    final = {"event": EVENT_CANCELLED, "job": None}
                else:
                    final = self._worker_died(code)
                self._deliver(final)
        finally:
            if final is None:  # this thread itself failed: still end the run for wait()
                final = self._worker_died(proc.poll())
            self.final = final
            self._done.set()

    @staticmethod
    def _ended_by_cancel(code: Optional[int]) -> bool:
        """Whether ``code`` is the default end of a process by our cancel signal."""
        if IS_WINDOWS:
            return code in (STATUS_CONTROL_C_EXIT, -STATUS_CONTROL_C_EXIT)
        return code == -signal.SIGTERM

    def _worker_died(self, code: Optional[int]) -> Event:
        last = ""
        for line in reversed(self.stderr_tail):
            if line.strip():
                last = line.strip()
                break
        return {
            "event": EVENT_FAILED,
            "error": {
                "code": WORKER_DIED,
                "message": "void-remove exited with code {}: {}".format(code, last),
                "field": "",
            },
        }


def run_void_remove(
    args: Sequence[str],
    on_event: Optional[OnEvent] = None,
    exe: Union[str, Sequence[str], None] = None,
    timeout: Optional[float] = None,
) -> Event:
    """Run the worker to its end and return the final event (batch scripts, farm tasks).

    After ``timeout`` seconds the job is cancelled and the cancelled (or failed) event is
    returned. Ctrl-C cancels the job, waits for the worker to end cleanly, then re-raises.
    """
    proc = VoidRemoveProcess(args, on_event, exe=exe).start()
    try:
        try:
            return proc.wait(timeout)
        except HostLinkError as exc:
            if exc.code != "timeout":
                raise
            log.warning("void_hostlink: %s; cancelling the job", exc.message)
            return _cancel_and_wait(proc)
    except KeyboardInterrupt:
        _cancel_and_wait(proc)
        raise


def _cancel_and_wait(proc: VoidRemoveProcess) -> Event:
    """Cancel, give the worker :data:`CANCEL_GRACE_S` to end cleanly, else kill it."""
    proc.cancel()
    try:
        return proc.wait(CANCEL_GRACE_S)
    except HostLinkError:
        proc.kill()
        return proc.wait()
