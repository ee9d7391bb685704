"""``void-remove run``: remove an object from an EXR sequence.

Ctrl-C (or SIGTERM) cancels the job on the daemon and exits 130; a second Ctrl-C (or ``--detach``)
leaves it running and prints the ``void-remove attach`` command that collects it. ``--progress
jsonl`` makes stdout a stream of JSON events for programs (docs/protocol.md, "Progress stream"). Exit status: 0 when every
requested frame was written by this command, 2 for an error, 3 when frames are missing, 130 when
cancelled or interrupted (docs/user-guide.md, "Exit codes").
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import shlex
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from void_client import protocol as P
from void_client.cli.progress import job_progress
from void_client.cli.progress_stream import add_progress_argument, current, run_command, warn
from void_client.errors import ErrorCode, VoidError
from void_client.output_manifest import next_version
from void_client.presets import PRESET_KEYS, PRESETS, Preset, apply_preset
from void_client.prompt_advice import prompt_warning
from void_client.reference import parse_references
from void_client.sequence import (
    SequencePattern,
    SequenceRef,
    expand_view,
    format_ranges,
    has_view_token,
    parse_range,
    scan_views,
    split_at_view,
    split_channel,
)
from void_client.sequence_job import RemoveRequest, SequenceJob, remove_sequence
from void_client.session import JobReport
from void_client.stereo_job import first_view_request, pattern_views
from void_client.windows import Window, plan_windows, valid_length_at_most

log = logging.getLogger(__name__)

#: Exit status when the command ran but did not write every requested frame itself.
EXIT_MISSING = 3
#: Exit status after Ctrl-C (the shell's 128 + SIGINT).
EXIT_INTERRUPTED = 130
#: Overlap used when ``--overlap`` is not given: this, or a third of the window when shorter.
DEFAULT_OVERLAP = 16
#: ``--preview`` with the void engine: this many DDIM steps (the reference's 30 for a run), pass 1
#: only. The propagate engine has no speed knobs: its defaults are its fastest settings.
PREVIEW_VOID_STEPS = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plate",
        required=True,
        help="plate sequence, e.g. shot.####.exr; PATTERN:part/ names a multi-part file's part",
    )
    p.add_argument(
        "--view",
        default="all",
        help="stereo plates: left, right... or all (default: every view, one job each)",
    )
    p.add_argument(
        "--matte-view",
        default="",
        help="stereo: take every view's mattes from this view (a matte drawn for one view)",
    )
    p.add_argument(
        "--out-layer",
        default="",
        metavar="NAME",
        help="keep the plate's channels and add the clean plate beside them as layer NAME "
        "(NAME.R...; a new part NAME in a multi-part EXR)",
    )
    p.add_argument(
        "--remove", required=True, help="remove matte sequence, or PATTERN:layer.channel"
    )
    p.add_argument(
        "--affected",
        default="",
        help="affected matte (shadow, reflection...), same forms as --remove",
    )
    p.add_argument("--out", required=True, help="output pattern; frame numbers match the input")
    p.add_argument(
        "--fill-out",
        default="",
        metavar="PATTERN",
        help="also write the premultiplied fill (RGBA, float EXR) of the edited region here",
    )
    p.add_argument(
        "--matte-out",
        default="",
        metavar="PATTERN",
        help="also write the matte the composite used here: out = plate * (1 - matte) + fill",
    )
    p.add_argument(
        "--grade-layers",
        action="store_true",
        help="also write fill and matte inside each --out EXR: channels fill.R/G/B/A and "
        "matte.A (float) beside the plate's, or parts 'fill' and 'matte' of a multi-part "
        "plate (default: off; works with or without --fill-out/--matte-out)",
    )
    p.add_argument(
        "--range",
        dest="frame_range",
        default="",
        help="FIRST-LAST (default: every plate frame on disk)",
    )
    add_output_policy(p)
    p.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="FRAME=PATH",
        help="a clean frame you painted (an EXR of the plate's size) that the propagate engine "
        "spreads through the shot as the hole's source; repeatable (void ignores it)",
    )
    p.add_argument(
        "--detach",
        action="store_true",
        help="return once the daemon has every input frame; prints the attach command",
    )
    p.add_argument(
        "--preview",
        default="",
        metavar="FRAME[,FRAME...]",
        help="quick look: compute only the windows that hold these frames (with their context) "
        "at the engine's fastest settings (void: "
        f"{PREVIEW_VOID_STEPS} steps, pass 1 only) and write them beside --out as "
        "<name>_preview.####.exr, replacing earlier previews of those frames",
    )
    add_progress_argument(p)
    add_job_settings(p)


def add_output_policy(p: argparse.ArgumentParser) -> None:
    """What to do when the output sequence already holds frames of another job."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace frames another job (or other settings) left in the output sequence",
    )
    g.add_argument(
        "--version-up",
        action="store_true",
        help="write to the next free _v### version of --out (clean_v001 -> clean_v002)",
    )


def add_job_settings(p: argparse.ArgumentParser) -> None:
    """Flags shared by every command that creates a job."""
    p.add_argument(
        "--preset",
        default="",
        metavar="NAME",
        help="artist preset that sets window, overlap, seam, dilation, ROI margin, feather, "
        "pass 2 and engine options; flags given explicitly override it. One of: "
        + ", ".join(f"'{x.name}'" for x in PRESETS)
        + " (or with '-' for spaces: fast-preview); see 'presets' below",
    )
    p.epilog = "\n".join(["presets:", *(_describe_preset(x) for x in PRESETS)])
    p.add_argument("--engine", default="propagate", help="propagate (CPU) or void (the VOID model)")
    p.add_argument(
        "--window", type=int, default=197, help="longest window in frames (rounded down to 8m+5)"
    )
    p.add_argument(
        "--overlap",
        type=int,
        default=None,
        help=f"frames shared by neighbouring windows (default: {DEFAULT_OVERLAP}, or a third of "
        "a shorter window)",
    )
    p.add_argument(
        "--seam",
        choices=("crossfade", "chain"),
        default="crossfade",
        help="how neighbouring windows meet: crossfade blends the overlap, chain continues "
        "from the previous window",
    )
    p.add_argument("--dilation", type=int, default=4, help="grow the mattes by this many pixels")
    p.add_argument("--roi-margin", type=int, default=48, help="context around the masks, pixels")
    p.add_argument("--feather", type=int, default=6, help="soft edge of the composite, pixels")
    p.add_argument("--prompt", default="", help="background description (void engine)")
    p.add_argument("--seed", type=int, default=42, help="noise seed (void engine)")
    p.add_argument(
        "--pass2", action="store_true", help="run VOID's warped-noise refinement pass (void engine)"
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="void engine: step caching, faster with a small deviation (default: the reference's output)",
    )
    p.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an engine option (void: steps=12, pass2_steps=20); a preset's win over it; "
        "repeatable (hosts pass their quality knob this way)",
    )
    p.add_argument(
        "--ocio-config",
        default="",
        help="OCIO config for the plate (default: $OCIO, else OCIO's built-in config)",
    )
    p.add_argument(
        "--colourspace",
        default="",
        help="the plate's colour space in that config (default: scene-linear Rec.709)",
    )
    p.add_argument(
        "--restore-detail",
        action="store_true",
        help="re-inject the plate's grain into the filled region",
    )
    p.add_argument(
        "--endpoint",
        default=P.DEFAULT_ENDPOINT,
        help="daemon address",
    )
    p.add_argument(
        "--no-autostart", action="store_true", help="fail instead of starting a local daemon"
    )


def _describe_preset(preset: Preset) -> str:
    fields = ", ".join(f"{k} {v}" for k, v in {**preset.settings, **preset.engine_options}.items())
    return textwrap.fill(
        f"{preset.name}: {preset.description} ({fields})",
        width=88,
        initial_indent="  ",
        subsequent_indent="      ",
    )


def default_overlap(window: int) -> int:
    """The overlap a window gets when the user set none: 16, or a third of a shorter window."""
    length = valid_length_at_most(max(window, 1)) if window >= 5 else max(window, 1)
    return max(0, min(DEFAULT_OVERLAP, length // 3))


def settings_from_args(args: argparse.Namespace) -> dict:
    """The job settings the flags describe: ``--preset`` first, explicit flags on top.

    ``args._explicit`` (set by :func:`void_client.cli.main.main`) names the flags given on the
    command line; without it (a script's Namespace) the preset wins over every field it sets.
    """
    settings = _flag_settings(args)
    preset = getattr(args, "preset", "")
    if preset:
        explicit: set[str] = getattr(args, "_explicit", set())
        chosen = apply_preset(preset, settings)
        for key in PRESET_KEYS:
            if key in explicit:
                chosen[key] = settings[key]
        if "window" in explicit and "overlap" not in explicit:
            # The preset's overlap was chosen for its own window: keep it valid for this one.
            length = valid_length_at_most(max(chosen["window"], 5))
            chosen["overlap"] = min(chosen["overlap"], length // 3)
        settings = chosen
        log.info("--preset %s: %s", preset, {k: settings.get(k) for k in PRESET_KEYS})
    if settings["overlap"] is None:
        settings["overlap"] = default_overlap(settings["window"])
        log.info(
            "--overlap not given: using --overlap %d for --window %d",
            settings["overlap"],
            settings["window"],
        )
    return settings


def _flag_settings(args: argparse.Namespace) -> dict:
    return {
        "engine": args.engine,
        "window": args.window,
        "overlap": args.overlap,
        "seam": args.seam,
        "dilation": args.dilation,
        "roi_margin": args.roi_margin,
        "feather": args.feather,
        "prompt": args.prompt,
        "seed": args.seed,
        "pass2": args.pass2,
        "restore_detail": args.restore_detail,
        **_engine_options(args),
        # Left out when empty, so what the plate file says about itself (e.g. sRGB PNG) stands.
        **({"ocio_config": args.ocio_config} if args.ocio_config else {}),
        **({"colourspace": args.colourspace} if args.colourspace else {}),
    }


def _engine_options(args: argparse.Namespace) -> dict:
    """``{"engine_options": ...}`` from ``--engine-option KEY=VALUE`` (VALUE read as JSON when it
    is JSON: 12, true) and ``--fast``; empty when neither is given."""
    options: dict = {}
    for item in getattr(args, "engine_option", None) or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise VoidError(
                ErrorCode.BAD_SPEC, f"--engine-option {item!r}: write KEY=VALUE", "engine_options"
            )
        try:
            options[key.strip()] = json.loads(text)
        except ValueError:
            options[key.strip()] = text
    if getattr(args, "fast", False):
        options["fast"] = True
    return {"engine_options": options} if options else {}


def request_from_args(args: argparse.Namespace) -> RemoveRequest:
    """The ``RemoveRequest`` a command's ``--plate/--remove/--affected/--out/--range`` flags describe."""
    return RemoveRequest(
        plate=args.plate,
        remove=args.remove,
        affected=args.affected,
        out=args.out,
        frame_range=parse_range(args.frame_range) if args.frame_range else None,
        settings=settings_from_args(args),
        endpoint=getattr(args, "endpoint", P.DEFAULT_ENDPOINT),
        autostart=not getattr(args, "no_autostart", False),
        overwrite=getattr(args, "overwrite", False),
        view=getattr(args, "view", "all"),
        matte_view=getattr(args, "matte_view", ""),
        references=parse_references(getattr(args, "reference", None) or []),
        out_layer=getattr(args, "out_layer", ""),
        fill_out=getattr(args, "fill_out", ""),
        matte_out=getattr(args, "matte_out", ""),
        grade_layers=getattr(args, "grade_layers", False),
    )


def attach_command(job: str, req: RemoveRequest) -> str:
    """The exact command that collects ``job``'s frames later."""
    parts = ["void-remove", "attach", job, "--plate", req.plate, "--remove", req.remove]
    if req.affected:
        parts += ["--affected", req.affected]
    parts += ["--out", req.out]
    # Where the detached job's fill and matte go: attach writes them (void_client.layer_outputs).
    parts += [
        x
        for f, v in (("--fill-out", req.fill_out), ("--matte-out", req.matte_out))
        if v
        for x in (f, v)
    ]
    parts += ["--grade-layers"] if req.grade_layers else []
    # A stereo run's attach id names every view's job; these say how its mattes and output go.
    for flag, value in (("--matte-view", req.matte_view), ("--out-layer", req.out_layer)):
        parts += [flag, value] if value else []
    parts += ["--endpoint", req.endpoint]
    return shlex.join(parts)


@contextmanager
def ctrl_c_cancels() -> Iterator[threading.Event]:
    """First Ctrl-C: set the event (the session cancels the job on the daemon). Second: raise
    KeyboardInterrupt (leave the job running). Only the main thread may install handlers."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("void-remove: cancelling the job (Ctrl-C again to leave it running)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def report_missing(report: JobReport, out: str) -> int:
    """Exit status for a finished job: 0, or 3 naming the frames this command did not write."""
    if not report.frames_missing:
        return 0
    print(
        f"void-remove: job {report.job} ended but {len(report.frames_missing)} requested frames "
        f"were not written to {out} by this command (missing frames "
        f"{format_ranges(report.frames_missing)}); another client may have collected them. "
        "Re-run to compute them again.",
        file=sys.stderr,
    )
    return EXIT_MISSING


def run_job(
    req: RemoveRequest,
    total: int | None,
    attach: str = "",
    detach: bool = False,
    done: Callable[[JobReport], None] | None = None,
) -> int:
    """Run (or attach to) a job with Ctrl-C handling and the exit statuses documented above."""
    job = {"id": attach}

    def submitted(job_id: str) -> None:
        job["id"] = job_id

    with ctrl_c_cancels() as cancel:
        try:
            with job_progress(total, out=req.out) as on_event:
                report = remove_sequence(
                    req,
                    kept_only(on_event, req.keep),
                    cancel,
                    attach=attach,
                    on_submit=submitted,
                    detach=detach,
                )
        except KeyboardInterrupt:
            if not job["id"]:
                print("void-remove: interrupted before the job was submitted", file=sys.stderr)
                return EXIT_INTERRUPTED
            print(
                f"void-remove: left job {job['id']} running on the daemon; collect its frames "
                f"with:\n  {attach_command(job['id'], req)}",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        except VoidError as exc:
            if exc.code != ErrorCode.CANCELLED or not cancel.is_set():
                raise
            print(
                f"void-remove: {exc.message}; frames already written to {req.out} are kept "
                "(see its manifest)",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
    if report.detached:
        print(
            f"void-remove: job {report.job} has all its input frames and runs on the daemon; "
            f"collect its frames with:\n  {attach_command(report.job, req)}",
            file=sys.stderr,
        )
        return 0
    if done is not None:
        done(report)
    return report_missing(report, req.out)


def kept_only(
    on_event: Callable[[P.Message], None], keep: tuple[int, ...]
) -> Callable[[P.Message], None]:
    """A preview's events as the progress display should count them: the results of its
    context frames (computed, never written) left out, so the bar counts the frames it writes."""
    if not keep:
        return on_event
    wanted = set(keep)

    def on(msg: P.Message) -> None:
        if isinstance(msg, P.Result):
            msg = dataclasses.replace(
                msg,
                images=[(d, a) for d, a in msg.images if d.frame in wanted],
                paths=[e for e in msg.paths if int(e["frame"]) in wanted],
            )
        on_event(msg)

    return on


def parse_preview(text: str) -> list[int]:
    """``"1010,1050"`` (ranges allowed: ``"1010-1012,1050"``) → sorted unique frames."""
    frames: set[int] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        first, last = parse_range(part)
        frames.update(range(first, last + 1))
    if not frames:
        raise VoidError(
            ErrorCode.BAD_SPEC, f"--preview {text!r} names no frame; e.g. --preview 1010,1050"
        )
    return sorted(frames)


def preview_pattern(out: str) -> str:
    """``/o/clean.####.exr`` → ``/o/clean_preview.####.exr`` (beside the output); a view token
    is kept, after the name as for --version-up: ``clean.%V.`` → ``clean_preview.%V.``."""
    pat = SequencePattern.parse(out)
    folder, base = os.path.split(pat.prefix)
    name, view_part = split_at_view(base)
    stem = name.rstrip("._-")
    sep = name[len(stem) :]
    stem = stem or "clean"  # "/o/.####.exr" or "/o/####.exr": no name to extend
    return os.path.join(folder, f"{stem}_preview{sep}{view_part}{'#' * pat.padding}{pat.suffix}")


def covering_windows(
    n_frames: int, positions: list[int], window: int, overlap: int
) -> list[Window]:
    """The windows of a full run (``plan_windows``) needed for ``positions``: per position, the
    window it sits deepest in (most context on both sides), each window once, in order."""
    plan = plan_windows(n_frames, window, overlap)
    chosen: dict[int, Window] = {}
    for p in positions:
        best = max((w for w in plan if w.covers(p)), key=lambda w: min(p - w.start, w.stop - 1 - p))
        chosen[best.index] = best
    return [chosen[k] for k in sorted(chosen)]


def preview_spans(windows: list[Window]) -> list[tuple[int, int]]:
    """Overlapping or touching windows merged into ``[start, stop)`` position spans: one job
    each, so no job's window straddles a gap between two previews."""
    spans: list[tuple[int, int]] = []
    for w in windows:
        if spans and w.start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], w.stop))
        else:
            spans.append((w.start, w.stop))
    return spans


def fast_settings(settings: dict) -> dict:
    """The settings a preview runs with: the engine's fastest, the look (mattes, feather,
    window plan) unchanged."""
    fast = {**settings, "pass2": False}
    if settings.get("engine") == "void":
        fast["engine_options"] = {
            **(settings.get("engine_options") or {}),
            "steps": PREVIEW_VOID_STEPS,
        }
    else:
        fast.pop("engine_options", None)  # propagate: its defaults
    return fast


def preview_requests(
    req: RemoveRequest, wanted: list[int]
) -> tuple[list[int], list[Window], list[tuple[list[int], RemoveRequest]]]:
    """The jobs a preview of frames ``wanted`` runs (``--preview`` and the panel's "Preview
    frame"): the shot's frames, the covering windows, and per merged span its frames and a
    request at fast settings writing only ``wanted`` to ``<name>_preview.####.exr``."""
    # Every check of a full run (and its "did you mean"); a %V plate's first view's frames.
    shot = SequenceJob(first_view_request(req)).frames
    outside = [f for f in wanted if f not in shot]
    if outside:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--preview frames {format_ranges(outside)} are not in the shot "
            f"({format_ranges(shot)}); pick frames of the plate or widen --range",
            "preview",
        )
    settings = fast_settings(req.settings)
    windows = covering_windows(
        len(shot), [shot.index(f) for f in wanted], settings["window"], settings["overlap"]
    )
    out = preview_pattern(req.out)
    parts = []
    for start, stop in preview_spans(windows):
        frames = shot[start:stop]
        # The run's request otherwise (stereo: --view, --matte-view, --out-layer kept).
        part = dataclasses.replace(
            req,
            out=out,
            frame_range=(frames[0], frames[-1]),
            settings=settings,
            overwrite=True,  # a preview replaces earlier previews of its frames
            fill_out=preview_pattern(req.fill_out) if req.fill_out else "",
            matte_out=preview_pattern(req.matte_out) if req.matte_out else "",
            references={f: p for f, p in req.references.items() if frames[0] <= f <= frames[-1]},
            keep=tuple(f for f in wanted if frames[0] <= f <= frames[-1]),
        )
        parts.append((frames, part))
    return shot, windows, parts


def run_preview(args: argparse.Namespace, req: RemoveRequest) -> int:
    """``--preview``: the covering windows only, fast settings, ``<name>_preview.####.exr``."""
    wanted = parse_preview(args.preview)
    shot, windows, parts = preview_requests(req, wanted)
    settings = parts[0][1].settings
    mode = (
        f"void fast mode: {PREVIEW_VOID_STEPS} steps, pass 1 only"
        if settings.get("engine") == "void"
        else f"{settings.get('engine')} defaults"
    )
    print(
        f"void-remove: preview of frames {format_ranges(wanted)} ({mode}): computing "
        f"{len(windows)} window(s), frames "
        + ", ".join(f"{shot[w.start]}-{shot[w.stop - 1]}" for w in windows),
        file=sys.stderr,
    )
    status = 0
    # Counted in the frames the preview writes (x views for a %V plate), not its context
    # frames; the jsonl stream counts for the whole command, a bar for each job.
    everything = sum(shot_length(part) for _frames, part in parts)
    for _frames, part in parts:
        status = max(
            status, run_job(part, everything if current() is not None else shot_length(part))
        )
        if status == EXIT_INTERRUPTED:
            return status
    shown = [
        SequencePattern.parse(expand_view(preview_pattern(p), view))
        for p in (req.out, req.fill_out, req.matte_out)
        if p
        for view in (scan_views(preview_pattern(p)) if has_view_token(p) else [""])
    ]
    print(
        "void-remove: preview written: "
        + ", ".join(s.path(f) for s in shown for f in wanted if os.path.exists(s.path(f))),
        file=sys.stderr,
    )
    return status


def main(args: argparse.Namespace) -> int:
    # --progress bar|jsonl|none; SIGTERM acts as Ctrl-C (void_client.cli.progress_stream).
    return run_command(args, _main)


def _main(args: argparse.Namespace) -> int:
    req = request_from_args(args)
    no_prompt = prompt_warning(args.engine, args.prompt, "--prompt")
    if no_prompt:
        warn(no_prompt)
    if req.references and req.settings.get("engine") == "void":
        warn(
            "warning: the void engine ignores --reference (only propagate uses "
            "reference frames; see docs/void-engine.md)"
        )
    if args.preview:
        return run_preview(args, req)  # beside --out itself: previews are not versioned
    if args.version_up:
        req.out = next_version(req.out)
        req.fill_out = next_version(req.fill_out) if req.fill_out else ""
        req.matte_out = next_version(req.matte_out) if req.matte_out else ""
        print(f"void-remove: --version-up: writing {req.out}", file=sys.stderr)
    total = shot_length(req)

    def done(report: JobReport) -> None:
        print(
            f"job {report.job}: wrote {len(report.frames_written)} frames to "
            f"{written_to(req)} in {report.seconds:.1f} s ({report.windows} windows, {report.cached_windows} from cache)",
            file=sys.stderr,
        )

    return run_job(req, total or None, detach=args.detach, done=done)


def written_to(req: RemoveRequest) -> str:
    """``out`` and where its fill and matte went, for the closing line of run and attach."""
    extra = [f"{layer} {p}" for layer, p in (("fill", req.fill_out), ("matte", req.matte_out)) if p]
    extra += ["fill and matte as layers inside"] if req.grade_layers else []
    return f"{req.out} ({'; '.join(extra)})" if extra else req.out


def shot_length(req: RemoveRequest) -> int:
    """Output files the run writes, what the bar and the jsonl stream's ``written`` count: the
    frames (the range, else the plate frames on disk) times the views of a ``%V`` plate (a file
    per view and frame; a stereo file holds every view in one file a frame). 0 if unreadable:
    the job's own checks then say why."""
    views = 1
    with contextlib.suppress(VoidError):
        if has_view_token(split_channel(req.plate)[0]):
            views = len(pattern_views(req))
    if req.keep:  # a preview: its window's other frames are context, never written
        return len(req.keep) * views
    if req.frame_range:
        return (req.frame_range[1] - req.frame_range[0] + 1) * views
    try:
        return len(SequenceRef.parse(first_view_request(req).plate).pattern.scan()) * views
    except VoidError:
        return 0
