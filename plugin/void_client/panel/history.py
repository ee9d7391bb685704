"""The panel's job history: every job it started, with what is needed to re-attach to it.

Stored as JSON in ``void_client.paths.home() / "panel-history.json"``, written atomically
(temp file + rename). A job is recorded the moment the daemon accepts it, before any frame is
sent, so whatever happens to the host afterwards the next session can re-attach: the daemon
resends every result that was not acknowledged and asks for the input frames it lacks, which
is why an entry keeps the plate, mattes and output patterns.

No Qt here: the history is plain data that a script or another host can read too.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from void_client.atomic import write_text_atomic
from void_client.job_state import is_final
from void_client.paths import home
from void_client.sequence_job import RemoveRequest

log = logging.getLogger(__name__)

HISTORY_FILE = "panel-history.json"
HISTORY_VERSION = 1
#: Oldest entries are dropped beyond this many.
MAX_ENTRIES = 200


def default_history_path() -> Path:
    return home() / HISTORY_FILE


@dataclass
class HistoryEntry:
    """One job the panel started: its id, where it runs and the request that made it."""

    job: str
    name: str
    endpoint: str
    plate: str
    remove: str
    out: str
    affected: str = ""
    frame_range: tuple[int, int] | None = None
    settings: dict = field(default_factory=dict)
    started: float = 0.0
    state: str = "submitted"
    frames_done: int = 0
    frames_total: int = 0
    error: str = ""
    #: A preview's frames: the job computes whole windows for context but writes only these
    #: (``RemoveRequest.keep``); ``frames_total`` counts them, not the job's frames.
    keep: tuple[int, ...] = ()

    @property
    def finished(self) -> bool:
        return is_final(self.state)

    def request(self, autostart: bool = False) -> RemoveRequest:
        """The request to re-attach with (same sequences, same settings, same daemon)."""
        return RemoveRequest(
            plate=self.plate,
            remove=self.remove,
            out=self.out,
            affected=self.affected,
            frame_range=self.frame_range,
            settings=dict(self.settings),
            endpoint=self.endpoint,
            autostart=autostart,
            keep=tuple(self.keep),
        )

    @classmethod
    def from_request(
        cls, job: str, name: str, req: RemoveRequest, frames_total: int = 0
    ) -> HistoryEntry:
        fr = req.frame_range
        return cls(
            job=job,
            name=name,
            endpoint=req.endpoint,
            plate=req.plate,
            remove=req.remove,
            out=req.out,
            affected=req.affected,
            frame_range=(int(fr[0]), int(fr[1])) if fr else None,
            settings=dict(req.settings),
            started=time.time(),
            frames_total=len(req.keep) if req.keep else frames_total,
            keep=tuple(int(f) for f in req.keep),
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["frame_range"] = list(self.frame_range) if self.frame_range else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HistoryEntry:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}  # tolerate fields of newer versions
        fr = kwargs.get("frame_range")
        kwargs["frame_range"] = (int(fr[0]), int(fr[1])) if fr else None
        kwargs["keep"] = tuple(int(f) for f in kwargs.get("keep") or ())
        return cls(**kwargs)


class JobHistory:
    """Newest first. Every change re-reads the file first, so two panels (say Nuke and the
    standalone one) sharing a home lose at most a state update to each other, never a job."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path else default_history_path()
        self._entries: list[HistoryEntry] = []
        self.reload()

    # ------------------------------------------------------------------ reading
    def reload(self) -> list[HistoryEntry]:
        self._entries = self._read()
        return self.entries()

    def _read(self) -> list[HistoryEntry]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable job history %s: %s", self.path, exc)
            return []
        if not isinstance(raw, dict) or not isinstance(raw.get("jobs"), list):
            log.warning("ignoring job history %s: not a VOID Remove history file", self.path)
            return []
        out = []
        for d in raw["jobs"]:
            try:
                out.append(HistoryEntry.from_dict(d))
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                log.warning("skipping a bad job history entry in %s: %s", self.path, exc)
        return out

    def entries(self) -> list[HistoryEntry]:
        return list(self._entries)

    def get(self, job: str) -> HistoryEntry | None:
        return next((e for e in self._entries if e.job == job), None)

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------------ changing
    def record(self, entry: HistoryEntry) -> None:
        """Add ``entry`` at the top (replacing an entry with the same job id)."""
        self._entries = [e for e in self._read() if e.job != entry.job]
        self._entries.insert(0, entry)
        del self._entries[MAX_ENTRIES:]
        self._write()

    def update(self, job: str, **fields: Any) -> HistoryEntry | None:
        """Change fields of one entry (state, frames_done, error...); None if unknown."""
        self._entries = self._read()
        entry = self.get(job)
        if entry is None:
            return None
        for k, v in fields.items():
            if not hasattr(entry, k):
                raise AttributeError(f"a history entry has no field {k!r}")
            setattr(entry, k, v)
        self._write()
        return entry

    def update_from_status(self, jobs: Sequence[Mapping[str, Any]], endpoint: str) -> list[str]:
        """Take state and progress from a daemon ``status`` reply; returns the changed job ids."""
        by_id = {j.get("job"): j for j in jobs}
        self._entries = self._read()
        changed = []
        for e in self._entries:
            s = by_id.get(e.job)
            if s is None or e.endpoint != endpoint:
                continue
            err = s.get("error") or {}
            # The daemon counts a preview's context frames too: its entry keeps the count of the
            # frames it writes (the panel sets frames_done when they are written).
            counts = (
                (e.frames_done, e.frames_total)
                if e.keep
                else (
                    int(s.get("frames_done", e.frames_done)),
                    int(s.get("frames_total", e.frames_total)),
                )
            )
            new = (
                str(s.get("state", e.state)),
                *counts,
                str(err.get("message", "")) if isinstance(err, dict) else str(err),
            )
            if new != (e.state, e.frames_done, e.frames_total, e.error):
                e.state, e.frames_done, e.frames_total, e.error = new
                changed.append(e.job)
        if changed:
            self._write()
        return changed

    def forget(self, job: str) -> bool:
        self._entries = self._read()
        before = len(self._entries)
        self._entries = [e for e in self._entries if e.job != job]
        if len(self._entries) != before:
            self._write()
            return True
        return False

    def _write(self) -> None:
        data = {"version": HISTORY_VERSION, "jobs": [e.to_dict() for e in self._entries]}
        write_text_atomic(self.path, json.dumps(data, indent=1))


__all__ = ["HistoryEntry", "JobHistory", "default_history_path"]
