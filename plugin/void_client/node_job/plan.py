"""Where one run's files live, what the host exports first, and whether results are complete.

:func:`plan_run` names the run's folder by its fingerprint; :class:`RunPlan` gives the export,
result and manifest paths; :class:`Manifest` (``run.json``) records what the results were made
from, so :func:`results_complete` can tell a finished earlier run from a partial one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.node_job.settings import NodeSettings
from void_client.paths import home
from void_client.sequence import SequencePattern
from void_client.sequence_job import RemoveRequest

#: Export roles, in the order a host renders them.
EXPORT_ROLES = ("plate", "remove", "affected")
MANIFEST_NAME = "run.json"


@dataclass(frozen=True)
class Export:
    """One sequence the host renders before a run."""

    role: str  # plate | remove | affected
    pattern: str  # printf-style (``%04d``), the form every host's writer takes
    channels: str  # "rgba" for the plate, "alpha" for a matte


@dataclass(frozen=True)
class RunPlan:
    """Where one run's files live. Same fingerprint, same folder."""

    run_dir: str
    first: int
    last: int
    fingerprint: str
    has_affected: bool
    name: str = "shot"

    @property
    def frames(self) -> list[int]:
        return list(range(self.first, self.last + 1))

    def pattern(self, role: str) -> str:
        if role == "result":
            return os.path.join(self.run_dir, "result", f"{self.name}.%04d.exr")
        if role not in EXPORT_ROLES:
            raise ValueError(role)
        return os.path.join(self.run_dir, "input", f"{role}.%04d.exr")

    def exports(self) -> list[Export]:
        roles = EXPORT_ROLES if self.has_affected else EXPORT_ROLES[:2]
        return [Export(r, self.pattern(r), "rgba" if r == "plate" else "alpha") for r in roles]

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.run_dir, MANIFEST_NAME)

    def make_dirs(self) -> None:
        for role in (*EXPORT_ROLES, "result"):
            if role != "affected" or self.has_affected:
                os.makedirs(os.path.dirname(self.pattern(role)), exist_ok=True)

    def request(self, settings: NodeSettings, autostart: bool = True) -> RemoveRequest:
        return RemoveRequest(
            plate=self.pattern("plate"),
            remove=self.pattern("remove"),
            affected=self.pattern("affected") if self.has_affected else "",
            out=self.pattern("result"),
            frame_range=(self.first, self.last),
            settings=settings.job_settings(),
            endpoint=settings.endpoint,
            autostart=autostart,
        )


def export_steps(plan: RunPlan, chunk: int) -> list[tuple[Export, int, int]]:
    """The exports cut into ``(export, first, last)`` renders of at most ``chunk`` frames, so a
    host can report progress and honour cancel between them."""
    chunk = max(1, chunk)
    return [
        (e, a, min(a + chunk - 1, plan.last))
        for e in plan.exports()
        for a in range(plan.first, plan.last + 1, chunk)
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "untitled"


def plan_run(
    settings: NodeSettings,
    first: int,
    last: int,
    has_affected: bool,
    fingerprint: str,
    node_name: str,
    project_path: str = "",
) -> RunPlan:
    """``<root>/<project>/<node>/<fingerprint[:16]>/``, where root is the node's output folder,
    else ``void_remove/`` next to the saved project, else ``$VOID_REMOVE_HOME/runs``."""
    if settings.output_dir:
        root = os.path.expanduser(settings.output_dir)
    elif project_path:
        root = os.path.join(os.path.dirname(os.path.abspath(project_path)), "void_remove")
    else:
        root = str(home() / "runs")
    project = _slug(Path(project_path).stem) if project_path else "untitled"
    run_dir = os.path.join(os.path.abspath(root), project, _slug(node_name), fingerprint[:16])
    if "%" in run_dir:
        # Frame patterns are printf-style; a '%' elsewhere in the path would be read as a field.
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"the output folder {run_dir!r} contains '%'; choose another cache folder",
            "output_dir",
        )
    return RunPlan(run_dir, first, last, fingerprint, has_affected, _slug(node_name))


# --------------------------------------------------------------------------- manifest
@dataclass
class Manifest:
    """``run.json`` in a run's folder: what the results there were made from, and whether they are all there."""

    fingerprint: str
    first: int
    last: int
    job: str = ""
    complete: bool = False
    frames_written: int = 0
    seconds: float = 0.0

    @classmethod
    def load(cls, path: str) -> Manifest | None:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return cls(
                **{k: data[k] for k in (f.name for f in dataclasses.fields(cls)) if k in data}
            )
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: str) -> None:
        write_text_atomic(path, json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True))


def results_complete(plan: RunPlan) -> bool:
    """True when a finished run with this plan's fingerprint left every result frame on disk."""
    m = Manifest.load(plan.manifest_path)
    if m is None or not m.complete or m.fingerprint != plan.fingerprint:
        return False
    pattern = SequencePattern.parse(plan.pattern("result"))
    return all(os.path.exists(pattern.path(f)) for f in plan.frames)
