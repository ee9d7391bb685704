"""The panel under test, one way for every panel test file: a real :class:`VoidPanel` on Qt's
offscreen platform, shown at a docked size, with its history in the test's folder.

Import it after ``pytest.importorskip("pytestqt")`` (it imports the Qt panel).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.daemons import free_port
from void_client.panel import VoidPanel


@contextmanager
def shown_panel(
    qtbot: Any,
    folder: Path,
    endpoint: str | None = None,
    *,
    size: tuple[int, int] = (1100, 700),
    poll_interval_s: float = 0.5,
    **options: Any,
) -> Iterator[VoidPanel]:
    """A shown panel with ``folder/history.json``. With ``endpoint`` (a running daemon), once
    it says connected; without, at a free port where no daemon answers (the form and the
    preview before Run need none). Shut down on exit."""
    p = VoidPanel(
        endpoint=endpoint or f"tcp://127.0.0.1:{free_port()}",
        history_path=folder / "history.json",
        poll_interval_s=poll_interval_s,
        **options,
    )
    qtbot.addWidget(p)
    p.resize(*size)
    p.show()
    try:
        if endpoint:
            qtbot.waitUntil(
                lambda: p.daemon_status is not None and p.daemon_status.connected,
                timeout=10_000,
            )
        yield p
    finally:
        p.shutdown()


def preview_frame(panel: VoidPanel, qtbot: Any, frame: int) -> tuple[str, Any]:
    """Press "Preview frame" on ``frame`` of the panel's form and wait for the job to finish:
    its id and report."""
    assert panel.preview_form()
    panel.viewer.set_frame(frame)
    with qtbot.waitSignal(panel.job_finished, timeout=60_000) as done:
        panel.preview_action.trigger()
    return done.args[0], done.args[1]
