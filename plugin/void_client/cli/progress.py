"""A rich progress bar fed by daemon events (shared by ``run``, ``demo`` and ``attach``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from void_client import protocol as P


@contextmanager
def job_progress(total: int) -> Iterator[Callable[[P.Message], None]]:
    console = Console(stderr=True)
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("receiving", total=total, detail="")
        written = 0

        def on_event(msg: P.Message) -> None:
            nonlocal written
            if isinstance(msg, P.Progress):
                detail = (
                    f"window {min(msg.window + 1, msg.windows)}/{msg.windows}"
                    if msg.windows
                    else ""
                )
                if msg.queue_position > 0:
                    detail = f"queued (position {msg.queue_position})"
                if msg.message:
                    detail += f" {msg.message}"
                bar.update(task, description=msg.stage, detail=detail)
            elif isinstance(msg, P.Result):
                written += len(msg.images) or len(msg.paths)
                bar.update(task, completed=written)

        yield on_event
