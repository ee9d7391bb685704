"""Shared by the benchmark scripts: machine/commit stamp, peak memory, Markdown, docs sections."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "unknown"


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} CPUs ({cpu}), {ram:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def stamp() -> str:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"Measured {now} on {machine()}; commit {git_commit()}."


def _release_free_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it), so the next peak starts from live memory."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Peak resident memory of a process above its level at entry, sampled every few ms."""

    def __init__(self, pid: int | None = None, interval: float = 0.005) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.base = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except Exception:  # the process may be gone
                return
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        _release_free_memory()
        self.base = self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        try:
            self.peak = max(self.peak, self.proc.memory_info().rss)
        except Exception:
            pass

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


def markdown_table(header: list[str], rows: list[list[str]], align: str = "") -> str:
    """``align``: one of l/r per column (default: first two left, rest right)."""
    align = align or "ll" + "r" * (len(header) - 2)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def update_section(heading: str, body: str, path: Path = DOCS) -> None:
    """Replace this script's own ``## heading`` section (up to the next ``## ``), or append it.
    Other sections are left byte for byte as they are."""
    if not heading.startswith("## "):
        raise ValueError("sections are level-2 headings")
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    new = f"{heading}\n\n{body.strip()}\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == heading), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + new
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + new + ("\n" + tail if tail else "")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
