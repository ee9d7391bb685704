"""DaVinci Resolve: one VOID Remove run, from the clip on the timeline to the clean plate above it.

:class:`RemoveFlow` reads like the artist's flow: find the clip and its frames → render the plate
(and the matte) to EXR through Resolve's render queue → place the rendered plate once as a trial
on the new track (how this Resolve reads ``endFrame``, whether the rate can be set), before the
long part → run the job in a ``void-remove run ... --progress jsonl`` worker process → import the
clean plate into the ``VOID`` bin and put it on that track above the source, at the same record
frame. Resolve as it behaves (issue 16): the timeline is pinned by its unique id and made current
again before edits, edits happen on the Edit page, the artist's page and current timeline are
given back afterwards (success, failure or cancel), and a False or None answer from Resolve is a
failure, never a success. Every change to the project is registered with a
:class:`~void_resolve.rollback.Rollback` as it is made, so a failure or a cancel leaves no
half-imported media, stray render job, extra track or redirected Saver behind.

Host isolation (docs/architecture.md, "Host isolation"): Resolve's Python imports only the
standard library, ``void_resolve`` and ``void_hostlink``. The job (numpy, OpenImageIO, ZeroMQ,
the protocol) runs in the ``void-remove`` worker that the installer recorded
(:func:`void_hostlink.find_void_remove`), driven by :class:`void_hostlink.VoidRemoveProcess`;
cancel is the worker's cancel, errors come from its ``failed`` event.

Clean plates are versioned: ``<root>/<project>/<clip>_<first>-<last>/<clip>_void_v001.########.exr``,
then ``_v002``... Each run asks the worker for the next free version (``--version-up``, from the
latest one here) and reads where it wrote from the ``done`` event, so an earlier result (perhaps
already cut in) is never touched; with the ``overwrite`` setting the latest version is replaced
(``--overwrite``). On a failure or cancel only what this run wrote is deleted
(:func:`undo_output`). See docs/resolve.md.

All Resolve calls go through ``api`` (``void_resolve.api.ResolveAPI``, the one seam). The run is
a generator of :class:`FlowEvent` so a UI can drive it from a timer, one short step per tick,
without ever blocking its event loop; :meth:`RemoveFlow.run` drives it to the end for scripts.
Python 3.6 syntax and library (docs/resolve.md, "Which Python").
"""

import json
import logging
import os
import queue
import re
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Generator,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from void_hostlink import HostLinkError, VoidRemoveProcess, find_void_remove
from void_hostlink.compat import dataclass, replace
from void_resolve import formats, mattes, placement, render, selection
from void_resolve.mattes import MatteChoice
from void_resolve.records import (
    CANCELLED,
    INTERNAL,
    FrameSpan,
    ItemInfo,
    ResolveError,
    SaverInfo,
    TimelineInfo,
    from_failed,
    host_failed,
)
from void_resolve.records import Sequence as Pattern
from void_resolve.render import WorkFiles
from void_resolve.rollback import Rollback, overall
from void_resolve.settings import ResolveSettings, home, prompt_warning, write_text_atomic

log = logging.getLogger(__name__)

#: Resolve's render mode for one file (sequence) over the marked range.
SINGLE_CLIP = 1
#: ``void_client.output_manifest``: the output manifest beside a sequence,
#: ``/out/clean.####.exr`` → ``/out/.clean.####.exr.void-remove.json``.
MANIFEST_SUFFIX = ".void-remove.json"
#: How long a cancelled worker may take to cancel its daemon job and end before it is killed.
CANCEL_GRACE_S = 60.0


@dataclass(frozen=True)
class FlowEvent:
    stage: str
    #: Of the whole run, 0..1.
    fraction: float
    message: str
    #: The run is polling Resolve or the worker; a blocking driver sleeps before the next step.
    waiting: bool = False


@dataclass(frozen=True)
class JobDone:
    """The worker's ``done`` event (docs/protocol.md, "Progress stream (jsonl)")."""

    job: str
    written: int
    out: str
    seconds: float


@dataclass(frozen=True)
class FlowResult:
    clip: str
    span: FrameSpan
    track: int
    output: str
    media_item: str
    matte: str
    report: JobDone


def clean_plate_folder(
    root: Union[str, os.PathLike], project: str, clip: str, span: FrameSpan
) -> Path:
    """One folder per clip and frame span, holding every version of its clean plate."""
    return (
        Path(root)
        / placement.safe_name(project, "project")
        / f"{placement.safe_name(clip)}_{span.first}-{span.last}"
    )


def clean_plate_pattern(folder: Union[str, os.PathLike], clip: str, version: int) -> Pattern:
    """``<clip>_void_v001.########.exr``: the version is in the name Resolve shows."""
    name = f"{placement.safe_name(clip)}_void_v{version:03d}."
    return Pattern(str(Path(folder) / name), 8, ".exr")


def clean_plate_versions(folder: Union[str, os.PathLike], clip: str) -> List[int]:
    """Versions in ``folder`` with a frame or a manifest (a run that wrote nothing has none)."""
    stem = re.escape(f"{placement.safe_name(clip)}_void_v")
    found = re.compile(rf"^\.?{stem}(\d+)\.")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    matches = (found.match(n) for n in names)
    return sorted({int(m.group(1)) for m in matches if m})


def choose_output(
    folder: Union[str, os.PathLike], clip: str, overwrite: bool
) -> Tuple[Pattern, str]:
    """The ``--out`` this run hands the worker and the flag that goes with it: the latest
    version (``_v001`` when none) with ``--overwrite`` to replace it, or with ``--version-up``
    so the worker writes the next free version after it (``done.out`` says which)."""
    latest = max(clean_plate_versions(folder, clip), default=0)
    return (
        clean_plate_pattern(folder, clip, latest or 1),
        "--overwrite" if overwrite else "--version-up",
    )


def manifest_path(out: Pattern) -> Path:
    folder, name = os.path.split(str(out))
    return Path(folder) / f".{name}{MANIFEST_SUFFIX}"


def pattern_of(frame_path: str) -> Optional[Pattern]:
    """The sequence a written frame belongs to (``clean_v002.00086400.exr`` → ``clean_v002.
    ########.exr``), from the digits before its extension."""
    m = re.match(r"^(.*?)(\d+)(\.[A-Za-z0-9]+)$", frame_path)
    return Pattern(m.group(1), len(m.group(2)), m.group(3)) if m else None


def undo_output(out: Pattern, job: str, created: List[Path], written: Sequence[str] = ()) -> bool:
    """Delete what job ``job`` wrote into ``out`` (the frames it reported and those its manifest
    entry lists, then the entry), then the folders this run created if they are empty. Other
    versions and other jobs' frames stay; frames an ``overwrite`` run replaced were deleted when
    it started and cannot come back. The manifest is ``void_client.output_manifest``'s JSON,
    edited here with the standard library (the worker has ended; its lock is released)."""
    for path in written:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    mpath = manifest_path(out)
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8")) if job else None
    except (OSError, ValueError):
        manifest = None
    entries = manifest.get("jobs", []) if isinstance(manifest, dict) else []
    # Only a manifest that lists this job is edited: a worker that failed before it chose its
    # version may report the pattern it was given, an earlier version that is not ours.
    if isinstance(manifest, dict) and any(e.get("job") == job for e in entries):
        for entry in entries:
            if entry.get("job") == job:
                for f in entry.get("frames", []):
                    try:
                        os.unlink(out.path(int(f)))
                    except FileNotFoundError:
                        pass
        rest = [e for e in entries if e.get("job") != job and e.get("frames")]
        if rest:
            last = rest[-1]
            manifest.update(
                jobs=rest,
                job=last.get("job", ""),
                settings_hash=last.get("settings_hash", ""),
                frames_written=sorted(last.get("frames", [])),
                state=last.get("state", "complete"),
            )
            write_text_atomic(mpath, json.dumps(manifest, indent=1) + "\n")
        else:
            try:
                mpath.unlink()
            except FileNotFoundError:
                pass
    for folder in created:  # deepest first; rmdir refuses a folder that still holds anything
        try:
            folder.rmdir()
        except OSError:
            pass
    return True


def daemon_answers(endpoint: str, timeout: float) -> bool:
    """Whether something listens at a ``tcp://host:port`` endpoint (other transports: assume so;
    the worker says precisely what is wrong). A cheap check before minutes of rendering."""
    m = re.match(r"^tcp://\[?([^\]]+?)\]?:(\d+)$", endpoint.strip())
    if not m:
        return True
    host = "127.0.0.1" if m.group(1) in ("*", "0.0.0.0") else m.group(1)
    try:
        socket.create_connection((host, int(m.group(2))), timeout).close()
    except OSError:
        return False
    return True


class RemoveFlow:
    def __init__(
        self,
        api: Any,
        settings: Optional[ResolveSettings] = None,
        work_root: Optional[Union[str, os.PathLike]] = None,
        poll_s: float = 0.25,
        stall_s: float = 60.0,
        daemon_timeout_s: float = 5.0,
        render_timeout_s: float = 4 * 3600.0,
        exe: Optional[Union[str, Sequence[str]]] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.api = api
        self.settings = (settings or ResolveSettings()).validate()
        self.work_root = Path(work_root) if work_root else home() / "resolve"
        self.poll_s = poll_s
        #: Give up when Resolve neither renders nor finishes the job for this long.
        self.stall_s = stall_s
        self.daemon_timeout_s = daemon_timeout_s
        #: The ``void-remove`` to run (argv prefix); None: :func:`void_hostlink.find_void_remove`
        #: (``$VOID_REMOVE_EXE``, the installer's record, then PATH).
        self.exe = exe
        #: The worker's environment (None: Resolve's own).
        self.env = dict(env) if env is not None else None
        #: Give up on a render that is still "Rendering" after this long (renders are
        #: asynchronous; a stuck one would otherwise hold the run for ever).
        self.render_timeout_s = render_timeout_s
        #: The timeline the run started on, by ``GetUniqueId`` (issue 16 #4).
        self.timeline_uid = ""
        #: Cleanup steps Resolve refused (named in the final message; the run still succeeded).
        self.unrestored: List[str] = []
        self._bin: Any = None
        #: The ``void-remove`` arguments of the job (set once the job starts).
        self.args: Optional[List[str]] = None
        self.result: Optional[FlowResult] = None
        self._cancel = threading.Event()
        #: What the artist had before the run changed it (issue 16: "restore the user's
        #: state"): the page and the current timeline, given back after the trial placement and
        #: at the end, whatever the end.
        self._artist_page = ""
        self._artist_timeline: Any = None

    def cancel(self) -> None:
        self._cancel.set()

    def run(self, on_event: Optional[Callable[[FlowEvent], None]] = None) -> FlowResult:
        """Run to the end (scripts, the console fallback, tests)."""
        for event in self.steps():
            if on_event:
                on_event(event)
            if event.waiting:
                time.sleep(self.poll_s)
        assert self.result is not None
        return self.result

    def steps(self) -> Generator[FlowEvent, None, None]:
        # The missing-prompt warning (void_client.prompt_advice) in Resolve's Console, for the
        # console run and both windows alike (the windows also show it under the prompt).
        warning = prompt_warning(self.settings.engine, self.settings.prompt)
        if warning:
            log.warning("%s", warning)
        rollback = Rollback()
        work = WorkFiles(self.work_root / uuid.uuid4().hex[:12])
        try:
            yield from self._run(rollback, work)
            rollback.forget()
        except BaseException:  # includes GeneratorExit: a UI closed mid-run
            failed = rollback.run()
            if failed:
                log.error(
                    "VOID Remove could not undo: %s; check the project by hand", ", ".join(failed)
                )
            raise
        finally:
            shutil.rmtree(str(work.root), ignore_errors=True)
            self._give_back()

    # ------------------------------------------------------------------ the run
    def _run(self, rollback: Rollback, work: WorkFiles) -> Iterator[FlowEvent]:
        api, s = self.api, self.settings
        project = api.current_project()
        if project is None:
            raise ResolveError("nothing_selected", "no project is open in Resolve", "project")
        timeline = api.current_timeline(project)
        if timeline is None:
            raise ResolveError(
                "nothing_selected",
                "the project has no current timeline; open the timeline that holds the shot",
                "timeline",
            )

        # Pin the timeline by its unique id: the artist may switch timelines during the long run,
        # and AppendToTimeline / DeleteClips act on the *current* one (issue 16 #4).
        self.timeline_uid = api.timeline_uid(timeline)

        # 1. The clip, its frames, its format and its matte; refuse early, before any render.
        tl = api.timeline_info(timeline)
        tracks = self._tracks(timeline, tl.video_tracks)
        current_item = api.current_video_item(timeline)
        current = (
            self._find(tracks, api.item_uid(current_item)) if current_item is not None else None
        )
        marks = selection.marked_span(tl)
        source = selection.choose_source(tracks, current, marks)
        span = selection.choose_span(source, marks, s.range_mode)
        fmt = formats.check_format(tl, source)
        savers = (
            api.fusion_savers(source.handle)
            if source.comp_count and s.matte in ("auto", "fusion")
            else []
        )
        above = (
            mattes.matte_track_item(tracks, source, span) if s.matte in ("auto", "track") else None
        )
        matte = mattes.choose_matte(s.matte, savers, above)
        codec = render.pick_exr_codec(api.render_codecs(project, "exr"))
        if api.rendering(project):
            raise host_failed(
                "render", "Resolve is already rendering; let the Deliver page's queue finish first"
            )
        self._check_daemon()
        yield FlowEvent(
            "prepare",
            overall("prepare", 1.0),
            f"'{source.name}' V{source.track}, frames {span} ({span.count}) at {fmt.width}x{fmt.height}; matte from {matte.describe()}",
        )

        # 2. Render through Resolve's queue. The Deliver page's state is kept in a temporary
        # render preset and loaded back afterwards (the API cannot read most of it), and its
        # readable format, codec and mode are put back explicitly as well.
        saved_format, saved_mode = api.render_format_and_codec(project), api.render_mode(project)
        preset = f"VOID_restore_{uuid.uuid4().hex[:8]}"
        saved_preset = api.save_render_preset(project, preset)
        if not saved_preset:
            log.warning("Resolve did not save the Deliver settings; only format/mode come back")
        try:
            timeline = self._pinned(project)
            self._burn_in_off(project)
            yield from self._render_plate_and_mattes(
                project, timeline, tl, source, span, fmt, codec, matte, work
            )
        finally:
            if saved_preset:
                self._undo_ok(
                    api.load_render_preset(project, preset), "the Deliver page's render settings"
                )
                self._undo_ok(api.delete_render_preset(project, preset), f"render preset {preset}")
            if saved_format.get("format"):
                self._undo_ok(
                    api.set_render_format_and_codec(
                        project, saved_format["format"], saved_format.get("codec", "")
                    ),
                    "the Deliver page's format and codec",
                )
            self._undo_ok(api.set_render_mode(project, saved_mode), "the Deliver render mode")

        # 2b. A dry placement of the rendered plate on the new track, before the long job: how
        # this Resolve reads endFrame and whether it takes the timeline's rate (issue 16 #6).
        yield FlowEvent("prepare", overall("render", 1.0), "checking how Resolve places clips")
        track, end_inclusive = self._probe_placement(
            rollback, project, source, matte, span, fmt, work
        )
        # The artist gets their page and timeline back for the long job (the clean plate is
        # placed on the pinned timeline, made current again, afterwards).
        self._give_back()

        # 3. The job in the void-remove worker, into the next clean plate version (or the
        # latest one, with overwrite); on failure only what this run wrote is deleted again.
        project_name = api.project_name(project)
        out_dir = clean_plate_folder(
            s.output_root or placement.default_output_root(), project_name, source.name, span
        )
        created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
        out_dir.mkdir(parents=True, exist_ok=True)
        out, version_flag = choose_output(out_dir, source.name, s.overwrite)
        job_box: Dict[str, Any] = {"job": "", "out": out, "written": []}
        rollback.add(
            f"delete this run's frames of {out}",
            lambda: undo_output(job_box["out"], job_box["job"], created, job_box["written"]),
        )
        if matte.kind == "alpha":
            remove_ref = str(work.sequence("remove")) + ":A"
        elif matte.kind == "track":
            remove_ref = str(work.sequence("remove")) + ":R"
        else:
            remove_ref = str(work.sequence("remove"))
        self.args = [
            "run",
            "--plate",
            s.plate_ref(str(work.sequence("plate"))),
            "--remove",
            remove_ref,
            "--out",
            str(out),
            version_flag,
            "--range",
            f"{span.first}-{span.last}",
        ]
        if matte.kind == "fusion" and matte.affected:
            self.args += ["--affected", str(work.sequence("affected"))]
        self.args += s.cli_args()
        log.info("%s the clean plate %s", "overwriting" if s.overwrite else "versioning up", out)
        report = yield from self._remove(self.args, span, job_box)
        out = job_box["out"]

        # 4. Into the VOID bin and onto a new track above the source.
        yield FlowEvent(
            "import", overall("import", 0.0), f"importing {out} into the {placement.BIN_NAME} bin"
        )
        media = self._bring_back(rollback, project, track, end_inclusive, span, fmt, out)
        name = api.media_name(media)
        self.result = FlowResult(source.name, span, track, str(out), name, matte.describe(), report)
        left = (
            f"; Resolve refused to put back: {', '.join(self.unrestored)}"
            if self.unrestored
            else ""
        )
        yield FlowEvent(
            "done",
            1.0,
            f"clean plate '{name}' on V{track} at frame {span.first} ({span.count} frames); files: {out}{left}",
        )

    # ------------------------------------------------------------------ host state
    def _must(self, ok: Any, field: str, what: str) -> None:
        """Resolve refuses by returning False or None (issue 16 #3): that is a failure."""
        if ok is False or ok is None or ok == "":
            raise host_failed(field, f"Resolve refused to {what}")

    def _undo_ok(self, ok: Any, what: str) -> None:
        """A cleanup step: a refusal does not stop the others, but it is said, not hidden."""
        if ok is False or ok is None:
            log.error("Resolve refused to restore %s; check it by hand", what)
            self.unrestored.append(what)

    def _pinned(self, project: Any) -> Any:
        """The timeline the run started on, made current again if the artist switched."""
        api = self.api
        current = api.current_timeline(project)
        if current is not None and api.timeline_uid(current) == self.timeline_uid:
            return current
        pinned = next(
            (t for t in api.timelines(project) if api.timeline_uid(t) == self.timeline_uid), None
        )
        if pinned is None:
            raise host_failed(
                "timeline",
                "the timeline VOID Remove started on is gone from the project; nothing was placed",
            )
        log.info("the current timeline changed during the run; switching back to the shot's")
        self._artist_timeline = current  # the artist's choice, given back afterwards
        self._must(
            api.set_current_timeline(project, pinned), "timeline", "reopen the shot's timeline"
        )
        now = api.current_timeline(project)
        if now is None or api.timeline_uid(now) != self.timeline_uid:
            raise host_failed("timeline", "Resolve did not reopen the shot's timeline")
        return pinned

    def _edit(self, project: Any) -> Any:
        """The pinned timeline, current, on the Edit page: where Resolve accepts edits
        (DeleteClips returns False elsewhere, issue 16 #3; ledger D042)."""
        timeline = self._pinned(project)
        page = self.api.current_page()
        if page != "edit":
            self._artist_page = page or self._artist_page
            self._must(self.api.open_page("edit"), "timeline", "open the Edit page")
        return timeline

    def _give_back(self) -> None:
        """Put back the page and the current timeline the artist had before the run switched
        them (after the trial placement, and at the end: success, failure or cancel). A refusal
        is said, never hidden (issue 16 #3)."""
        api = self.api
        timeline, self._artist_timeline = self._artist_timeline, None
        page, self._artist_page = self._artist_page, ""
        if timeline is not None:
            project = api.current_project()
            current = api.current_timeline(project) if project is not None else None
            if current is None or api.timeline_uid(current) != api.timeline_uid(timeline):
                ok = api.set_current_timeline(project, timeline) if project is not None else False
                self._undo_ok(ok, "the timeline you had open")
        if page and api.current_page() != page:
            self._undo_ok(api.open_page(page), f"the {page.capitalize()} page")

    def _burn_in_off(self, project: Any) -> None:
        """Data burn-in is project-wide and the API cannot read it: load the empty burn-in
        preset named in the settings, or say plainly that it was not checked."""
        name = self.settings.burn_in_preset
        if not name:
            log.warning(
                "data burn-in was not switched off (no burn_in_preset set); make sure Workspace ▸ "
                "Data Burn-In is off for this project or the plate carries it"
            )
            return
        self._must(
            self.api.load_burn_in_preset(project, name),
            "render",
            f"load the data burn-in preset '{name}' (create an empty one with that name in "
            "Workspace ▸ Data Burn-In)",
        )

    def _tracks(self, timeline: Any, count: int) -> List[List[ItemInfo]]:
        return [
            [self.api.item_info(item, t) for item in self.api.video_items(timeline, t)]
            for t in range(1, count + 1)
        ]

    @staticmethod
    def _find(tracks: List[List[ItemInfo]], uid: str) -> Optional[ItemInfo]:
        return next((i for items in tracks for i in items if i.uid == uid), None)

    def _check_daemon(self) -> None:
        """Found before minutes of rendering, not after: a ``void-remove`` to run, and (when it
        may not start one) a daemon that listens."""
        try:
            find_void_remove(self.exe)
        except HostLinkError as exc:
            raise ResolveError(exc.code, exc.message, "void-remove") from None
        endpoint = self.settings.endpoint
        if not self.settings.autostart and not daemon_answers(endpoint, self.daemon_timeout_s):
            raise ResolveError(
                "daemon_unreachable",
                f"no answer from the VOID daemon at {endpoint}; start it with 'void-daemon serve "
                f"--endpoint {endpoint}' or check the address",
                "endpoint",
            )

    # ------------------------------------------------------------------ render
    def _render_plate_and_mattes(
        self,
        project: Any,
        timeline: Any,
        tl: TimelineInfo,
        source: ItemInfo,
        span: FrameSpan,
        fmt: formats.Format,
        codec: str,
        matte: MatteChoice,
        work: WorkFiles,
    ) -> Iterator[FlowEvent]:
        api = self.api
        savers = [
            (k, sv)
            for k, sv in (("remove", matte.remove), ("affected", matte.affected))
            if matte.kind == "fusion" and isinstance(sv, SaverInfo)
        ]
        # The matte clip and the clip's alpha are a second render; the alpha one keeps the alpha
        # and the worker reads it (``:A``), so the plate itself comes back opaque.
        passes = 2 if matte.kind in ("track", "alpha") else 1
        states: List[Tuple[Any, dict]] = []
        try:
            # Savers are pointed into the scratch folder for the plate render, which drives them.
            for kind, saver in savers:
                states.append((saver.handle, api.saver_state(saver.handle)))
                work.saver_clip(kind).parent.mkdir(parents=True, exist_ok=True)
                api.point_saver(saver.handle, str(work.saver_clip(kind)))
            yield from self._render(
                project,
                timeline,
                tl,
                source.track,
                "plate",
                span,
                fmt,
                codec,
                work,
                False,
                (0.0, 1.0 / passes),
            )
            rendered: List[Any] = []
            for kind, saver in savers:
                self._collect_saver(kind, saver, source, span, work, rendered)
        finally:
            for handle, state in reversed(states):
                api.restore_saver(handle, state)
        render.adopt(
            render.rendered_frames(work.render_dir("plate"), "plate", span, "plate"),
            work.sequence("plate"),
            span,
        )
        if matte.kind in ("track", "alpha"):
            alpha = matte.kind == "alpha"
            track = source.track if alpha else matte.remove.track  # type: ignore[union-attr]
            yield from self._render(
                project, timeline, tl, track, "matte", span, fmt, codec, work, alpha, (0.5, 1.0)
            )
            render.adopt(
                render.rendered_frames(work.render_dir("matte"), "matte", span, "matte clip"),
                work.sequence("remove"),
                span,
            )

    def _collect_saver(
        self,
        kind: str,
        saver: SaverInfo,
        source: ItemInfo,
        span: FrameSpan,
        work: WorkFiles,
        rendered: List[Any],
    ) -> None:
        numbers = render.comp_frames(self.api.comp_render_range(saver.comp), source, span)
        folder, prefix = work.saver_clip(kind).parent, f"{kind}_"
        # Savers do not write during a Deliver render (issue 16 #2): render the comp itself,
        # once per comp, explicitly.
        if not any(c is saver.comp for c in rendered):
            log.info(
                "rendering the Fusion comp of Saver %s, %d-%d", saver.name, numbers[0], numbers[-1]
            )
            self._must(
                self.api.render_comp(saver.comp, numbers[0], numbers[-1]),
                "matte",
                f"render the Fusion comp holding the Saver '{saver.name}'",
            )
            rendered.append(saver.comp)
        files = render.saver_frames(folder, prefix, numbers, saver.name)
        if files is None:
            raise host_failed(
                "matte",
                f"the Saver '{saver.name}' wrote no frames; check that it is not disabled and is fed by the matte",
            )
        render.adopt(files, work.sequence(kind), span)

    def _render(
        self,
        project: Any,
        timeline: Any,
        tl: TimelineInfo,
        track: int,
        kind: str,
        span: FrameSpan,
        fmt: formats.Format,
        codec: str,
        work: WorkFiles,
        alpha: bool,
        share: Tuple[float, float],
    ) -> Iterator[FlowEvent]:
        """One EXR render of ``track`` alone over ``span``; the job is always deleted afterwards
        and the tracks' enabled states always restored."""
        api = self.api
        enabled = {t: api.track_enabled(timeline, t) for t in range(1, tl.video_tracks + 1)}
        changed: List[int] = []
        job = ""
        finished = False
        try:
            for t, on in enabled.items():
                if on != (t == track):
                    self._must(
                        api.set_track_enabled(timeline, t, t == track),
                        "render",
                        f"switch track V{t} {'on' if t == track else 'off'} for the render",
                    )
                    changed.append(t)
            if not api.set_render_format_and_codec(project, "exr", codec):
                raise host_failed("render", f"Resolve refused EXR with codec {codec}")
            self._must(api.set_render_mode(project, SINGLE_CLIP), "render", "render a single clip")
            target = work.render_dir(kind)
            target.mkdir(parents=True, exist_ok=True)
            settings = render.render_settings(target, kind, span, fmt, alpha)
            if not api.set_render_settings(project, settings):
                raise host_failed("render", f"Resolve refused the render settings {settings}")
            job = api.add_render_job(project)
            if not job:
                raise host_failed(
                    "render",
                    "Resolve did not add the render job (is the Deliver page's target folder writable?)",
                )
            if not api.start_rendering(project, job):
                raise host_failed("render", f"Resolve did not start rendering the {kind}")
            idle_since: Optional[float] = None
            started = time.monotonic()
            while True:
                if self._cancel.is_set():
                    raise ResolveError(
                        CANCELLED,
                        f"cancelled while Resolve was rendering the {kind}",
                        "render",
                    )
                state = render.render_state(api.render_status(project, job), api.rendering(project))
                if state.done:
                    break
                if time.monotonic() - started > self.render_timeout_s:
                    raise host_failed(
                        "render",
                        f"Resolve's render of the {kind} did not finish within {self.render_timeout_s:.0f} s "
                        f"(status {state.message or 'none'}, {state.percent:.0f}%); is a dialog open in Resolve?",
                    )
                if state.idle:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > self.stall_s:
                        raise host_failed(
                            "render",
                            f"Resolve stopped rendering the {kind} without finishing it (status {state.message or 'none'})",
                        )
                else:
                    idle_since = None
                local = share[0] + (share[1] - share[0]) * state.percent / 100.0
                yield FlowEvent(
                    "render",
                    overall("render", local),
                    f"Resolve is rendering the {kind}: {state.percent:.0f}%",
                    waiting=True,
                )
            finished = True
            if not state.ok:
                raise host_failed(
                    "render", f"Resolve's render of the {kind} failed: {state.message}"
                )
        finally:
            if job:
                if not finished and api.rendering(project):
                    api.stop_rendering(project)
                self._undo_ok(api.delete_render_job(project, job), f"render job {job} (delete it)")
            for t in changed:
                self._undo_ok(
                    api.set_track_enabled(timeline, t, enabled[t]), f"track V{t}'s switch"
                )

    # ------------------------------------------------------------------ the job
    def _remove(
        self, args: List[str], span: FrameSpan, job_box: Dict[str, Any]
    ) -> Generator[FlowEvent, None, JobDone]:
        """Run ``void-remove <args> --progress jsonl`` and report as it goes. The worker's events
        arrive on its reader thread and are handled here, on the UI's tick; ``job_box`` gets the
        job id, the frames written and the output pattern as they are known (for the rollback).
        Returns the ``done`` event as a :class:`JobDone`."""
        events: queue.Queue = queue.Queue()
        proc = VoidRemoveProcess(args, events.put, exe=self.exe, env=self.env)
        try:
            proc.start()
        except HostLinkError as exc:
            raise ResolveError(exc.code, exc.message, "void-remove") from None
        engine = self.settings.engine
        stage, note = "starting", ""
        final: Optional[Dict[str, Any]] = None
        heard = False  # the worker has spoken: its SIGTERM handler is in place
        cancel_sent = 0.0
        try:
            while final is None:
                # A SIGTERM before the worker set up its handler would kill it outright, so a
                # cancel waits for its first event (moments after it starts).
                if self._cancel.is_set() and not cancel_sent and heard:
                    proc.cancel()
                    cancel_sent = time.monotonic()
                elif cancel_sent and time.monotonic() - cancel_sent > CANCEL_GRACE_S:
                    proc.kill()  # the stream then ends with worker_died
                while True:
                    try:
                        event = events.get_nowait()
                    except queue.Empty:
                        break
                    kind = event.get("event")
                    heard = True
                    if event.get("job"):
                        job_box["job"] = str(event["job"])
                    if event.get("out"):
                        try:
                            job_box["out"] = Pattern.parse(str(event["out"]))
                        except ResolveError:  # not a pattern: the frames' paths tell instead
                            log.warning("void-remove named its output %r", event["out"])
                    if kind == "state":
                        windows = int(event.get("windows") or 0)
                        stage = (
                            f"window {min(int(event.get('window') or 0) + 1, windows)}/{windows}"
                            if windows and event.get("stage") == "running"
                            else str(event.get("stage") or stage)
                        )
                    elif kind == "frame" and event.get("path"):
                        path = str(event["path"])
                        job_box["written"].append(path)
                        found = pattern_of(path)
                        if found is not None:
                            job_box["out"] = found
                    elif kind == "warning":
                        note = str(event.get("message") or "")
                        log.warning("%s", note)
                    elif kind in ("done", "failed", "cancelled"):
                        final = event
                        break
                done = min(len(job_box["written"]), span.count)
                yield FlowEvent(
                    "remove",
                    overall("remove", done / span.count),
                    f"VOID Remove ({engine}): {stage}, {done}/{span.count} frames back"
                    + (f" ({note})" if note else ""),
                    waiting=final is None,
                )
        finally:
            if final is None:  # the generator was closed mid-job: cancel, wait, then undo
                proc.cancel()
                try:
                    proc.wait(CANCEL_GRACE_S)
                except HostLinkError:
                    proc.kill()
        kind = final.get("event")
        died = kind == "failed" and (final.get("error") or {}).get("code") == "worker_died"
        if kind == "cancelled" or (died and self._cancel.is_set()):
            raise ResolveError(CANCELLED, "cancelled while VOID Remove ran the job", "job")
        if kind != "done":
            raise from_failed(final.get("error"))
        return JobDone(
            job=str(final.get("job") or job_box["job"]),
            written=int(final.get("written") or 0),
            out=str(final.get("out") or job_box["out"]),
            seconds=float(final.get("seconds") or 0.0),
        )

    # ------------------------------------------------------------------ back into Resolve
    def _void_bin(self, rollback: Rollback, pool: Any) -> Any:
        api = self.api
        if self._bin is not None:
            return self._bin
        root = api.root_folder(pool)
        bin_ = api.sub_folders(root).get(placement.BIN_NAME)
        if bin_ is None:
            bin_ = api.add_sub_folder(pool, root, placement.BIN_NAME)
            if bin_ is None:
                raise host_failed("import", f"Resolve did not create the {placement.BIN_NAME} bin")
            made = bin_
            rollback.add(
                f"delete the {placement.BIN_NAME} bin", lambda: api.delete_folders(pool, [made])
            )
        self._bin = bin_
        return bin_

    def _import(
        self, rollback: Rollback, pool: Any, pattern: Any, span: FrameSpan, fmt: formats.Format
    ) -> Tuple[Any, dict]:
        """One sequence clip in the VOID bin, at the timeline's rate; registered for undo."""
        api = self.api
        bin_ = self._void_bin(rollback, pool)
        previous = api.current_folder(pool)
        try:
            self._must(api.set_current_folder(pool, bin_), "import", "open the VOID bin")
            items = api.import_media(pool, [placement.import_info(pattern, span)])
        finally:
            if previous is not None:
                self._undo_ok(api.set_current_folder(pool, previous), "the media pool's folder")
        if not items:
            raise host_failed("import", f"Resolve did not import {placement.printf_path(pattern)}")
        rollback.add("remove the imported clip", lambda: api.delete_media(pool, items))
        media = items[0]
        props = api.clip_properties(media)
        placement.check_import(props, span)
        if not placement.import_rate_ok(props, fmt.rate):
            # Image sequences come in at the project's default rate; the timeline's is the one that keeps frames 1:1.
            api.set_clip_property(media, "FPS", fmt.rate.text)
            props = api.clip_properties(media)
            if not placement.import_rate_ok(props, fmt.rate):
                raise ResolveError(
                    "unsupported_media",
                    f"Resolve imported the clean plate at {props.get('FPS')!r} fps and will not set it to the timeline's {fmt.rate.text}",
                    "frame_rate",
                )
        return media, props

    def _probe_placement(
        self,
        rollback: Rollback,
        project: Any,
        source: ItemInfo,
        matte: MatteChoice,
        span: FrameSpan,
        fmt: formats.Format,
        work: WorkFiles,
    ) -> Tuple[int, bool]:
        """Before the long job: add the clean plate's track, place the rendered plate there, read
        back where it landed, and take it off again. Returns the track and whether this Resolve
        reads ``endFrame`` as the last frame (inclusive) rather than one past it; a placement
        that cannot be made right fails here, not after the job."""
        api = self.api
        pool = api.media_pool(project)
        media, props = self._import(rollback, pool, work.sequence("plate"), span, fmt)
        timeline = self._edit(project)
        wanted = placement.new_track_index(source, matte.remove if matte.kind == "track" else None)  # type: ignore[arg-type]
        before = self._track_ids(timeline)
        added = (
            api.append_video_track(timeline)
            if wanted > len(before)
            else api.insert_video_track(timeline, wanted)
        )
        after = self._track_ids(timeline)
        if not added or len(after) != len(before) + 1:
            raise host_failed("timeline", "Resolve did not add a video track for the clean plate")
        track = placement.locate_new_track(before, after, wanted)
        rollback.add(
            f"delete track V{track}", lambda: api.delete_video_track(self._edit(project), track)
        )
        self._must(
            api.set_track_name(timeline, track, placement.TRACK_NAME), "timeline", "name the track"
        )
        first = placement.media_first_frame(props, span)
        placed = api.append_to_timeline(pool, [placement.clip_info(media, first, span, track)])
        if not placed:
            raise host_failed("timeline", f"Resolve did not place the clean plate on V{track}")
        info = api.item_info(placed[0], track)
        self._must(
            api.delete_timeline_items(self._edit(project), placed),
            "timeline",
            "take the trial clip off the timeline again",
        )
        self._must(api.delete_media(pool, [media]), "import", "remove the trial clip again")
        rollback.done("remove the imported clip")
        end_inclusive = info.duration == span.count + 1
        if end_inclusive:
            log.info("this Resolve reads AppendToTimeline's endFrame as the last frame")
        expected = info if not end_inclusive else replace(info, duration=span.count)
        placement.check_placement(expected, track, span)
        return track, end_inclusive

    def _bring_back(
        self,
        rollback: Rollback,
        project: Any,
        track: int,
        end_inclusive: bool,
        span: FrameSpan,
        fmt: formats.Format,
        out: Any,
    ) -> Any:
        api = self.api
        pool = api.media_pool(project)
        media, props = self._import(rollback, pool, out, span, fmt)
        timeline = self._edit(project)  # the shot's timeline, even if the artist switched
        info = placement.clip_info(
            media, placement.media_first_frame(props, span), span, track, end_inclusive
        )
        placed = api.append_to_timeline(pool, [info])
        if not placed:
            raise host_failed("timeline", f"Resolve did not place the clean plate on V{track}")
        rollback.add(
            "remove the clean plate from the timeline",
            lambda: api.delete_timeline_items(self._edit(project), placed),
        )
        uid = api.item_uid(placed[0])
        if uid not in self._track_ids(timeline)[track - 1]:
            raise host_failed(
                "timeline", f"Resolve placed the clean plate somewhere other than V{track}"
            )
        placement.check_placement(api.item_info(placed[0], track), track, span)
        return media

    def _track_ids(self, timeline: Any) -> List[Tuple[str, ...]]:
        api = self.api
        return [
            tuple(api.item_uid(i) for i in api.video_items(timeline, t))
            for t in range(1, api.video_track_count(timeline) + 1)
        ]


class FlowRunner:
    """Drives a :class:`RemoveFlow` from a UI timer: one short step per tick, so the UI stays live.

    ``on_event`` gets each :class:`FlowEvent`; ``on_finish(result, error)`` gets the end, with
    ``error`` a :class:`~void_resolve.records.ResolveError` (``cancelled`` after :meth:`cancel`).
    """

    def __init__(
        self,
        on_event: Callable[[FlowEvent], None],
        on_finish: Callable[[Optional[FlowResult], Optional[ResolveError]], None],
    ) -> None:
        self.on_event = on_event
        self.on_finish = on_finish
        self.flow: Optional[RemoveFlow] = None
        self._steps: Optional[Generator[FlowEvent, None, None]] = None

    @property
    def busy(self) -> bool:
        return self._steps is not None

    def start(self, make_flow: Callable[[], RemoveFlow]) -> None:
        if self.busy:
            return
        try:
            self.flow = make_flow()
        except ResolveError as exc:
            self.on_finish(None, exc)
            return
        self._steps = self.flow.steps()

    def tick(self) -> None:
        if self._steps is None:
            return
        try:
            event = next(self._steps)
        except StopIteration:
            self._finish(self.flow.result if self.flow else None, None)
            return
        except ResolveError as exc:
            self._finish(None, exc)
            return
        except Exception as exc:  # noqa: BLE001 - the UI shows it instead of dying
            log.exception("VOID Remove failed")
            self._finish(None, ResolveError(INTERNAL, f"unexpected error: {exc}"))
            return
        self.on_event(event)

    def cancel(self) -> None:
        if self.flow is not None and self.busy:
            self.flow.cancel()

    def close(self) -> None:
        """The window is closing: stop now and undo (the generator's rollback runs)."""
        if self._steps is not None:
            steps, self._steps = self._steps, None
            if self.flow is not None:
                self.flow.cancel()
            steps.close()

    def _finish(self, result: Optional[FlowResult], error: Optional[ResolveError]) -> None:
        self._steps = None
        self.on_finish(result, error)


if TYPE_CHECKING:  # typing.Protocol is Python 3.8; Resolve may run 3.6
    from typing import Protocol

    class FlowView(Protocol):
        """What :class:`FlowController` needs from a window (Resolve's UIManager dialog, Qt)."""

        def values(self) -> dict: ...
        def show_progress(self, fraction: float, message: str) -> None: ...
        def set_running(self, running: bool) -> None: ...
        def close(self) -> object: ...


class FlowController:
    """One behaviour for every window: Run starts a flow with the window's values, Cancel
    cancels it (or closes the idle window), the window's timer ticks it, closing undoes it."""

    def __init__(self, view: "FlowView", make_flow: Callable[[dict], RemoveFlow]) -> None:
        self.view = view
        self.make_flow = make_flow
        self.runner = FlowRunner(self._event, self._finish)
        self.last: Tuple[Optional[FlowResult], Optional[ResolveError]] = (None, None)

    def run_clicked(self) -> None:
        if self.runner.busy:
            return
        self.view.set_running(True)
        self.view.show_progress(0.0, "starting")
        self.runner.start(lambda: self.make_flow(self.view.values()))

    def cancel_clicked(self) -> None:
        if self.runner.busy:
            self.view.show_progress(0.0, "cancelling, undoing what was done")
            self.runner.cancel()
        else:
            self.view.close()

    def tick(self) -> None:
        self.runner.tick()

    def closing(self) -> None:
        self.runner.close()

    def _event(self, event: FlowEvent) -> None:
        self.view.show_progress(event.fraction, event.message)

    def _finish(self, result: Optional[FlowResult], error: Optional[ResolveError]) -> None:
        self.last = (result, error)
        self.view.set_running(False)
        if error is None and result is not None:
            self.view.show_progress(
                1.0, f"Done: '{result.media_item}' on V{result.track} at frame {result.span.first}"
            )
        elif error is not None and error.code == CANCELLED:
            self.view.show_progress(0.0, "Cancelled; the project is as it was")
        elif error is not None:
            log.error("VOID Remove: %s", error.message)
            self.view.show_progress(0.0, f"Failed: {error.message}")
