"""The export without freezing Nuke (issue 16, finding 11): plate and mattes are rendered by a
separate ``nuke -x`` process, never by ``nuke.execute`` on Nuke's main thread.

How (docs/nuke.md, "Non-blocking export"):

1. The temporary Writes are made inside the node as before (file, channels, EXR knobs of
   :data:`void_nuke.node_spec.EXPORT_WRITE_KNOBS`; ``%V`` and the views for a stereo script),
   each with an ``afterFrameRender`` line that prints :data:`PROGRESS_MARK` and the frame.
2. The script is saved to a throw-away ``.nk`` with ``nuke.scriptSave(filename)``, which saves
   "to this file name without changing the script name in the project"
   (https://learn.foundry.com/nuke/developers/130/pythondevguide/_autosummary/nuke.scriptSave.html);
   the Writes are then deleted from the artist's script at once, so it is left as it was.
3. For each Write, ``<nuke.EXE_PATH> -x -X <Write> -F <first>-<last> [--view v1,v2] <copy.nk>``
   renders it in the background (Nuke's command line: ``-x`` execute mode, ``-X`` only this
   node, ``--view`` these views, as Nuke's ``--help`` lists them, to be confirmed by the
   self-test on a real Nuke; frame ranges "preceded by the -F switch",
   https://learn.foundry.com/nuke/content/getting_started/managing_scripts/defining_frame_ranges.html).
   A reader thread counts the progress lines (and Nuke's own ``Writing <file>`` lines) and calls
   ``on_progress``; the caller posts that to the main thread.
4. Cancel terminates the process (and its process group) and removes the frames of the export,
   whole or partial, and the throw-away script.

Runs inside Nuke: standard library, :mod:`void_hostlink` and :mod:`void_nuke.host` only, Python
3.7 syntax. Batch (``nuke -t``) keeps the blocking path in :mod:`void_nuke.actions`.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from void_hostlink import HostLinkError
from void_nuke import host
from void_nuke import node_spec as N

log = logging.getLogger("void_nuke")

#: What each rendered frame prints (the temporary Write's ``afterFrameRender`` knob).
PROGRESS_MARK = "VOID_EXPORT_FRAME"
#: Python run by Nuke after each frame the Write renders ("after each frame" callback of the
#: Write's Python tab; ``nuke.frame()`` is the frame being rendered). Flushed: stdout is a pipe.
AFTER_FRAME_CODE = (
    "import sys, nuke\n"
    f"print('{PROGRESS_MARK} %d %s' % (nuke.frame(), nuke.thisNode().name()))\n"
    "sys.stdout.flush()"
)
#: Nuke's own line for each file it writes in ``-x`` mode ("Writing /path/plate.1001.exr took
#: 0.2 seconds"); read too, in case a build drops the Python callback's output.
_WRITING = re.compile(r"^Writing (?P<path>.+?)(?: took [0-9.]+ seconds?)?\s*$")
_MARK = re.compile(rf"^{PROGRESS_MARK} (?P<frame>-?\d+)")
CANCELLED = "cancelled"
EXPORT_FAILED = "io_error"
#: Seconds a terminated render gets to exit before it is killed.
TERMINATE_GRACE_S = 5.0
#: Last lines of a render's output kept for the error message.
LOG_TAIL = 20


@dataclass(frozen=True)
class ExportJob:
    """One temporary Write to render: its full name in the saved script, its file pattern
    (printf ``%04d``; ``%V`` for the view), the frames and the views (``[]``: mono)."""

    role: str
    write: str
    pattern: str
    first: int
    last: int
    views: tuple[str, ...] = ()

    def paths(self) -> list[str]:
        """Every file the render writes, in order."""
        out = []
        for frame in range(self.first, self.last + 1):
            for view in self.views or ("",):
                out.append(frame_path(self.pattern, frame, view))
        return out


def frame_path(pattern: str, frame: int, view: str = "") -> str:
    """A Nuke file pattern with its frame (``%04d``) and view (``%V`` the view, ``%v`` its
    first letter) filled in."""
    path = pattern.replace("%V", view).replace("%v", view[:1])
    return re.sub(r"%(0?\d*)d", lambda m: f"%{m.group(1)}d" % frame, path, count=1)


@dataclass
class ExportOutcome:
    """How a background export ended: ``state`` is ``done``, ``failed`` or ``cancelled``."""

    state: str
    frames: int = 0
    total: int = 0
    error: HostLinkError | None = None


@dataclass
class BackgroundExport:
    """Renders ``jobs`` from the saved ``script`` with ``executable`` (``nuke.EXE_PATH``), one
    ``nuke -x`` process after another, off Nuke's main thread.

    ``on_progress(done, total, message)`` and ``on_done(outcome)`` are called from the export's
    own thread: post to Nuke's main thread before touching a knob."""

    script: str
    jobs: Sequence[ExportJob]
    executable: str
    on_progress: Callable[[int, int, str], None] | None = None
    on_done: Callable[[ExportOutcome], None] | None = None
    remove_script: bool = True
    _cancel: threading.Event = field(default_factory=threading.Event)
    _process: subprocess.Popen | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    outcome: ExportOutcome | None = None
    log_tail: list[str] = field(default_factory=list)
    #: The VOID Remove node exporting (its Python object): Cancel finds the export by the node,
    #: whatever it is called now, as a run follows its node through a rename.
    node: Any = None

    @property
    def total(self) -> int:
        return sum(len(j.paths()) for j in self.jobs)

    def start(self) -> BackgroundExport:
        """Start rendering and return at once."""
        self._thread = threading.Thread(target=self._run, name="void-export", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop the render now; :meth:`wait` then reports ``cancelled`` and the export's files
        are gone."""
        self._cancel.set()
        with self._lock:
            process = self._process
        if process is not None:
            _terminate(process)

    def wait(self, timeout: float | None = None) -> ExportOutcome | None:
        """The outcome once the export ended (None if ``timeout`` passed first)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.outcome

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ the export's thread
    def _run(self) -> None:
        done = 0
        total = self.total
        try:
            for job in self.jobs:
                if self._cancel.is_set():
                    break
                done = self._render(job, done, total)
            if self._cancel.is_set():
                self._remove_outputs()
                outcome = ExportOutcome(
                    CANCELLED, done, total, HostLinkError(CANCELLED, "the export was cancelled")
                )
            else:
                outcome = ExportOutcome("done", done, total)
        except HostLinkError as exc:
            outcome = ExportOutcome("failed", done, total, exc)
        except Exception as exc:  # never leave the caller waiting on a dead thread
            log.exception("the background export failed")
            outcome = ExportOutcome("failed", done, total, HostLinkError(EXPORT_FAILED, str(exc)))
        finally:
            if self.remove_script:
                _remove(self.script)
        self.outcome = outcome
        if self.on_done is not None:
            self.on_done(outcome)

    def _render(self, job: ExportJob, done: int, total: int) -> int:
        argv = command(self.executable, self.script, job)
        log.info("exporting %s: %s", job.role, " ".join(argv))
        expected = set(os.path.normpath(p) for p in job.paths())
        marks = 0
        written: set[str] = set()
        start_done = done
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
                **_new_group(),
            )
        except OSError as exc:
            raise HostLinkError(
                EXPORT_FAILED,
                f"cannot start Nuke for the background export ({self.executable}): {exc}",
            ) from exc
        with self._lock:
            self._process = process
        if self._cancel.is_set():
            _terminate(process)
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.log_tail = (self.log_tail + [line])[-LOG_TAIL:]
            kind, value = progress_line(line)
            if kind == "mark":
                marks += 1
            elif kind == "file":
                written.add(value)
            else:
                continue
            # One mark per frame and view; Nuke's "Writing" lines count only where no mark comes.
            now = start_done + min(len(expected), max(marks, len(written)))
            if now > done:
                done = now
                if self.on_progress is not None:
                    self.on_progress(done, total, f"exporting {job.role}: frame {value}")
        code = process.wait()
        with self._lock:
            self._process = None
        if self._cancel.is_set():
            return done
        missing = [p for p in sorted(expected) if not os.path.exists(p)]
        if code != 0 or missing:
            last = next((x for x in reversed(self.log_tail) if x.strip()), "")
            why = f"Nuke exited with status {code}" if code != 0 else f"{missing[0]} is missing"
            raise HostLinkError(
                EXPORT_FAILED,
                f"the {job.role} export failed to render: {why}" + (f": {last}" if last else ""),
            )
        return done

    def _remove_outputs(self) -> None:
        """A cancelled export leaves nothing: every frame of it, whole or partial, and a
        renderer's temporary files beside them, plain (``plate.1001.exr.tmp...``) or hidden
        (``.plate.1001.exr.<id>.exr``, an atomic writer killed between write and rename)."""
        for job in self.jobs:
            for path in job.paths():
                _remove(path)
                folder, name = os.path.split(path)
                hidden = os.path.join(folder, "." + name)
                for extra in glob.glob(glob.escape(path) + ".*") + glob.glob(
                    glob.escape(hidden) + ".*"
                ):
                    _remove(extra)


def command(executable: str, script: str, job: ExportJob) -> list[str]:
    """The ``nuke -x`` command line rendering one Write of the saved script."""
    argv = [executable, "-x", "-X", job.write, "-F", f"{job.first}-{job.last}"]
    if job.views:
        argv += ["--view", ",".join(job.views)]
    return argv + [script]


def progress_line(line: str) -> tuple[str, str]:
    """``("mark", frame)`` for our after-frame line, ``("file", name)`` for Nuke's "Writing"
    line, else ``("", "")``."""
    m = _MARK.match(line)
    if m:
        return "mark", m.group("frame")
    m = _WRITING.match(line)
    if m:
        return "file", os.path.basename(m.group("path").strip())
    return "", ""


def _new_group() -> dict[str, Any]:
    """Popen options putting the render in its own process group, so cancel reaches every
    process Nuke starts (POSIX: a new session; Windows: a new process group)."""
    if sys.platform.startswith("win"):
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return {"start_new_session": True}


def _terminate(process: subprocess.Popen) -> None:
    """Ask the render (its whole process group) to stop, and kill it if it has not after
    :data:`TERMINATE_GRACE_S`. Never waits: Cancel is pressed on Nuke's main thread."""
    try:
        if sys.platform.startswith("win"):
            process.terminate()
        else:
            os.killpg(process.pid, signal.SIGTERM)
    except OSError:
        return  # already gone
    timer = threading.Timer(TERMINATE_GRACE_S, _kill_if_alive, (process,))
    timer.daemon = True
    timer.start()


def _kill_if_alive(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            if sys.platform.startswith("win"):
                process.kill()
            else:
                os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# --------------------------------------------------------------------------- from the node
@dataclass(frozen=True)
class Export:
    """One sequence to export: role, printf pattern, Nuke channel set (``rgba``/``alpha``)."""

    role: str
    pattern: str
    channels: str


def set_plate_layer(node: Any) -> str:
    """Point the plate export's Shuffle at the artist's plate layer (the ``plate_layer`` Link
    knob shows the layer the result goes back into); returns the layer. A gizmo's internals
    are not saved with the script, so this runs before every export."""
    link = next(k.link for k in N.KNOBS if k.name == "plate_layer")
    layer = str(host.linked_value(node, link) or "rgba")
    shuffle = host.child(node, N.PLATE_LAYER_NODE)
    if str(host.knob_value(shuffle, "in")) != layer:
        host.set_knob(shuffle, "in", layer)
    return layer


def script_views(node: Any) -> list[str]:
    """The views the node's exports render (``[]``: mono), from its ``stereo_view`` knob."""
    view = str(host.knob_value(node, "stereo_view") or N.ALL_VIEWS)
    try:
        return N.export_views(view, host.views())
    except N.RunOptionError as exc:
        raise HostLinkError("bad_spec", exc.message) from exc


def start(
    node: Any,
    exports: Sequence[Export],
    first: int,
    last: int,
    on_progress: Callable[[int, int, str], None] | None = None,
    on_done: Callable[[ExportOutcome], None] | None = None,
) -> BackgroundExport:
    """Main thread: make the temporary Writes, save the throw-away script, take the Writes out
    of the artist's script again, and start the background render. Returns at once."""
    set_plate_layer(node)
    views = script_views(node)
    jobs: list[ExportJob] = []
    writes: list[Any] = []
    fd, script = tempfile.mkstemp(prefix="void_export_", suffix=".nk")
    os.close(fd)
    try:
        for e in exports:
            os.makedirs(os.path.dirname(e.pattern) or ".", exist_ok=True)
            write = host.create_write(node, host.child(node, N.EXPORT_SOURCES[e.role]))
            writes.append(write)
            pattern = N.nuke_path(N.view_pattern(e.pattern, views))
            knobs: list[tuple[str, Any]] = [
                *N.EXPORT_WRITE_KNOBS,
                ("channels", e.channels),
                ("file", pattern),
                ("afterFrameRender", AFTER_FRAME_CODE),
            ]
            if views:
                knobs.append(("views", " ".join(views)))
            for knob, value in knobs:
                host.set_knob(write, knob, value)
            jobs.append(
                ExportJob(e.role, host.full_name(write), pattern, first, last, tuple(views))
            )
        host.save_script_copy(script)
    except BaseException:
        _remove(script)
        raise
    finally:
        for write in writes:
            host.delete(write)
    return BackgroundExport(script, jobs, host.executable(), on_progress, on_done).start()


# --------------------------------------------------------------------------- the GUI's run
#: Background exports in flight, by the node's full name when they started.
EXPORTS: dict[str, BackgroundExport] = {}


def export_then(
    node: Any,
    name: str,
    exports: Sequence[Any],
    first: int,
    last: int,
    on_status: Callable[[str], None],
    then: Callable[[], None],
    on_error: Callable[[HostLinkError], None],
) -> BackgroundExport:
    """GUI (main thread): start the export and return. Progress goes to ``on_status`` (the
    node's status line, the one progress indicator), then ``then()`` runs when every frame is
    on disk, or ``on_error(error)`` (a cancel too); all three on Nuke's main thread.
    ``exports`` are the plan's (role, pattern, channels)."""
    if export_of(node) is not None:
        raise HostLinkError("busy", f"{name} is exporting; press Cancel to stop it")

    def progress(done: int, total: int, message: str) -> None:
        role = message.split(": ", 1)[0].replace("exporting ", "")  # "exporting plate: ..."
        host.in_main_thread(on_status, f"exporting {done}/{total} frames ({role})")

    def finished(outcome: ExportOutcome) -> None:
        host.in_main_thread(_finished, name, outcome, then, on_error)

    job = start(
        node,
        [Export(e.role, e.pattern, e.channels) for e in exports],
        first,
        last,
        progress,
        finished,
    )
    job.node = node
    EXPORTS[name] = job
    return job


def _finished(
    name: str,
    outcome: ExportOutcome,
    then: Callable[[], None],
    on_error: Callable[[HostLinkError], None],
) -> None:
    EXPORTS.pop(name, None)
    if outcome.state == "done":
        then()
    else:
        on_error(outcome.error or HostLinkError(EXPORT_FAILED, "the export failed"))


def export_of(node: Any) -> BackgroundExport | None:
    """The export in flight for ``node``: found by the node itself, not by the name it had when
    the export started (a rename during the export must not make Cancel miss it)."""
    for job in list(EXPORTS.values()):
        if job.node is node and job.running:
            return job
    return None


def cancel_export(node: Any) -> bool:
    """The Cancel button during an export: True when one was running and is being stopped."""
    job = export_of(node)
    if job is None:
        return False
    job.cancel()
    return True
