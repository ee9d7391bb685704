"""What the VOID Remove node does in Nuke: its buttons, its callbacks, and the batch entry point.

Glue: decisions live in :mod:`void_client.node_job` (settings, range, fingerprint, plan, run
state, the run itself as :class:`~void_client.node_job.NodeRun`, farm submission) and
:mod:`void_nuke.node_spec` (knob names, internal nodes, export recipe); every Nuke call goes
through :mod:`void_nuke.host`. ``nuke_path/init.py`` and ``menu.py`` reach this module through
:mod:`void_nuke.startup`, ``nuke_path/void_remove_batch.py`` through :func:`batch_main`.

In the GUI a run exports plate and mattes with temporary Writes executed in the main thread under a
``ProgressTask``, then runs the job on a worker thread; the node's status, the progress bar and
the internal Read are updated through ``executeInMainThread`` as results arrive. Under
``nuke -t`` / ``nuke -x`` (no GUI) the same steps run blocking in the calling thread.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from void_client import node_job as H
from void_client.client import is_local
from void_client.errors import ErrorCode, VoidError
from void_client.job_state import JobState
from void_nuke import host
from void_nuke import node_spec as N

log = logging.getLogger("void_nuke")

#: Frames per ``nuke.execute`` of an export: how often progress updates and cancel is checked.
EXPORT_CHUNK = 8
#: The stale check walks the upstream graph; in ``updateUI`` do it at most this often per node.
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
    """A GUI run in flight. Worker threads post here; the main thread applies (coalesced)."""

    prepared: Prepared
    task: Any
    job: H.NodeRun | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    latest: H.RunState | None = None
    frames_arrived: bool = False
    pending: bool = False


#: GUI runs in flight, by node full name.
RUNS: dict[str, GuiRun] = {}
_LAST_REFRESH: dict[str, float] = {}


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
    channels = {
        k: host.knob_script(node, k) for k in ("remove_channel", "affected_channel")
    }  # Link knobs
    return H.fingerprint(settings, first, last, digests, channels)


def _describe(node: Any) -> str:
    return host.class_name(node) + "\n" + N.describe_knobs(host.knob_scripts(node))


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
    if name in RUNS:
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
        _set_status(node, "exporting", "running")
        task = host.progress_task(f"VOID Remove: {name}")
        export(p, task)
    except VoidError as exc:
        _show_error(node, exc)
        return
    _start(p, task, autostart=False)


def cancel(node: Any = None) -> None:
    """The Cancel button: stops the node's running job at the daemon's next step boundary."""
    node = node if node is not None else host.this_node()
    current = RUNS.get(host.full_name(node))
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
def _start(p: Prepared, task: Any, autostart: bool) -> None:
    current = GuiRun(p, task)
    current.job = H.NodeRun(
        p.plan,
        p.settings,
        on_state=lambda state: _post(current, state=state),
        on_frame=lambda frame: _post(current, frame=True),
        autostart=autostart,
    )
    RUNS[p.name] = current
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
    node = host.to_node(current.prepared.name)
    if node is None:  # the node was deleted: nobody is waiting for this job
        if current.job is not None:
            current.job.cancel()
        return
    if state is not None:
        host.set_knob(node, "status", state.text())
        if current.task is not None:
            current.task.setMessage(state.text())
            current.task.setProgress(state.percent)
    if frames:
        _reload(node)
    if current.task is not None and current.task.isCancelled() and current.job is not None:
        current.job.cancel()


def _finish(current: GuiRun) -> None:
    """Main thread, once the worker is done: final state, error message, or an offer to start the daemon."""
    _apply(current)
    RUNS.pop(current.prepared.name, None)
    current.task = None  # closes the progress window
    node = host.to_node(current.prepared.name)
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
            p = Prepared(
                node, current.prepared.name, current.prepared.settings, current.prepared.plan
            )
            _start(
                p, host.progress_task(f"VOID Remove: {p.name}"), autostart=True
            )  # the exports are still there
            return
    _show_error(node, error)


# --------------------------------------------------------------------------- blocking run
def run_blocking(node: Any, force: bool = False) -> H.RunState:
    """Batch (``nuke -t``, ``nuke -x``): everything in this thread; raises VoidError on failure."""
    try:
        p = prepare(node)
        if not force and H.results_complete(p.plan):
            return _show_reused(p)
        _set_status(node, "exporting", "running")
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
    """Before a Write renders: VOID Remove nodes upstream of it bring their results up to date
    (blocking, in batch). In the GUI the artist runs them; a render there only warns."""
    write = host.this_node()
    upstream = H.upstream_order([write], host.graph_inputs, host.full_name)
    for node in (n for n in upstream if host.class_name(n) == N.NODE_CLASS):
        name = host.full_name(node)
        if host.is_gui():
            try:
                current = name not in RUNS and H.results_complete(prepare(node).plan)
            except VoidError:
                current = False
            if not current:
                log.warning(
                    "%s: its results are not up to date; the render shows what is there", name
                )
            continue
        try:
            run_blocking(node)
        except VoidError as exc:
            raise RuntimeError(f"VOID Remove {name}: [{exc.code.value}] {exc.message}") from exc


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


# --------------------------------------------------------------------------- stale indicator
def knob_changed() -> None:
    """knobChanged callback of every VOID Remove node."""
    node, knob = host.this_node(), host.this_knob_name()
    if knob == "use_input_range":
        manual = not bool(host.knob_value(node, knob))
        host.set_enabled(node, "range_first", manual)
        host.set_enabled(node, "range_last", manual)
    if knob in N.STALE_TRIGGERS:
        refresh(node)


def update_ui() -> None:
    """updateUI callback: notices upstream edits (no knobChanged reaches this node for them)."""
    node = host.this_node()
    name, now = host.full_name(node), time.monotonic()
    if now - _LAST_REFRESH.get(name, 0.0) >= REFRESH_INTERVAL_S:
        _LAST_REFRESH[name] = now
        refresh(node)


def refresh(node: Any) -> None:
    """Mark the node stale when its inputs or settings no longer match its last run's."""
    run_hash = str(host.knob_value(node, "run_hash"))
    if not run_hash or host.full_name(node) in RUNS:
        return  # never run, or running: nothing to compare yet
    try:
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
