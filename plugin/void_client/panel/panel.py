"""The VOID Remove panel: one widget for Nuke (docked), Resolve and ``void-remove panel``.

It shows the daemon (connected, engines, GPU and free memory, queue), runs a job from the
sequences in its Job tab (or from a :class:`~void_client.sequence_job.RemoveRequest` a host hands
it), shows the job's progress per window and step with an ETA, cancels, logs events and
errors, keeps a history of jobs that can be re-attached, and views source / result /
before-after / quadmask overlay while frames arrive.

All blocking work runs in :mod:`.worker` objects on their own threads; this module only
builds widgets and reacts to signals.
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import os
import re
import time

from void_client import protocol as P
from void_client.client import is_local
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.panel.history import HistoryEntry, JobHistory
from void_client.panel.progress import JobProgress, WindowBar, format_seconds
from void_client.panel.qt import QAction, Qt, QtCore, QtGui, QtWidgets, Signal, application, exec_
from void_client.panel.viewer import SequencePreviewSource, ViewerWidget, ViewMode
from void_client.panel.worker import STATUS_INTERVAL_S, DaemonStatus, JobWorker, StatusWorker
from void_client.sequence import SequencePattern, SequenceRef, format_ranges, parse_range
from void_client.sequence_job import RemoveRequest

log = logging.getLogger(__name__)

#: Threads that outlived their panel (a job still finishing its last write): kept referenced
#: until they end, because destroying a running QThread aborts the host.
_PARKED: dict[QtCore.QThread, QtCore.QObject] = {}

LOG_COLOURS = {
    "info": "#d0d0d0",
    "event": "#9fc9ff",
    "ok": "#8fd19e",
    "warning": "#f0c060",
    "error": "#ff7b72",
}

#: A frame number right before the extension, for turning a picked file into a pattern.
_FRAME_RE = re.compile(r"(\d+)(\.[A-Za-z0-9]+)$")


def pattern_from_file(path: str) -> str:
    """``/shots/plate.1001.exr`` -> ``/shots/plate.####.exr`` (a file-dialog pick to a sequence)."""
    m = _FRAME_RE.search(path)
    if not m:
        return path
    return path[: m.start(1)] + "#" * len(m.group(1)) + m.group(2)


def format_bytes(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


class VoidPanel(QtWidgets.QWidget):
    """The panel. ``endpoint`` is the daemon's address; ``history_path`` overrides where the
    job history lives (default ``void_client.paths.home()/panel-history.json``)."""

    job_started = Signal(str)  # job id, once the daemon accepted it
    job_finished = Signal(str, object)  # job id, session.JobReport
    job_failed = Signal(str, str, str)  # job id, error code, message
    frames_written = Signal(list)  # frames whose results are on disk
    status_changed = Signal(object)  # worker.DaemonStatus

    # To the status worker (queued across threads).
    _poll_requested = Signal()
    _endpoint_changed = Signal(str)
    _start_daemon_requested = Signal()

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
        self.cancel_action = QAction("Cancel", self)
        self.cancel_action.setToolTip("stop the job on the daemon at its next step")
        self.cancel_action.triggered.connect(self.cancel)
        self.reattach_action = QAction("Re-attach", self)
        self.reattach_action.setToolTip(
            "follow the selected job again and collect the frames this machine lacks"
        )
        self.reattach_action.triggered.connect(self.reattach_selected)

    def _build_ui(self, prefer_gl: bool) -> None:
        root = QtWidgets.QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(6)
        root.addWidget(self._build_status_bar())

        self.viewer = ViewerWidget(self, prefer_gl=prefer_gl)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self._build_job_tab(), "Job")
        self.tabs.addTab(self._build_log_tab(), "Log")
        self.tabs.addTab(self._build_history_tab(), "History")
        self.splitter = QtWidgets.QSplitter(Qt.Horizontal)
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
        root.addWidget(self._build_progress_box())

    def _build_status_bar(self) -> QtWidgets.QWidget:
        box = QtWidgets.QFrame()
        box.setFrameShape(QtWidgets.QFrame.StyledPanel)
        rows = QtWidgets.QVBoxLayout(box)
        rows.setContentsMargins(8, 4, 8, 4)
        rows.setSpacing(2)
        self._status_rows = (QtWidgets.QHBoxLayout(), QtWidgets.QHBoxLayout())
        for r in self._status_rows:
            r.setSpacing(6)
            rows.addLayout(r)
        self.status_dot = QtWidgets.QLabel("●")
        self.status_label = QtWidgets.QLabel("connecting…")
        self.engines_label = QtWidgets.QLabel("engines: —")
        self.gpu_label = QtWidgets.QLabel("GPU: —")
        self.queue_label = QtWidgets.QLabel("queue: —")
        self.endpoint_edit = QtWidgets.QLineEdit(self.endpoint)
        self.endpoint_edit.setToolTip(
            "the daemon's address, e.g. tcp://127.0.0.1:47615 or tcp://gpu-box:47615"
        )
        self.endpoint_edit.setMinimumWidth(170)
        self.endpoint_edit.editingFinished.connect(
            lambda: self.set_endpoint(self.endpoint_edit.text().strip())
        )
        self.start_daemon_button = QtWidgets.QPushButton("Start daemon")
        self.start_daemon_button.setToolTip("start a local daemon on this machine")
        self.start_daemon_button.clicked.connect(self.start_daemon)
        self.start_daemon_button.hide()
        self._status_seps = [_separator() for _ in range(3)]
        self._status_narrow: bool | None = None
        # Ask no more width than the two-row layout needs, so a dock can be made narrow; the
        # one-row layout is only used when the panel is far wider than that (resizeEvent).
        self._layout_status(narrow=True)
        box.setMinimumWidth(box.minimumSizeHint().width())
        self._layout_status(narrow=False)
        self._set_dot("#888888")
        return box

    def _layout_status(self, narrow: bool) -> None:
        """One row when there is room; two when docked narrow (engines and GPU below)."""
        if narrow == self._status_narrow:
            return
        self._status_narrow = narrow
        first, second = self._status_rows
        for row in (first, second):
            while row.count():
                row.takeAt(0)  # the widgets stay; only their places are rebuilt
        e_sep, g_sep, q_sep = self._status_seps
        if narrow:
            placed = [
                (
                    first,
                    [
                        self.status_dot,
                        self.status_label,
                        q_sep,
                        self.queue_label,
                        None,
                        self.start_daemon_button,
                        self.endpoint_edit,
                    ],
                ),
                (second, [self.engines_label, e_sep, self.gpu_label, None]),
            ]
            g_sep.hide()
        else:
            placed = [
                (
                    first,
                    [
                        self.status_dot,
                        self.status_label,
                        e_sep,
                        self.engines_label,
                        g_sep,
                        self.gpu_label,
                        q_sep,
                        self.queue_label,
                        None,
                        self.start_daemon_button,
                        self.endpoint_edit,
                    ],
                )
            ]
            g_sep.show()
        for row, widgets in placed:
            for w in widgets:
                if w is None:
                    row.addStretch(1)
                else:
                    row.addWidget(w)

    def _build_job_tab(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(page)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.AllNonFixedFieldsGrow)
        self.plate_edit = self._path_row(
            form, "Plate", "plate sequence, e.g. /shots/sh010/plate.####.exr"
        )
        self.remove_edit = self._path_row(
            form, "Remove matte", "the object to delete; PATTERN or PATTERN:layer.channel"
        )
        self.affected_edit = self._path_row(
            form, "Affected matte", "optional: its shadow, reflection, what it moves"
        )
        self.out_edit = self._path_row(
            form, "Output", "where the clean plate goes, e.g. /shots/sh010/clean.####.exr"
        )
        self.range_edit = QtWidgets.QLineEdit()
        self.range_edit.setPlaceholderText("FIRST-LAST (empty: every plate frame on disk)")
        form.addRow("Frame range", self.range_edit)

        d = JobSpec(frames=[1], width=1, height=1)  # the spec's defaults: one definition
        self.engine_combo = QtWidgets.QComboBox()
        self.engine_combo.addItem(d.engine)
        form.addRow("Engine", self.engine_combo)
        grid = QtWidgets.QGridLayout()
        self.window_spin = _spin(
            1, 197, d.window, "longest window in frames (rounded down to 8m+5)"
        )
        self.overlap_spin = _spin(0, 196, d.overlap, "frames shared by neighbouring windows")
        self.seam_combo = QtWidgets.QComboBox()
        self.seam_combo.addItems(["crossfade", "chain"])
        self.seam_combo.setCurrentText(d.seam)
        self.dilation_spin = _spin(0, 256, d.dilation, "grow the mattes by this many pixels")
        self.margin_spin = _spin(0, 4096, d.roi_margin, "context around the masks, pixels")
        self.feather_spin = _spin(0, 256, d.feather, "soft edge of the composite, pixels")
        self.seed_spin = _spin(0, 2**31 - 1, d.seed, "noise seed (void engine)")
        for i, (label, w) in enumerate(
            (
                ("Window", self.window_spin),
                ("Overlap", self.overlap_spin),
                ("Seam", self.seam_combo),
                ("Dilation", self.dilation_spin),
                ("ROI margin", self.margin_spin),
                ("Feather", self.feather_spin),
            )
        ):
            grid.addWidget(QtWidgets.QLabel(label), i // 2, (i % 2) * 2)
            grid.addWidget(w, i // 2, (i % 2) * 2 + 1)
        form.addRow("Settings", grid)
        self.prompt_edit = QtWidgets.QLineEdit()
        self.prompt_edit.setPlaceholderText("background description (void engine)")
        form.addRow("Prompt", self.prompt_edit)
        options = QtWidgets.QHBoxLayout()
        options.addWidget(QtWidgets.QLabel("Seed"))
        options.addWidget(self.seed_spin)
        self.pass2_check = QtWidgets.QCheckBox("Pass 2 (warped-noise refinement)")
        self.autostart_check = QtWidgets.QCheckBox("Start a local daemon if none answers")
        self.autostart_check.setChecked(True)
        options.addWidget(self.pass2_check)
        options.addStretch(1)
        form.addRow("", options)
        form.addRow("", self.autostart_check)
        return page

    def _path_row(self, form: QtWidgets.QFormLayout, label: str, tip: str) -> QtWidgets.QLineEdit:
        edit = QtWidgets.QLineEdit()
        edit.setPlaceholderText(tip)
        edit.setToolTip(tip)
        browse = QtWidgets.QToolButton()
        browse.setText("…")
        browse.clicked.connect(lambda: self._browse(edit, label))
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        row.addWidget(browse)
        form.addRow(label, row)
        return edit

    def _browse(self, edit: QtWidgets.QLineEdit, label: str) -> None:
        start = os.path.dirname(edit.text()) or os.getcwd()
        if label == "Output":
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, f"VOID Remove: {label}", start, "EXR (*.exr)"
            )
        else:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self,
                f"VOID Remove: {label}",
                start,
                "Images (*.exr *.tif *.tiff *.png *.dpx);;All files (*)",
            )
        if path:
            edit.setText(pattern_from_file(path) if label != "Output" else path)

    def _build_log_tab(self) -> QtWidgets.QWidget:
        self.log_view = QtWidgets.QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont))
        return self.log_view

    def _build_history_tab(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(page)
        lay.setContentsMargins(0, 4, 0, 0)
        self.history_view = QtWidgets.QTreeWidget()
        self.history_view.setRootIsDecorated(False)
        self.history_view.setAlternatingRowColors(True)
        self.history_view.setHeaderLabels(["Job", "Name", "State", "Frames", "Started", "Output"])
        self.history_view.itemSelectionChanged.connect(self._update_actions)
        self.history_view.itemDoubleClicked.connect(lambda *_: self.show_selected())
        lay.addWidget(self.history_view, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(_tool_button(self.reattach_action))
        self.show_button = QtWidgets.QPushButton("View")
        self.show_button.setToolTip("show the selected job's plate and results in the viewer")
        self.show_button.clicked.connect(self.show_selected)
        self.forget_button = QtWidgets.QPushButton("Forget")
        self.forget_button.setToolTip(
            "remove the entry from this history (the daemon keeps the job)"
        )
        self.forget_button.clicked.connect(self.forget_selected)
        row.addWidget(self.show_button)
        row.addWidget(self.forget_button)
        row.addStretch(1)
        lay.addLayout(row)
        return page

    def _build_progress_box(self) -> QtWidgets.QWidget:
        box = QtWidgets.QFrame()
        box.setFrameShape(QtWidgets.QFrame.StyledPanel)
        grid = QtWidgets.QGridLayout(box)
        grid.setContentsMargins(8, 6, 8, 6)
        self.stage_label = QtWidgets.QLabel("idle")
        self.stage_label.setMinimumWidth(180)
        self.job_label = QtWidgets.QLabel("")
        self.job_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.frames_bar = QtWidgets.QProgressBar()
        self.frames_bar.setFormat("%v/%m frames")
        self.frames_bar.setRange(0, 1)
        self.frames_bar.setValue(0)
        self.window_bar = WindowBar()
        self.window_label = QtWidgets.QLabel("windows —")
        self.step_bar = QtWidgets.QProgressBar()
        self.step_bar.setRange(0, 1)
        self.step_bar.setValue(0)
        self.step_bar.setFormat("step —")
        self.eta_label = QtWidgets.QLabel("ETA —")
        self.eta_label.setMinimumWidth(120)
        grid.addWidget(self.stage_label, 0, 0)
        grid.addWidget(self.frames_bar, 0, 1)
        grid.addWidget(self.eta_label, 0, 2)
        grid.addWidget(_tool_button(self.run_action), 0, 3)
        grid.addWidget(self.job_label, 1, 0)
        grid.addWidget(self.window_bar, 1, 1)
        grid.addWidget(self.window_label, 1, 2)
        grid.addWidget(_tool_button(self.cancel_action), 1, 3)
        grid.addWidget(self.step_bar, 2, 1)
        grid.setColumnStretch(1, 1)
        return box

    def _start_status_worker(self, interval_s: float) -> None:
        self._status_thread = QtCore.QThread()
        self._status_thread.setObjectName("void-status")
        self._status_worker = StatusWorker(self.endpoint)
        self._status_worker.moveToThread(self._status_thread)
        self._status_worker.status.connect(self._on_status)
        self._poll_requested.connect(self._status_worker.poll)
        self._endpoint_changed.connect(self._status_worker.set_endpoint)
        self._start_daemon_requested.connect(self._status_worker.start_daemon)
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
        self.endpoint_edit.setText(endpoint)
        self.log_event(f"daemon address set to {endpoint}")
        self._endpoint_changed.emit(endpoint)

    def start_daemon(self) -> None:
        self.log_event(f"starting a local daemon at {self.endpoint}…")
        self.status_label.setText("starting the daemon…")
        self._start_daemon_requested.emit()

    def _set_dot(self, colour: str) -> None:
        self.status_dot.setStyleSheet(f"color: {colour}; font-size: 14pt;")

    def _on_status(self, st: DaemonStatus) -> None:
        if st.endpoint != self.endpoint:
            return  # an answer about the previous address
        was = self.daemon_status.connected if self.daemon_status else None
        self.daemon_status = st
        if st.connected:
            self._set_dot("#4caf50")
            self.status_label.setText(f"connected · daemon {st.version}")
            self.status_label.setToolTip(f"{st.endpoint}, round trip {st.round_trip_ms:.0f} ms")
            engines = [f"{e['name']} {'✓' if e.get('available') else '✗'}" for e in st.engines]
            self.engines_label.setText("engines: " + ", ".join(engines))
            self.engines_label.setToolTip(
                "\n".join(
                    f"{e['name']}: {'available' if e.get('available') else e.get('reason', 'unavailable')}"
                    for e in st.engines
                )
            )
            self.gpu_label.setText(
                f"GPU: {st.gpu} · {format_bytes(st.vram_free)} free"
                if st.gpu and st.vram_free
                else f"GPU: {st.gpu}"
                if st.gpu
                else "GPU: none"
            )
            self.queue_label.setText(
                f"queue: {st.queue_length} job{'s' if st.queue_length != 1 else ''}"
            )
            self._fill_engines(st.engines)
            if self.history.update_from_status(st.jobs, st.endpoint):
                self.refresh_history()
        else:
            self._set_dot("#e05050")
            self.status_label.setText("not connected")
            self.status_label.setToolTip(st.error)
            self.queue_label.setText("queue: —")
        self.start_daemon_button.setVisible(not st.connected and is_local(st.endpoint))
        if was is not st.connected:
            if st.connected:
                self.log_event(
                    f"connected to daemon {st.version} at {st.endpoint}; {self.engines_label.text()}; {self.gpu_label.text()}",
                    "ok",
                )
            else:
                self.log_event(f"no daemon at {st.endpoint}: {st.error}", "warning")
        self.status_changed.emit(st)

    def _fill_engines(self, engines: list[dict]) -> None:
        current = self.engine_combo.currentText()
        names = [e["name"] for e in engines]
        if names == [self.engine_combo.itemText(i) for i in range(self.engine_combo.count())]:
            return
        self.engine_combo.clear()
        model = self.engine_combo.model()
        for i, e in enumerate(engines):
            self.engine_combo.addItem(e["name"])
            if not e.get("available"):
                item = model.item(i) if hasattr(model, "item") else None
                if item is not None:
                    item.setEnabled(False)
                    item.setToolTip(e.get("reason", ""))
        if current in names:
            self.engine_combo.setCurrentText(current)

    # ================================================================== the job form
    def request_from_form(self) -> RemoveRequest:
        """The Job tab as a request; raises :class:`VoidError` naming the field that is missing."""
        for edit, name in (
            (self.plate_edit, "plate"),
            (self.remove_edit, "remove"),
            (self.out_edit, "out"),
        ):
            if not edit.text().strip():
                raise VoidError(
                    ErrorCode.BAD_SPEC, f"fill in the {name} sequence in the Job tab", name
                )
        text = self.range_edit.text().strip()
        return RemoveRequest(
            plate=self.plate_edit.text().strip(),
            remove=self.remove_edit.text().strip(),
            affected=self.affected_edit.text().strip(),
            out=self.out_edit.text().strip(),
            frame_range=parse_range(text) if text else None,
            settings={
                "engine": self.engine_combo.currentText(),
                "window": self.window_spin.value(),
                "overlap": self.overlap_spin.value(),
                "seam": self.seam_combo.currentText(),
                "dilation": self.dilation_spin.value(),
                "roi_margin": self.margin_spin.value(),
                "feather": self.feather_spin.value(),
                "prompt": self.prompt_edit.text(),
                "seed": self.seed_spin.value(),
                "pass2": self.pass2_check.isChecked(),
            },
            endpoint=self.endpoint,
            autostart=self.autostart_check.isChecked(),
        )

    def set_request(self, req: RemoveRequest) -> None:
        """Fill the Job tab from a request (hosts and ``void-remove panel --plate ...``)."""
        self.plate_edit.setText(req.plate)
        self.remove_edit.setText(req.remove)
        self.affected_edit.setText(req.affected)
        self.out_edit.setText(req.out)
        self.range_edit.setText(
            f"{req.frame_range[0]}-{req.frame_range[1]}" if req.frame_range else ""
        )
        s = req.settings
        if "engine" in s:
            if self.engine_combo.findText(s["engine"]) < 0:
                self.engine_combo.addItem(s["engine"])
            self.engine_combo.setCurrentText(s["engine"])
        for key, spin in (
            ("window", self.window_spin),
            ("overlap", self.overlap_spin),
            ("dilation", self.dilation_spin),
            ("roi_margin", self.margin_spin),
            ("feather", self.feather_spin),
            ("seed", self.seed_spin),
        ):
            if key in s:
                spin.setValue(int(s[key]))
        if "seam" in s:
            self.seam_combo.setCurrentText(s["seam"])
        self.prompt_edit.setText(s.get("prompt", self.prompt_edit.text()))
        self.pass2_check.setChecked(bool(s.get("pass2", self.pass2_check.isChecked())))
        self.autostart_check.setChecked(req.autostart)
        if req.endpoint:
            self.set_endpoint(req.endpoint)

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

    def run_request(self, req: RemoveRequest, attach: str = "") -> bool:
        """Run ``req`` (or re-attach to job ``attach`` with it) on a worker thread."""
        if self.is_busy():
            self.log_event(f"job {self.job} is still running: cancel it or wait", "warning")
            return False
        self.request = req
        self.job = attach
        self.progress = JobProgress(job=attach)
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
        self.stage_label.setText("re-attaching…" if attach else "submitting…")
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
        self.stage_label.setText("cancelling…")
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
        self.job_label.setText(f"job {job} · {info['name']}")
        req = self.request
        assert req is not None
        self.viewer.set_source(
            SequencePreviewSource(
                req.plate, req.remove, req.out, req.affected, req.settings.get("dilation")
            ),
            info["frames"],
        )
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
        if p.stage in ("queued", "receiving"):
            events.append(
                (
                    p.stage,
                    "queued in the daemon"
                    if p.stage == "queued"
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

    def _on_finished(self, report: object) -> None:
        self._flush_written()
        self.progress.finish("done")
        n = len(report.frames_written)  # type: ignore[attr-defined]
        cached = report.cached_windows  # type: ignore[attr-defined]
        self.log_event(
            f"job {self.job} done: {n} frames written to {self.request.out if self.request else '?'} in {report.seconds:.1f} s "  # type: ignore[attr-defined]
            f"({report.windows} windows{f', {cached} from cache' if cached else ''})",  # type: ignore[attr-defined]
            "ok",
        )
        self.history.update(
            self.job, state="done", frames_done=self.progress.frames_total, error=""
        )
        self.refresh_history()
        self._refresh_progress()
        self._outcome = (self.job_finished, (self.job, report))

    def _on_failed(self, code: str, message: str, field: str) -> None:
        self._flush_written()
        cancelled = code == ErrorCode.CANCELLED.value
        self.progress.finish("cancelled" if cancelled else "failed")
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
        p = self.progress
        if self._job_thread is not None or p.finished_at:
            self.stage_label.setText(p.describe() if p.stage != "idle" else self.stage_label.text())
        total = max(1, p.frames_total)
        self.frames_bar.setRange(0, total)
        self.frames_bar.setValue(min(total, p.frames_written))
        self.frames_bar.setFormat("%v/%m frames written" if p.frames_total else "frames —")
        self.window_bar.set_progress(p)
        self.window_label.setText(
            f"windows {p.windows_done}/{p.windows}"
            + (f" ({len(p.cached)} cached)" if p.cached else "")
            if p.windows
            else "windows —"
        )
        if p.steps and p.running_window is not None:
            self.step_bar.setRange(0, p.steps)
            self.step_bar.setValue(p.step)
            self.step_bar.setFormat(f"window {p.running_window + 1}: {p.step_what} %v/%m")
        else:
            self.step_bar.setRange(0, 1)
            self.step_bar.setValue(1 if p.stage == "done" else 0)
            self.step_bar.setFormat("all steps done" if p.stage == "done" else "step —")
        if p.finished_at:
            self.eta_label.setText(f"{p.stage} in {format_seconds(p.elapsed())}")
        elif p.stage != "idle":
            self.eta_label.setText(
                f"ETA {format_seconds(p.eta())} · {format_seconds(p.elapsed())} so far"
            )

    def _update_actions(self) -> None:
        busy = self.is_busy()
        self.run_action.setEnabled(not busy)
        self.cancel_action.setEnabled(
            busy and not (self._worker and self._worker.cancel_event.is_set())
        )
        selected = self._selected_entry()
        self.reattach_action.setEnabled(not busy and selected is not None)
        self.show_button.setEnabled(selected is not None)
        self.forget_button.setEnabled(
            selected is not None and not (busy and selected.job == self.job)
        )

    # ================================================================== history
    def refresh_history(self) -> None:
        entries = self.history.reload()
        selected = self._selected_entry()
        self.history_view.clear()
        for e in entries:
            started = (
                _dt.datetime.fromtimestamp(e.started).strftime("%Y-%m-%d %H:%M")
                if e.started
                else ""
            )
            frames = f"{e.frames_done}/{e.frames_total}" if e.frames_total else ""
            item = QtWidgets.QTreeWidgetItem([e.job, e.name, e.state, frames, started, e.out])
            item.setData(0, Qt.UserRole, e.job)
            item.setToolTip(2, e.error or e.state)
            item.setToolTip(
                5,
                f"plate {e.plate}\nremove {e.remove}\naffected {e.affected or '—'}\nout {e.out}\ndaemon {e.endpoint}",
            )
            if e.state == "failed":
                item.setForeground(2, QtGui.QBrush(QtGui.QColor(LOG_COLOURS["error"])))
            elif e.state == "done":
                item.setForeground(2, QtGui.QBrush(QtGui.QColor(LOG_COLOURS["ok"])))
            self.history_view.addTopLevelItem(item)
            if selected is not None and e.job == selected.job:
                item.setSelected(True)
        for c in range(5):
            self.history_view.resizeColumnToContents(c)
        self._update_actions()

    def _selected_entry(self) -> HistoryEntry | None:
        if not hasattr(self, "history_view"):
            return None
        items = self.history_view.selectedItems()
        return self.history.get(items[0].data(0, Qt.UserRole)) if items else None

    def select_history(self, job: str) -> bool:
        for i in range(self.history_view.topLevelItemCount()):
            item = self.history_view.topLevelItem(i)
            if item.data(0, Qt.UserRole) == job:
                self.history_view.setCurrentItem(item)
                return True
        return False

    def reattach_selected(self) -> bool:
        entry = self._selected_entry()
        if entry is None:
            return False
        if entry.endpoint != self.endpoint:
            self.set_endpoint(entry.endpoint)
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
        self.viewer.mark_results([f for f in done if f in set(frames)])
        self.log_event(f"viewing job {entry.job}: {len(done)}/{len(frames)} results on disk")

    def forget_selected(self) -> None:
        entry = self._selected_entry()
        if entry is not None and self.history.forget(entry.job):
            self.log_event(f"removed job {entry.job} from the history")
            self.refresh_history()

    # ================================================================== log
    def log_event(self, text: str, level: str = "info") -> None:
        """A timestamped line in the Log tab (errors in red) and in Python's log."""
        stamp = time.strftime("%H:%M:%S")
        colour = LOG_COLOURS.get(level, LOG_COLOURS["info"])
        self.log_view.appendHtml(
            f'<span style="color:#808080">{stamp}</span> <span style="color:{colour}">{html.escape(text)}</span>'
        )
        {"error": log.error, "warning": log.warning}.get(level, log.info)("%s", text)

    def log_text(self) -> str:
        return self.log_view.toPlainText()

    # ================================================================== lifetime
    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802
        # Docked in a narrow pane (Nuke's properties bin), stack the viewer over the tabs.
        side_by_side = (
            self.viewer.minimumSizeHint().width() + self.tabs.minimumSizeHint().width() + 120
        )
        narrow = event.size().width() < side_by_side
        self.splitter.setOrientation(Qt.Vertical if narrow else Qt.Horizontal)
        self._layout_status(narrow)
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
        self._status_thread.quit()
        if not self._status_thread.wait(int((wait_s + 2) * 1000)):
            _park(self._status_thread, self._status_worker)
        else:
            self._status_worker.close()
        self.viewer.shutdown()


def _park(thread: QtCore.QThread, worker: QtCore.QObject) -> None:
    _PARKED[thread] = worker  # the worker too: it is still running on that thread
    thread.finished.connect(lambda t=thread: _PARKED.pop(t, None))


def _separator() -> QtWidgets.QWidget:
    bar = QtWidgets.QLabel("|")
    bar.setStyleSheet("color: rgba(128, 128, 128, 160); padding: 0 4px;")
    return bar


def _spin(lo: int, hi: int, value: int, tip: str) -> QtWidgets.QSpinBox:
    s = QtWidgets.QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def _tool_button(action: QAction) -> QtWidgets.QToolButton:
    b = QtWidgets.QToolButton()
    b.setDefaultAction(action)
    b.setToolButtonStyle(Qt.ToolButtonTextOnly)
    b.setMinimumWidth(80)
    return b


def apply_dark_theme(app: QtWidgets.QApplication) -> None:
    """Fusion with a dark palette, close to Nuke and Resolve; only for a standalone panel
    (inside a host the host's own style applies)."""
    app.setStyle("Fusion")
    pal = QtGui.QPalette()
    c = QtGui.QColor
    for role, colour in (
        (QtGui.QPalette.Window, c(50, 50, 52)),
        (QtGui.QPalette.WindowText, c(220, 220, 220)),
        (QtGui.QPalette.Base, c(36, 36, 38)),
        (QtGui.QPalette.AlternateBase, c(44, 44, 47)),
        (QtGui.QPalette.ToolTipBase, c(60, 60, 64)),
        (QtGui.QPalette.ToolTipText, c(230, 230, 230)),
        (QtGui.QPalette.Text, c(220, 220, 220)),
        (QtGui.QPalette.Button, c(62, 62, 66)),
        (QtGui.QPalette.ButtonText, c(225, 225, 225)),
        (QtGui.QPalette.Highlight, c(230, 150, 40)),
        (QtGui.QPalette.HighlightedText, c(20, 20, 20)),
        (QtGui.QPalette.PlaceholderText, c(130, 130, 134)),
    ):
        pal.setColor(role, colour)
    pal.setColor(QtGui.QPalette.Disabled, QtGui.QPalette.Text, c(120, 120, 120))
    pal.setColor(QtGui.QPalette.Disabled, QtGui.QPalette.ButtonText, c(120, 120, 120))
    pal.setColor(QtGui.QPalette.Disabled, QtGui.QPalette.WindowText, c(120, 120, 120))
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


__all__ = ["VoidPanel", "show_panel", "apply_dark_theme", "pattern_from_file", "ViewMode"]
