"""``FarmSpec``: a removal job as a render farm sees it, serialised once as ``farm.json``.

A farm job is a :class:`~void_client.job_spec.JobSpec` (frames, size, settings, output pattern) plus
where the inputs are (plate, remove and affected sequences with optional channel selectors) and a
work directory on shared storage where the tasks keep their journals, the frames a ``chain``
window needs from the one before it, and the per-window result cache::

    <work_dir>/cache/                  engine results by content hash (shared by every job here)
    <work_dir>/jobs/<job_id>/farm.json this spec (also the default place for the farm's files)
    <work_dir>/jobs/<job_id>/journal/  one append-only journal per task (``window-000.jsonl``...)
    <work_dir>/jobs/<job_id>/out/      finished frames a later ``chain`` window starts from

The work directory defaults to ``_void_work`` *next to* the delivery folder (never inside it),
and a job's cache entries and chain frames are pruned after ``assemble`` unless ``keep_work``.

Every farm writer (OpenJD, OpenCue, Deadline) and every task command read this one file, so the
job that runs is the job that was submitted: it carries the exact worker command (the
interpreter and module of the install that wrote it), the environment the tasks need (``OCIO``,
``VOID_*``, ``--env``) and the umask the tasks write with. See docs/farm.md. Kept light: the
Nuke node builds one of these.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shlex
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.local_install import configured_command
from void_client.windows import Window, plan_windows

log = logging.getLogger(__name__)

FARM_SPEC_VERSION = 1
#: The last resort when no install can be named: ``void-remove`` from the worker's PATH.
DEFAULT_COMMAND = ("void-remove",)
#: Site setting: the worker command line for farms whose workers have the tool elsewhere.
WORKER_COMMAND_ENV = "VOID_REMOVE_WORKER_COMMAND"
#: Default folder for journals, chain frames and the window cache, next to the delivery folder.
WORK_DIR_NAME = "_void_work"
#: Files 0644, folders 0755: the team reads what a farm's service user wrote.
DEFAULT_UMASK = "022"
#: ``--group-writable``: files 0664, folders 0775.
GROUP_WRITABLE_UMASK = "002"
#: GPU workers assumed free for one job when no ``--farm-size`` is given (docs/farm.md).
DEFAULT_FARM_SIZE = 8
#: The most windows the automatic choice puts in one task: a task stays short enough for a
#: farm's timeout, and a preempted task loses little (a re-run skips its finished windows).
MAX_AUTO_WINDOWS_PER_TASK = 8
#: Environment a task needs that is not a flag: the artist's colour config and our own settings.
CARRIED_ENV = ("OCIO",)
CARRIED_PREFIX = "VOID_"
#: Never carried: per-host secrets and endpoints, test-only fault injection, the site command.
NOT_CARRIED = (
    "VOID_ENDPOINT",
    "VOID_CURVE_SERVER_KEY",
    "VOID_CURVE_SECRET_KEY",
    "VOID_CURVE_CLIENT_KEY",
    "VOID_CURVE_AUTHORIZED_KEYS",
    "VOID_REMOVE_HOME",
    "VOID_REMOVE_TASK_FAULT",
    "VOID_DAEMON_COMMAND",
    "VOID_QT_API",
    "VOID_PANEL_GL",
    WORKER_COMMAND_ENV,
)


def default_worker_command() -> list[str]:
    """The command a worker runs: ``$VOID_REMOVE_WORKER_COMMAND`` (a site setting), else this
    interpreter running our CLI module (absolute, so no worker PATH is needed), else the
    ``void-remove`` console script found here, else a bare ``void-remove``.

    Which interpreter counts is :func:`void_client.local_install.interpreter_command`'s rule.
    """
    command = configured_command(WORKER_COMMAND_ENV)
    if command:
        return command
    exe = os.path.abspath(sys.executable) if sys.executable else ""
    found = shutil.which("void-remove") or shutil.which(
        "void-remove", path=os.path.dirname(exe) if exe else None
    )
    if found:
        return [os.path.abspath(found)]
    log.warning(
        "no void-remove install found here: farm tasks will run 'void-remove' from the worker's "
        "PATH; pass --worker-command or set %s",
        WORKER_COMMAND_ENV,
    )
    return list(DEFAULT_COMMAND)


def choose_windows_per_task(n_windows: int, seam: str, farm_size: int = 0) -> int:
    """How many consecutive windows one farm task runs with one engine load.

    ``chain`` windows run one after another whatever the grouping, so grouping costs no
    parallelism: as many as :data:`MAX_AUTO_WINDOWS_PER_TASK`. ``crossfade`` windows run in
    parallel: one task per worker of the farm (``farm_size``, default
    :data:`DEFAULT_FARM_SIZE`), so each worker loads the model once and none sits idle.
    """
    n = max(1, n_windows)
    if seam == "chain":
        return min(n, MAX_AUTO_WINDOWS_PER_TASK)
    workers = farm_size if farm_size > 0 else DEFAULT_FARM_SIZE
    return min(-(-n // min(n, workers)), MAX_AUTO_WINDOWS_PER_TASK)


def carried_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """What a task needs from the submitter's environment: ``$OCIO`` (made absolute) and our
    ``VOID_*`` settings, minus per-host secrets and endpoints (see :data:`NOT_CARRIED`)."""
    environ = dict(os.environ if environ is None else environ)
    out: dict[str, str] = {}
    for key, value in sorted(environ.items()):
        if key in NOT_CARRIED or not value:
            continue
        if key in CARRIED_ENV or key.startswith(CARRIED_PREFIX):
            out[key] = value
    ocio = out.get("OCIO", "")
    if ocio and "://" not in ocio:
        out["OCIO"] = os.path.abspath(ocio)
    if out.get("VOID_WEIGHTS_DIR"):
        out["VOID_WEIGHTS_DIR"] = os.path.abspath(out["VOID_WEIGHTS_DIR"])
    return out


@dataclass
class FarmSettings:
    """Scheduling knobs every farm manager has in some form; each writer maps what it knows."""

    priority: int = 50
    pool: str = ""
    group: str = ""
    #: OpenCue needs a show and a shot; empty means ``$SHOW``/``$SHOT``, else ``void``/the job name.
    show: str = ""
    shot: str = ""
    max_retries: int = 2
    #: Per-task time limit in minutes; 0 leaves the farm's default.
    timeout_minutes: int = 0
    #: Extra environment for the tasks (``VOID_WEIGHTS_DIR``, ``OCIO``...).
    env: dict = field(default_factory=dict)
    #: GPUs and GPU memory a window task of a GPU engine books (OpenCue ``gpus``/``gpu_memory``).
    gpus: int = 1
    gpu_memory: str = "24g"
    #: A ``void`` window task on a worker without a usable GPU fails instead of running the
    #: model on CPU, unless the job allows it (``--allow-cpu``).
    allow_cpu: bool = False
    #: Deadline 10 plugin: ``CommandLine`` (stock), or ``VoidRemove`` (ours, shows progress).
    deadline_plugin: str = "CommandLine"


@dataclass
class FarmTask:
    """One unit a farm schedules: its name, the window indices it covers, its command line and
    the units it waits for."""

    name: str
    frames: str
    argv: list[str]
    depends: list[str]


@dataclass
class FarmSpec:
    """One removal job on a farm. Paths are absolute: farm nodes run in other folders."""

    job: JobSpec
    plate: str
    remove: str
    work_dir: str
    affected: str = ""
    #: Clean frames the artist painted (``--reference FRAME=PATH``), by frame number as text
    #: (JSON keys), absolute paths on shared storage. ``job.references`` lists the same frames;
    #: every window task reads them itself (void_daemon.farm_tasks), as the daemon would.
    references: dict[str, str] = field(default_factory=dict)
    #: argv prefix that runs ``void-remove`` on a farm node: by default the interpreter and
    #: module of the install that wrote the job (see :func:`default_worker_command`).
    command: list[str] = field(default_factory=default_worker_command)
    #: :class:`void_daemon.engines.EngineConfig` fields for the task (device, weights_dir...).
    engine_config: dict = field(default_factory=dict)
    farm: FarmSettings = field(default_factory=FarmSettings)
    #: Octal umask every task sets before writing (outputs, cache, chain frames, journals).
    umask: str = DEFAULT_UMASK
    #: Keep the job's cache entries and chain frames after ``assemble`` (default: pruned).
    keep_work: bool = False
    #: Consecutive windows one task runs with a single engine load (see
    #: :func:`choose_windows_per_task`); task ``k`` runs windows ``k*N .. k*N+N-1``.
    windows_per_task: int = 1
    #: OpenJD: keep the engine loaded across a worker session's tasks (``task serve`` in a step
    #: environment; POSIX workers).
    warm_engine: bool = False
    version: int = FARM_SPEC_VERSION

    # ------------------------------------------------------------------ derived facts
    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def job_dir(self) -> Path:
        return Path(self.work_dir) / "jobs" / self.job.job_id

    @property
    def cache_dir(self) -> Path:
        return Path(self.work_dir) / "cache"

    @property
    def out_pattern(self) -> str:
        return self.job.out_pattern

    def reference_paths(self) -> dict[int, str]:
        """``{frame: path}`` of the job's reference frames."""
        return {int(f): p for f, p in sorted(self.references.items(), key=lambda kv: int(kv[0]))}

    def windows(self) -> list[Window]:
        """The tasks of the ``windows`` step: the same plan the daemon makes."""
        return plan_windows(len(self.job.frames), self.job.window, self.job.overlap)

    def task_windows(self) -> list[tuple[int, int]]:
        """Each task's windows as ``(first, last)`` (inclusive), in task order."""
        n, per = len(self.windows()), max(1, self.windows_per_task)
        return [(a, min(a + per, n) - 1) for a in range(0, n, per)]

    def windows_of_task(self, task: int) -> tuple[int, int]:
        """``(first, last)`` window of task ``task`` (the farm's frame number for it)."""
        groups = self.task_windows()
        if not 0 <= task < len(groups):
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"task {task} is outside 0..{len(groups) - 1} ({self.windows_per_task} windows "
                "per task)",
                "task",
                self.job_id,
            )
        return groups[task]

    @property
    def sequential(self) -> bool:
        """``chain`` seams feed each window the previous window's result: windows run in order."""
        return self.job.seam == "chain"

    def task_graph(self, spec_path: str, frame_token: str) -> list[FarmTask]:
        """The farm's units of work in submission order, for writers whose unit is a job or a
        layer with a frame range (Deadline, OpenCue): chain windows one unit each, each after
        the one before; crossfade windows one unit over all indices; then assemble.

        With ``windows_per_task`` N > 1 a chain unit covers N consecutive windows
        (``windows-000-002``, ``--index 0-2``) and the crossfade unit's frames are task numbers
        (``--task <frame>``: windows ``k*N .. k*N+N-1``), so no writer needs to know N."""
        groups = self.task_windows()
        out: list[FarmTask] = []
        if self.sequential:
            prev = ""
            for a, b in groups:
                name = window_task_name(a, b)
                out.append(
                    FarmTask(
                        name,
                        str(a),
                        self.task_args("window", spec_path, a if a == b else f"{a}-{b}"),
                        [prev] if prev else [],
                    )
                )
                prev = name
            last = prev
        else:
            frames = f"0-{len(groups) - 1}" if len(groups) > 1 else "0"
            if self.windows_per_task > 1:
                argv = [*self.task_args("window", spec_path), "--task", frame_token]
            else:
                argv = self.task_args("window", spec_path, frame_token)
            out.append(FarmTask("windows", frames, argv, []))
            last = "windows"
        out.append(FarmTask("assemble", "0", self.task_args("assemble", spec_path), [last]))
        return out

    def title(self) -> str:
        return f"VOID Remove {self.job.name} ({self.job.job_id})"

    def seam_note(self) -> str:
        """One sentence for the generated job: how windows relate, so a TD reading it knows."""
        n = len(self.windows())
        if self.sequential:
            return (
                f"Seams: chain. Each of the {n} windows continues the fill of the window before it, "
                "so the windows run one after another (window k depends on window k-1); "
                "assemble then writes the final frames."
            )
        return (
            f"Seams: crossfade. The {n} windows are independent and run in parallel; "
            "assemble waits for all of them, blends the overlaps and writes the final frames."
        )

    def task_args(self, kind: str, spec_path: str, index: int | str | None = None) -> list[str]:
        """argv of one task, ``command`` first. ``index`` may be a farm placeholder string."""
        args = [*self.command, "task", kind, "--spec", spec_path]
        if kind == "window" and index is not None:
            args += ["--index", str(index)]
        return args

    # ------------------------------------------------------------------ checks and (de)serialisation
    def validate(self) -> FarmSpec:
        def bad(name: str, msg: str) -> VoidError:
            return VoidError(ErrorCode.BAD_SPEC, msg, name)

        self.job.validate()
        if self.job.transfer != "paths" or not self.job.out_pattern:
            raise bad(
                "out_pattern",
                "a farm job writes files: it needs transfer 'paths' and an output pattern",
            )
        if (
            not self.job.job_id
            or not self.job.job_id.replace("-", "").replace("_", "").isalnum()
            or len(self.job.job_id) > 64
        ):
            raise bad(
                "job_id",
                "a farm job needs a job_id of letters, digits, '-' and '_' (names its work folder)",
            )
        for name in ("plate", "remove", "work_dir"):
            if not getattr(self, name):
                raise bad(name, f"a farm job needs {name}")
        if not self.command or not all(isinstance(c, str) and c for c in self.command):
            raise bad(
                "command", "command must be a non-empty list of strings, e.g. ['void-remove']"
            )
        try:
            mask = int(self.umask, 8)
        except (TypeError, ValueError):
            mask = -1
        if not 0 <= mask <= 0o777:
            raise bad("umask", f"umask must be octal like '022' or '002', got {self.umask!r}")
        if mask & 0o440:
            raise bad(
                "umask",
                f"umask {self.umask} hides outputs from their owner or group; use '022' or '002'",
            )
        bad_env = [k for k in self.farm.env if not k or "=" in str(k)]
        if bad_env:
            raise bad("env", f"environment names may not be empty or hold '=': {bad_env}")
        if (
            not isinstance(self.windows_per_task, int)
            or isinstance(self.windows_per_task, bool)
            or self.windows_per_task < 1
        ):
            raise bad(
                "windows_per_task",
                f"windows_per_task must be a whole number of at least 1, got "
                f"{self.windows_per_task!r}",
            )
        self._validate_references()
        if self.version != FARM_SPEC_VERSION:
            raise bad(
                "version",
                f"farm spec version {self.version} is not {FARM_SPEC_VERSION}; regenerate it with this void-remove",
            )
        return self

    def _validate_references(self) -> None:
        if not isinstance(self.references, dict):
            raise VoidError(
                ErrorCode.BAD_SPEC, "references must map frame numbers to paths", "references"
            )
        frames: list[int] = []
        for frame, path in self.references.items():
            text = str(frame).strip()
            if (
                not text.lstrip("-").isdigit()
                or not isinstance(path, str)
                or not os.path.isabs(path)
            ):
                raise VoidError(
                    ErrorCode.BAD_SPEC,
                    f"reference {frame!r}: {path!r} must be a frame number and an absolute path "
                    "(farm nodes run in other folders)",
                    "references",
                )
            frames.append(int(text))
        if sorted(frames) != sorted(self.job.references):
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"the job declares reference frames {sorted(self.job.references)} but the farm "
                f"spec has files for {sorted(frames)}; regenerate it with --reference",
                "references",
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> FarmSpec:
        if not isinstance(d, dict):
            raise VoidError(ErrorCode.BAD_SPEC, "a farm spec must be a map")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise VoidError(ErrorCode.BAD_SPEC, f"unknown farm spec fields {unknown}", unknown[0])
        for req in ("job", "plate", "remove", "work_dir"):
            if req not in d:
                raise VoidError(ErrorCode.BAD_SPEC, f"farm spec is missing {req!r}", req)
        kwargs = dict(d)
        kwargs["job"] = JobSpec.from_dict(d["job"])
        farm = d.get("farm", {})
        farm_known = {f.name for f in dataclasses.fields(FarmSettings)}
        if not isinstance(farm, dict) or set(farm) - farm_known:
            raise VoidError(
                ErrorCode.BAD_SPEC, f"farm settings may hold {sorted(farm_known)}", "farm"
            )
        kwargs["farm"] = FarmSettings(**farm)
        return cls(**kwargs).validate()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FarmSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise VoidError(ErrorCode.BAD_SPEC, f"farm spec is not JSON: {exc}") from exc
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a task never reads half a spec."""
        return write_text_atomic(Path(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> FarmSpec:
        p = Path(path)
        if not p.is_file():
            raise VoidError(ErrorCode.BAD_SPEC, f"farm spec {p} does not exist", "spec")
        return cls.from_json(p.read_text())

    # ------------------------------------------------------------------ building one
    @classmethod
    def from_request(
        cls,
        req: Any,
        work_dir: str | os.PathLike = "",
        command: list[str] | str | None = None,
        engine_config: dict | None = None,
        farm: FarmSettings | None = None,
        job_id: str = "",
    ) -> FarmSpec:
        """From a :class:`~void_client.sequence_job.RemoveRequest`: what ``void-remove run`` would do.

        Reads the first plate frame (size, channels), checks every frame exists and that the
        remove matte is not empty, exactly as a local run does before any work is sent.
        """
        from void_client.sequence_job import (
            SequenceJob,
        )  # reads EXRs; imported only when a spec is built

        seq = SequenceJob(req)
        seq.check_remove_not_empty()
        job = seq.job_spec()
        job.transfer = "paths"
        job.out_pattern = os.path.abspath(req.out)
        job.job_id = job_id or f"{_slug(job.name)}-{uuid.uuid4().hex[:8]}"
        if isinstance(command, str):
            command = shlex.split(command)
        farm = farm or FarmSettings()
        # The submitter's colour config and VOID_* settings, under anything set explicitly.
        farm.env = {**carried_environment(), **farm.env}
        config = dict(engine_config or {})
        if config.get("weights_dir"):
            config["weights_dir"] = os.path.abspath(config["weights_dir"])
        return cls(
            job=job,
            plate=_abs_ref(req.plate),
            remove=_abs_ref(req.remove),
            affected=_abs_ref(req.affected) if req.affected else "",
            references={str(f): os.path.abspath(p) for f, p in sorted(req.references.items())},
            work_dir=os.path.abspath(work_dir or default_work_dir(job.out_pattern)),
            command=list(command or default_worker_command()),
            engine_config=config,
            farm=farm,
        ).validate()


def window_task_name(first: int, last: int) -> str:
    """``window-003`` for one window, ``windows-003-005`` for a run of them."""
    return f"window-{first:03d}" if first == last else f"windows-{first:03d}-{last:03d}"


def default_work_dir(out_pattern: str) -> str:
    """``_void_work`` beside the delivery folder: nothing but frames lands where they deliver."""
    delivery = os.path.dirname(os.path.abspath(out_pattern))
    return os.path.join(os.path.dirname(delivery), WORK_DIR_NAME)


def _abs_ref(text: str) -> str:
    """Absolute pattern, channel selector kept (``plate.####.exr:remove.a``)."""
    from void_client.sequence import split_channel

    path, channel = split_channel(text)
    path = os.path.abspath(path)
    return f"{path}:{channel}" if channel else path


def _slug(name: str) -> str:
    s = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_")
    return (s or "shot")[:40]
