"""``--progress jsonl|bar|none`` for ``void-remove run`` and ``attach``: the machine-readable stream.

In ``jsonl`` mode stdout carries only the progress stream, one JSON object a line, flushed per
line; every human line (messages, the log, tracebacks, a library's stray print) goes to stderr.
Hosts (Nuke, Resolve, farm wrappers) start the command from its own environment and read the
stream with the standard-library package ``void_hostlink`` (docs/architecture.md, "Host
isolation"), which holds the one definition of the event names. The schema, the exit codes and
cancelling are specified in docs/protocol.md, "Progress stream (jsonl)".

In every mode SIGTERM (Windows: CTRL_BREAK) acts as Ctrl-C does: the first cancels the job on
the daemon (frames already written stay, none is left half written: results land by an atomic
rename), the second leaves it running.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from void_client import __version__
from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.sequence import SequencePattern, has_view_token, view_glob
from void_client.session import JobClock
from void_hostlink import STREAM_VERSION
from void_hostlink import stream as E

log = logging.getLogger(__name__)

PROGRESS_BAR = "bar"
PROGRESS_JSONL = "jsonl"
PROGRESS_NONE = "none"
PROGRESS_MODES = (PROGRESS_BAR, PROGRESS_JSONL, PROGRESS_NONE)

#: The CLI's exit statuses the stream's final events map to (void_client.cli.run documents them;
#: tests/unit/test_progress_stream_events.py checks they agree).
EXIT_OK = 0
EXIT_ERROR = 2
EXIT_MISSING = 3
EXIT_INTERRUPTED = 130

#: A frame counts as written by this command once its file exists with a modification time no
#: older than the command's start minus this: results land by an atomic rename, so a file that
#: exists is whole; the slack covers the filesystem clock's coarser ticks.
MTIME_SLACK_S = 2.0

_mode = PROGRESS_BAR
_current: JsonlStream | None = None
#: SIGTERMs received during the command: a second one leaves the job running, as Ctrl-C does.
_terms = 0


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default=PROGRESS_BAR,
        help="bar: a progress bar on stderr; jsonl: one JSON event a line on stdout for programs "
        "(docs/protocol.md, 'Progress stream'), everything else on stderr; none: no progress",
    )


def mode() -> str:
    """The running command's ``--progress`` mode (``bar`` outside a command)."""
    return _mode


def current() -> JsonlStream | None:
    """The stream of the running ``--progress jsonl`` command, else None."""
    return _current


def warn(text: str) -> None:
    """A warning of the CLI: on stderr always, and as a ``warning`` event in jsonl mode."""
    print(f"void-remove: {text}", file=sys.stderr)
    if _current is not None:
        _current.warning(text.removeprefix("warning: "))


class JsonlStream:
    """Writes the events of one command to ``out``; thread-safe (writes happen on the upload,
    write and log threads as well as the main thread)."""

    def __init__(self, out: IO[str], out_pattern: str = "") -> None:
        self._file = out
        self._lock = threading.RLock()
        self.out_pattern = out_pattern
        self.total: int | None = None
        self.job: str | None = None
        self.written = 0
        self.t0 = time.time()
        self._t0_mono = time.monotonic()
        self._started = False
        self._ended = False
        self._broken = False
        self._held: list[dict[str, Any]] = []  # warnings before ``start``: sent right after it
        self._announced: set[str] = set()
        self._last_state: dict[str, Any] | None = None

    # -- writing ---------------------------------------------------------------------------

    def emit(self, event: str, **fields: Any) -> None:
        with self._lock:
            if self._ended:
                log.info("progress stream: %s after the final event not sent", event)
                return
            if event == E.EVENT_WARNING and not self._started:
                self._held.append(fields)
                return
            if event != E.EVENT_START and not self._started:
                self.start(self.total, self.out_pattern)
            self._write({"event": event, **fields})
            if event in E.FINAL_EVENTS:
                self._ended = True

    def _write(self, obj: dict[str, Any]) -> None:
        if self._broken:
            return
        try:
            self._file.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self._file.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            # The reader went away (the host quit): the job runs on and writes its frames,
            # which the output manifest records; `void-remove attach` shows them later.
            self._broken = True
            with contextlib.suppress(OSError, ValueError):  # stderr may have gone with it
                print(f"void-remove: progress stream closed ({exc}); continuing", file=sys.stderr)

    # -- events ----------------------------------------------------------------------------

    def start(self, total: int | None, out: str) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            self.total = total or None
            self.out_pattern = out or self.out_pattern
            self._write(
                {
                    "event": E.EVENT_START,
                    "stream": STREAM_VERSION,
                    "version": __version__,
                    "out": self.out_pattern,
                    "total": self.total,
                }
            )
            for fields in self._held:
                self._write({"event": E.EVENT_WARNING, **fields})
            self._held.clear()

    def warning(self, message: str) -> None:
        self.emit(E.EVENT_WARNING, message=message)

    def state(self, msg: P.Progress, clock: JobClock, total: int | None) -> None:
        if msg.job:
            self.job = msg.job
        eta = clock.remaining()
        fields = {
            "job": self.job,
            "stage": msg.stage,
            "written": self.written,
            "total": total or clock.total or None,
            "window": msg.window,
            "windows": msg.windows,
            "eta_s": None if eta is None else round(eta, 1),
            "queue_position": msg.queue_position,
            "message": msg.message,
        }
        with self._lock:
            same = {k: v for k, v in fields.items() if k != "eta_s"}
            if same == self._last_state:
                return  # the daemon repeats itself (a window's end, then its results' progress)
            self._last_state = same
            self.emit(E.EVENT_STATE, **fields)

    def frame(self, frame: int, path: str) -> bool:
        """Announce a written file once (views in one file: each view's job reports the frame)."""
        with self._lock:
            if path in self._announced:
                return False
            self._announced.add(path)
            self.written += 1
            self.emit(E.EVENT_FRAME, frame=frame, path=path)
            return True

    def done(self, detached: bool = False) -> None:
        fields: dict[str, Any] = {
            "job": self.job,
            "written": self.written,
            "out": self.out_pattern,
            "seconds": round(time.monotonic() - self._t0_mono, 3),
        }
        if detached:
            fields["detached"] = True
        self.emit(E.EVENT_DONE, **fields)

    def failed(self, code: str, message: str, field: str | None = "") -> None:
        self.emit(E.EVENT_FAILED, error={"code": code, "message": message, "field": field or ""})

    def cancelled(self, left_running: bool = False) -> None:
        fields: dict[str, Any] = {"job": self.job}
        if left_running:
            fields["left_running"] = True
        self.emit(E.EVENT_CANCELLED, **fields)

    @property
    def ended(self) -> bool:
        return self._ended

    # -- one job's progress ------------------------------------------------------------------

    @contextlib.contextmanager
    def job_events(self, total: int | None, out: str) -> Iterator[Callable[[P.Message], None]]:
        """The ``on_event`` of one job (what :func:`void_client.cli.progress.job_progress`
        yields in jsonl mode): ``state`` per progress message, ``frame`` per written frame."""
        self.start(total, out)
        if out:
            self.out_pattern = out
        pattern = SequencePattern.parse(out) if out else None
        clock = JobClock(total=total or 0)
        # Frames the daemon sent, with their output path and how many results came for them
        # (one per view of a %V output, whose files are found by globbing the view's place):
        # the client writes them on its own threads after the message has been handed here,
        # so each file is announced once it has landed.
        paths: dict[int, str] = {}
        expected: dict[int, int] = {}
        found: dict[int, int] = {}

        def landed(path: str) -> bool:
            try:
                return os.stat(path).st_mtime >= self.t0 - MTIME_SLACK_S
            except OSError:
                return False

        def flush() -> None:
            for frame in sorted(f for f in paths if found.get(f, 0) < expected[f]):
                path = paths[frame]
                files = sorted(glob.glob(view_glob(path))) if has_view_token(path) else [path]
                for file in files:
                    if file not in self._announced and landed(file) and self.frame(frame, file):
                        found[frame] = found.get(frame, 0) + 1

        def expect(frame: int, path: str) -> None:
            paths[frame] = path
            # A file per view: one result per view. Otherwise one file, however many views.
            expected[frame] = expected.get(frame, 0) + 1 if has_view_token(path) else 1

        def on_event(msg: P.Message) -> None:
            with self._lock:
                if msg.job:
                    self.job = msg.job
                if isinstance(msg, P.Result):
                    for entry in msg.paths:  # path mode: the daemon wrote these itself
                        expect(int(entry["frame"]), str(entry["path"]))
                    if pattern is not None:
                        for desc, _ in msg.images:
                            if desc.role == "result":
                                expect(desc.frame, pattern.path(desc.frame))
                flush()
                if isinstance(msg, P.Progress):
                    clock.update(msg)
                    self.state(msg, clock, total)

        try:
            yield on_event
        finally:
            # Every write has finished when the job's call returns or raises: announce the
            # frames that landed, drop the ones that never did (a preview's context frames).
            with self._lock:
                flush()


class _WarningsToStream(logging.Handler):
    """The client's log warnings (a full-frame matte, --overwrite removals...) as events too;
    the log itself still goes to stderr through the usual handler."""

    def __init__(self, stream: JsonlStream) -> None:
        super().__init__(level=logging.WARNING)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno != logging.WARNING:
            return
        try:
            self.stream.warning(record.getMessage())
        except Exception:  # a malformed log call must not end the command
            self.handleError(record)


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (and Windows' CTRL_BREAK) does what Ctrl-C does at that moment: whatever SIGINT
    handler is installed then runs (cancel the job, or KeyboardInterrupt before it exists).
    Only the main thread may install handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, frame: Any) -> None:
        global _terms
        _terms += 1
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIG_DFL / SIG_IGN / None: what an unhandled Ctrl-C does
            raise KeyboardInterrupt

    names = ["SIGTERM", "SIGBREAK"]  # SIGBREAK: Windows, the host's CTRL_BREAK_EVENT
    previous = {}
    for name in names:
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, forward)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _stdout_for_stream() -> Iterator[IO[str]]:
    """The stream's own handle on stdout; for the command's duration ``sys.stdout`` (and, in a
    real process, file descriptor 1, where native libraries print) goes to stderr."""
    saved_sys = sys.stdout
    try:
        fd_is_stdout = sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):  # replaced by a test's capture
        fd_is_stdout = False
    if not fd_is_stdout:
        sys.stdout = sys.stderr
        try:
            yield saved_sys
        finally:
            sys.stdout = saved_sys
        return
    saved_sys.flush()
    dup = os.dup(1)
    stream = open(dup, "w", encoding="utf-8", errors="replace", closefd=True)  # noqa: SIM115
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield stream
    finally:
        sys.stdout = saved_sys
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
        os.dup2(dup, 1)
        with contextlib.suppress(OSError, ValueError):
            stream.close()


@contextlib.contextmanager
def _progress_mode(value: str) -> Iterator[None]:
    global _mode
    previous, _mode = _mode, value
    try:
        yield
    finally:
        _mode = previous


def run_command(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]) -> int:
    """Run ``command(args)`` in the ``--progress`` mode ``args`` asks for, with SIGTERM acting
    as Ctrl-C; in jsonl mode end the stream with exactly one final event:

    * exit 0 → ``done``; 130 (Ctrl-C/SIGTERM, or the job cancelled elsewhere) → ``cancelled``;
    * a VoidError → ``failed`` with its code (then raised on: exit 2 as before); exit 3 (frames
      this command did not write) → ``failed`` with ``missing_frames``; anything else →
      ``failed`` with ``internal`` (the traceback is on stderr).
    """
    global _current, _terms
    chosen = getattr(args, "progress", PROGRESS_BAR) or PROGRESS_BAR
    _terms = 0
    with sigterm_as_ctrl_c(), _progress_mode(chosen):
        if chosen != PROGRESS_JSONL:
            return int(command(args) or 0)
        with _stdout_for_stream() as out:
            stream = JsonlStream(out, getattr(args, "out", "") or "")
            handler = _WarningsToStream(stream)
            root = logging.getLogger()
            previous, _current = _current, stream
            root.addHandler(handler)
            try:
                return _finish(stream, args, command)
            finally:
                root.removeHandler(handler)
                _current = previous


def _finish(
    stream: JsonlStream, args: argparse.Namespace, command: Callable[[argparse.Namespace], int]
) -> int:
    try:
        status = int(command(args) or 0)
    except VoidError as exc:
        stream.job = stream.job or exc.job
        if exc.code == ErrorCode.CANCELLED:
            # `void-remove cancel <job>` (a host may cancel that way too): a cancel, not a failure.
            print(f"void-remove: {exc.message}", file=sys.stderr)
            stream.cancelled()
            return EXIT_INTERRUPTED
        stream.failed(exc.code.value, exc.message, exc.field)
        raise
    except KeyboardInterrupt:
        stream.cancelled()
        raise
    except Exception as exc:
        stream.failed(
            ErrorCode.INTERNAL.value,
            f"{type(exc).__name__}: {exc} (a bug: the traceback is on stderr; please report it)",
        )
        raise
    if status == EXIT_OK:
        stream.done(detached=bool(getattr(args, "detach", False)))
    elif status == EXIT_INTERRUPTED:
        # Cancelled, or after a second SIGTERM left running (stderr names the attach command).
        stream.cancelled(left_running=_terms >= 2 and stream.job is not None)
    elif status == EXIT_MISSING:
        stream.failed(
            ErrorCode.MISSING_FRAMES.value,
            f"job {stream.job} ended but not every requested frame was written to "
            f"{stream.out_pattern} by this command (another client may have collected them; "
            "the missing frames are named on stderr); re-run to compute them again",
            "out",
        )
    else:
        stream.failed(
            ErrorCode.INTERNAL.value, f"void-remove ended with status {status}; see stderr"
        )
    return status
