"""Where VOID Remove keeps its files on this machine (override with ``$VOID_REMOVE_HOME``;
defined in :mod:`void_hostlink.paths`)."""

from __future__ import annotations

from pathlib import Path

from void_hostlink.paths import home as hostlink_home


def home() -> Path:
    """``void_hostlink.paths.home`` (one definition for the client and the hosts), as a Path."""
    return Path(hostlink_home())


def default_jobs_dir() -> Path:
    return home() / "jobs"
