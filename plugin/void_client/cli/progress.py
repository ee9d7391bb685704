"""A rich progress bar fed by daemon events (shared by ``run``, ``demo`` and ``attach``).

The total is the frames the command knows it asked for, else the job's ``frames_total`` from
its first progress message (no ``N/?``); the ETA is the daemon's, from the first finished
window on (:class:`void_client.session.JobClock`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from void_client import protocol as P
from void_client.cli import progress_stream
from void_client.sequence import has_view_token
from void_client.session import JobClock


class EtaColumn(ProgressColumn):
    """The job clock's ETA, counting down between messages."""

    def __init__(self, clock: JobClock) -> None:
        super().__init__()
        self.clock = clock

    def render(self, task: Task) -> Text:
        return Text(self.clock.eta_text(), style="progress.remaining")


@contextmanager
def job_progress(
    total: int | None, console: Console | None = None, out: str = ""
) -> Iterator[Callable[[P.Message], None]]:
    """The bar, or what the command's ``--progress`` asks for (``out``: the job's output
    pattern, for the jsonl stream's ``frame`` events; void_client.cli.progress_stream)."""
    stream = progress_stream.current()
    if stream is not None:
        with stream.job_events(total, out) as on_stream:
            yield on_stream
        return
    if progress_stream.mode() == progress_stream.PROGRESS_NONE:
        yield lambda msg: None
        return
    console = console or Console(stderr=True)
    clock = JobClock(total=total or 0)
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        EtaColumn(clock),
    ]
    # Started by the first event: an error before the job is submitted (a wrong pattern, a
    # refused output) prints its one line without an empty "0/?" bar above it.
    bar = Progress(*columns, console=console, transient=False)
    task = None
    # Output files done, each once, as the total and the jsonl stream's `written` count them:
    # a %V output has a file per view (each view's job sends its frames), a stereo file one
    # per frame however many views' jobs send it.
    written: set[tuple[str, int]] = set()
    per_view = has_view_token(out)

    def on_event(msg: P.Message) -> None:
        nonlocal task
        clock.update(msg)
        if task is None:
            bar.start()
            task = bar.add_task("receiving", total=total or clock.total or None, detail="")
        if isinstance(msg, P.Progress):
            detail = (
                f"window {min(msg.window + 1, msg.windows)}/{msg.windows}" if msg.windows else ""
            )
            if msg.queue_position > 0:
                detail = f"queued (position {msg.queue_position})"
            if msg.message:
                detail += f" {msg.message}"
            bar.update(
                task, description=msg.stage, detail=detail, total=total or clock.total or None
            )
        elif isinstance(msg, P.Result):
            job = msg.job if per_view else ""
            written.update((job, d.frame) for d, _ in msg.images if d.role == "result")
            written.update((job, int(e["frame"])) for e in msg.paths)
            bar.update(task, completed=len(written))

    try:
        yield on_event
    finally:
        if task is not None:
            bar.stop()
