"""DaVinci Resolve: the VOID Remove window in Qt, used when Resolve's Python can import PySide6.

The same controls as Resolve's own UIManager dialog (range, matte, preset, engine, prompt with
the missing-prompt warning, pass 2, overwrite, plate part and view, Panel…/Run/Cancel, progress),
driven by the same :class:`~void_resolve.flow.FlowController`, so the two windows behave alike.
A ``QTimer`` steps the flow, so the window never blocks. The Panel… button starts the full panel
(daemon status, job log and history with re-attach) as its own ``void-remove panel`` process
(:mod:`void_resolve.panel_launch`), as Resolve's dialog does: this window never imports the
client, inside Resolve or out (docs/architecture.md, "Host isolation").

Imported only when a Qt window is wanted: importing it loads Qt (PySide6, else PySide2).
"""

import logging
from typing import Callable, Optional

from void_resolve.client_tables import DEFAULT_ENDPOINT
from void_resolve.flow import FlowController, RemoveFlow
from void_resolve.panel_launch import PANEL_LABEL, PANEL_TIP, panel_clicked
from void_resolve.settings import (
    CUSTOM_PRESET,
    ENGINES,
    MATTE_LABELS,
    MATTE_MODES,
    OVERWRITE_LABEL,
    OVERWRITE_TIP,
    PLATE_PART_HINT,
    PLATE_PART_TIP,
    PRESET_CHOICES,
    PRESET_TIP,
    RANGE_LABELS,
    RANGE_MODES,
    VIEW_HINT,
    VIEW_TIP,
    form_note,
    preset_pass2,
)

try:
    from PySide6 import QtCore, QtWidgets
except ImportError:  # a Resolve whose Python has the Qt 5 binding
    from PySide2 import QtCore, QtWidgets  # type: ignore[no-redef]

log = logging.getLogger(__name__)

TICK_MS = 100


class RemoveWindow(QtWidgets.QWidget):
    def __init__(
        self,
        make_flow: Callable[[dict], RemoveFlow],
        parent: Optional[QtWidgets.QWidget] = None,
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("VOID Remove")
        self.endpoint = endpoint
        #: The last ``void-remove panel`` process the Panel… button started.
        self.panel: Optional[object] = None
        self.range = QtWidgets.QComboBox()
        self.range.addItems([RANGE_LABELS[m] for m in RANGE_MODES])
        self.matte = QtWidgets.QComboBox()
        self.matte.addItems([MATTE_LABELS[m] for m in MATTE_MODES])
        self.engine = QtWidgets.QComboBox()
        self.engine.setEditable(True)  # the daemon may offer engines this list does not know
        self.engine.addItems(list(ENGINES))
        self.preset = QtWidgets.QComboBox()
        self.preset.addItems(list(PRESET_CHOICES))
        self.preset.setCurrentText(CUSTOM_PRESET)
        self.preset.setToolTip(PRESET_TIP)
        self.prompt = QtWidgets.QLineEdit()
        self.prompt.setPlaceholderText("what the background looks like (void engine)")
        # The missing-prompt warning, kept up to date as engine and prompt change.
        self.note = QtWidgets.QLabel("")
        self.note.setWordWrap(True)
        self.pass2 = QtWidgets.QCheckBox("Pass 2 (warped-noise refinement, void engine)")
        self.overwrite = QtWidgets.QCheckBox(OVERWRITE_LABEL)
        self.overwrite.setToolTip(OVERWRITE_TIP)
        # Issue 21: passed to the worker unchanged (--plate PATTERN:part/, --view).
        self.plate_part = QtWidgets.QLineEdit()
        self.plate_part.setPlaceholderText(PLATE_PART_HINT)
        self.plate_part.setToolTip(PLATE_PART_TIP)
        self.view = QtWidgets.QLineEdit()
        self.view.setPlaceholderText(VIEW_HINT)
        self.view.setToolTip(VIEW_TIP)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        self.run_button = QtWidgets.QPushButton("Run")
        self.cancel_button = QtWidgets.QPushButton("Close")

        form = QtWidgets.QFormLayout()
        form.addRow("Range", self.range)
        form.addRow("Matte", self.matte)
        form.addRow("Preset", self.preset)
        form.addRow("Engine", self.engine)
        form.addRow("Prompt", self.prompt)
        form.addRow("", self.note)
        form.addRow("", self.pass2)
        form.addRow("", self.overwrite)
        form.addRow("Plate part", self.plate_part)
        form.addRow("View", self.view)
        buttons = QtWidgets.QHBoxLayout()
        self.panel_button = QtWidgets.QPushButton(PANEL_LABEL)
        self.panel_button.setToolTip(PANEL_TIP)
        self.panel_button.clicked.connect(self.open_panel)
        buttons.addWidget(self.panel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self.engine.currentTextChanged.connect(self.refresh_note)
        self.prompt.textChanged.connect(self.refresh_note)
        self.preset.currentTextChanged.connect(self._preset_chosen)
        self.pass2.toggled.connect(self._pass2_toggled)
        self.refresh_note()

        self.controller = FlowController(self, make_flow)
        self.run_button.clicked.connect(self.controller.run_clicked)
        self.cancel_button.clicked.connect(self.controller.cancel_clicked)
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.controller.tick)
        self.timer.start()

    def open_panel(self) -> None:
        self.panel, message = panel_clicked(self.endpoint)
        self.status.setText(message)

    def refresh_note(self, *_: object) -> None:
        text = form_note(self.values())
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def _preset_chosen(self, name: str) -> None:
        # The one field of the preset this window shows; the rest go to the job on Run.
        wanted = preset_pass2(name)
        if wanted is not None:
            self.pass2.setChecked(wanted)

    def _pass2_toggled(self, checked: bool) -> None:
        wanted = preset_pass2(self.preset.currentText())
        if wanted is not None and wanted != checked:
            self.preset.setCurrentText(CUSTOM_PRESET)

    def set_values(self, values: dict) -> None:
        self.range.setCurrentIndex(int(values["range"]))
        self.matte.setCurrentIndex(int(values["matte"]))
        self.engine.setEditText(str(values["engine"]))
        self.prompt.setText(str(values["prompt"]))
        self.preset.setCurrentText(str(values.get("preset", CUSTOM_PRESET)))
        self.pass2.setChecked(bool(values["pass2"]))
        self.overwrite.setChecked(bool(values.get("overwrite", False)))
        self.plate_part.setText(str(values.get("plate_part") or ""))
        self.view.setText(str(values.get("view") or ""))
        self.refresh_note()

    # ------------------------------------------------------------------ FlowView
    def values(self) -> dict:
        return {
            "range": self.range.currentIndex(),
            "matte": self.matte.currentIndex(),
            "engine": self.engine.currentText(),
            "prompt": self.prompt.text(),
            "pass2": self.pass2.isChecked(),
            "overwrite": self.overwrite.isChecked(),
            "preset": self.preset.currentText(),
            "plate_part": self.plate_part.text(),
            "view": self.view.text(),
        }

    def show_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(round(fraction * 1000)))
        self.status.setText(message)

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        for w in (
            self.range,
            self.matte,
            self.preset,
            self.engine,
            self.prompt,
            self.pass2,
            self.overwrite,
            self.plate_part,
            self.view,
        ):
            w.setEnabled(not running)
        self.cancel_button.setText("Cancel" if running else "Close")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.timer.stop()
        self.controller.closing()
        super().closeEvent(event)


def show(
    make_flow: Callable[[dict], RemoveFlow],
    initial: Optional[dict] = None,
    endpoint: str = DEFAULT_ENDPOINT,
) -> int:
    """Open the window and run Qt's event loop until it closes (Resolve's script process)."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    window = RemoveWindow(make_flow, endpoint=endpoint)
    if initial:
        window.set_values(initial)
    window.show()
    return int(app.exec()) if hasattr(app, "exec") else int(app.exec_())
