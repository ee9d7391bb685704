"""What the VOID Remove node does in Nuke: its buttons, its callbacks, and the batch entry point.

Standard library only (docs/nuke.md, "Host isolation", issue 16 finding 8): the run itself is
``void-remove run ... --progress jsonl`` in its own process and virtual environment, driven
through :class:`void_hostlink.VoidRemoveProcess`, the same client code path the CLI and the farm
use. Decisions live in the stdlib-only :mod:`void_hostlink.node_settings` (knob values, range),
:mod:`void_hostlink.node_fingerprint`, :mod:`void_hostlink.node_plan` (run folder, command
lines, ``run.json``) and :mod:`void_hostlink.node_status` (the status line), and
:mod:`void_nuke.node_spec` (knob names, internal nodes, export recipe); every Nuke call goes
through :mod:`void_nuke.host`. ``nuke_path/init.py`` and ``menu.py`` reach this module through
:mod:`void_nuke.startup`, ``nuke_path/void_remove_batch.py`` through :func:`batch_main`.

In the GUI a run exports plate and mattes in the background (:mod:`void_nuke.export`: a ``nuke
-x`` of a saved copy, its progress on the status knob; issue 16, finding 11), then starts the
worker; its events arrive on a reader thread and are posted to the main thread (``executeInMainThread``), where the node's status
knob (the one progress indicator) and its internal Read are updated. Cancel is the worker's
cancel (SIGTERM: it cancels the daemon job and keeps the finished frames). A run follows its node
through a rename; a deleted node's run asks before it is cancelled. ``nuke -t
void_remove_batch.py`` exports with ``nuke.execute`` in the calling thread and runs the same
command blocking; Submit to farm exports the same way (a ``ProgressTask`` in the GUI), then runs
``void-remove farm`` and offers the comp render (:mod:`void_nuke.comp_render`): dependent jobs
on Deadline, steps of the bundle on OpenJD, layers of the same spec on OpenCue (asked first).

A render (``nuke -x``, a farm task, a GUI render) never runs the VOID job: the Write's
``beforeRender`` hook (:func:`before_render`) uses results already on disk, found by the
fingerprint that names the run folder, or aborts the render with what to do (issue 16, finding 9).

The stale indicator is cheap (finding 10): ``updateUI`` hashes only the node's settings and its
direct inputs' knobs (:func:`quick_signature`) and walks the whole upstream graph only when that
changed; Run, Submit and renders always compute the full fingerprint.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from void_hostlink import HostLinkError, VoidRemoveProcess, find_void_remove, run_void_remove
from void_hostlink import node_fingerprint as F
from void_hostlink import node_plan as PL
from void_hostlink import node_settings as S
from void_hostlink import node_status as ST
from void_hostlink.stream import WORKER_DIED
from void_nuke import comp_render as CR
from void_nuke import export as EX
from void_nuke import host
from void_nuke import node_spec as N
from void_nuke import run_options as RO

log = logging.getLogger("void_nuke")

#: Frames per ``nuke.execute`` of an export: how often progress updates and cancel is checked.
EXPORT_CHUNK = 8
#: ``updateUI`` compares the quick signature at most this often per node.
REFRESH_INTERVAL_S = 1.0
#: The worker's error code when no daemon answers (void_client.errors.ErrorCode.DAEMON_UNREACHABLE).
DAEMON_UNREACHABLE = "daemon_unreachable"
CANCELLED = "cancelled"
#: The Link knobs whose channel enters the fingerprint as such (the plate layer's goes in with
#: the other run options, void_nuke.run_options).
MATTE_LINKS = ("remove_channel", "affected_channel")
#: The run options' fingerprint line for a node whose option knobs are at their defaults.
DEFAULT_RUN_OPTIONS = N.run_option_values(N.RunOptions())
#: How long "Submit to farm" waits for ``void-remove farm`` to write (and submit) the job.
FARM_SUBMIT_TIMEOUT_S = 300.0


@dataclass
class Prepared:
    """A node's run, decided: its settings and where its files go."""

    node: Any
    name: str
    settings: S.NodeSettings
    plan: PL.RunPlan
    #: What the node's output, stereo, reference and layer knobs add to ``void-remove run``
    #: (void_nuke.run_options), checked before anything renders.
    extra_args: list[str] = field(default_factory=list)
    #: The views the exports render (``[]``: a mono script): ``%V`` in their patterns.
    views: list[str] = field(default_factory=list)

    @property
    def stereo(self) -> bool:
        """Every view of a stereo script is processed: the results are one sequence per view."""
        return len(self.views) > 1

    def result_pattern(self) -> str:
        """``--out`` and the results knob: ``%V`` before the frame number when every view of a
        stereo script is processed (``void-remove run --view all`` writes one sequence per view),
        the plan's pattern otherwise."""
        result = self.plan.pattern("result")
        return N.view_pattern(result, self.views) if self.stereo else result

    def run_args(self, autostart: bool) -> list[str]:
        """The worker's command line: the plan's (settings, sequences) and the node's extras;
        for a stereo script the exports' ``%V`` patterns (and the result's, every view)."""
        args = self.plan.run_args(self.settings, autostart) + self.extra_args
        if self.views:
            patterns = {self.plan.pattern(e.role): e.pattern for e in self.plan.exports()}
            if self.stereo:
                patterns[self.plan.pattern("result")] = self.plan.pattern("result")
            args = [N.view_pattern(a, self.views) if a in patterns else a for a in args]
        return args

    def view_path(self, pattern: str, view: str) -> str:
        """One view's sequence of a stereo pattern (``plate.%V.%04d.exr`` -> ``plate.left...``)."""
        return N.view_pattern(pattern, self.views).replace("%V", view)

    def results_complete(self) -> bool:
        """The plan's check (void_hostlink.node_plan.results_complete), per view for a stereo
        run: every view's frames on disk, recorded by a finished run with this fingerprint or
        submitted to a farm (one job per view, ``farm/<view>/``)."""
        if not self.stereo:
            return PL.results_complete(self.plan)
        result = self.plan.pattern("result")
        for view in self.views:
            path = self.view_path(result, view)
            if not all(os.path.exists(path % f) for f in self.plan.frames):
                return False
        m = PL.Manifest.load(self.plan.manifest_path)
        if m is not None and m.complete and m.fingerprint == self.plan.fingerprint:
            return True
        return all(
            os.path.isfile(os.path.join(self.plan.farm_dir, v, "job", PL.FARM_SPEC_NAME))
            for v in self.views
        )


@dataclass
class GuiRun:
    """A GUI run in flight. The worker's reader thread posts here; the main thread applies
    (coalesced). ``name`` is the node's full name now: a rename moves the run to the new name."""

    prepared: Prepared
    name: str
    autostart: bool = False
    process: VoidRemoveProcess | None = None
    #: The node was deleted and the artist chose to let the job finish (None: not asked yet).
    orphan_kept: bool | None = None
    #: Cancel was asked for before the worker's first event: sent once it can take it.
    cancel_requested: bool = False
    #: The worker has spoken (its SIGTERM handler is in place: a cancel now cancels the job).
    started: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    state: ST.RunState = field(default_factory=lambda: ST.RunState(total=0))
    frames_arrived: bool = False
    pending: bool = False


#: GUI runs in flight, by node full name.
RUNS: dict[str, GuiRun] = {}
_LAST_REFRESH: dict[str, float] = {}
#: The quick signature each node had at its last full stale check, by node full name.
_QUICK: dict[str, str] = {}


# --------------------------------------------------------------------------- deciding
def prepare(node: Any) -> Prepared:
    """Read the node and its inputs into a plan; raises HostLinkError on anything wrong."""
    values = host.knob_values(node, N.SETTINGS_KNOBS)
    values["output_dir"] = host.knob_evaluated(node, "output_dir")
    settings = S.NodeSettings.from_values(values)
    source = host.input_node(node, N.SOURCE)
    first, last = S.resolve_range(
        settings, host.frame_range(source) if source is not None else None
    )
    if host.input_node(node, N.REMOVE) is None:
        raise HostLinkError(
            "empty_matte",
            "connect a matte of the object (Roto, RotoPaint, any matte) to the Remove input",
        )
    has_affected = host.input_node(node, N.AFFECTED) is not None
    name = host.full_name(node)
    fp = fingerprint(node, settings, first, last)
    plan = PL.plan_run(
        settings, first, last, has_affected, fp, name, N.project_path(host.script_name())
    )
    p = Prepared(node, name, settings, plan, [], EX.script_views(node))
    # The grade outputs follow --out: a stereo run's fill and matte get %V too.
    p.extra_args = RO.run_arguments(node, p.result_pattern())
    return p


def fingerprint(node: Any, settings: S.NodeSettings, first: int, last: int) -> str:
    starts = [host.input_node(node, i) for i in range(len(N.INPUTS))]
    digests = F.upstream_digest(starts, host.graph_inputs, host.full_name, _describe)
    extra: dict[str, str] = dict(matte_channels(node))
    options = RO.fingerprint_line(node)
    if options != DEFAULT_RUN_OPTIONS:
        # Only when set: a node with the default options hashes as before they existed, so its
        # earlier results are still found (the recipe itself is unchanged: version 2).
        extra["run_options"] = options
    return F.fingerprint(settings, first, last, digests, extra)


def matte_channels(node: Any) -> dict[str, str]:
    """The matte channels as selected: the internal knobs the Link knobs show, read directly (a
    Link knob's ``toScript()`` may give the link's name, so a channel switch would go unseen)."""
    return {
        k.name: str(host.linked_value(node, k.link))
        for k in N.KNOBS
        if k.kind == N.LINK and k.name in MATTE_LINKS
    }


def _describe(node: Any) -> str:
    return host.class_name(node) + "\n" + N.describe_knobs(host.knob_scripts(node))


def quick_signature(node: Any) -> str:
    """What ``updateUI`` compares: the node's settings and matte channels, and each direct
    input's identity, class, knobs and frame range; nothing further upstream is serialised."""
    parts: list[str] = [
        repr(sorted(host.knob_values(node, N.SETTINGS_KNOBS).items())),
        repr(sorted(matte_channels(node).items())),
    ]
    for i in range(len(N.INPUTS)):
        source = host.input_node(node, i)
        if source is None:
            parts.append("none")
            continue
        parts.append(host.full_name(source) + "\n" + _describe(source))
        parts.append(repr(host.frame_range(source)))
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- buttons
def create() -> Any:
    """Nodes toolbar ▸ VOID ▸ VOID Remove: a new node wired from the selection."""
    wiring = N.assign_inputs(
        [(n, host.class_name(n), host.short_name(n)) for n in host.selected_nodes()]
    )
    node = host.create_node(N.NODE_CLASS)
    for index in range(len(N.INPUTS)):
        # createNode wires the selected node to input 0 whatever it is; set every input ourselves.
        host.set_input(node, index, wiring.get(index))
    return node


def run(node: Any = None, force: bool = False) -> None:
    """The VOID Remove button. GUI: export now, the worker in the background. Batch: blocking."""
    node = node if node is not None else host.this_node()
    if not host.is_gui():
        run_blocking(node, force)
        return
    name = host.full_name(node)
    if _run_of(node) is not None:
        host.message(f"{name} is already running; press Cancel to stop it.")
        return
    if id(node) in SUGGESTING:  # it reads the exports a run would write again
        host.message(f"{name} is suggesting an affected matte; run it once that is done.")
        return
    try:
        p = prepare(node)
        if not force and p.results_complete():
            if not host.ask(
                f"The results of {name} are up to date for these inputs.\nRun VOID Remove again anyway?"
            ):
                _show_reused(p)
                return
        _set_status(node, ST.EXPORTING, "running")
        # A background `nuke -x` renders the export (void_nuke.export, finding 11): Nuke stays
        # usable; the status knob shows its progress; the job starts once every frame is there.
        p.plan.make_dirs()
        EX.export_then(
            node,
            name,
            p.plan.exports(),
            p.plan.first,
            p.plan.last,
            on_status=lambda text: _if_alive(node, host.set_knob, "status", text),
            then=lambda: _start(p, autostart=False),
            on_error=lambda exc: _if_alive(node, _show_error, exc),
        )
    except HostLinkError as exc:
        _show_error(node, exc)


def _if_alive(node: Any, function: Any, *args: Any) -> None:
    """Main thread: ``function(node, *args)`` unless the node was deleted meanwhile (its
    Python object then raises ValueError on any use)."""
    if host.live_full_name(node) is not None:
        function(node, *args)


def cancel(node: Any = None) -> None:
    """The Cancel button: the worker cancels the daemon job; finished frames stay."""
    node = node if node is not None else host.this_node()
    if EX.cancel_export(node):
        host.set_knob(node, "status", "cancelling the export")
        return
    current = _run_of(node)
    if current is None or current.process is None or not current.process.running:
        host.set_knob(node, "status", "nothing to cancel")
        return
    _cancel(current)
    host.set_knob(node, "status", "cancelling")


def _cancel(current: GuiRun) -> None:
    """Cancel the worker's job. Before the worker's first event its SIGTERM handler may not be
    in place yet (it is still importing): the cancel is sent with that first event instead."""
    assert current.process is not None
    with current.lock:
        if current.cancel_requested:
            return  # once: a second SIGTERM would leave the job running (a second Ctrl-C)
        current.cancel_requested = True
        if not current.started:
            return
    current.process.cancel()


# --------------------------------------------------------------------------- suggest affected
#: How long ``void-remove suggest-affected`` may take before the node gives up on it.
SUGGEST_TIMEOUT_S = 3600.0
SUGGEST_FAILED = "suggest_failed"
#: Suggestions in flight, by the node's Python object id (a rename keeps the object).
SUGGESTING: dict[int, threading.Thread] = {}


def suggest_affected(node: Any = None) -> None:
    """The Suggest affected matte button (issue 19, item 4; docs/nuke.md, "Suggest affected"):
    export plate and remove matte in the background (as a run does), then run ``void-remove
    suggest-affected`` in its own process off the main thread; its soft matte arrives as a new
    Read, wired to the Affected input when that is empty or holds an earlier suggestion."""
    node = node if node is not None else host.this_node()
    name = host.full_name(node)
    if _run_of(node) is not None or id(node) in SUGGESTING or EX.export_of(node) is not None:
        host.message(f"{name} is busy; wait for it or press Cancel.")
        return
    try:
        p = prepare(node)
        if len(p.views) > 1:
            raise HostLinkError(
                "bad_spec",
                "suggest affected works on one view: set stereo view to the view to suggest for",
            )
        exports = [e for e in p.plan.exports() if e.role in N.SUGGEST_ROLES]
        _set_status(node, "suggesting: exporting", "running")
        p.plan.make_dirs()
        EX.export_then(
            node,
            name,
            exports,
            p.plan.first,
            p.plan.last,
            on_status=lambda text: _if_alive(node, host.set_knob, "status", "suggesting: " + text),
            then=lambda: _start_suggest(p),
            on_error=lambda exc: _if_alive(node, _show_error, exc),
        )
    except HostLinkError as exc:
        _show_error(node, exc)


def suggest_args(p: Prepared, out: str) -> list[str]:
    """``void-remove suggest-affected`` for the node's exported plate and remove matte."""

    def exported(role: str) -> str:
        pattern = N.view_pattern(p.plan.pattern(role), p.views)
        return pattern.replace("%V", p.views[0]) if p.views else pattern

    return [
        "suggest-affected",
        "--plate",
        exported("plate"),
        "--remove",
        exported("remove"),
        "--out",
        out,
        "--range",
        f"{p.plan.first}-{p.plan.last}",
    ]


def suggestion_dir(plan: PL.RunPlan) -> str:
    """Where the node's suggestions go: ``suggested/`` in the node's folder, beside its run
    folders. Not inside a run folder: wiring the suggestion into Affected changes the
    fingerprint, hence the run folder, and the next suggestion must still see the earlier ones
    to take the next version."""
    return os.path.join(os.path.dirname(plan.run_dir), N.SUGGESTED_FOLDER)


def next_suggestion(run_dir: str) -> str:
    """The first suggestion pattern in ``run_dir`` with no file on disk: a second press never
    overwrites the first (the artist may be editing it)."""
    version = 1
    while True:
        pattern = N.suggestion_pattern(run_dir, version)
        prefix = os.path.basename(pattern.split("####")[0])  # "affected_suggested_v002."
        try:
            names = os.listdir(os.path.dirname(pattern))
        except OSError:
            names = []
        if not any(n.startswith(prefix) for n in names):
            return pattern
        version += 1


def _start_suggest(p: Prepared) -> None:
    """Main thread, the export done: start the command on a thread of its own."""
    if host.live_full_name(p.node) is None:
        return  # deleted during the export
    out = next_suggestion(suggestion_dir(p.plan))
    argv = find_void_remove() + suggest_args(p, out)
    log.info("%s: %s", p.name, " ".join(argv))
    _set_status(p.node, "suggesting an affected matte", "running")

    def work() -> None:
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=SUGGEST_TIMEOUT_S,
                check=False,
            )
            code, err = done.returncode, done.stderr.decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired) as exc:
            code, err = -1, str(exc)
        host.in_main_thread(_suggest_done, p, out, code, err)

    thread = threading.Thread(target=work, name="void-suggest", daemon=True)
    SUGGESTING[id(p.node)] = thread
    thread.start()


def _suggest_done(p: Prepared, out: str, code: int, err: str) -> None:
    """Main thread: the proposal becomes a Read; the Affected input takes it unless the artist
    wired something else there."""
    SUGGESTING.pop(id(p.node), None)
    node = p.node
    if host.live_full_name(node) is None:
        return
    if code != 0:
        last = next((x for x in reversed(err.splitlines()) if x.strip()), "")
        why = last.split(": ", 1)[-1] if last else f"void-remove exited with status {code}"
        _show_error(node, HostLinkError(SUGGEST_FAILED, f"suggest affected failed: {why}"))
        return
    read = host.create_in(None, "Read")
    host.set_name(read, _free_name(host.short_name(node)))
    for knob, value in (
        ("file", out),
        ("first", p.plan.first),
        ("last", p.plan.last),
        ("raw", True),
    ):
        host.set_knob(read, knob, value)
    current = host.input_node(node, N.AFFECTED)
    if current is None or (
        host.class_name(current) == "Read"
        and N.is_suggestion_read("Read", str(host.knob_value(current, "file")))
    ):
        host.set_input(node, N.AFFECTED, read)
        host.set_knob(node, "affected_channel", "rgba.alpha")  # the proposal's one channel
        _set_status(node, f"affected matte suggested: {host.short_name(read)}; edit it", "idle")
        return
    text = (
        f"affected matte suggested in {host.short_name(read)}; the Affected input keeps "
        f"{host.short_name(current)}: connect the suggestion yourself to use it"
    )
    _set_status(node, text, "idle")
    if host.is_gui():
        host.message(f"VOID Remove ({p.name}): {text}")


def _free_name(node_name: str) -> str:
    index = 1
    while host.to_node(f"{N.SUGGESTED_READ_PREFIX}_{node_name}_{index}") is not None:
        index += 1
    return f"{N.SUGGESTED_READ_PREFIX}_{node_name}_{index}"


def submit_farm(node: Any = None) -> None:
    """The Submit to farm button: export, then ``void-remove farm <manager> ...``."""
    node = node if node is not None else host.this_node()
    farm = str(host.knob_value(node, "farm"))
    try:
        p = prepare(node)
        task = host.progress_task(f"VOID Remove: {p.name}") if host.is_gui() else None
        export(p, task)
        del task  # closes the progress window
        # OpenCue: the comp render goes into the VOID job's own spec, so ask before submitting.
        comp_args, comp_note = _opencue_comp_render(p) if farm == CR.OPENCUE else ([], "")
        text = submit_to_farm(p, farm, comp_args)
    except HostLinkError as exc:
        _show_error(node, exc)
        return
    _show_results(p)  # the farm writes into the node's result pattern
    _set_status(node, text, "running")
    if farm == CR.FARM:
        text += _submit_comp_render(p)
        _set_status(node, text, "running")
    elif farm == CR.OPENJD:
        text += _add_comp_render_step(p)
        _set_status(node, text, "running")
    elif comp_note:
        text += comp_note
        _set_status(node, text, "running")
    if host.is_gui():
        host.message(f"VOID Remove ({p.name}): {text}\nResults appear in {p.plan.run_dir}")


def _submit_comp_render(p: Prepared) -> str:
    """Deadline: offer to submit the Writes downstream of the node as jobs that wait on the
    VOID job (void_nuke.comp_render); the script is saved first, as the farm renders the saved
    file. Returns what to add to the status line."""
    ids = _offer_comp_render(
        p,
        "Also submit the render of {names}, to start when the VOID job is done?",
        "submitted",
        lambda writes, script: CR.submit(p.plan, writes, script, p.views if p.stereo else ()),
    )
    return ids if isinstance(ids, str) else f"; comp render {', '.join(ids)} waits on it"


def _add_comp_render_step(p: Prepared) -> str:
    """OpenJD: offer to add the Writes downstream of the node to the bundle, as steps after
    the VOID steps (void_nuke.comp_render.add_openjd_steps); the script is saved first."""
    steps = _offer_comp_render(
        p,
        "Also render {names} in the OpenJD bundle, after the VOID steps?",
        "added",
        lambda writes, script: CR.add_openjd_steps(p.plan, writes, script),
        refuse="a stereo run is one OpenJD bundle per view" if p.stereo else "",
    )
    if isinstance(steps, str):
        return steps
    return f"; comp render {', '.join(steps)} added after {CR.OPENJD_ASSEMBLE_STEP}"


def _offer_comp_render(
    p: Prepared,
    question: str,
    done: str,
    act: Callable[[list[Any], str], list[str]],
    refuse: str = "",
) -> list[str] | str:
    """The comp-render offer both farms make: the Writes downstream of the node (none, or no
    GUI to ask in: no offer), ``refuse`` (a reason it cannot be done), the artist's yes to
    ``question`` (``{names}`` filled in), the script saved (the farm renders the saved file),
    then ``act(writes, script)``. Returns what ``act`` made, or the status-line text saying why
    nothing was ("" when nothing was offered or the artist said no)."""
    writes = CR.downstream_writes(p.node)
    if not writes or not host.is_gui():
        return ""
    if refuse:
        return f"; comp render not {done}: {refuse}"
    names = ", ".join(host.full_name(w) for w in writes)
    if not host.ask(question.format(names=names)):
        return ""
    script = N.project_path(host.script_name())
    if not script:
        return f"; comp render not {done}: save the script first"
    try:
        host.save_script()
        return act(writes, script)
    except HostLinkError as exc:
        log.warning("%s: %s", p.name, exc.message)
        return f"; comp render not {done}: {exc.message}"


def _opencue_comp_render(p: Prepared) -> tuple[list[str], str]:
    """OpenCue: offer to render the Writes downstream of the node in the VOID job, as layers
    after ``assemble`` (void_nuke.comp_render.opencue_args); the script is saved first.
    Returns the flags for ``void-remove farm opencue`` and what to add to the status line."""
    writes = CR.downstream_writes(p.node)
    if not writes or not host.is_gui():
        return [], ""
    if p.stereo:
        return [], "; comp render not added: a stereo run is one OpenCue job per view"
    names = ", ".join(host.full_name(w) for w in writes)
    if not host.ask(f"Also render {names} in the OpenCue job, after the VOID layers?"):
        return [], ""
    script = N.project_path(host.script_name())
    if not script:
        return [], "; comp render not added: save the script first"
    host.save_script()
    layers = ", ".join(CR.opencue_layers(writes))
    note = f"; comp render {layers} waits on {CR.OPENCUE_ASSEMBLE_LAYER}"
    return CR.opencue_args(writes, script, host.executable()), note


def submit_to_farm(p: Prepared, farm: str, extra: Sequence[str] = ()) -> str:
    """Run ``void-remove farm`` (the CLI's farm writers; its job files go to the run folder's
    ``farm/``) and return the status line. OpenJD's submit runs the whole job on this machine,
    so for it the bundle is only written, to run or submit from a shell. ``extra``: more flags
    (the OpenCue comp render), for a run that is not stereo."""
    if p.stereo:
        # `void-remove farm` has no --view: one job per view, each with that view's files and
        # its own farm folder (farm/<view>/), all writing into the results' %V pattern.
        texts = [_submit(p, farm, farm_args(p, farm, view)) for view in p.views]
        return "; ".join(f"{v}: {t}" for v, t in zip(p.views, texts))
    return _submit(p, farm, farm_args(p, farm) + list(extra))


def farm_args(p: Prepared, farm: str, view: str = "") -> list[str]:
    """``void-remove farm`` for the node's run, or for one view of a stereo run."""
    args = p.plan.farm_args(p.settings, farm)
    if not view:
        return args
    paths = {p.plan.pattern(e.role): p.view_path(e.pattern, view) for e in p.plan.exports()}
    paths[p.plan.pattern("result")] = p.view_path(p.plan.pattern("result"), view)
    paths[p.plan.farm_dir] = os.path.join(p.plan.farm_dir, view)
    paths[os.path.join(p.plan.farm_dir, "job")] = os.path.join(p.plan.farm_dir, view, "job")
    return [paths.get(a, a) for a in args]


def _submit(p: Prepared, farm: str, args: list[str]) -> str:
    argv = find_void_remove() + args
    log.info("%s: %s", p.name, " ".join(argv))
    code, out, err = CR.run_submit(argv, FARM_SUBMIT_TIMEOUT_S, "void-remove farm")
    out, err = out.strip(), err.strip()
    if code != 0:
        last = (err or out).splitlines()[-1:] or [f"exit status {code}"]
        raise HostLinkError("farm_failed", f"void-remove farm {farm} failed: {last[0]}")
    if farm in PL.LOCAL_RUNNER_FARMS:
        return (
            f"{farm} job {p.plan.job_id} written to {p.plan.farm_dir}: run it with 'openjd run' "
            "or submit it with 'deadline bundle submit'"
        )
    return (
        f"submitted to {farm}: {(out or err).splitlines()[-1] if (out or err) else p.plan.job_id}"
    )


# --------------------------------------------------------------------------- export
def export(p: Prepared, task: Any = None) -> None:
    """Render plate and mattes with temporary Writes inside the node, in this (the main) thread."""
    p.plan.make_dirs()
    EX.set_plate_layer(p.node)  # the plate export renders the artist's plate layer as rgba
    steps = PL.export_steps(p.plan, EXPORT_CHUNK)
    writes: dict[str, Any] = {}
    try:
        for e in p.plan.exports():
            write = host.create_write(p.node, host.child(p.node, N.EXPORT_SOURCES[e.role]))
            writes[e.role] = write
            knobs: list[tuple[str, Any]] = [
                *N.EXPORT_WRITE_KNOBS,
                ("channels", e.channels),
                # a stereo export: %V in the name and the views on the Write, as in the GUI's
                # background export (void_nuke.export.start)
                ("file", N.nuke_path(N.view_pattern(e.pattern, p.views))),
            ]
            if p.views:
                knobs.append(("views", " ".join(p.views)))
            for knob, value in knobs:
                host.set_knob(write, knob, value)
        for i, (e, first, last) in enumerate(steps):
            if task is not None:
                if task.isCancelled():
                    raise HostLinkError(CANCELLED, "the export was cancelled")
                task.setMessage(f"exporting {e.role}: frames {first}-{last}")
                task.setProgress(int(100 * i / len(steps)))
            try:
                host.execute(writes[e.role], first, last, p.views or None)
            except RuntimeError as exc:  # what nuke.execute raises for render errors and cancel
                raise export_error(e.role, exc) from exc
    finally:
        for write in writes.values():
            host.delete(write)


def export_error(role: str, exc: BaseException) -> HostLinkError:
    """Nuke's failure while exporting ``role``, as the error the artist sees."""
    text = str(exc) or type(exc).__name__
    if "cancel" in text.lower():
        return HostLinkError(CANCELLED, f"the {role} export was cancelled")
    return HostLinkError("io_error", f"the {role} export failed to render: {text}")


# --------------------------------------------------------------------------- the worker's events
def _error_of(state: ST.RunState) -> HostLinkError:
    return HostLinkError(state.error_code or "internal", state.error_message or state.text())


# --------------------------------------------------------------------------- GUI run
def _follow(current: GuiRun) -> Any:
    """The run's node, following a rename (the run moves to the new name); None once deleted."""
    node = current.prepared.node
    name = host.live_full_name(node)
    if name is None:
        return None
    if name != current.name:
        log.info("%s was renamed %s; its VOID job keeps running", current.name, name)
        if RUNS.get(current.name) is current:
            del RUNS[current.name]
        RUNS[name] = current
        current.name = name
    return node


def _run_of(node: Any) -> GuiRun | None:
    """The run in flight for ``node``, whatever it is called now."""
    for current in list(RUNS.values()):
        _follow(current)
    return RUNS.get(host.full_name(node))


def _start(p: Prepared, autostart: bool) -> None:
    name = host.live_full_name(p.node)
    if name is None:  # deleted while its export ran: no job for a node that is gone
        log.info("%s was deleted during its export; its job is not started", p.name)
        return
    p = dataclasses.replace(p, name=name)  # renamed during the export: the run has its new name
    current = GuiRun(p, p.name, autostart, state=ST.RunState(total=len(p.plan.frames)))
    current.process = VoidRemoveProcess(
        p.run_args(autostart), on_event=lambda event: _post(current, event)
    )
    _show_results(p)  # the Read follows the new run: frames replace the Source as they arrive
    _set_status(p.node, ST.STARTING, "running")
    try:
        current.process.start()
    except HostLinkError as exc:
        _show_error(p.node, exc)
        return
    RUNS[current.name] = current


def _post(current: GuiRun, event: dict[str, Any]) -> None:
    """The reader thread: remember the news; ask the main thread to apply it unless already
    asked. The final event also schedules :func:`_finish` (after that apply: Nuke runs
    ``executeInMainThread`` calls in order)."""
    PL.record_event(current.prepared.plan, event)
    _log_warning(current.name, event)
    final = event.get("event") in ST.FINAL_STAGES
    with current.lock:
        # Decided under the lock _cancel takes, so the worker gets exactly one SIGTERM.
        send = not current.started and current.cancel_requested and not final
        current.started = True
        if (
            final
            and current.cancel_requested
            and event.get("event") == ST.FAILED
            and (event.get("error") or {}).get("code") == WORKER_DIED
        ):
            event = {"event": ST.CANCELLED}  # it ended before it could take the cancel
        current.state.update(event)
        current.frames_arrived |= event.get("event") == "frame"
        skip = current.pending and not final
        current.pending = True
    if send and current.process is not None:
        current.process.cancel()  # asked for before the worker could take it
    if skip:
        return
    host.in_main_thread(_apply, current)
    if final:
        host.in_main_thread(_finish, current)


def _apply(current: GuiRun) -> None:
    """Main thread: show the latest state and load newly arrived frames."""
    with current.lock:
        text, frames = current.state.text(), current.frames_arrived
        current.frames_arrived = current.pending = False
    node = _follow(current)
    if node is None:
        _orphaned(current)
        return
    host.set_knob(node, "status", text)
    if frames:
        _reload(node)


def _orphaned(current: GuiRun) -> None:
    """The node was deleted while its job runs: ask once whether to cancel the job."""
    process = current.process
    if current.orphan_kept is not None or process is None or not process.running:
        return
    current.orphan_kept = not host.ask(
        f"{current.name} was deleted while its VOID Remove job runs.\nCancel the job?"
        f"\n(No: it finishes and its results stay in {current.prepared.plan.run_dir})"
    )
    if not current.orphan_kept:
        _cancel(current)


def _finish(current: GuiRun) -> None:
    """Main thread, once the worker has ended: final state, error message, or an offer to
    start the daemon."""
    if RUNS.get(current.name) is current:
        del RUNS[current.name]
    node = _follow(current)
    if node is None:
        return
    state = current.state
    if state.stage == ST.DONE:
        _mark_done(node, current.prepared, state)
        return
    if state.stage == ST.CANCELLED:
        _set_status(node, state.text(), "idle")
        return
    endpoint = current.prepared.settings.endpoint
    if state.error_code == DAEMON_UNREACHABLE and not current.autostart and is_local(endpoint):
        if host.ask(f"No VOID daemon answers at {endpoint}.\nStart one on this machine?"):
            p = dataclasses.replace(current.prepared, node=node, name=current.name)
            _start(p, autostart=True)  # the exports are still there
            return
    _show_error(node, _error_of(state))


def is_local(endpoint: str) -> bool:
    """The daemon address names this machine (as void_client.client.is_local decides)."""
    if endpoint.startswith("ipc://"):
        return True
    address = endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    return address in ("127.0.0.1", "localhost", "[::1]", "::1")


# --------------------------------------------------------------------------- blocking run
def run_blocking(node: Any, force: bool = False) -> ST.RunState:
    """Batch (``nuke -t``, ``nuke -x``): the worker runs to its end while this thread waits;
    raises HostLinkError on failure."""
    try:
        p = prepare(node)
        if not force and p.results_complete():
            return _show_reused(p)
        _set_status(node, ST.EXPORTING, "running")
        export(p)
        _show_results(p)
        state = ST.RunState(total=len(p.plan.frames))

        def on_event(event: dict[str, Any]) -> None:
            # The reader thread: log and record only; knobs are set by the calling thread.
            PL.record_event(p.plan, event)
            _log_warning(p.name, event)
            state.update(event)
            _log_state(p.name, state)

        run_void_remove(p.run_args(autostart=True), on_event)
        if state.stage != ST.DONE:
            raise _error_of(state)
    except HostLinkError as exc:
        _show_error(node, exc)
        raise
    _mark_done(node, p, state)
    return state


_LOGGED: dict[str, str] = {}


def _log_warning(name: str, event: dict[str, Any]) -> None:
    """The worker's warnings (a missing prompt: void_client.prompt_advice, the CLI's words) go
    to Nuke's log as well as the status line."""
    if event.get("event") == "warning":
        log.warning("%s: %s", name, event.get("message", ""))


def _log_state(name: str, state: ST.RunState) -> None:
    line = f"{state.stage} {state.written}/{state.total}"
    if _LOGGED.get(name) != line:
        _LOGGED[name] = line
        log.info("%s: %s", name, state.text())


def before_render() -> None:
    """Before a Write renders, in whatever process renders it (Nuke fires ``beforeRender`` in
    the GUI, under ``nuke -t`` and in every ``nuke -x`` farm task): never run the VOID job here.

    Each VOID Remove node upstream of the Write must have finished results on disk for its
    current inputs (the run folder is named by the fingerprint): the node is pointed at them and
    the render goes on. Otherwise a render process aborts with what to do; the GUI only warns
    (the artist sees the node's state and may render the Source on purpose)."""
    write = host.this_node()
    upstream = F.upstream_order([write], host.graph_inputs, host.full_name)
    for node in (n for n in upstream if host.class_name(n) == N.NODE_CLASS):
        name = host.full_name(node)
        try:
            p = prepare(node)
            current = _run_of(node) is None and p.results_complete()
        except HostLinkError as exc:
            if host.is_gui():
                log.warning("%s: %s; the render shows what is there", name, exc.message)
                continue
            raise RuntimeError(f"VOID Remove {name}: [{exc.code}] {exc.message}") from exc
        if current:
            _point_at_results(p)
            continue
        if host.is_gui():
            log.warning("%s: its results are not up to date; the render shows what is there", name)
            continue
        raise RuntimeError(missing_results_message(name, p.plan))


def missing_results_message(name: str, plan: PL.RunPlan) -> str:
    """Why a render of a Write downstream of ``name`` stopped, and what the artist does next."""
    return (
        f"VOID Remove {name}: no finished results for its current inputs in {plan.run_dir}. "
        "A render never runs the VOID job: press VOID Remove on the node (or Submit to farm, or "
        "run 'nuke -t void_remove_batch.py SCRIPT'), then render again."
    )


def _point_at_results(p: Prepared) -> None:
    """Make the node show the finished results (a render process: no status, no reload)."""
    pattern = N.nuke_path(p.result_pattern())
    if str(host.knob_value(p.node, "results")) != pattern:
        host.set_knob(p.node, "results", pattern)
        host.set_knob(p.node, "result_first", p.plan.first)
        host.set_knob(p.node, "result_last", p.plan.last)


def batch_main(argv: list[str]) -> int:
    """``nuke -t void_remove_batch.py SCRIPT [--node NAME] [--force] [--save]``: run the script's
    VOID Remove nodes, blocking. Exit status 0 when every node has its results, 2 otherwise."""
    parser = argparse.ArgumentParser(
        prog="nuke -t void_remove_batch.py",
        description="Run the VOID Remove nodes of a Nuke script.",
    )
    parser.add_argument("script", help="the .nk script")
    parser.add_argument(
        "--node", action="append", default=[], help="only this node (full name); repeatable"
    )
    parser.add_argument(
        "--force", action="store_true", help="run even when the results are up to date"
    )
    parser.add_argument(
        "--save",
        action="store_true",
        help="save the script afterwards (the nodes point at their results)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    host.open_script(args.script)
    nodes = [host.to_node(n) for n in args.node] if args.node else host.all_nodes(N.NODE_CLASS)
    if not nodes or any(n is None for n in nodes):
        log.error("no VOID Remove node %s in %s", " ".join(args.node) or "", args.script)
        return 2
    failed = 0
    for node in nodes:
        try:
            state = run_blocking(node, args.force)
            log.info("%s: %s", host.full_name(node), state.text())
        except HostLinkError:
            failed += 1  # run_blocking has logged the reason
    if args.save and not failed:
        host.save_script()
    return 2 if failed else 0


# --------------------------------------------------------------------------- presets
def apply_preset_knobs(node: Any, name: str) -> None:
    """Set the knobs preset ``name`` decides (the client's presets, baked into
    void_hostlink.node_tables); ``custom`` leaves them as they are."""
    if name == S.CUSTOM_PRESET:
        return
    for knob, value in S.preset_knob_values(name).items():
        if host.knob_value(node, knob) != value:
            host.set_knob(node, knob, value)


def _sync_preset(node: Any, knob: str) -> None:
    """A knob a preset decides was edited: the preset shows ``custom`` once it disagrees."""
    name = str(host.knob_value(node, "preset"))
    if name == S.CUSTOM_PRESET:
        return
    wanted = S.preset_knob_values(name)
    if host.knob_value(node, knob) != wanted[knob]:
        host.set_knob(node, "preset", S.CUSTOM_PRESET)


# --------------------------------------------------------------------------- stale indicator
def knob_changed() -> None:
    """knobChanged callback of every VOID Remove node."""
    node, knob = host.this_node(), host.this_knob_name()
    if knob == "preset":
        apply_preset_knobs(node, str(host.knob_value(node, knob)))
    elif knob in S.PRESET_KNOBS:
        _sync_preset(node, knob)
    if knob == "use_input_range":
        manual = not bool(host.knob_value(node, knob))
        host.set_enabled(node, "range_first", manual)
        host.set_enabled(node, "range_last", manual)
    if knob == "showPanel":
        host.set_read_only(node, "results")  # a scripts saved before this version left it editable
    if knob in ("plate_layer", "view", "showPanel"):
        # The overlay view tints VOID_PlateLayer: keep its Shuffle on the chosen layer (a
        # gizmo's internals are not saved, so a reopened script starts at rgba again).
        EX.set_plate_layer(node)
    if knob in N.STALE_TRIGGERS:
        refresh(node)


def update_ui() -> None:
    """updateUI callback: notices edits of the direct inputs (no knobChanged reaches this node
    for them) by the quick signature; the full upstream walk runs only when it changed. An edit
    further upstream is seen by the next Run (no reuse), Submit or render (full fingerprint)."""
    node = host.this_node()
    name, now = host.full_name(node), time.monotonic()
    if now - _LAST_REFRESH.get(name, 0.0) < REFRESH_INTERVAL_S:
        return
    _LAST_REFRESH[name] = now
    if not str(host.knob_value(node, "run_hash")) or name in RUNS:
        return
    try:
        quick = quick_signature(node)
    except HostLinkError:
        quick = ""
    if quick and _QUICK.get(name) == quick:
        return
    refresh(node)


def refresh(node: Any) -> None:
    """Mark the node stale when its inputs or settings no longer match its last run's."""
    run_hash = str(host.knob_value(node, "run_hash"))
    name = host.full_name(node)
    if not run_hash or _run_of(node) is not None:
        return  # never run, or running: nothing to compare yet
    try:
        _QUICK[name] = quick_signature(node)
        stale = prepare(node).plan.fingerprint != run_hash
    except HostLinkError:
        stale = True  # e.g. an input was disconnected
    change = N.stale_status(stale, str(host.knob_value(node, "status")))
    if change is not None:
        _set_status(node, *change)


# --------------------------------------------------------------------------- node display
def _set_status(node: Any, text: str, colour: str) -> None:
    host.set_knob(node, "status", text)
    host.set_knob(node, "tile_color", N.TILE_COLOURS[colour])


def _show_results(p: Prepared) -> None:
    host.set_read_only(p.node, "results")  # set by VOID Remove only: the artist cannot edit it
    host.set_knob(p.node, "results", N.nuke_path(p.result_pattern()))
    host.set_knob(p.node, "result_first", p.plan.first)
    host.set_knob(p.node, "result_last", p.plan.last)
    _reload(p.node)


def _reload(node: Any) -> None:
    host.set_knob(node, "results_version", int(host.knob_value(node, "results_version")) + 1)
    host.reload_read(host.child(node, N.RESULT_READ))


def _show_reused(p: Prepared) -> ST.RunState:
    _show_results(p)
    host.set_knob(p.node, "run_hash", p.plan.fingerprint)
    state = ST.RunState(total=len(p.plan.frames), stage=ST.REUSED)
    _set_status(p.node, state.text(), "done")
    return state


def _mark_done(node: Any, p: Prepared, state: ST.RunState) -> None:
    host.set_knob(node, "run_hash", p.plan.fingerprint)
    _set_status(node, state.text(), "done")
    _reload(node)


def _show_error(node: Any, exc: HostLinkError) -> None:
    if exc.code == CANCELLED:
        _set_status(node, "cancelled", "idle")
        return
    _set_status(node, f"error: {exc.message}", "failed")
    name = host.full_name(node)
    if host.is_gui():
        host.message(f"VOID Remove ({name}):\n{exc.message}")
    else:
        log.error("%s: [%s] %s", name, exc.code, exc.message)
