"""A host node's VOID Remove run, without the host: settings, where files go, staleness, progress.

The Nuke node (``nuke/void_nuke``) is glue around this module and any other host can drive it the
same way. A run goes:

1. :class:`NodeSettings` from the node's knob values, :func:`resolve_range` for the frames,
   :func:`fingerprint` of everything that decides the result's pixels, and :func:`plan_run` for the
   folder the run lives in. The folder is named by the fingerprint, so re-running with unchanged
   inputs finds the finished results (:func:`results_complete`) and reuses them.
2. The host renders :meth:`RunPlan.exports` (plate and mattes as EXR) with its own renderer.
3. :class:`HostJob` sends them to the daemon and writes results as they arrive: :meth:`HostJob.run`
   blocks (batch, render farm), :meth:`HostJob.start` runs on a worker thread (GUI). Every change of
   :class:`RunState` and every written frame is reported through callbacks, which the host marshals
   to its UI thread.

Nothing here imports a host API.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from void_client import protocol as P
from void_client.atomic import write_text_atomic
from void_client.client import DaemonClient, connect, is_local
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import SEAM_MODES, JobSpec
from void_client.paths import home
from void_client.sequence import SequencePattern
from void_client.sequence_job import RemoveRequest, SequenceJob
from void_client.session import JobReport, JobSession

log = logging.getLogger(__name__)

T = TypeVar("T")

_SPEC_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(JobSpec) if f.default is not dataclasses.MISSING
}

#: Quality presets: per-job engine options on top of the engine's own defaults ("standard" is the
#: VOID reference: 30 DDIM steps). Only the ``void`` engine reads them; ``propagate`` ignores them.
QUALITY_PRESETS: dict[str, dict[str, Any]] = {
    "draft": {"steps": 12, "pass2_steps": 20},
    "standard": {},
    "best": {"steps": 50},
}

#: Export roles, in the order a host renders them.
EXPORT_ROLES = ("plate", "remove", "affected")
#: Version of the fingerprint's recipe: bump it when what goes into it changes meaning.
FINGERPRINT_VERSION = 1
MANIFEST_NAME = "run.json"

#: How long a daemon on this machine may take to answer hello before a host offers to start one.
LOCAL_PROBE_S = 1.0

#: Stages of :class:`RunState`; the daemon's own (queued, receiving, running, finishing) pass through.
FINAL_STAGES = ("done", "reused", "cancelled", "failed")


# --------------------------------------------------------------------------- settings
@dataclass
class NodeSettings:
    """What an artist sets on a host node. Field names are the node's knob names."""

    use_input_range: bool = True
    range_first: int = 1001
    range_last: int = 1100
    engine: str = _SPEC_DEFAULTS["engine"]
    quality: str = "standard"
    pass2: bool = _SPEC_DEFAULTS["pass2"]
    prompt: str = _SPEC_DEFAULTS["prompt"]
    seed: int = _SPEC_DEFAULTS["seed"]
    roi_margin: int = _SPEC_DEFAULTS["roi_margin"]
    dilation: int = _SPEC_DEFAULTS["dilation"]
    seam: str = _SPEC_DEFAULTS["seam"]
    window: int = _SPEC_DEFAULTS["window"]
    overlap: int = _SPEC_DEFAULTS["overlap"]
    feather: int = _SPEC_DEFAULTS["feather"]
    endpoint: str = P.DEFAULT_ENDPOINT
    #: Where runs live; empty means next to the host's project file (see :func:`plan_run`).
    output_dir: str = ""

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> NodeSettings:
        """Settings from knob values as a host returns them (ints may come back as floats)."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in values:
                continue
            value = values[f.name]
            kind = type(f.default)
            try:
                if kind is bool:
                    value = bool(value)
                elif kind is int:
                    number = float(value)
                    if number != round(number):
                        raise ValueError(value)
                    value = int(round(number))
                else:
                    value = str(value) if f.name == "prompt" else str(value).strip()
            except (TypeError, ValueError) as exc:
                raise VoidError(
                    ErrorCode.BAD_SPEC, f"{f.name} must be a whole number, got {value!r}", f.name
                ) from exc
            kwargs[f.name] = value
        return cls(**kwargs).validate()

    def validate(self) -> NodeSettings:
        if self.quality not in QUALITY_PRESETS:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"quality must be one of {tuple(QUALITY_PRESETS)}, got {self.quality!r}",
                "quality",
            )
        if self.seam not in SEAM_MODES:
            raise VoidError(
                ErrorCode.BAD_SPEC, f"seam must be one of {SEAM_MODES}, got {self.seam!r}", "seam"
            )
        if not self.engine:
            raise VoidError(ErrorCode.BAD_SPEC, "choose an engine", "engine")
        if not self.endpoint:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"the daemon address is empty; the default is {P.DEFAULT_ENDPOINT}",
                "endpoint",
            )
        # The job spec's own rules (window, overlap, dilation, ...) before anything is rendered.
        JobSpec(frames=[0], width=1, height=1, **self.job_settings()).validate()
        return self

    def job_settings(self) -> dict[str, Any]:
        """The :class:`JobSpec` fields these settings decide (frames and size come from the plate)."""
        return {
            "engine": self.engine,
            "window": self.window,
            "overlap": self.overlap,
            "seam": self.seam,
            "dilation": self.dilation,
            "roi_margin": self.roi_margin,
            "feather": self.feather,
            "prompt": self.prompt,
            "seed": self.seed,
            "pass2": self.pass2,
            "engine_options": dict(QUALITY_PRESETS[self.quality]),
        }


def resolve_range(settings: NodeSettings, source_range: tuple[int, int] | None) -> tuple[int, int]:
    """The frames to process: the Source's own range, or the node's, which must lie inside it."""
    if source_range is None:
        raise VoidError(ErrorCode.BAD_SPEC, "connect a plate to the Source input", "source")
    src_first, src_last = int(source_range[0]), int(source_range[1])
    first, last = (
        (src_first, src_last)
        if settings.use_input_range
        else (settings.range_first, settings.range_last)
    )
    if last < first:
        raise VoidError(
            ErrorCode.BAD_SPEC, f"the frame range {first}-{last} ends before it starts", "range"
        )
    if first < 0:
        # Hosts pad negative numbers differently (%04d gives -001, '####' gives -0001).
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"the frame range {first}-{last} starts below 0; offset the plate to positive frames",
            "range",
        )
    if first < src_first or last > src_last:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"frames {first}-{last} are outside the Source's range {src_first}-{src_last}; fix the range or tick 'use input range'",
            "range",
        )
    return first, last


# --------------------------------------------------------------------------- fingerprint
def upstream_order(
    starts: Sequence[T | None],
    inputs_of: Callable[[T], Sequence[T | None]],
    key_of: Callable[[T], Hashable],
) -> list[T]:
    """Every node upstream of ``starts`` (included), each once, inputs before the nodes they feed."""
    out: list[T] = []
    done: set[Hashable] = set()
    for root in starts:
        if root is None:
            continue
        stack: list[tuple[T, bool]] = [(root, False)]
        active: set[Hashable] = set()
        while stack:
            node, expanded = stack.pop()
            key = key_of(node)
            if key in done:
                continue
            if expanded:
                done.add(key)
                active.discard(key)
                out.append(node)
                continue
            active.add(key)
            stack.append((node, True))
            stack.extend(
                (i, False)
                for i in reversed(list(inputs_of(node)))
                if i is not None and key_of(i) not in done and key_of(i) not in active
            )
    return out


def upstream_digest(
    starts: Sequence[T | None],
    inputs_of: Callable[[T], Sequence[T | None]],
    key_of: Callable[[T], Hashable],
    describe: Callable[[T], str],
) -> list[str]:
    """One digest per start node, of it and everything upstream of it (a Merkle hash).

    A node's digest covers its own description and its inputs' digests in input order, so a
    change anywhere upstream, or a rewiring, changes it, while moving nodes around (which the
    host's ``describe`` leaves out) does not. Shared upstream nodes are hashed once; an
    unconnected input or a cycle (through expressions) hashes as a fixed marker.
    """
    memo: dict[Hashable, str] = {}
    for node in upstream_order(starts, inputs_of, key_of):  # inputs first: their digests exist
        h = hashlib.sha256(describe(node).encode("utf-8"))
        for i in inputs_of(node):
            h.update(b"\0" + (memo.get(key_of(i), "cycle") if i is not None else "none").encode())
        memo[key_of(node)] = h.hexdigest()
    return [memo[key_of(r)] if r is not None else "none" for r in starts]


def fingerprint(
    settings: NodeSettings,
    first: int,
    last: int,
    upstream: Iterable[str],
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A stable hash of everything that decides the result: settings, range and upstream digests.

    The daemon address and the output folder are left out: they change where, not what.
    """
    payload = {
        "v": FINGERPRINT_VERSION,
        "settings": settings.job_settings(),
        "range": [first, last],
        "upstream": list(upstream),
        "extra": dict(extra or {}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------- plan
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


# --------------------------------------------------------------------------- progress
@dataclass
class RunState:
    """Where a run is, as a host shows it: a status line and a percentage."""

    total: int
    stage: str = "starting"
    window: int = 0
    windows: int = 0
    written: int = 0
    queue_position: int = 0
    eta_s: float = -1.0
    detail: str = ""
    seconds: float = 0.0
    job: str = ""
    error: VoidError | None = None

    def update(self, msg: P.Message) -> None:
        if isinstance(msg, P.Progress):
            self.stage = msg.stage or self.stage
            self.window, self.windows = msg.window, msg.windows
            self.queue_position = msg.queue_position
            self.eta_s = msg.eta_s
            self.detail = msg.message
            self.total = msg.frames_total or self.total
        if msg.job:
            self.job = msg.job

    @property
    def finished(self) -> bool:
        return self.stage in FINAL_STAGES

    @property
    def percent(self) -> int:
        if self.stage in ("done", "reused"):
            return 100
        return int(100 * self.written / self.total) if self.total else 0

    def text(self) -> str:
        if self.stage == "failed":
            return f"error: {self.error.message if self.error else 'unknown'}"
        if self.stage == "cancelled":
            return f"cancelled ({self.written}/{self.total} frames written)"
        if self.stage == "done":
            return f"done: {self.written} frames in {self.seconds:.1f} s"
        if self.stage == "reused":
            return f"up to date: {self.total} frames from an earlier run"
        parts = [
            f"queued (position {self.queue_position})" if self.queue_position > 0 else self.stage
        ]
        if self.windows:
            parts.append(f"window {min(self.window + 1, self.windows)}/{self.windows}")
        parts.append(f"{self.written}/{self.total} frames")
        if self.eta_s >= 0:
            parts.append(f"ETA {self.eta_s:.0f} s")
        return ", ".join(parts)


def export_error(role: str, exc: BaseException) -> VoidError:
    """A host renderer's failure while exporting ``role``, as the error the artist sees."""
    text = str(exc) or type(exc).__name__
    if "cancel" in text.lower():
        return VoidError(ErrorCode.CANCELLED, f"the {role} export was cancelled")
    return VoidError(ErrorCode.IO_ERROR, f"the {role} export failed to render: {text}", role)


# --------------------------------------------------------------------------- the run
class HostJob:
    """One run of a host node, after the host has rendered :meth:`RunPlan.exports`.

    ``on_state`` gets a copy of the :class:`RunState` on every change and ``on_frame`` each frame
    number once its result is on disk; both are called from worker threads.
    """

    def __init__(
        self,
        plan: RunPlan,
        settings: NodeSettings,
        on_state: Callable[[RunState], None] | None = None,
        on_frame: Callable[[int], None] | None = None,
        autostart: bool = True,
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.on_state = on_state or (lambda state: None)
        self.on_frame = on_frame or (lambda frame: None)
        self.autostart = autostart
        self.cancel_event = threading.Event()
        self.state = RunState(total=len(plan.frames))
        self.spec: JobSpec | None = None
        self.report: JobReport | None = None
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()

    def cancel(self) -> None:
        self.cancel_event.set()

    def start(self, on_done: Callable[[HostJob], None]) -> threading.Thread:
        """Run on a worker thread; ``on_done(self)`` is called from it at the end, whatever happened."""

        def target() -> None:
            try:
                self.run()
            except VoidError:
                pass  # already in self.state
            except Exception as exc:  # a bug must still end the run visibly
                log.exception("VOID Remove run failed")
                self._set(
                    stage="failed",
                    error=VoidError(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}"),
                )
            finally:
                on_done(self)

        t = threading.Thread(target=target, name="void-host-job", daemon=True)
        t.start()
        return t

    def run(self) -> JobReport:
        """Blocking: check the exports, run the job, write results and the manifest."""
        self._t0 = time.perf_counter()
        try:
            report = self._run()
        except VoidError as exc:
            self._set(stage="cancelled" if exc.code == ErrorCode.CANCELLED else "failed", error=exc)
            raise
        self.report = report
        self._set(
            stage="done", written=len(report.frames_written), seconds=time.perf_counter() - self._t0
        )
        return report

    # ------------------------------------------------------------------ internals
    def _set(self, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self.state, k, v)
            snapshot = dataclasses.replace(self.state)
        self.on_state(snapshot)

    def _run(self) -> JobReport:
        plan = self.plan
        req = plan.request(self.settings, self.autostart)
        self._set(stage="checking")
        seq = SequenceJob(req)  # refuses missing export frames, naming them
        seq.check_remove_not_empty()
        self.spec = dataclasses.replace(seq.job_spec(), name=plan.name).validate()
        previous = Manifest.load(plan.manifest_path)
        attach = (
            previous.job
            if previous and previous.fingerprint == plan.fingerprint and not previous.complete
            else ""
        )
        manifest = Manifest(plan.fingerprint, plan.first, plan.last)
        self._set(stage="connecting")
        if self.cancel_event.is_set():
            raise VoidError(ErrorCode.CANCELLED, "cancelled before the job was sent")
        if not req.autostart and is_local(req.endpoint):
            with DaemonClient(req.endpoint) as probe:  # fail fast: loopback answers in milliseconds
                probe.hello(timeout=LOCAL_PROBE_S)
        client = connect(req.endpoint, autostart=req.autostart)
        try:
            report = self._session(client, seq, manifest, attach)
        finally:
            client.close()
        manifest.job, manifest.complete = report.job, True
        manifest.frames_written, manifest.seconds = len(report.frames_written), report.seconds
        manifest.save(plan.manifest_path)
        return report

    def _session(self, client: Any, seq: SequenceJob, manifest: Manifest, attach: str) -> JobReport:
        def write(frame: int, pixels: Any) -> None:
            seq.write_result(frame, pixels)
            with self._lock:
                self.state.written += 1
            self.on_frame(frame)
            self._set()

        def on_event(msg: P.Message) -> None:
            with self._lock:
                self.state.update(msg)
                job = self.state.job
            if job and manifest.job != job:
                # Remember the job as soon as it exists, so a new session can re-attach to it.
                manifest.job = job
                manifest.save(self.plan.manifest_path)
            self._set()

        if attach:
            try:
                log.info("re-attaching to job %s", attach)
                return JobSession(
                    client, None, seq.read_frame, write, on_event, self.cancel_event, attach=attach
                ).run()
            except VoidError as exc:
                if self.cancel_event.is_set() or exc.code == ErrorCode.CANCELLED:
                    raise
                log.info(
                    "could not re-attach to job %s (%s); submitting it again", attach, exc.message
                )
        return JobSession(
            client, self.spec, seq.read_frame, write, on_event, self.cancel_event
        ).run()


#: Farm managers whose "submit" runs the whole job on this machine (``openjd run``): from a host
#: only their job bundle is written, to run or submit (``deadline bundle submit``) from a shell.
LOCAL_RUNNER_FARMS = ("openjd",)


@dataclass(frozen=True)
class FarmSubmission:
    farm: str
    job_id: str
    main_file: str
    submitted: bool

    def text(self) -> str:
        if self.submitted:
            return f"submitted to {self.farm} as {self.job_id}"
        folder = os.path.dirname(self.main_file)
        return f"{self.farm} job {self.job_id} written: run 'openjd run {self.main_file}' or 'deadline bundle submit {folder}'"


def submit_to_farm(plan: RunPlan, settings: NodeSettings, farm: str) -> FarmSubmission:
    """Hand an exported run to a render farm through ``void_client.farm`` (the CLI's code path).

    The job id comes from the fingerprint, so submitting the same inputs again rewrites the same
    job files and the farm's tasks resume from their journals. Results land in the plan's result
    pattern, where the host node already looks.
    """
    try:
        from void_client.farm import (
            FarmSpec,
            submit_job,
        )  # optional: the farm writers are their own package
    except ImportError as exc:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"farm submission is not available in this install (void_client.farm cannot be imported: {exc})",
            "farm",
        ) from exc
    job_id = f"{re.sub(r'[^A-Za-z0-9_-]+', '_', plan.name)[:40]}-{plan.fingerprint[:8]}"
    spec = FarmSpec.from_request(
        plan.request(settings, autostart=False),
        work_dir=os.path.join(plan.run_dir, "farm"),
        job_id=job_id,
    )
    submitted = farm not in LOCAL_RUNNER_FARMS
    main = submit_job(spec, farm, submit=submitted)
    return FarmSubmission(farm, job_id, str(main), submitted)
