"""The panel's Job tab: the sequences and settings of a job, as a :class:`RemoveRequest`.

The same settings as ``void-remove run``, with the job spec's defaults (one definition:
:class:`~void_client.job_spec.JobSpec`). See ``docs/architecture.md`` for the layering.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence
from typing import Any

from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.panel.qt import Qt, QtWidgets, Signal
from void_client.presets import apply_preset, get_preset, matching_preset, preset_names
from void_client.prompt_advice import prompt_warning
from void_client.protocol import EngineInfo
from void_client.reference import parse_references
from void_client.sequence import parse_range
from void_client.sequence_job import RemoveRequest

#: A frame number right before the extension, for turning a picked file into a pattern.
_FRAME_RE = re.compile(r"(\d+)(\.[A-Za-z0-9]+)$")


def pattern_from_file(path: str) -> str:
    """``/shots/plate.1001.exr`` -> ``/shots/plate.####.exr`` (a file-dialog pick to a sequence)."""
    m = _FRAME_RE.search(path)
    if not m:
        return path
    return path[: m.start(1)] + "#" * len(m.group(1)) + m.group(2)


class JobForm(QtWidgets.QWidget):
    """Plate, mattes, output, frame range, reference frames, engine, preset and settings;
    ``request()`` reads them.

    ``sequences_changed`` fires when what the viewer can preview before a run changes (plate,
    mattes, frame range, dilation); the panel debounces it."""

    sequences_changed = Signal()
    #: Shown in the preset list when the Advanced fields match no preset.
    CUSTOM = "custom"

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        form = QtWidgets.QFormLayout(self)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.plate_edit = self._path_row(
            form, "Plate", "plate sequence, e.g. /shots/sh010/plate.####.exr"
        )
        self.remove_edit = self._path_row(
            form, "Remove matte", "the object to delete; PATTERN or PATTERN:layer.channel"
        )
        # "Suggest…" beside the field: the panel wires it to its Suggest affected matte action
        # (void_client.panel.suggest), which proposes a matte and fills this field with it.
        self.suggest_button = QtWidgets.QToolButton()
        self.affected_edit = self._path_row(
            form,
            "Affected matte",
            "optional: its shadow, reflection, what it moves",
            extra=self.suggest_button,
        )
        self.out_edit = self._path_row(
            form, "Output", "where the clean plate goes, e.g. /shots/sh010/clean.####.exr"
        )
        self.range_edit = QtWidgets.QLineEdit()
        self.range_edit.setPlaceholderText("FIRST-LAST (empty: every plate frame on disk)")
        form.addRow("Frame range", self.range_edit)
        self._build_references(form)

        d = JobSpec(frames=[1], width=1, height=1)  # the spec's defaults: one definition
        self.engine_combo = QtWidgets.QComboBox()
        self.engine_combo.addItem(d.engine)
        form.addRow("Engine", self.engine_combo)
        # Presets in artist language (void_client.presets, shared with the CLI's --preset): they
        # set the engineering fields below, which stay editable under Advanced.
        self.preset_combo = QtWidgets.QComboBox()
        self.preset_combo.addItems([*preset_names(), self.CUSTOM])
        self.preset_combo.setToolTip(
            "\n".join(f"{n}: {get_preset(n).description}" for n in preset_names())
        )
        self.preset_combo.activated.connect(
            lambda _i: self.apply_preset(self.preset_combo.currentText())
        )
        self.advanced_button = QtWidgets.QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolTip("window, overlap, seam, dilation, feather, engine options")
        preset_row = QtWidgets.QHBoxLayout()
        preset_row.addWidget(self.preset_combo, 1)
        preset_row.addWidget(self.advanced_button)
        form.addRow("Preset", preset_row)
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
        self.engine_options_edit = QtWidgets.QLineEdit("{}")
        self.engine_options_edit.setToolTip(
            'engine options as JSON, e.g. {"steps": 30} (void engine); presets set them'
        )
        grid.addWidget(QtWidgets.QLabel("Engine options"), 3, 0)
        grid.addWidget(self.engine_options_edit, 3, 1, 1, 3)
        self.advanced_box = QtWidgets.QWidget()
        self.advanced_box.setLayout(grid)
        grid.setContentsMargins(0, 0, 0, 0)
        self.advanced_box.setVisible(False)
        self.advanced_button.toggled.connect(self.advanced_box.setVisible)
        form.addRow("", self.advanced_box)
        self.prompt_edit = QtWidgets.QLineEdit()
        self.prompt_edit.setPlaceholderText("background description (void engine)")
        form.addRow("Prompt", self.prompt_edit)
        # The missing-prompt warning (void_client.prompt_advice, the CLI's words): shown while
        # the engine reads a prompt and none is given.
        self.prompt_note = QtWidgets.QLabel("")
        self.prompt_note.setWordWrap(True)
        self.prompt_note.setStyleSheet("color: #d08a2e")
        form.addRow("", self.prompt_note)
        options = QtWidgets.QHBoxLayout()
        options.addWidget(QtWidgets.QLabel("Seed"))
        options.addWidget(self.seed_spin)
        self.pass2_check = QtWidgets.QCheckBox("Pass 2 (warped-noise refinement)")
        self.autostart_check = QtWidgets.QCheckBox("Start a local daemon if none answers")
        self.autostart_check.setChecked(True)
        options.addWidget(self.pass2_check)
        options.addStretch(1)
        form.addRow("", options)
        # Off (the default): every run writes the output's next free _v### version, so an
        # earlier result is never touched; on: the output pattern as given, old frames replaced.
        self.overwrite_check = QtWidgets.QCheckBox(
            "Overwrite the output (else write its next free _v### version)"
        )
        form.addRow("", self.overwrite_check)
        form.addRow("", self.autostart_check)

        for edit in (self.plate_edit, self.remove_edit, self.affected_edit, self.range_edit):
            edit.textChanged.connect(lambda *_: self.sequences_changed.emit())
        self.dilation_spin.valueChanged.connect(lambda *_: self.sequences_changed.emit())
        for spin in (
            self.window_spin,
            self.overlap_spin,
            self.dilation_spin,
            self.margin_spin,
            self.feather_spin,
        ):
            spin.valueChanged.connect(self._sync_preset)
        self.seam_combo.currentTextChanged.connect(self._sync_preset)
        self.pass2_check.toggled.connect(self._sync_preset)
        self.engine_options_edit.textChanged.connect(self._sync_preset)
        self._sync_preset()
        self.engine_combo.currentTextChanged.connect(self._update_prompt_note)
        self.prompt_edit.textChanged.connect(self._update_prompt_note)
        self._update_prompt_note()

    def _build_references(self, form: QtWidgets.QFormLayout) -> None:
        """Reference frames (``--reference FRAME=PATH``): clean frames the artist painted, one
        row each; the propagate engine spreads them through the shot (docs/user-guide.md)."""
        tip = (
            "clean frames you painted (EXR at the plate's size) that the propagate engine "
            "spreads through the shot as the hole's source; the void engine ignores them"
        )
        self.reference_edit = QtWidgets.QLineEdit()
        self.reference_edit.setPlaceholderText("FRAME=PATH, e.g. 1001=/shots/sh010/clean.1001.exr")
        self.reference_edit.setToolTip(tip)
        self.reference_edit.returnPressed.connect(self.add_reference_text)
        browse = QtWidgets.QToolButton()
        browse.setText("…")
        browse.setToolTip("pick a clean frame; its frame number comes from the file name")
        browse.clicked.connect(self._browse_reference)
        self.reference_add_button = QtWidgets.QToolButton()
        self.reference_add_button.setText("Add")
        self.reference_add_button.clicked.connect(self.add_reference_text)
        self.reference_remove_button = QtWidgets.QToolButton()
        self.reference_remove_button.setText("Remove")
        self.reference_remove_button.setToolTip("remove the selected reference frames")
        self.reference_remove_button.clicked.connect(self.remove_selected_references)
        self.reference_list = QtWidgets.QListWidget()
        self.reference_list.setToolTip(tip)
        self.reference_list.setSelectionMode(
            QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection
        )
        self.reference_list.setMaximumHeight(64)
        self.reference_note = QtWidgets.QLabel("")
        self.reference_note.setWordWrap(True)
        self.reference_note.setStyleSheet("color: #d08a2e")
        self.reference_note.setVisible(False)
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.reference_edit, 1)
        for b in (browse, self.reference_add_button, self.reference_remove_button):
            row.addWidget(b)
        box = QtWidgets.QVBoxLayout()
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(row)
        box.addWidget(self.reference_list)
        box.addWidget(self.reference_note)
        form.addRow("Reference frames", box)

    # ------------------------------------------------------------------ reference frames
    def references(self) -> dict[int, str]:
        """``{frame: path}`` of the reference rows (the request's ``references``)."""
        items = [self.reference_list.item(i) for i in range(self.reference_list.count())]
        return parse_references(i.text() for i in items if i is not None)

    def set_references(self, references: dict[int, str]) -> None:
        self.reference_list.clear()
        for frame, path in sorted(references.items()):
            self.reference_list.addItem(f"{frame}={path}")
        self._show_reference_note("")

    def add_reference(self, frame: int, path: str) -> None:
        """Add a row (a frame already listed gets the new file: one clean frame per frame)."""
        refs = self.references()
        replaced = frame in refs
        refs[frame] = path
        self.set_references(refs)
        if replaced:
            self._show_reference_note(f"frame {frame} now uses {path}")

    def add_reference_text(self) -> bool:
        """Add the ``FRAME=PATH`` typed in the row's field; a malformed one is refused with
        the CLI's words and stays in the field to correct."""
        text = self.reference_edit.text().strip()
        if not text:
            return False
        try:
            ((frame, path),) = parse_references([text]).items()
        except VoidError as exc:
            self._show_reference_note(exc.message)
            return False
        self.reference_edit.clear()
        self.add_reference(frame, path)
        return True

    def remove_selected_references(self) -> None:
        for item in self.reference_list.selectedItems():
            self.reference_list.takeItem(self.reference_list.row(item))
        self._show_reference_note("")

    def _show_reference_note(self, text: str) -> None:
        self.reference_note.setText(text)
        self.reference_note.setVisible(bool(text))

    def _browse_reference(self) -> None:
        start = os.path.dirname(self.plate_edit.text()) or os.getcwd()
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "VOID Remove: reference frame", start, "EXR (*.exr);;All files (*)"
        )
        if not path:
            return
        m = _FRAME_RE.search(path)
        if m:
            self.add_reference(int(m.group(1)), path)
        else:  # no frame number in the name: the artist types it in front
            self.reference_edit.setText(f"={path}")
            self.reference_edit.setFocus(Qt.FocusReason.OtherFocusReason)
            self.reference_edit.setCursorPosition(0)

    def prompt_warning(self) -> str | None:
        """The missing-prompt warning for the engine and prompt as set now, or None."""
        return prompt_warning(self.engine_combo.currentText(), self.prompt_edit.text())

    def _update_prompt_note(self, *_: object) -> None:
        text = self.prompt_warning()
        self.prompt_note.setText(text or "")
        self.prompt_note.setVisible(text is not None)

    # ------------------------------------------------------------------ presets
    def advanced_settings(self) -> dict[str, Any]:
        """The fields a preset sets, as the form holds them now."""
        return {**self._fields_no_options(), "engine_options": self.engine_options()}

    def engine_options(self) -> dict[str, Any]:
        """The engine options field as a dict; raises :class:`VoidError` if it is not JSON."""
        text = self.engine_options_edit.text().strip() or "{}"
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f'engine options must be a JSON object like {{"steps": 30}}: {exc}',
                "engine_options",
            ) from exc
        if not isinstance(value, dict):
            raise VoidError(
                ErrorCode.BAD_SPEC,
                'engine options must be a JSON object like {"steps": 30}',
                "engine_options",
            )
        return value

    def apply_preset(self, name: str) -> None:
        """Set the Advanced fields from preset ``name`` (``custom`` leaves them as they are)."""
        if name == self.CUSTOM:
            return
        try:
            current = self.advanced_settings()
        except VoidError:  # unparseable engine options: the preset's replace them
            current = self._fields_no_options()
        self._fill_advanced(apply_preset(name, current))

    def _fields_no_options(self) -> dict[str, Any]:
        return {
            "window": self.window_spin.value(),
            "overlap": self.overlap_spin.value(),
            "seam": self.seam_combo.currentText(),
            "dilation": self.dilation_spin.value(),
            "roi_margin": self.margin_spin.value(),
            "feather": self.feather_spin.value(),
            "pass2": self.pass2_check.isChecked(),
        }

    def _advanced_spins(self) -> tuple[tuple[str, QtWidgets.QSpinBox], ...]:
        """The numeric settings under Advanced, window first (see :meth:`_fill_advanced`)."""
        return (
            ("window", self.window_spin),
            ("overlap", self.overlap_spin),
            ("dilation", self.dilation_spin),
            ("roi_margin", self.margin_spin),
            ("feather", self.feather_spin),
        )

    def _fill_advanced(self, s: dict[str, Any]) -> None:
        # The window first: the overlap spin's valid range depends on nothing, but a preset's
        # overlap is only valid for its own window.
        for key, spin in self._advanced_spins():
            if key in s:
                spin.setValue(int(s[key]))
        if "seam" in s:
            self.seam_combo.setCurrentText(s["seam"])
        if "pass2" in s:
            self.pass2_check.setChecked(bool(s["pass2"]))
        if "engine_options" in s:
            self.engine_options_edit.setText(json.dumps(s["engine_options"] or {}))
        self._sync_preset()

    def _sync_preset(self, *_: object) -> None:
        """Show the preset the fields match, or ``custom`` once one is edited by hand."""
        try:
            name = matching_preset(self.advanced_settings())
        except VoidError:
            name = None
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentText(name or self.CUSTOM)
        self.preset_combo.blockSignals(False)

    # ------------------------------------------------------------------ reading and filling
    def request(self, endpoint: str) -> RemoveRequest:
        """The form as a request to ``endpoint``; raises :class:`VoidError` naming the field
        that is missing."""
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
                "engine_options": self.engine_options(),
            },
            endpoint=endpoint,
            autostart=self.autostart_check.isChecked(),
            overwrite=self.overwrite_check.isChecked(),
            references=self.references(),
        )

    def set_request(self, req: RemoveRequest) -> None:
        """Fill the form from a request (its endpoint is the panel's business, not the form's)."""
        self.plate_edit.setText(req.plate)
        self.remove_edit.setText(req.remove)
        self.affected_edit.setText(req.affected)
        self.out_edit.setText(req.out)
        self.range_edit.setText(
            f"{req.frame_range[0]}-{req.frame_range[1]}" if req.frame_range else ""
        )
        self.set_references(req.references)
        # Exactly the request's settings: a field it does not name takes the job spec's default
        # (what the daemon runs it with), never what an earlier preset or job left in the form;
        # else a re-attached job shows settings it never had and the preset reads "custom".
        d = JobSpec(frames=[1], width=1, height=1)
        s = {**dataclasses.asdict(d), **{k: v for k, v in req.settings.items() if v is not None}}
        if self.engine_combo.findText(s["engine"]) < 0:
            self.engine_combo.addItem(s["engine"])
        self.engine_combo.setCurrentText(s["engine"])
        for key, spin in (*self._advanced_spins(), ("seed", self.seed_spin)):
            spin.setValue(int(s[key]))
        self.seam_combo.setCurrentText(s["seam"])
        self.prompt_edit.setText(s["prompt"] or "")
        self.pass2_check.setChecked(bool(s["pass2"]))
        self.engine_options_edit.setText(json.dumps(s["engine_options"] or {}))
        self._sync_preset()
        self.autostart_check.setChecked(req.autostart)
        self.overwrite_check.setChecked(req.overwrite)

    def fill_engines(self, engines: Sequence[EngineInfo]) -> None:
        """The daemon's engines (``hello``); unavailable ones are listed but cannot be picked."""
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

    # ------------------------------------------------------------------ internals
    def _path_row(
        self,
        form: QtWidgets.QFormLayout,
        label: str,
        tip: str,
        extra: QtWidgets.QWidget | None = None,
    ) -> QtWidgets.QLineEdit:
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
        if extra is not None:
            row.addWidget(extra)
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


def _spin(lo: int, hi: int, value: int, tip: str) -> QtWidgets.QSpinBox:
    s = QtWidgets.QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setToolTip(tip)
    return s


__all__ = ["JobForm", "pattern_from_file"]
