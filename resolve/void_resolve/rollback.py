"""DaVinci Resolve: one progress bar across the run's stages, and the undo of a half-done run.

:class:`Rollback` collects an undo step for every change :class:`void_resolve.flow.RemoveFlow`
makes to the project (render job, redirected Saver, bin, media, track, clip), so a failure or a
cancel leaves nothing behind.
"""

import logging
from typing import Any, Callable, List, Tuple

log = logging.getLogger(__name__)


#: Each stage's share of the whole run, for one progress bar across render, job and import.
STAGE_SPANS = {
    "prepare": (0.0, 0.02),
    "render": (0.02, 0.30),
    "remove": (0.30, 0.95),
    "import": (0.95, 1.0),
    "done": (1.0, 1.0),
}


def overall(stage: str, fraction: float) -> float:
    lo, hi = STAGE_SPANS.get(stage, (0.0, 1.0))
    return lo + (hi - lo) * min(max(fraction, 0.0), 1.0)


def progress_bar(fraction: float, width: int = 24) -> str:
    """A text bar for UIs without a progress widget (Resolve's UIManager)."""
    n = int(round(min(max(fraction, 0.0), 1.0) * width))
    return "█" * n + "░" * (width - n) + f" {fraction * 100:3.0f}%"


class Rollback:
    """Undo steps of a half-done run, newest first. A failing step is logged and the rest still
    run, so one refusal from Resolve never strands the others."""

    def __init__(self) -> None:
        self._steps: List[Tuple[str, Callable[[], Any]]] = []

    def add(self, label: str, undo: Callable[[], Any]) -> None:
        self._steps.append((label, undo))

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def labels(self) -> List[str]:
        return [label for label, _ in self._steps]

    def run(self) -> List[str]:
        """Undo everything; returns the labels of steps that failed.

        Resolve refuses by returning False (or None, with a dialog up), not by raising (issue 16
        #3), so a step fails unless it returns a true value; undo steps return True when done.
        """
        failed = []
        while self._steps:
            label, undo = self._steps.pop()
            try:
                ok = undo()
            except Exception as exc:  # noqa: BLE001 - keep undoing the rest
                log.warning("could not undo %s: %s", label, exc)
                failed.append(label)
                continue
            if ok is False or ok is None:
                log.warning("could not undo %s: Resolve refused (returned %r)", label, ok)
                failed.append(label)
            else:
                log.info("undid: %s", label)
        return failed

    def done(self, label: str) -> None:
        """The step ``label`` was already carried out (a trial undone on purpose): drop it."""
        for i in range(len(self._steps) - 1, -1, -1):
            if self._steps[i][0] == label:
                del self._steps[i]
                return

    def forget(self) -> None:
        """The run succeeded: keep everything."""
        self._steps.clear()
