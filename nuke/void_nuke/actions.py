"""What the VOID Remove node does in Nuke: its buttons, its callbacks, and the batch entry point.

Glue: decisions live in :mod:`void_client.node_job` (settings, range, fingerprint, plan, run
state, the run itself as :class:`~void_client.node_job.NodeRun`, farm submission) and
:mod:`void_nuke.node_spec` (knob names, internal nodes, export recipe); every Nuke call goes
through :mod:`void_nuke.host`. ``nuke_path/init.py`` and ``menu.py`` reach this module through
:mod:`void_nuke.startup`, ``nuke_path/void_remove_batch.py`` through :func:`batch_main`.

In the GUI a run exports plate and mattes with temporary Writes executed in the main thread under a
``ProgressTask`` (Nuke is busy for the export: ``nuke.execute`` runs on the main thread; the
progress window is only for the export), then runs the job on a worker thread; the node's
status knob is the one progress indicator of the job, and it and the internal Read are updated
through ``executeInMainThread`` as results arrive. A run follows its node through a rename; a
deleted node's run asks before it is cancelled. ``nuke -t void_remove_batch.py`` runs the same
steps blocking in the calling thread.

A render (``nuke -x``, a farm task, a GUI render) never runs the VOID job: the Write's
``beforeRender`` hook (:func:`before_render`) uses results already on disk, found by the
fingerprint that names the run folder, or aborts the render with what to do (issue 16, finding 9).

The stale indicator is cheap (finding 10): ``updateUI`` hashes only the node's settings and its
direct inputs' knobs (:func:`quick_signature`) and walks the whole upstream graph only when that
changed; Run, Submit and renders always compute the full fingerprint.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from void_client import node_job as H
from void_client.client import is_local
from void_client.errors import ErrorCode, VoidError
from void_client.job_state import JobState
from void_client.prompt_advice import prompt_warning
from void_nuke import host
from void_nuke import node_spec as N

log = logging.getLogger("void_nuke")

#: Frames per ``nuke.execute`` of an export: how often progress updates and cancel is checked.
EXPORT_CHUNK = 8
#: ``updateUI`` compares the quick signature at most this often per node.
REFRESH_INTERVAL_S = 1.0


@dataclass
class Prepared:
    """A node's run, decided: its settings and where its files go."""

    node: Any
    name: str
    settings: H.NodeSettings
    plan: H.RunPlan


@dataclass
class GuiRun:
    """A GUI run in flight. Worker threads post here; the main thread applies (coalesced).

    ``name`` is the node's full name now: a rename moves the run to the new name."""

    prepared: Prepared
    name: str
    job: H.NodeRun | None = None
    #: The node was deleted and the artist chose to let the job finish (None: not asked yet).
    orphan_kept: bool | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    latest: H.RunState | None = None
    frames_arrived: bool = False
    pending: bool = False


#: GUI runs in flight, by node full name.
RUNS: dict[str, GuiRun] = {}
_LAST_REFRESH: dict[str, float] = {}
#: The quick signature each node had at its last full stale check, by node full name.
_QUICK: dict[str, str] = {}


# --------------------------------------------------------------------------- deciding
def prepare(node: Any) -> Prepared:
    """Read the node and its inputs into a plan; raises VoidError on anything wrong."""
    values = host.knob_values(node, N.SETTINGS_KNOBS)
    values["output_dir"] = host.knob_evaluated(node, "output_dir")
    settings = H.NodeSettings.from_values(values)
    source = host.input_node(node, N.SOURCE)
    first, last = H.resolve_range(
        settings, host.frame_range(source) if source is not None else None
    )
    if host.input_node(node, N.REMOVE) is None:
        raise VoidError(
            ErrorCode.EMPTY_MATTE,
            "connect a matte of the object (Roto, RotoPaint, any matte) to the Remove input",
            "remove",
        )
    has_affected = host.input_node(node, N.AFFECTED) is not None
    name = host.full_name(node)
    fp = fingerprint(node, settings, first, last)
    plan = H.plan_run(
        settings, first, last, has_affected, fp, name, N.project_path(host.script_name())
    )
    return Prepared(node, name, settings, plan)


def fingerprint(node: Any, settings: H.NodeSettings, first: int, last: int) -> str:
    starts = [host.input_node(node, i) for i in range(len(N.INPUTS))]
    digests = H.upstream_digest(starts, host.graph_inputs, host.full_name, _describe)
    return H.fingerprint(settings, first, last, digests, matte_channels(node))


def matte_channels(node: Any) -> dict[str, str]:
    """The matte channels as selected: the internal knobs the Link knobs show, read directly (a
    Link knob's ``toScript()`` may give the link's name, so a channel switch would go unseen)."""
    return {k.name: str(host.linked_value(node, k.link)) for k in N.KNOBS if k.kind == N.LINK}


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
    """The VOID Remove button. GUI: export now, job in the background. Batch: blocking."""
    node = node if node is not None else host.this_node()
    if not host.is_gui():
        run_blocking(node, force)
        return
    name = host.full_name(node)
    if _run_of(node) is not None:
        host.message(f"{name} is already running; press Cancel to stop it.")
        return
    try:
        p = prepare(node)
        if not force and H.results_complete(p.plan):
            if not host.ask(
                f"The results of {name} are up to date for these inputs.\nRun VOID Remove again anyway?"
            ):
                _show_reused(p)
                return
        _set_status(node, _exporting(p), "running")
        # The progress window is for the export only (it blocks Nuke's main thread); the job's
        # progress is the node's status knob, not a window for the whole daemon job.
        task = host.progress_task(f"VOID Remove: exporting {name}")
        export(p, task)
        task.setProgress(100)
        del task  # closes the progress window
    except VoidError as exc:
        _show_error(node, exc)
        return
    _start(p, autostart=False)


def cancel(node: Any = None) -> None:
    """The Cancel button: stops the node's running job at the daemon's next step boundary."""
    node = node if node is not None else host.this_node()
    current = _run_of(node)
    if current is None or current.job is None:
        host.set_knob(node, "status", "nothing to cancel")
        return
    current.job.cancel()
    host.set_knob(node, "status", "cancelling")


def submit_farm(node: Any = None) -> None:
    """The Submit to farm button: export, then hand the job to the chosen farm manager."""
    node = node if node is not None else host.this_node()
    farm = str(host.knob_value(node, "farm"))
    try:
        p = prepare(node)
        task = host.progress_task(f"VOID Remove: {p.name}") if host.is_gui() else None
        export(p, task)
        del task  # closes the progress window
        submitted = H.submit_to_farm(p.plan, p.settings, farm)
    except VoidError as exc:
        _show_error(node, exc)
        return
    _show_results(p)  # the farm writes into the node's result pattern
    _set_status(node, submitted.text(), "running")
    if host.is_gui():
        host.message(
            f"VOID Remove ({p.name}): {submitted.text()}\nResults appear in {p.plan.run_dir}"
        )


# --------------------------------------------------------------------------- export
def export(p: Prepared, task: Any = None) -> None:
    """Render plate and mattes with temporary Writes inside the node, in this (the main) thread."""
    p.plan.make_dirs()
    steps = H.export_steps(p.plan, EXPORT_CHUNK)
    writes: dict[str, Any] = {}
    try:
        for e in p.plan.exports():
            write = host.create_write(p.node, host.child(p.node, N.EXPORT_SOURCES[e.role]))
            writes[e.role] = write
            for knob, value in (
                *N.EXPORT_WRITE_KNOBS,
                ("channels", e.channels),
                ("file", N.nuke_path(e.pattern)),
            ):
                host.set_knob(write, knob, value)
        for i, (e, first, last) in enumerate(steps):
            if task is not None:
                if task.isCancelled():
                    raise VoidError(ErrorCode.CANCELLED, "the export was cancelled")
                task.setMessage(f"exporting {e.role}: frames {first}-{last}")
                task.setProgress(int(100 * i / len(steps)))
            try:
                host.execute(writes[e.role], first, last)
            except RuntimeError as exc:  # what nuke.execute raises for render errors and cancel
                raise H.export_error(e.role, exc) from exc
    finally:
        for write in writes.values():
            host.delete(write)


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
    current = GuiRun(p, p.name)
    current.job = H.NodeRun(
        p.plan,
        p.settings,
        on_state=lambda state: _post(current, state=state),
        on_frame=lambda frame: _post(current, frame=True),
        autostart=autostart,
    )
    RUNS[current.name] = current
    _show_results(p)  # the Read follows the new run: frames replace the Source as they arrive
    _set_status(p.node, str(H.RunStage.STARTING), "running")
    current.job.start(on_done=lambda job: host.in_main_thread(_finish, current))


def _post(current: GuiRun, state: H.RunState | None = None, frame: bool = False) -> None:
    """Worker threads: remember the news; ask the main thread to apply it unless already asked."""
    with current.lock:
        if state is not None:
            current.latest = state
        current.frames_arrived |= frame
        if current.pending:
            return
        current.pending = True
    host.in_main_thread(_apply, current)


def _apply(current: GuiRun) -> None:
    """Main thread: show the latest state and load newly arrived frames."""
    with current.lock:
        state, frames = current.latest, current.frames_arrived
        current.frames_arrived = current.pending = False
    node = _follow(current)
    if node is None:
        _orphaned(current)
        return
    if state is not None:
        host.set_knob(node, "status", state.text())
    if frames:
        _reload(node)


def _orphaned(current: GuiRun) -> None:
    """The node was deleted while its job runs: ask once whether to cancel the job."""
    if current.orphan_kept is not None or current.job is None:
        return
    current.orphan_kept = not host.ask(
        f"{current.name} was deleted while its VOID Remove job runs.\nCancel the job?"
        f"\n(No: it finishes and its results stay in {current.prepared.plan.run_dir})"
    )
    if not current.orphan_kept:
        current.job.cancel()


def _finish(current: GuiRun) -> None:
    """Main thread, once the worker is done: final state, error message, or an offer to start the daemon."""
    _apply(current)
    if RUNS.get(current.name) is current:
        del RUNS[current.name]
    node = _follow(current)
    job = current.job
    if node is None or job is None:
        return
    state = job.state
    if state.stage == JobState.DONE:
        _mark_done(node, current.prepared, state)
        return
    if state.stage == JobState.CANCELLED:
        _set_status(node, state.text(), "idle")
        return
    error = state.error or VoidError(ErrorCode.INTERNAL, "the run ended without a result")
    endpoint = current.prepared.settings.endpoint
    if error.code == ErrorCode.DAEMON_UNREACHABLE and not job.autostart and is_local(endpoint):
        if host.ask(f"No VOID daemon answers at {endpoint}.\nStart one on this machine?"):
            p = Prepared(node, current.name, current.prepared.settings, current.prepared.plan)
            _start(p, autostart=True)  # the exports are still there
            return
    _show_error(node, error)


# --------------------------------------------------------------------------- blocking run
def run_blocking(node: Any, force: bool = False) -> H.RunState:
    """Batch (``nuke -t``, ``nuke -x``): everything in this thread; raises VoidError on failure."""
    try:
        p = prepare(node)
        if not force and H.results_complete(p.plan):
            return _show_reused(p)
        _set_status(node, _exporting(p), "running")
        export(p)
        _show_results(p)
        job = H.NodeRun(
            p.plan, p.settings, on_state=lambda state: _log_state(p.name, state), autostart=True
        )
        job.run()
    except VoidError as exc:
        _show_error(node, exc)
        raise
    _mark_done(node, p, job.state)
    return job.state


_LOGGED: dict[str, str] = {}


def _log_state(name: str, state: H.RunState) -> None:
    # Worker threads call this in batch too: log only; knobs are set by the calling thread.
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
    upstream = H.upstream_order([write], host.graph_inputs, host.full_name)
    for node in (n for n in upstream if host.class_name(n) == N.NODE_CLASS):
        name = host.full_name(node)
        try:
            p = prepare(node)
            current = _run_of(node) is None and H.results_complete(p.plan)
        except VoidError as exc:
            if host.is_gui():
                log.warning("%s: %s; the render shows what is there", name, exc.message)
                continue
            raise RuntimeError(f"VOID Remove {name}: [{exc.code.value}] {exc.message}") from exc
        if current:
            _point_at_results(p)
            continue
        if host.is_gui():
            log.warning("%s: its results are not up to date; the render shows what is there", name)
            continue
        raise RuntimeError(missing_results_message(name, p.plan))


def missing_results_message(name: str, plan: H.RunPlan) -> str:
    """Why a render of a Write downstream of ``name`` stopped, and what the artist does next."""
    return (
        f"VOID Remove {name}: no finished results for its current inputs in {plan.run_dir}. "
        "A render never runs the VOID job: press VOID Remove on the node (or Submit to farm, or "
        "run 'nuke -t void_remove_batch.py SCRIPT'), then render again."
    )


def _point_at_results(p: Prepared) -> None:
    """Make the node show the finished results (a render process: no status, no reload)."""
    pattern = N.nuke_path(p.plan.pattern("result"))
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
        except VoidError:
            failed += 1  # run_blocking has logged the reason
    if args.save and not failed:
        host.save_script()
    return 2 if failed else 0


def _exporting(p: Prepared) -> str:
    """The status at the start of a run; with the missing-prompt warning (void_client.
    prompt_advice, the CLI's words) in the status knob and the log when the engine reads a
    prompt and the node has none."""
    warning = prompt_warning(p.settings.engine, p.settings.prompt, "background prompt")
    if warning is None:
        return "exporting"
    log.warning("%s: %s", p.name, warning)
    return f"exporting; {warning}"


# --------------------------------------------------------------------------- presets
def apply_preset_knobs(node: Any, name: str) -> None:
    """Set the knobs preset ``name`` decides (void_client.presets, the table the panel, CLI and
    Resolve read); ``custom`` leaves them as they are."""
    if name == H.CUSTOM_PRESET:
        return
    for knob, value in H.preset_knob_values(name).items():
        if host.knob_value(node, knob) != value:
            host.set_knob(node, knob, value)


def _sync_preset(node: Any, knob: str) -> None:
    """A knob a preset decides was edited: the preset shows ``custom`` once it disagrees."""
    name = str(host.knob_value(node, "preset"))
    if name == H.CUSTOM_PRESET:
        return
    wanted = H.preset_knob_values(name)
    if host.knob_value(node, knob) != wanted[knob]:
        host.set_knob(node, "preset", H.CUSTOM_PRESET)


# --------------------------------------------------------------------------- stale indicator
def knob_changed() -> None:
    """knobChanged callback of every VOID Remove node."""
    node, knob = host.this_node(), host.this_knob_name()
    if knob == "preset":
        apply_preset_knobs(node, str(host.knob_value(node, knob)))
    elif knob in H.PRESET_KNOBS:
        _sync_preset(node, knob)
    if knob == "use_input_range":
        manual = not bool(host.knob_value(node, knob))
        host.set_enabled(node, "range_first", manual)
        host.set_enabled(node, "range_last", manual)
    if knob == "showPanel":
        host.set_read_only(node, "results")  # a scripts saved before this version left it editable
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
    except VoidError:
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
    except VoidError:
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
    host.set_knob(p.node, "results", N.nuke_path(p.plan.pattern("result")))
    host.set_knob(p.node, "result_first", p.plan.first)
    host.set_knob(p.node, "result_last", p.plan.last)
    _reload(p.node)


def _reload(node: Any) -> None:
    host.set_knob(node, "results_version", int(host.knob_value(node, "results_version")) + 1)
    host.reload_read(host.child(node, N.RESULT_READ))


def _show_reused(p: Prepared) -> H.RunState:
    _show_results(p)
    host.set_knob(p.node, "run_hash", p.plan.fingerprint)
    state = H.RunState(total=len(p.plan.frames), stage=H.RunStage.REUSED)
    _set_status(p.node, state.text(), "done")
    return state


def _mark_done(node: Any, p: Prepared, state: H.RunState) -> None:
    host.set_knob(node, "run_hash", p.plan.fingerprint)
    _set_status(node, state.text(), "done")
    _reload(node)


def _show_error(node: Any, exc: VoidError) -> None:
    if exc.code == ErrorCode.CANCELLED:
        _set_status(node, "cancelled", "idle")
        return
    _set_status(node, f"error: {exc.message}", "failed")
    name = host.full_name(node)
    if host.is_gui():
        host.message(f"VOID Remove ({name}):\n{exc.message}")
    else:
        log.error("%s: [%s] %s", name, exc.code.value, exc.message)
