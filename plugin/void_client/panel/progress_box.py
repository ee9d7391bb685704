"""The panel's progress box: stage, frames written, one segment per window, the engine's step,
the ETA, and the Run and Cancel buttons.

It draws a :class:`~void_client.panel.progress.JobProgress` (plain state, folded from the
daemon's ``progress`` messages); it never talks to the daemon. See ``docs/architecture.md``.
"""

from __future__ import annotations

from void_client.job_state import JobState
from void_client.panel.progress import JobProgress, WindowBar, format_seconds
from void_client.panel.qt import QAction, Qt, QtWidgets


def tool_button(action: QAction) -> QtWidgets.QToolButton:
    """A text button for ``action`` (enabled and disabled with it)."""
    b = QtWidgets.QToolButton()
    b.setDefaultAction(action)
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    # Never elided ("Previ…frame") when a docked pane squeezes the box.
    b.setMinimumWidth(max(80, b.sizeHint().width()))
    return b


class ProgressBox(QtWidgets.QFrame):
    def __init__(
        self,
        run_action: QAction,
        cancel_action: QAction,
        parent: QtWidgets.QWidget | None = None,
        preview_action: QAction | None = None,
    ) -> None:
        super().__init__(parent)
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        self.stage_label = QtWidgets.QLabel("idle")
        self.stage_label.setMinimumWidth(180)
        self.job_label = QtWidgets.QLabel("")
        self.job_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
        grid.addWidget(tool_button(run_action), 0, 3)
        if preview_action is not None:  # "Preview frame", beside Run
            grid.addWidget(tool_button(preview_action), 0, 4)
        grid.addWidget(self.job_label, 1, 0)
        grid.addWidget(self.window_bar, 1, 1)
        grid.addWidget(self.window_label, 1, 2)
        grid.addWidget(tool_button(cancel_action), 1, 3)
        grid.addWidget(self.step_bar, 2, 1)
        grid.setColumnStretch(1, 1)

    def set_stage_text(self, text: str) -> None:
        """A transient stage ("submitting…", "cancelling…") until the next progress message."""
        self.stage_label.setText(text)

    def set_job(self, job: str, name: str) -> None:
        self.job_label.setText(f"job {job} · {name}")

    def show_progress(self, p: JobProgress, following: bool) -> None:
        """Draw ``p``; ``following`` is whether a job is being followed right now (an idle
        stage then keeps the transient text, e.g. "submitting…")."""
        if following or p.finished_at:
            self.stage_label.setText(p.describe() if p.stage != "idle" else self.stage_label.text())
        # Counted in the frames this client writes: a preview's context frames are not output.
        total = max(1, p.frames_out)
        self.frames_bar.setRange(0, total)
        self.frames_bar.setValue(min(total, p.frames_written))
        self.frames_bar.setFormat("%v/%m frames written" if p.frames_out else "frames —")
        self.window_bar.set_progress(p)
        self.window_label.setText(
            f"windows {p.windows_done}/{p.windows}"
            + (f" ({len(p.cached)} cached)" if p.cached else "")
            if p.windows
            else "windows —"
        )
        done = p.stage == JobState.DONE
        if p.steps and p.running_window is not None:
            self.step_bar.setRange(0, p.steps)
            self.step_bar.setValue(p.step)
            self.step_bar.setFormat(f"window {p.running_window + 1}: {p.step_what} %v/%m")
        else:
            self.step_bar.setRange(0, 1)
            self.step_bar.setValue(1 if done else 0)
            self.step_bar.setFormat("all steps done" if done else "step —")
        if p.finished_at:
            self.eta_label.setText(f"{p.stage} in {format_seconds(p.elapsed())}")
        elif p.stage != "idle":
            self.eta_label.setText(
                f"ETA {format_seconds(p.eta())} · {format_seconds(p.elapsed())} so far"
            )


__all__ = ["ProgressBox", "tool_button"]
