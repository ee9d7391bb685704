"""The panel's Log tab: one timestamped line per event, errors in red, mirrored to Python's log.

See ``docs/architecture.md`` (the panel is the only client code that imports Qt).
"""

from __future__ import annotations

import html
import logging
import time

from void_client.panel.qt import QtGui, QtWidgets

#: Colours of the log levels; the History tab uses the same for failed and done jobs.
LOG_COLOURS = {
    "info": "#d0d0d0",
    "event": "#9fc9ff",
    "ok": "#8fd19e",
    "warning": "#f0c060",
    "error": "#ff7b72",
}


class LogView(QtWidgets.QPlainTextEdit):
    """Read-only, monospaced, the newest 5000 lines. ``logger`` also receives every line, so a
    host's script editor or a log file shows what the panel showed."""

    MAX_LINES = 5000

    def __init__(
        self, parent: QtWidgets.QWidget | None = None, logger: logging.Logger | None = None
    ) -> None:
        super().__init__(parent)
        self.logger = logger or logging.getLogger(__name__)
        self.setReadOnly(True)
        self.setMaximumBlockCount(self.MAX_LINES)
        self.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))

    def add(self, text: str, level: str = "info") -> None:
        """A timestamped line (``level``: info, event, ok, warning, error)."""
        stamp = time.strftime("%H:%M:%S")
        colour = LOG_COLOURS.get(level, LOG_COLOURS["info"])
        self.appendHtml(
            f'<span style="color:#808080">{stamp}</span> '
            f'<span style="color:{colour}">{html.escape(text)}</span>'
        )
        {"error": self.logger.error, "warning": self.logger.warning}.get(level, self.logger.info)(
            "%s", text
        )


__all__ = ["LOG_COLOURS", "LogView"]
