"""Where VOID Remove keeps its files on this machine (override with ``$VOID_REMOVE_HOME``)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    env = os.environ.get("VOID_REMOVE_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "void-remove"


def default_jobs_dir() -> Path:
    return home() / "jobs"
