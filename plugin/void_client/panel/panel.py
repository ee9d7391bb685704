"""The VOID Remove panel: one widget for Nuke (docked), Resolve and ``void-remove panel``.

It shows the daemon (connected, engines, GPU and free memory, queue), runs a job from the
sequences in its Job tab (or from a :class:`~void_client.sequence_job.RemoveRequest` a host hands
it), shows the job's progress per window and step with an ETA, cancels, logs events and
errors, keeps a history of jobs that can be re-attached (and lists every other job the daemon
knows, with cancel and attach), and views source / result / before-after / quadmask overlay /
difference while frames arrive. Before any job, as soon as the Job tab names a plate and a
remove matte, the viewer previews them: the plate, the quadmask overlay and the mattes'
coverage per frame, with warnings for empty, full-frame and flickering mattes. The Job tab
takes reference frames (``--reference``), and "Suggest affected matte" proposes the affected
matte with ``void-remove suggest-affected`` (:mod:`.suggest`, a subprocess on a worker thread),
fills the Affected field with it and shows it in the overlay for the artist to check.

:class:`VoidPanel` composes the widgets, each in its own module: :class:`StatusBar`
(``status_bar.py``), :class:`JobForm` (``job_form.py``), :class:`ViewerWidget` (``viewer.py``),
:class:`LogView` (``log_view.py``), :class:`HistoryTab` (``history_tab.py``) and
:class:`ProgressBox` (``progress_box.py``), and wires them to the workers. All blocking work
runs in :mod:`.worker` objects on their own threads; this module only reacts to signals
(see ``docs/architecture.md``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from void_client import protocol as P
from void_client.cli.run import PREVIEW_VOID_STEPS, preview_requests
from void_client.errors import ErrorCode, VoidError
from void_client.job_state import JobState, is_final
from void_client.panel.history import HistoryEntry, JobHistory
from void_client.panel.history_tab import HistoryTab
from void_client.panel.job_form import JobForm, pattern_from_file
from void_client.panel.log_view import LOG_COLOURS, LogView
from void_client.panel.progress import JobProgress
from void_client.panel.progress_box import ProgressBox
from void_client.panel.qt import QAction, Qt, QtCore, QtGui, QtWidgets, Signal, application, exec_
from void_client.panel.status_bar import StatusBar
from void_client.panel.suggest import SuggestRequest, SuggestWorker
from void_client.panel.viewer import SequencePreviewSource, ViewerWidget, ViewMode
from void_client.panel.worker import STATUS_INTERVAL_S, DaemonStatus, JobWorker, StatusWorker
from void_client.prompt_advice import prompt_warning
from void_client.sequence import SequencePattern, SequenceRef, format_ranges, parse_range
from void_client.sequence_job import RemoveRequest
from void_client.session import JobReport

log = logging.getLogger(__name__)

#: Threads that outlived their panel (a job still finishing its last write): kept referenced
#: until they end, because destroying a running QThread aborts the host.
_PARKED: dict[QtCore.QThread, QtCore.QObject] = {}


def _part(part: str, name: str) -> Any:
    """A read-only panel attribute for a widget that now lives in one of its parts, so
    ``panel.stage_label`` and the like keep working for tests, the bench and host scripts."""
    return property(lambda self: getattr(getattr(self, part), name), doc=f"``{part}.{name}``")


class VoidPanel(QtWidgets.QWidget):
    """The panel. ``endpoint`` is the daemon's address; ``history_path`` overrides where the
    job history lives (default ``void_client.paths.home()/panel-history.json``)."""

    job_started = Signal(str)  # job id, once the daemon accepted it
    job_finished = Signal(str, object)  # job id, session.JobReport
    job_failed = Signal(str, str, str)  # job id, error code, message
    frames_written = Signal(list)  # frames whose results are on disk
    status_changed = Signal(object)  # worker.DaemonStatus
    #: The proposed affected matte's pattern, once it is in the Affected field.
    affected_suggested = Signal(str)
    suggest_failed = Signal(str)

    # To the status worker (queued across threads).
    _poll_requested = Signal()
    _endpoint_changed = Signal(str)
    _start_daemon_requested = Signal()
    _cancel_job_requested = Signal(str)

    # The parts' widgets under the names they had before the panel was split.
    status_label = _part("status_bar", "status_label")
    engines_label = _part("status_bar", "engines_label")
    gpu_label = _part("status_bar", "gpu_label")
    queue_label = _part("status_bar", "queue_label")
    start_daemon_button = _part("status_bar", "start_daemon_button")
    endpoint_edit = _part("status_bar", "endpoint_edit")
    engine_combo = _part("job_form", "engine_combo")
    stage_label = _part("progress_box", "stage_label")
    eta_label = _part("progress_box", "eta_label")
    frames_bar = _part("progress_box", "frames_bar")
    window_bar = _part("progress_box", "window_bar")
    history_view = _part("history_tab", "history_view")

    def __init__(
        self,
        parent: QtWidgets.QWidget | None = None,
        endpoint: str = P.DEFAULT_ENDPOINT,
        history_path: str | os.PathLike | None = None,
        prefer_gl: bool = True,
        poll_interval_s: float = STATUS_INTERVAL_S,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("VOID Remove")
        self.setObjectName("VoidRemovePanel")
        self.endpoint = endpoint
        self.history = JobHistory(history_path)
        self.daemon_status: DaemonStatus | None = None
        self.progress = JobProgress()
        self.job = ""
        self.request: RemoveRequest | None = None
        self._worker: JobWorker | None = None
        self._job_thread: QtCore.QThread | None = None
        self._written: list[int] = []
        self._logged: set[str] = set()
        self._closed = False
        self._outcome: tuple | None = None
        #: Jobs the daemon knows that are not in this panel's history (CLI, hosts).
        self.elsewhere: dict[str, HistoryEntry] = {}
        self._elsewhere_seen: tuple = ()
        #: True while the viewer shows the Job tab's sequences, not a job.
        self.previewing = False
        #: The frame a running "Preview frame" job computes (None for a full run).
        self.preview_of: int | None = None
        self._suggest_worker: SuggestWorker | None = None
        self._suggest_thread: QtCore.QThread | None = None
        self._suggested: tuple[str, str] | None = None
        #: The thread the last suggestion ran on (tests: never the GUI thread).
        self.last_suggest_thread: int | None = None

        self._build_actions()
        self._build_ui(prefer_gl)
        self._start_status_worker(poll_interval_s)
        self._eta_timer = QtCore.QTimer(self)
        self._eta_timer.setInterval(500)
        self._eta_timer.timeout.connect(self._refresh_progress)
        self.refresh_history()
        self._refresh_progress()
        self._update_actions()
        app = QtCore.QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ================================================================== construction
    def _build_actions(self) -> None:
        self.run_action = QAction("Run", self)
        self.run_action.setToolTip("submit the job in the Job tab to the daemon")
        self.run_action.triggered.connect(self.run)
        self.preview_action = QAction("Preview frame", self)
        self.preview_action.setToolTip(
            "compute only the viewer's frame, at the engine's fastest settings, into "
            "<name>_preview.####.exr beside the output (void-remove run --preview)"
        )
        self.preview_action.triggered.connect(lambda: self.preview_frame())
        self.cancel_action = QAction("Cancel", self)
        self.cancel_action.setToolTip("stop the job on the daemon at its next step")
        self.cancel_action.triggered.connect(self.cancel)
        self.reattach_action = QAction("Re-attach", self)
        self.reattach_action.setToolTip(
            "follow the selected job again and collect the frames this machine lacks"
        )
        self.reattach_action.triggered.connect(self.reattach_selected)
        self.suggest_action = QAction("Suggest affected matte", self)
        self.suggest_action.setIconText("Suggest…")  # the button beside the Affected field
        self.suggest_action.setToolTip(
            "Suggest affected matte: propose the shadow/reflection matte from the plate and the "
            "remove matte (void-remove suggest-affected), write it beside the output and put it "
            "in the Affected field; check it in the overlay and edit it before you run"
        )
        self.suggest_action.triggered.connect(lambda: self.suggest_affected())

    def _build_ui(self, prefer_gl: bool) -> None:
        root = QtWidgets.QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(6)
        self.status_bar = StatusBar(self.endpoint)
        self.status_bar.endpoint_edited.connect(self.set_endpoint)
        self.status_bar.start_daemon_clicked.connect(self.start_daemon)
        root.addWidget(self.status_bar)

        self.viewer = ViewerWidget(self, prefer_gl=prefer_gl)
        self.job_form = JobForm()
        self.job_form.suggest_button.setDefaultAction(self.suggest_action)
        self.log_view = LogView(logger=log)
        self.history_tab = HistoryTab(self.reattach_action)
        self.history_tab.selection_changed.connect(self._update_actions)
        self.history_tab.view_requested.connect(self.show_selected)
        self.history_tab.forget_requested.connect(self.forget_selected)
        self.history_tab.cancel_requested.connect(self.cancel_selected)
        # Preview before Run: the form's sequences, re-read once typing pauses.
        self._preview_timer = QtCore.QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(300)
        self._preview_timer.timeout.connect(self.preview_form)
        self.job_form.sequences_changed.connect(self._preview_timer.start)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.job_form, "Job")
        self.tabs.addTab(self.log_view, "Log")
        self.tabs.addTab(self.history_tab, "History")
        self.splitter = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.viewer)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        # Never ask for more width than the stacked layout needs: resizeEvent stacks the
        # viewer over the tabs when side by side does not fit (a docked pane in Nuke).
        self.splitter.setMinimumWidth(
            max(self.viewer.minimumSizeHint().width(), self.tabs.minimumSizeHint().width())
        )
        root.addWidget(self.splitter, 1)
        self.progress_box = ProgressBox(
            self.run_action, self.cancel_action, preview_action=self.preview_action
        )
        root.addWidget(self.progress_box)

    def _start_status_worker(self, interval_s: float) -> None:
        self._status_thread = QtCore.QThread()
        self._status_thread.setObjectName("void-status")
        self._status_worker = StatusWorker(self.endpoint)
        self._status_worker.moveToThread(self._status_thread)
        self._status_worker.status.connect(self._on_status)
        self._poll_requested.connect(self._status_worker.poll)
        self._endpoint_changed.connect(self._status_worker.set_endpoint)
        self._start_daemon_requested.connect(self._status_worker.start_daemon)
        self._cancel_job_requested.connect(self._status_worker.cancel_job)
        self._status_worker.job_cancelled.connect(self._on_job_cancelled)
        self._status_thread.start()
        # The timer lives in the GUI thread; a poll is only queued when none is running.
        self._status_timer = QtCore.QTimer(self)
        self._status_timer.setInterval(int(interval_s * 1000))
        self._status_timer.timeout.connect(self.poll_status)
        self._status_timer.start()
        self.poll_status()

    # ================================================================== daemon status
    def poll_status(self) -> None:
        if not self._closed and not self._status_worker.busy.is_set():
            self._poll_requested.emit()

    def set_endpoint(self, endpoint: str) -> None:
        if not endpoint or endpoint == self.endpoint:
            return
        self.endpoint = endpoint
        self.status_bar.set_endpoint(endpoint)
        self.log_event(f"daemon address set to {endpoint}")
        self._endpoint_changed.emit(endpoint)

    def start_daemon(self) -> None:
        self.log_event(f"starting a local daemon at {self.endpoint}…")
        self.status_bar.show_starting()
        self._start_daemon_requested.emit()

    def _on_status(self, st: DaemonStatus) -> None:
        if st.endpoint != self.endpoint:
            return  # an answer about the previous address
        was = self.daemon_status.connected if self.daemon_status else None
        self.daemon_status = st
        self.status_bar.show_status(st)
        if st.connected:
            self.job_form.fill_engines(st.engines)
            changed = bool(self.history.update_from_status(st.jobs, st.endpoint))
            seen = tuple((j.get("job"), j.get("state"), j.get("frames_done")) for j in st.jobs)
            if changed or seen != self._elsewhere_seen:
                self._elsewhere_seen = seen
                self.refresh_history()
        if was is not st.connected:
            if st.connected:
                self.log_event(
                    f"connected to daemon {st.version} at {st.endpoint}; "
                    f"{self.engines_label.text()}; {self.gpu_label.text()}",
                    "ok",
                )
            else:
                self.log_event(f"no daemon at {st.endpoint}: {st.error}", "warning")
        self.status_changed.emit(st)

    # ================================================================== the job form
    def request_from_form(self) -> RemoveRequest:
        """The Job tab as a request; raises :class:`VoidError` naming the field that is missing."""
        return self.job_form.request(self.endpoint)

    def set_request(self, req: RemoveRequest) -> None:
        """Fill the Job tab from a request (hosts and ``void-remove panel --plate ...``)."""
        self.job_form.set_request(req)
        if req.endpoint:
            self.set_endpoint(req.endpoint)

    # ================================================================== preview before Run
    def preview_form(self) -> bool:
        """Show the Job tab's plate and mattes in the viewer, without a job: the plate, the
        quadmask overlay and the mattes' coverage per frame with its warnings. Returns False
        (and says why in the viewer) when there is nothing to preview yet. Never replaces a
        running job's frames."""
        if self.is_busy():
            return False
        f = self.job_form
        plate, remove = f.plate_edit.text().strip(), f.remove_edit.text().strip()
        if not plate or not remove:
            return False
        try:
            ref = SequenceRef.parse(plate)
            text = f.range_edit.text().strip()
            on_disk = ref.pattern.scan()
            if text:
                first, last = parse_range(text)
                frames = [n for n in on_disk if first <= n <= last]
            else:
                frames = on_disk
            source = SequencePreviewSource(
                plate, remove, "", f.affected_edit.text().strip(), f.dilation_spin.value()
            )
        except (VoidError, OSError, ValueError) as exc:
            self.viewer.empty_note = f"cannot preview: {getattr(exc, 'message', exc)}"
            self.viewer.set_source(None, [])
            return False
        if not frames:
            self.viewer.empty_note = f"no plate frames found at {plate}"
            self.viewer.set_source(None, [])
            return False
        self.previewing = True
        self.viewer.set_source(source, frames)
        self.viewer.follow.setChecked(False)
        self.viewer.set_mode(ViewMode.OVERLAY)
        return True

    # ================================================================== suggest affected
    def is_suggesting(self) -> bool:
        return self._suggest_thread is not None

    def suggest_affected(self) -> bool:
        """The Suggest affected matte action: ``void-remove suggest-affected`` on the Job tab's
        plate and remove matte (and frame range), in a subprocess on a worker thread; the
        proposal goes beside the output, fills the Affected field and shows in the overlay.
        Returns False (and logs why) if it cannot start."""
        if self.is_suggesting():
            return False
        f = self.job_form
        try:
            for edit, name in ((f.plate_edit, "plate"), (f.remove_edit, "remove")):
                if not edit.text().strip():
                    raise VoidError(
                        ErrorCode.BAD_SPEC, f"fill in the {name} sequence in the Job tab", name
                    )
            out = f.out_edit.text().strip()
            if not out:
                raise VoidError(
                    ErrorCode.BAD_SPEC,
                    "fill in the out sequence in the Job tab: the proposed matte goes beside it",
                    "out",
                )
            text = f.range_edit.text().strip()
            req = SuggestRequest(
                f.plate_edit.text().strip(),
                f.remove_edit.text().strip(),
                out,
                parse_range(text) if text else None,
            )
        except VoidError as exc:
            self.log_event(exc.message, "error")
            self.tabs.setCurrentWidget(self.log_view)
            return False
        thread = QtCore.QThread()
        thread.setObjectName("void-suggest")
        worker = SuggestWorker(req)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # A bound method of the panel, not a lambda: PySide then queues the call to the GUI
        # thread (the panel's); a lambda ran in the worker's thread and touched the log widget
        # there, which aborted the process (Qt widgets are GUI-thread only).
        worker.progress.connect(self.log_event)
        worker.finished.connect(self._on_suggested)
        worker.failed.connect(self._on_suggest_failed)
        worker.done.connect(thread.quit)
        thread.finished.connect(self._on_suggest_thread_finished)
        self._suggest_worker, self._suggest_thread = worker, thread
        self._suggested = None
        self.log_event(
            f"proposing an affected matte for {req.plate} (void-remove suggest-affected)…"
        )
        self._update_actions()
        thread.start()
        return True

    def _on_suggested(self, pattern: str, summary: str) -> None:
        self.log_event(summary or f"proposed affected matte: {pattern}", "ok")
        self._suggested = ("ok", pattern)

    def _on_suggest_failed(self, message: str) -> None:
        self.log_event(f"suggest affected matte failed: {message}", "error")
        self.tabs.setCurrentWidget(self.log_view)
        self._suggested = ("failed", message)

    def _on_suggest_thread_finished(self) -> None:
        thread, worker = self._suggest_thread, self._suggest_worker
        self._suggest_thread = self._suggest_worker = None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        if worker is not None:
            self.last_suggest_thread = worker.thread_ident
            worker.deleteLater()
        self._update_actions()
        outcome, self._suggested = self._suggested, None
        if outcome is None or self._closed:
            return
        kind, value = outcome
        if kind != "ok":
            self.suggest_failed.emit(value)
            return
        f = self.job_form
        before = f.affected_edit.text().strip()
        f.affected_edit.setText(value)
        if before and before != value:
            self.log_event(f"the Affected field was {before}; it now holds the proposal")
        self.log_event(
            "check the proposal in the viewer's overlay (affected in its own colour) and edit "
            "it before you run: it is a suggestion, not a decision",
            "warning",
        )
        # Shown now, not after the form's typing pause: the artist asked to see it.
        self._preview_timer.stop()
        if self.preview_form():
            self.viewer.set_mode(ViewMode.OVERLAY)
        self.affected_suggested.emit(value)

    # ================================================================== running a job
    def is_busy(self) -> bool:
        return self._job_thread is not None

    def run(self) -> bool:
        """The Run action: submit the Job tab. Returns False (and logs why) if it cannot."""
        try:
            req = self.request_from_form()
        except VoidError as exc:
            self.log_event(exc.message, "error")
            self.tabs.setCurrentWidget(self.log_view)
            return False
        return self.run_request(req)

    def preview_frame(self, frame: int | None = None) -> bool:
        """The Preview frame action: the CLI's ``--preview`` for the viewer's frame (or
        ``frame``): only the window covering it, at the engine's fastest settings, written to
        ``<name>_preview.####.exr`` beside the output, then shown in the viewer's Result view.
        Returns False (and logs why) if it cannot start."""
        if self.is_busy():
            self.log_event(f"job {self.job} is still running: cancel it or wait", "warning")
            return False
        if frame is None:
            if not self.viewer.frames and not self.preview_form():
                self.log_event("fill in the plate and remove matte to preview a frame", "error")
                self.tabs.setCurrentWidget(self.log_view)
                return False
            frame = self.viewer.frame()
        try:
            req = self.request_from_form()
            _shot, windows, parts = preview_requests(req, [frame])
        except VoidError as exc:
            self.log_event(exc.message, "error")
            self.tabs.setCurrentWidget(self.log_view)
            return False
        ((frames, part),) = parts  # one frame: one covering window, one job
        mode = (
            f"void fast mode: {PREVIEW_VOID_STEPS} steps, pass 1 only"
            if part.settings.get("engine") == "void"
            else f"{part.settings.get('engine')} defaults"
        )
        self.log_event(
            f"preview of frame {frame} ({mode}): computing frames {frames[0]}-{frames[-1]} "
            f"for context, writing frame {frame} to {part.out}"
        )
        if not self.run_request(part):
            return False
        self.preview_of = frame
        return True

    def run_request(self, req: RemoveRequest, attach: str = "") -> bool:
        """Run ``req`` (or re-attach to job ``attach`` with it) on a worker thread."""
        if self.is_busy():
            self.log_event(f"job {self.job} is still running: cancel it or wait", "warning")
            return False
        self.preview_of = None
        self._preview_timer.stop()
        self.previewing = False
        self.request = req
        self.job = attach
        # A preview computes whole windows but writes only its frames: those are what count.
        self.progress = JobProgress(job=attach, frames_kept=len(req.keep))
        self._written = []
        self._logged = set()
        thread = QtCore.QThread()
        thread.setObjectName("void-job")
        worker = JobWorker(req, attach, self.history.path)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.submitted.connect(self._on_submitted)
        worker.progress.connect(self._on_progress)
        worker.frames_written.connect(self._on_frames_written)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.detached.connect(self._on_detached)
        worker.done.connect(thread.quit)
        thread.finished.connect(self._on_thread_finished)
        self._worker, self._job_thread = worker, thread
        self.log_event(
            f"re-attaching to job {attach}…"
            if attach
            else f"submitting {req.plate} to {req.endpoint}…"
        )
        no_prompt = (
            None
            if attach
            else prompt_warning(req.settings.get("engine", ""), req.settings.get("prompt"))
        )
        if no_prompt:
            self.log_event(no_prompt, "warning")
        self.progress_box.set_stage_text("re-attaching…" if attach else "submitting…")
        self._update_actions()
        self._eta_timer.start()
        thread.start()
        return True

    def attach_job(self, job: str, request: RemoveRequest | None = None) -> bool:
        """Re-attach to ``job``; the request comes from the history unless given."""
        if request is None:
            entry = self.history.get(job)
            if entry is None:
                self.log_event(
                    f"job {job} is not in the history; give the request to re-attach", "error"
                )
                return False
            request = entry.request()
        return self.run_request(request, attach=job)

    def cancel(self) -> None:
        if self._worker is None:
            return
        self.log_event(f"cancelling job {self.job or '(submitting)'}…", "warning")
        self.progress_box.set_stage_text("cancelling…")
        self._worker.cancel()
        self.cancel_action.setEnabled(False)

    def detach(self) -> None:
        """Stop following the job without cancelling it; History ▸ Re-attach picks it up again."""
        if self._worker is not None and not self._worker.detaching:
            self.log_event(f"detaching from job {self.job}…")
            self._worker.detach()

    # ---- worker signals (GUI thread)
    def _on_submitted(self, job: str, info: dict) -> None:
        self.job = job
        self.progress.job = job
        self.progress.frames_total = len(info["frames"])
        self.progress_box.set_job(job, info["name"])
        req = self.request
        assert req is not None
        if info.get("out") and info["out"] != req.out:
            # The worker chose the next free version: preview and report that one.
            self.log_event(f"writing {info['out']} (next free version of {req.out})")
            req = self.request = dataclasses.replace(req, out=info["out"])
        elif req.overwrite and not info["attached"] and not req.keep:  # a preview replaces
            self.log_event(f"overwriting {req.out}", "warning")
        self.viewer.set_source(
            SequencePreviewSource(
                req.plate, req.remove, req.out, req.affected, req.settings.get("dilation")
            ),
            info["frames"],
        )
        if req.keep:  # a preview: the context frames stay scrubbable but get no result
            self.viewer.set_expected(req.keep)
        if info["attached"]:
            self.log_event(f"re-attached to job {job} ({len(info['frames'])} frames)", "ok")
        else:
            self.log_event(
                f"job {job} accepted: {info['name']}, {format_ranges(info['frames'])} ({len(info['frames'])} frames)",
                "ok",
            )
        self.refresh_history()
        self._refresh_progress()
        self.job_started.emit(job)

    def _on_progress(self, msg: P.Progress) -> None:
        p = self.progress
        p.update(msg)
        # Log each stage and each window once (progress comes several times a second).
        events = []
        if p.stage in (JobState.QUEUED, JobState.RECEIVING):
            events.append(
                (
                    p.stage,
                    "queued in the daemon"
                    if p.stage == JobState.QUEUED
                    else f"sending {p.frames_total} frames to the daemon",
                )
            )
        if msg.cached and p.windows_done:
            events.append(
                (
                    f"cached {p.windows_done}",
                    f"window {p.windows_done}/{p.windows} came from the cache",
                )
            )
        if p.running_window is not None:
            events.append(
                (f"window {p.running_window}", f"window {p.running_window + 1}/{p.windows} running")
            )
        for key, text in events:
            if key not in self._logged:
                self._logged.add(key)
                self._flush_written()
                self.log_event(text, "event")
        self._refresh_progress()

    def _on_frames_written(self, frames: list[int]) -> None:
        self.progress.frames_written += len(frames)
        self._written.extend(frames)
        self.viewer.mark_results(frames)
        self._refresh_progress()
        self.frames_written.emit(frames)

    def _flush_written(self) -> None:
        if self._written:
            self.log_event(f"wrote frames {format_ranges(sorted(self._written))}", "info")
            self._written = []

    def _on_finished(self, report: JobReport) -> None:
        self._flush_written()
        self.progress.finish(JobState.DONE)
        keep = self.request.keep if self.request else ()
        # A preview computes its window but writes only its frame (``keep``).
        n = len([f for f in report.frames_written if not keep or f in keep])
        cached = report.cached_windows
        self.log_event(
            f"job {self.job} done: {n} frame{'' if n == 1 else 's'} written to "
            f"{self.request.out if self.request else '?'} in {report.seconds:.1f} s "
            f"({report.windows} window{'' if report.windows == 1 else 's'}"
            f"{f', {cached} from cache' if cached else ''})",
            "ok",
        )
        self.history.update(
            self.job, state=JobState.DONE.value, frames_done=self.progress.frames_out, error=""
        )
        self.refresh_history()
        self._refresh_progress()
        if self.preview_of is not None and self.preview_of in report.frames_written:
            # Show what the preview was for: its frame, as computed.
            self.viewer.follow.setChecked(False)
            self.viewer.set_frame(self.preview_of)
            self.viewer.set_mode(ViewMode.RESULT)
        self._outcome = (self.job_finished, (self.job, report))

    def _on_failed(self, code: str, message: str, field: str) -> None:
        self._flush_written()
        cancelled = code == ErrorCode.CANCELLED.value
        self.progress.finish(JobState.CANCELLED if cancelled else JobState.FAILED)
        if cancelled:
            self.log_event(f"job {self.job} cancelled", "warning")
        else:
            self.log_event(f"error [{code}]{f' in {field}' if field else ''}: {message}", "error")
            self.tabs.setCurrentWidget(self.log_view)
        if self.job:
            self.history.update(
                self.job, state=self.progress.stage, error="" if cancelled else message
            )
            self.refresh_history()
        self._refresh_progress()
        self._outcome = (self.job_failed, (self.job, code, message))

    def _on_detached(self, job: str) -> None:
        self._flush_written()
        self.progress.finish("detached")
        self.log_event(
            f"stopped following job {job}; it keeps running on the daemon (History ▸ Re-attach)",
            "warning",
        )
        self._refresh_progress()

    def _on_thread_finished(self) -> None:
        thread, worker = self._job_thread, self._worker
        self._job_thread = self._worker = None
        if thread is not None:
            # ``finished`` is sent just before the thread really ends: let it end before the
            # object can go (destroying a running QThread aborts the process).
            thread.wait()
            thread.deleteLater()
        if worker is not None:
            worker.deleteLater()
        self._eta_timer.stop()
        self._update_actions()
        self.poll_status()
        # Announced only now, so a handler may start the next job straight away.
        outcome, self._outcome = self._outcome, None
        if outcome is not None:
            signal, args = outcome
            signal.emit(*args)

    # ---- progress display
    def _refresh_progress(self) -> None:
        self.progress_box.show_progress(self.progress, following=self._job_thread is not None)

    def _update_actions(self) -> None:
        busy = self.is_busy()
        # While a suggestion runs, Run waits: the Affected field is about to change.
        suggesting = self.is_suggesting()
        self.run_action.setEnabled(not busy and not suggesting)
        self.preview_action.setEnabled(not busy and not suggesting)
        self.suggest_action.setEnabled(not suggesting)
        self.cancel_action.setEnabled(
            busy and not (self._worker and self._worker.cancel_event.is_set())
        )
        selected = self._selected_entry()
        self.reattach_action.setEnabled(not busy and selected is not None)
        foreign = selected is not None and selected.job in self.elsewhere
        self.history_tab.set_buttons(
            can_view=selected is not None and not foreign,
            can_forget=selected is not None
            and not foreign
            and not (busy and selected.job == self.job),
            can_cancel=selected is not None and not is_final(selected.state),
        )

    # ================================================================== history
    def refresh_history(self) -> None:
        """This panel's history, then every other job the daemon at our address knows
        (started by the CLI or a host), newest first."""
        own = self.history.reload()
        known = {e.job for e in own}
        st = self.daemon_status
        self.elsewhere = {}
        if st is not None and st.connected and st.endpoint == self.endpoint:
            for j in st.jobs:
                if j["job"] in known:
                    continue
                self.elsewhere[j["job"]] = HistoryEntry(
                    job=j["job"],
                    name=j.get("name", ""),
                    endpoint=st.endpoint,
                    plate="",
                    remove="",
                    out="",
                    started=float(j.get("created", 0.0) or 0.0),
                    state=str(j.get("state", "")),
                    frames_done=int(j.get("frames_done", 0)),
                    frames_total=int(j.get("frames_total", 0)),
                    error=str((j.get("error") or {}).get("message", "")),
                )
        entries = sorted([*own, *self.elsewhere.values()], key=lambda e: e.started, reverse=True)
        self.history_tab.show_entries(entries, set(self.elsewhere))
        self._update_actions()

    def _selected_entry(self) -> HistoryEntry | None:
        if not hasattr(self, "history_tab"):
            return None  # still being built
        job = self.history_tab.selected_job()
        if job is None:
            return None
        return self.history.get(job) or self.elsewhere.get(job)

    def cancel_selected(self) -> bool:
        """Cancel the selected job on the daemon, whoever started it."""
        entry = self._selected_entry()
        if entry is None:
            return False
        if self.is_busy() and entry.job == self.job:
            self.cancel()
            return True
        self.log_event(f"cancelling job {entry.job} on the daemon…", "warning")
        self._cancel_job_requested.emit(entry.job)
        return True

    def _on_job_cancelled(self, job: str, error: str) -> None:
        if error:
            self.log_event(f"could not cancel job {job}: {error}", "error")
        else:
            self.log_event(f"job {job} cancelled on the daemon", "warning")
            if self.history.get(job) is not None:
                self.history.update(job, state=JobState.CANCELLED.value)
        self.refresh_history()

    def select_history(self, job: str) -> bool:
        return self.history_tab.select(job)

    def reattach_selected(self) -> bool:
        entry = self._selected_entry()
        if entry is None:
            return False
        if entry.endpoint != self.endpoint:
            self.set_endpoint(entry.endpoint)
        if entry.job in self.elsewhere:
            # Started by the CLI or a host: the daemon has the job but not where its files are;
            # like `void-remove attach JOB --plate ... --out ...`, the Job tab says.
            try:
                req = self.request_from_form()
            except VoidError:
                self.log_event(
                    f"job {entry.job} was started elsewhere (CLI or a host): fill in its "
                    "plate, mattes and output in the Job tab, then Re-attach",
                    "error",
                )
                self.tabs.setCurrentWidget(self.job_form)
                return False
            return self.run_request(dataclasses.replace(req, autostart=False), attach=entry.job)
        return self.attach_job(entry.job, entry.request(autostart=False))

    def show_selected(self) -> None:
        """Show a past job in the viewer from disk, without talking to the daemon."""
        entry = self._selected_entry()
        if entry is None:
            return
        try:
            frames = (
                list(range(entry.frame_range[0], entry.frame_range[1] + 1))
                if entry.frame_range
                else SequenceRef.parse(entry.plate).pattern.scan()
            )
            done = SequencePattern.parse(entry.out).scan()
        except (VoidError, OSError) as exc:
            self.log_event(f"cannot show job {entry.job}: {exc}", "error")
            return
        self.viewer.set_source(
            SequencePreviewSource(
                entry.plate, entry.remove, entry.out, entry.affected, entry.settings.get("dilation")
            ),
            frames,
        )
        self.viewer.follow.setChecked(False)
        # A preview's window is scrubbable, but only its frames (``keep``) get results.
        wanted = set(entry.keep) if entry.keep else set(frames)
        if entry.keep:
            self.viewer.set_expected(entry.keep)
        on_disk = [f for f in done if f in wanted]
        self.viewer.mark_results(on_disk)
        self.log_event(f"viewing job {entry.job}: {len(on_disk)}/{len(wanted)} results on disk")

    def forget_selected(self) -> None:
        entry = self._selected_entry()
        if entry is not None and self.history.forget(entry.job):
            self.log_event(f"removed job {entry.job} from the history")
            self.refresh_history()

    # ================================================================== log
    def log_event(self, text: str, level: str = "info") -> None:
        """A timestamped line in the Log tab (errors in red) and in Python's log."""
        self.log_view.add(text, level)

    def log_text(self) -> str:
        return self.log_view.toPlainText()

    # ================================================================== lifetime
    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802
        # Docked in a narrow pane (Nuke's properties bin), stack the viewer over the tabs.
        side_by_side = (
            self.viewer.minimumSizeHint().width() + self.tabs.minimumSizeHint().width() + 120
        )
        narrow = event.size().width() < side_by_side
        self.splitter.setOrientation(
            Qt.Orientation.Vertical if narrow else Qt.Orientation.Horizontal
        )
        self.status_bar.set_narrow(narrow)
        super().resizeEvent(event)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, wait_s: float = 3.0) -> None:
        """Stop the threads. A running job is *detached*, not cancelled: it keeps running on
        the daemon and the history re-attaches to it later."""
        if self._closed:
            return
        self._closed = True
        self._status_timer.stop()
        self._eta_timer.stop()
        if self._worker is not None and self._job_thread is not None:
            self._worker.detach()
            if not self._job_thread.wait(int(wait_s * 1000)):
                log.warning(
                    "job %s is still finishing a step; leaving its thread to end on its own",
                    self.job,
                )
                _park(self._job_thread, self._worker)
        if self._suggest_worker is not None and self._suggest_thread is not None:
            self._suggest_worker.stop()  # the command is ended; its partial proposal is kept
            if not self._suggest_thread.wait(int(wait_s * 1000)):
                _park(self._suggest_thread, self._suggest_worker)
        self._status_thread.quit()
        if not self._status_thread.wait(int((wait_s + 2) * 1000)):
            _park(self._status_thread, self._status_worker)
        else:
            self._status_worker.close()
        self.viewer.shutdown()


def _park(thread: QtCore.QThread, worker: QtCore.QObject) -> None:
    _PARKED[thread] = worker  # the worker too: it is still running on that thread
    thread.finished.connect(lambda t=thread: _PARKED.pop(t, None))


def apply_dark_theme(app: QtWidgets.QApplication) -> None:
    """Fusion with a dark palette, close to Nuke and Resolve; only for a standalone panel
    (inside a host the host's own style applies)."""
    app.setStyle("Fusion")
    pal = QtGui.QPalette()
    c = QtGui.QColor
    for role, colour in (
        (QtGui.QPalette.ColorRole.Window, c(50, 50, 52)),
        (QtGui.QPalette.ColorRole.WindowText, c(220, 220, 220)),
        (QtGui.QPalette.ColorRole.Base, c(36, 36, 38)),
        (QtGui.QPalette.ColorRole.AlternateBase, c(44, 44, 47)),
        (QtGui.QPalette.ColorRole.ToolTipBase, c(60, 60, 64)),
        (QtGui.QPalette.ColorRole.ToolTipText, c(230, 230, 230)),
        (QtGui.QPalette.ColorRole.Text, c(220, 220, 220)),
        (QtGui.QPalette.ColorRole.Button, c(62, 62, 66)),
        (QtGui.QPalette.ColorRole.ButtonText, c(225, 225, 225)),
        (QtGui.QPalette.ColorRole.Highlight, c(230, 150, 40)),
        (QtGui.QPalette.ColorRole.HighlightedText, c(20, 20, 20)),
        (QtGui.QPalette.ColorRole.PlaceholderText, c(130, 130, 134)),
    ):
        pal.setColor(role, colour)
    pal.setColor(
        QtGui.QPalette.ColorGroup.Disabled, QtGui.QPalette.ColorRole.Text, c(120, 120, 120)
    )
    pal.setColor(
        QtGui.QPalette.ColorGroup.Disabled, QtGui.QPalette.ColorRole.ButtonText, c(120, 120, 120)
    )
    pal.setColor(
        QtGui.QPalette.ColorGroup.Disabled, QtGui.QPalette.ColorRole.WindowText, c(120, 120, 120)
    )
    app.setPalette(pal)


#: Panels opened by show_panel(), kept alive while their window is open.
_OPEN: list[VoidPanel] = []


def show_panel(
    endpoint: str = P.DEFAULT_ENDPOINT,
    request: RemoveRequest | None = None,
    block: bool | None = None,
) -> VoidPanel:
    """Open the panel in its own window. With no QApplication yet (standalone), make one,
    style it and run the event loop until the window closes (``block`` None means: block
    only when this call made the application)."""
    app, created = application()
    if created:
        apply_dark_theme(app)
    panel = VoidPanel(None, endpoint)
    if request is not None:
        panel.set_request(request)
    panel.resize(1280, 780)
    panel.show()
    _OPEN.append(panel)
    panel.destroyed.connect(lambda *_: _OPEN.remove(panel) if panel in _OPEN else None)
    if block if block is not None else created:
        exec_(app)
        panel.shutdown()
    return panel


__all__ = [
    "VoidPanel",
    "show_panel",
    "apply_dark_theme",
    "pattern_from_file",
    "ViewMode",
    "LOG_COLOURS",
]
