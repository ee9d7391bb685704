"""The panel's top bar: the daemon's address, whether it answers, its engines, GPU and queue.

It only shows a :class:`~void_client.panel.worker.DaemonStatus` and says when the address is
edited or **Start daemon** is pressed; the panel talks to the status worker (see
``docs/architecture.md`` for the layering).
"""

from __future__ import annotations

from void_client.client import is_local
from void_client.panel.qt import QtWidgets, Signal
from void_client.panel.worker import DaemonStatus
from void_client.units import format_bytes

#: The dot's colours: not asked yet, connected, not connected.
DOT_UNKNOWN, DOT_CONNECTED, DOT_DISCONNECTED = "#888888", "#4caf50", "#e05050"


class StatusBar(QtWidgets.QFrame):
    """One row when there is room; two when docked narrow (engines and GPU below)."""

    endpoint_edited = Signal(str)  # the address field, stripped, when editing finished
    start_daemon_clicked = Signal()

    def __init__(self, endpoint: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        rows = QtWidgets.QVBoxLayout(self)
        rows.setContentsMargins(8, 4, 8, 4)
        rows.setSpacing(2)
        self._rows = (QtWidgets.QHBoxLayout(), QtWidgets.QHBoxLayout())
        for r in self._rows:
            r.setSpacing(6)
            rows.addLayout(r)
        self.status_dot = QtWidgets.QLabel("●")
        self.status_label = QtWidgets.QLabel("connecting…")
        self.engines_label = QtWidgets.QLabel("engines: —")
        self.gpu_label = QtWidgets.QLabel("GPU: —")
        self.queue_label = QtWidgets.QLabel("queue: —")
        self.endpoint_edit = QtWidgets.QLineEdit(endpoint)
        self.endpoint_edit.setToolTip(
            "the daemon's address, e.g. tcp://127.0.0.1:47615 or tcp://gpu-box:47615"
        )
        self.endpoint_edit.setMinimumWidth(170)
        self.endpoint_edit.editingFinished.connect(
            lambda: self.endpoint_edited.emit(self.endpoint_edit.text().strip())
        )
        self.start_daemon_button = QtWidgets.QPushButton("Start daemon")
        self.start_daemon_button.setToolTip("start a local daemon on this machine")
        self.start_daemon_button.clicked.connect(lambda *_: self.start_daemon_clicked.emit())
        self.start_daemon_button.hide()
        self._seps = [_separator() for _ in range(3)]
        self._narrow: bool | None = None
        # Ask no more width than the two-row layout needs, so a dock can be made narrow; the
        # one-row layout is only used when the panel is far wider than that (set_narrow).
        self.set_narrow(True)
        self.setMinimumWidth(self.minimumSizeHint().width())
        self.set_narrow(False)
        self.set_dot(DOT_UNKNOWN)

    def set_narrow(self, narrow: bool) -> None:
        if narrow == self._narrow:
            return
        self._narrow = narrow
        first, second = self._rows
        for row in (first, second):
            while row.count():
                row.takeAt(0)  # the widgets stay; only their places are rebuilt
        e_sep, g_sep, q_sep = self._seps
        # None is a stretch: what follows it sits at the right end of the row.
        lead: list[QtWidgets.QWidget | None] = [self.status_dot, self.status_label]
        tail: list[QtWidgets.QWidget | None] = [
            q_sep,
            self.queue_label,
            None,
            self.start_daemon_button,
            self.endpoint_edit,
        ]
        if narrow:
            placed = [
                (first, lead + tail),
                (second, [self.engines_label, e_sep, self.gpu_label, None]),
            ]
            g_sep.hide()
        else:
            placed = [(first, lead + [e_sep, self.engines_label, g_sep, self.gpu_label] + tail)]
            g_sep.show()
        for row, widgets in placed:
            for w in widgets:
                if w is None:
                    row.addStretch(1)
                else:
                    row.addWidget(w)

    def set_dot(self, colour: str) -> None:
        self.status_dot.setStyleSheet(f"color: {colour}; font-size: 14pt;")

    def set_endpoint(self, endpoint: str) -> None:
        self.endpoint_edit.setText(endpoint)

    def show_starting(self) -> None:
        self.status_label.setText("starting the daemon…")

    def show_status(self, st: DaemonStatus) -> None:
        if st.connected:
            self.set_dot(DOT_CONNECTED)
            self.status_label.setText(f"connected · daemon {st.version}")
            self.status_label.setToolTip(f"{st.endpoint}, round trip {st.round_trip_ms:.0f} ms")
            engines = [f"{e['name']} {'✓' if e.get('available') else '✗'}" for e in st.engines]
            self.engines_label.setText("engines: " + ", ".join(engines))
            self.engines_label.setToolTip(
                "\n".join(
                    f"{e['name']}: "
                    + ("available" if e.get("available") else e.get("reason", "unavailable"))
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
        else:
            self.set_dot(DOT_DISCONNECTED)
            self.status_label.setText("not connected")
            self.status_label.setToolTip(st.error)
            self.queue_label.setText("queue: —")
        self.start_daemon_button.setVisible(not st.connected and is_local(st.endpoint))


def _separator() -> QtWidgets.QWidget:
    bar = QtWidgets.QLabel("|")
    bar.setStyleSheet("color: rgba(128, 128, 128, 160); padding: 0 4px;")
    return bar


__all__ = ["StatusBar"]
