"""Disk the daemon may use: per-job disk use, the retention policy and ``clean``.

See ``docs/reliability.md`` ("Disk"). A job stores float copies of its inputs (``in/``) and of
its finished frames (``out/``), which are only needed while the job can still run or deliver.
The window cache (``cache/``) is what makes a re-run with a changed window cheap, so it is kept
longest. The policy, applied by the daemon's housekeeping thread (never the I/O thread):

1. a *final* job (done, failed, cancelled) never runs again: its stored inputs are dropped, and
   so are its outputs once the client acknowledged them (``drop_collected``);
2. a final job older than ``retention_days`` is removed entirely;
3. over ``disk_budget_bytes`` (jobs + cache), the oldest final jobs go first, then the least
   recently written cache entries.

Active jobs are never touched. Nothing here follows a symbolic link: a job folder that is a
link is refused, and sizes are taken with ``lstat``.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DAY_S = 86_400.0


@dataclass
class RetentionPolicy:
    """What the daemon keeps (``void-daemon serve --retention-days/--disk-budget-gib``)."""

    #: Final jobs older than this are removed whole (0 or less: never by age).
    retention_days: float = 7.0
    #: Jobs and cache together stay under this many bytes (0: no budget).
    disk_budget_bytes: int = 0
    #: Drop a final job's stored inputs, and its outputs once collected.
    drop_collected: bool = True


@dataclass
class JobUsage:
    """What the policy needs to know of one job."""

    job: str
    final: bool
    #: When the job ended (or was created, if it has not), seconds since the epoch.
    ended: float
    bytes: int


@dataclass
class Removal:
    job: str
    reason: str
    bytes: int

    def to_dict(self) -> dict:
        return {"job": self.job, "reason": self.reason, "bytes": self.bytes}


def disk_bytes(path: Path) -> int:
    """Bytes allocated under ``path`` (files' sizes), never following links."""
    total = 0
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    stack = [str(path)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:  # removed while we looked
                continue
    return total


def plan(
    jobs: list[JobUsage], now: float, policy: RetentionPolicy, cache_bytes: int = 0
) -> tuple[list[Removal], int]:
    """Which final jobs to remove, and how many cache bytes still have to go to meet the budget.

    Oldest first, by the time a job ended; active jobs are never chosen.
    """
    removals: list[Removal] = []
    final = sorted((j for j in jobs if j.final), key=lambda j: j.ended)
    chosen: set[str] = set()
    if policy.retention_days > 0:
        cutoff = now - policy.retention_days * DAY_S
        for j in final:
            if j.ended <= cutoff:
                removals.append(
                    Removal(j.job, f"ended more than {policy.retention_days:g} days ago", j.bytes)
                )
                chosen.add(j.job)
    cache_excess = 0
    if policy.disk_budget_bytes > 0:
        used = sum(j.bytes for j in jobs if j.job not in chosen) + cache_bytes
        for j in final:
            if used <= policy.disk_budget_bytes:
                break
            if j.job in chosen:
                continue
            removals.append(
                Removal(
                    j.job,
                    f"over the disk budget of {policy.disk_budget_bytes / 2**30:.3g} GiB",
                    j.bytes,
                )
            )
            chosen.add(j.job)
            used -= j.bytes
        cache_excess = max(0, used - policy.disk_budget_bytes)
    return removals, cache_excess


def plan_clean(
    jobs: list[JobUsage], now: float, older_than_s: float, all_finished: bool
) -> list[Removal]:
    """``void-remove jobs clean``: final jobs that ended ``older_than_s`` ago, or all of them."""
    out = []
    for j in sorted((j for j in jobs if j.final), key=lambda j: j.ended):
        if all_finished:
            out.append(Removal(j.job, "finished (--all-finished)", j.bytes))
        elif now - j.ended >= older_than_s:
            out.append(Removal(j.job, f"ended more than {_age(older_than_s)} ago", j.bytes))
    return out


def _age(seconds: float) -> str:
    if seconds >= DAY_S and seconds % DAY_S == 0:
        return f"{seconds / DAY_S:g}d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return f"{seconds:g}s"


def parse_age(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s`` or plain seconds → seconds (raises ``ValueError``)."""
    text = text.strip().lower()
    units = {"d": DAY_S, "h": 3600.0, "m": 60.0, "s": 1.0}
    if text and text[-1] in units:
        value = float(text[:-1]) * units[text[-1]]
    else:
        value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"not an age: {text!r}")
    return value


def remove_job_folder(root: Path, job_dir: Path) -> int:
    """Delete one job folder directly under ``root``; never follows or deletes through a link.

    Returns the bytes freed. Raises ``ValueError`` for anything that is not a plain folder
    directly inside ``root``.
    """
    if job_dir.parent != root or job_dir.name in ("", ".", "..", "cache"):
        raise ValueError(f"{job_dir} is not a job folder of {root}")
    st = os.lstat(job_dir)
    if not stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{job_dir} is a link or a file, not a job folder")
    size = disk_bytes(job_dir)
    # rmtree never follows links inside the tree (it unlinks them) on POSIX's fd-based walk.
    shutil.rmtree(job_dir)
    return size


def drop_files(folder: Path, keep: set[str] | None = None) -> int:
    """Remove the plain files in ``folder`` (not recursing, not following links) except ``keep``;
    returns the bytes freed."""
    freed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if keep and entry.name in keep:
            continue
        try:
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                size = entry.stat(follow_symlinks=False).st_size
                os.unlink(entry.path)
                freed += size
        except FileNotFoundError:
            continue
    return freed


def trim_cache(cache_dir: Path, now: float, max_age_s: float, excess_bytes: int) -> tuple[int, int]:
    """Remove cache entries not written for ``max_age_s`` (0: none by age), then the oldest
    ones until ``excess_bytes`` are freed. Returns (files, bytes) removed."""
    entries: list[tuple[float, int, str]] = []
    for sub in _scandir(cache_dir):
        if not sub.is_dir(follow_symlinks=False):
            continue
        for e in _scandir(Path(sub.path)):
            try:
                if e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    entries.append((max(st.st_mtime, st.st_atime), st.st_size, e.path))
            except FileNotFoundError:
                continue
    entries.sort()
    files = freed = 0
    for used, size, path in entries:
        old = max_age_s > 0 and now - used > max_age_s
        if not old and freed >= excess_bytes:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        files += 1
        freed += size
    return files, freed


def _scandir(folder: Path) -> list[os.DirEntry]:
    try:
        return list(os.scandir(folder))
    except OSError:
        return []
