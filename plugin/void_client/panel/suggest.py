"""The panel's "Suggest affected matte": ``void-remove suggest-affected`` in a subprocess.

The proposal is computed by the daemon package's command (``void_daemon.suggest_affected_command``,
a ``void_remove.commands`` entry point), which the client must not import
(``docs/architecture.md``, "Layering"). So the panel runs the same command line an artist would,
as a subprocess, from a worker on its own thread: the host's UI never waits on it, and the
result is exactly the CLI's. A host's node (Nuke) would run it the same way.

The proposal goes beside the output as ``<name>_affected_suggested.####.exr``; when that
sequence already holds frames (an earlier proposal the artist may have edited) the next free
``_v###`` version is used, so nothing is ever written over an earlier proposal or an input (the
command itself refuses an ``--out`` that is one of its inputs). See docs/panel.md.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import threading
from dataclasses import dataclass

from void_client.errors import ErrorCode, VoidError
from void_client.local_install import configured_command
from void_client.output_manifest import next_version
from void_client.panel.qt import QtCore, Signal, Slot
from void_client.sequence import SequencePattern

log = logging.getLogger(__name__)

#: Site setting: the command line that runs ``void-remove`` for the panel (a host whose own
#: interpreter is not the install's Python, e.g. Nuke's).
COMMAND_ENV = "VOID_REMOVE_COMMAND"
#: What the proposal's name adds to the output's.
SUGGESTED_SUFFIX = "_affected_suggested"


def suggestion_pattern(out: str) -> str:
    """``/o/clean.####.exr`` → ``/o/clean_affected_suggested.####.exr`` (beside the output)."""
    pat = SequencePattern.parse(out)
    stem = pat.prefix.rstrip("._-")
    sep = pat.prefix[len(stem) :]
    if not os.path.basename(stem):  # "/o/.####.exr": no name to extend
        stem = os.path.join(stem, "clean") if stem else "clean"
    return f"{stem}{SUGGESTED_SUFFIX}{sep}{'#' * pat.padding}{pat.suffix}"


def free_suggestion_pattern(out: str) -> str:
    """:func:`suggestion_pattern`, or its next free ``_v###`` version when it holds frames."""
    target = suggestion_pattern(out)
    return next_version(target) if SequencePattern.parse(target).scan() else target


def void_remove_command() -> list[str]:
    """How this install runs ``void-remove``: ``$VOID_REMOVE_COMMAND``; else this interpreter
    with the CLI module when it is a Python that has the daemon package (whose command this
    is); else ``void-remove`` from PATH. Raises when none can run ``suggest-affected``."""
    command = configured_command(COMMAND_ENV)
    if command:
        return command
    found = shutil.which("void-remove")
    if found:
        return [found]
    raise VoidError(
        ErrorCode.ENGINE_UNAVAILABLE,
        "Suggest affected matte needs the full install: pip install 'void-remove[daemon]' "
        f"here, or set {COMMAND_ENV} to the void-remove command line",
        "affected",
    )


@dataclass
class SuggestRequest:
    """What the command is given: the Job tab's plate, remove matte and frame range, and the
    output the proposal goes beside."""

    plate: str
    remove: str
    out: str
    frame_range: tuple[int, int] | None = None

    def argv(self, command: list[str], target: str) -> list[str]:
        args = [*command, "suggest-affected", "--plate", self.plate, "--remove", self.remove]
        args += ["--out", target]
        if self.frame_range:
            args += ["--range", f"{self.frame_range[0]}-{self.frame_range[1]}"]
        return args


class SuggestWorker(QtCore.QObject):
    """Runs one ``suggest-affected`` on its thread. Signals: any number of ``progress`` (the
    command's own lines), then exactly one of ``finished`` (the proposal's pattern, the
    command's summary) or ``failed`` (its last error line), then ``done``."""

    progress = Signal(str)
    finished = Signal(str, str)
    failed = Signal(str)
    done = Signal()

    def __init__(self, request: SuggestRequest) -> None:
        super().__init__()
        self.request = request
        self.thread_ident: int | None = None
        self._proc: subprocess.Popen | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """Any thread: end the command (the panel closes)."""
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()

    @Slot()
    def run(self) -> None:
        self.thread_ident = threading.get_ident()
        try:
            target = free_suggestion_pattern(self.request.out)
            argv = self.request.argv(void_remove_command(), target)
            log.info("suggest-affected: %s", shlex.join(argv))
            self._proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            if self._stop.is_set():
                self._proc.terminate()
            errors: list[str] = []
            reader = threading.Thread(
                target=self._read_stderr, args=(self._proc, errors), daemon=True
            )
            reader.start()
            stdout = self._proc.stdout.read() if self._proc.stdout else ""
            rc = self._proc.wait()
            reader.join()
            if rc != 0:
                why = errors[-1] if errors else f"exited with status {rc}"
                self.failed.emit(why.removeprefix("void-remove: "))
            else:
                summary = stdout.strip().splitlines()[-1] if stdout.strip() else ""
                self.finished.emit(target, summary)
        except VoidError as exc:
            self.failed.emit(exc.message)
        except Exception as exc:  # a bug must reach the panel's log, not kill the thread silently
            log.exception("suggest-affected failed")
            self.failed.emit(f"{exc.__class__.__name__}: {exc}")
        finally:
            self.done.emit()

    def _read_stderr(self, proc: subprocess.Popen, errors: list[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip()
            if not line:
                continue
            errors.append(line)
            self.progress.emit(line)


__all__ = [
    "SuggestRequest",
    "SuggestWorker",
    "free_suggestion_pattern",
    "suggestion_pattern",
    "void_remove_command",
]
