"""Per-window result cache keyed by a content hash of everything that decides the result."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from void_client.atomic import temp_path_for


def window_key(arrays: list[np.ndarray], settings: dict[str, Any]) -> str:
    """SHA-256 over the window's pixels, masks and the settings/engine identity."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data.cast("B"))  # the ndarray buffer itself, no copy
    return h.hexdigest()


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write ``path`` whole or not at all. Mode 0666 & ~umask (not ``mkstemp``'s 0600): a farm's
    cache and chain frames are shared by workers running as other users; the daemon's private
    job folders are 0700, which keeps what it stores there private anyway."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path, ".npy")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array)
            # On disk before the rename: the journal line written after it must never name a
            # file that a power cut could leave empty.
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class WindowCache:
    """Results of engine calls on disk: ``<root>/<key[:2]>/<key>.npy``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str, mmap: bool = False) -> np.ndarray | None:
        p = self._path(key)
        if not p.exists():
            return None
        try:
            return np.load(p, mmap_mode="r" if mmap else None)
        except (OSError, ValueError):  # a torn file from a crash is a miss, not an error
            p.unlink(missing_ok=True)
            return None

    def put(self, key: str, array: np.ndarray) -> None:
        save_npy_atomic(self._path(key), array)
