"""Where one node run's files live, what the host exports first, the ``void-remove`` command
that runs it, and whether its results are complete. Standard library only, Python 3.6
(docs/nuke.md, "Host isolation").

:func:`plan_run` names the run's folder by its fingerprint; :class:`RunPlan` gives the export,
result and manifest paths and the CLI arguments (:meth:`RunPlan.run_args`,
:meth:`RunPlan.farm_args`); :class:`Manifest` (``run.json``) records what the results were made
from, so :func:`results_complete` tells a finished earlier run from a partial one. The results
themselves are written by ``void-remove run`` through its own output manifest and lock.
"""

import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from void_hostlink import HostLinkError
from void_hostlink.atomic import write_text_atomic
from void_hostlink.compat import asdict, dataclass, fields
from void_hostlink.node_settings import BAD_SPEC, NodeSettings
from void_hostlink.paths import home
from void_hostlink.stream import EVENT_DONE

#: Export roles, in the order a host renders them.
EXPORT_ROLES = ("plate", "remove", "affected")
MANIFEST_NAME = "run.json"
#: Farm managers whose "submit" runs the whole job on this machine (``openjd run``): from a host
#: only their job bundle is written, to run or submit (``deadline bundle submit``) from a shell.
LOCAL_RUNNER_FARMS = ("openjd",)
#: What ``void-remove farm`` writes beside the manager's job files (the job, as submitted).
FARM_SPEC_NAME = "farm.json"


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
    def frames(self) -> List[int]:
        return list(range(self.first, self.last + 1))

    def pattern(self, role: str) -> str:
        if role == "result":
            return os.path.join(self.run_dir, "result", "{}.%04d.exr".format(self.name))
        if role not in EXPORT_ROLES:
            raise ValueError(role)
        return os.path.join(self.run_dir, "input", "{}.%04d.exr".format(role))

    def frame_path(self, role: str, frame: int) -> str:
        return self.pattern(role) % frame

    def exports(self) -> List[Export]:
        roles = EXPORT_ROLES if self.has_affected else EXPORT_ROLES[:2]
        return [Export(r, self.pattern(r), "rgba" if r == "plate" else "alpha") for r in roles]

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.run_dir, MANIFEST_NAME)

    @property
    def farm_dir(self) -> str:
        return os.path.join(self.run_dir, "farm")

    @property
    def job_id(self) -> str:
        """The farm job's name: the node and the fingerprint, so submitting the same inputs
        again names the same job."""
        return "{}-{}".format(re.sub(r"[^A-Za-z0-9_-]+", "_", self.name)[:40], self.fingerprint[:8])

    def make_dirs(self) -> None:
        for role in EXPORT_ROLES + ("result",):
            if role != "affected" or self.has_affected:
                os.makedirs(os.path.dirname(self.pattern(role)), exist_ok=True)

    def shot_args(self) -> List[str]:
        """``--plate/--remove/--affected/--out/--range``: the run's sequences."""
        args = ["--plate", self.pattern("plate"), "--remove", self.pattern("remove")]
        if self.has_affected:
            args += ["--affected", self.pattern("affected")]
        args += ["--out", self.pattern("result"), "--range", "{}-{}".format(self.first, self.last)]
        return args

    def run_args(self, settings: NodeSettings, autostart: bool = True) -> List[str]:
        """``void-remove run ...`` (the host adds nothing but ``--progress jsonl``). The run
        folder is this node's and these settings' alone (named by the fingerprint), so frames an
        earlier, cancelled run of the same inputs left there are replaced (``--overwrite``); a
        second writer still meets the output lock."""
        return ["run"] + self.shot_args() + settings.cli_args(autostart) + ["--overwrite"]

    def farm_args(self, settings: NodeSettings, farm: str) -> List[str]:
        """``void-remove farm <manager> ...``: windows as farm tasks writing into the node's
        result pattern. Submitted, except for managers whose submit runs the job here."""
        args = ["farm", farm] + self.shot_args()
        args += ["--work-dir", self.farm_dir, "--out-dir", os.path.join(self.farm_dir, "job")]
        args += settings.cli_args(autostart=False)
        if farm not in LOCAL_RUNNER_FARMS:
            args.append("--submit")
        return args


def export_steps(plan: RunPlan, chunk: int) -> List[Tuple[Export, int, int]]:
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


def runs_home() -> str:
    """``$VOID_REMOVE_HOME/runs`` (default ``~/.cache/void-remove/runs``), where an unsaved
    project's runs go: the same folder the client calls home."""
    return os.path.join(home(), "runs")


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
        root = runs_home()
    stem = os.path.splitext(os.path.basename(project_path))[0]
    project = _slug(stem) if project_path else "untitled"
    run_dir = os.path.join(os.path.abspath(root), project, _slug(node_name), fingerprint[:16])
    if "%" in run_dir:
        # Frame patterns are printf-style; a '%' elsewhere in the path would be read as a field.
        raise HostLinkError(
            BAD_SPEC,
            "the output folder {!r} contains '%'; choose another cache folder".format(run_dir),
        )
    return RunPlan(run_dir, first, last, fingerprint, has_affected, _slug(node_name))


@dataclass
class Manifest:
    """``run.json`` in a run's folder: what the results there were made from, and whether
    they are all there. The host writes it from the worker's final ``done`` event."""

    fingerprint: str
    first: int
    last: int
    job: str = ""
    complete: bool = False
    frames_written: int = 0
    seconds: float = 0.0

    @classmethod
    def load(cls, path: str) -> Optional["Manifest"]:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            names = [f.name for f in fields(cls)]
            return cls(**{k: data[k] for k in names if k in data})
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: str) -> None:
        """Atomically (a temporary file beside it, then ``os.replace``): a render task reading
        it at that moment sees the old manifest or the new one."""
        write_text_atomic(path, json.dumps(asdict(self), indent=2, sort_keys=True))


def record_event(plan: RunPlan, event: Dict[str, Any]) -> bool:
    """Any thread: the worker's ``done`` event makes ``run.json`` say complete (what
    :func:`results_complete`, and so every later render, looks for). True when it did."""
    if event.get("event") != EVENT_DONE:
        return False
    Manifest(
        plan.fingerprint,
        plan.first,
        plan.last,
        job=str(event.get("job") or ""),
        complete=True,
        frames_written=int(event.get("written") or 0),
        seconds=float(event.get("seconds") or 0.0),
    ).save(plan.manifest_path)
    return True


def results_complete(plan: RunPlan) -> bool:
    """True when every result frame is on disk and either a finished run with this plan's
    fingerprint recorded it, or the run was submitted to a farm (its job files are in the run
    folder, which no other inputs share; the farm's assemble writes the frames last)."""
    if not all(os.path.exists(plan.frame_path("result", f)) for f in plan.frames):
        return False
    m = Manifest.load(plan.manifest_path)
    if m is not None and m.complete and m.fingerprint == plan.fingerprint:
        return True
    return os.path.isfile(os.path.join(plan.farm_dir, "job", FARM_SPEC_NAME))
