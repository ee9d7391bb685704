"""The panel's History tab: the jobs of a :class:`~void_client.panel.history.JobHistory`,
newest first, and every other job the daemon knows (started by the CLI or a host), with
Re-attach, Cancel, View and Forget.

The tab shows entries and says what the user asked for; the panel does it (re-attaching runs
a job, viewing fills the viewer). See ``docs/architecture.md``.
"""

from __future__ import annotations

import datetime as _dt

from void_client.job_state import JobState
from void_client.panel.history import HistoryEntry
from void_client.panel.log_view import LOG_COLOURS
from void_client.panel.progress_box import tool_button
from void_client.panel.qt import QAction, Qt, QtGui, QtWidgets, Signal

COLUMNS = ["Job", "Name", "State", "Frames", "Started", "Output"]


class HistoryTab(QtWidgets.QWidget):
    selection_changed = Signal()
    view_requested = Signal()  # View, or a double click on an entry
    forget_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, reattach_action: QAction, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        self.history_view = QtWidgets.QTreeWidget()
        self.history_view.setRootIsDecorated(False)
        self.history_view.setAlternatingRowColors(True)
        self.history_view.setHeaderLabels(COLUMNS)
        self.history_view.itemSelectionChanged.connect(self.selection_changed)
        self.history_view.itemDoubleClicked.connect(lambda *_: self.view_requested.emit())
        lay.addWidget(self.history_view, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(tool_button(reattach_action))
        self.show_button = QtWidgets.QPushButton("View")
        self.show_button.setToolTip("show the selected job's plate and results in the viewer")
        self.show_button.clicked.connect(lambda *_: self.view_requested.emit())
        self.forget_button = QtWidgets.QPushButton("Forget")
        self.forget_button.setToolTip(
            "remove the entry from this history (the daemon keeps the job)"
        )
        self.forget_button.clicked.connect(lambda *_: self.forget_requested.emit())
        self.cancel_button = QtWidgets.QPushButton("Cancel job")
        self.cancel_button.setToolTip(
            "cancel the selected job on the daemon, whoever started it (CLI, host, panel)"
        )
        self.cancel_button.clicked.connect(lambda *_: self.cancel_requested.emit())
        row.addWidget(self.cancel_button)
        row.addWidget(self.show_button)
        row.addWidget(self.forget_button)
        row.addStretch(1)
        lay.addLayout(row)

    def show_entries(
        self, entries: list[HistoryEntry], elsewhere: frozenset[str] | set[str] = frozenset()
    ) -> None:
        """Replace the list with ``entries``, keeping the selected job selected. Jobs in
        ``elsewhere`` were started by another client (CLI, a host): shown in italics."""
        selected = self.selected_job()
        self.history_view.clear()
        for e in entries:
            started = (
                _dt.datetime.fromtimestamp(e.started).strftime("%Y-%m-%d %H:%M")
                if e.started
                else ""
            )
            frames = f"{e.frames_done}/{e.frames_total}" if e.frames_total else ""
            item = QtWidgets.QTreeWidgetItem([e.job, e.name, e.state, frames, started, e.out])
            item.setData(0, Qt.ItemDataRole.UserRole, e.job)
            item.setToolTip(2, e.error or e.state)
            item.setToolTip(
                5,
                f"plate {e.plate}\nremove {e.remove}\naffected {e.affected or '—'}\n"
                f"out {e.out}\ndaemon {e.endpoint}",
            )
            if e.job in elsewhere:
                font = item.font(0)
                font.setItalic(True)
                for c in range(len(COLUMNS)):
                    item.setFont(c, font)
                item.setText(5, "started elsewhere (CLI or a host)")
                item.setToolTip(
                    5,
                    "not started from this panel: Cancel job stops it; to Re-attach, fill in "
                    "its plate, mattes and output in the Job tab first (like void-remove attach)",
                )
            if e.state == JobState.FAILED:
                item.setForeground(2, QtGui.QBrush(QtGui.QColor(LOG_COLOURS["error"])))
            elif e.state == JobState.DONE:
                item.setForeground(2, QtGui.QBrush(QtGui.QColor(LOG_COLOURS["ok"])))
            self.history_view.addTopLevelItem(item)
            if selected is not None and e.job == selected:
                item.setSelected(True)
        for c in range(len(COLUMNS) - 1):
            self.history_view.resizeColumnToContents(c)

    def selected_job(self) -> str | None:
        items = self.history_view.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def select(self, job: str) -> bool:
        for i in range(self.history_view.topLevelItemCount()):
            item = self.history_view.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == job:
                self.history_view.setCurrentItem(item)
                return True
        return False

    def set_buttons(self, can_view: bool, can_forget: bool, can_cancel: bool = False) -> None:
        self.show_button.setEnabled(can_view)
        self.forget_button.setEnabled(can_forget)
        self.cancel_button.setEnabled(can_cancel)


__all__ = ["HistoryTab"]
