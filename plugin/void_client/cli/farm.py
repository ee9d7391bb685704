"""``void-remove farm openjd|opencue|deadline``: write (and optionally submit) a farm job.

Either from a shot (``--plate/--remove/--out`` and the same settings as ``run``) or from an
existing ``farm.json`` (re-writing it resumes the same job: the tasks skip finished windows).
OpenCue only: ``--comp-render`` adds the Nuke comp render to the same job spec, as layers that
wait on ``assemble`` (void_client.farm.opencue, docs/farm.md "Comp render").
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from void_client.cli.run import add_job_settings, request_from_args
from void_client.errors import ErrorCode, VoidError
from void_client.farm import SPEC_FILE, farm_names, submit_job
from void_client.farm import opencue as cue
from void_client.farm.farm_spec import (
    DEFAULT_FARM_SIZE,
    GROUP_WRITABLE_UMASK,
    WORK_DIR_NAME,
    WORKER_COMMAND_ENV,
    FarmSettings,
    FarmSpec,
    choose_windows_per_task,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("farm", choices=sorted(farm_names()), help="farm manager to write the job for")
    p.add_argument(
        "spec", nargs="?", default="", help="an existing farm.json (instead of --plate ...)"
    )
    shot = p.add_argument_group("shot (when no SPEC is given)")
    shot.add_argument("--plate", default="", help="plate sequence, e.g. /show/shot/plate.####.exr")
    shot.add_argument(
        "--remove", default="", help="remove matte sequence, or PATTERN:layer.channel"
    )
    shot.add_argument("--affected", default="", help="affected matte, same forms as --remove")
    shot.add_argument("--out", default="", help="output pattern, on storage the farm can write")
    shot.add_argument(
        "--range",
        dest="frame_range",
        default="",
        help="FIRST-LAST (default: every plate frame on disk)",
    )
    shot.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="FRAME=PATH",
        help="a clean frame you painted (an EXR of the plate's size, on storage the farm reads) "
        "that the propagate engine spreads through the shot; repeatable, as for run",
    )
    shot.add_argument(
        "--work-dir",
        default="",
        help=f"shared folder for journals and the window cache (default: {WORK_DIR_NAME} next to "
        "OUT's folder)",
    )
    add_job_settings(p)
    job = p.add_argument_group("farm job")
    job.add_argument(
        "--out-dir",
        default="",
        help="where to write the job files (default: the job's folder in the work dir)",
    )
    job.add_argument(
        "--submit",
        action="store_true",
        help="submit too: openjd runs it here, opencue needs CUEBOT_HOSTS, deadline needs deadlinecommand",
    )
    job.add_argument(
        "--worker-command",
        "--command",
        dest="command",
        default=None,
        help="how farm nodes run void-remove, as one command line (default: $"
        f"{WORKER_COMMAND_ENV}, else this install's interpreter with -m void_client.cli.main)",
    )
    job.add_argument(
        "--no-check",
        action="store_true",
        help="do not run the worker command's check here (for a command that exists only on workers)",
    )
    job.add_argument(
        "--windows-per-task",
        type=int,
        default=None,
        metavar="N",
        help="consecutive windows one task runs with one model load (default: from the window "
        "count and --farm-size; chain jobs up to 8 per task; see docs/farm.md)",
    )
    job.add_argument(
        "--warm-engine",
        action="store_true",
        help="OpenJD: keep the model loaded across the tasks a worker session runs "
        "(a 'task serve' step environment; POSIX workers)",
    )
    job.add_argument(
        "--farm-size",
        type=int,
        default=0,
        metavar="WORKERS",
        help="GPU workers free for this job, for the default --windows-per-task "
        f"(default {DEFAULT_FARM_SIZE})",
    )
    job.add_argument(
        "--keep-work",
        action="store_true",
        help="keep the job's cache entries and chain frames after assemble (default: pruned)",
    )
    modes = job.add_mutually_exclusive_group()
    modes.add_argument(
        "--group-writable",
        action="store_true",
        help=f"tasks write with umask {GROUP_WRITABLE_UMASK} (files 0664, folders 0775)",
    )
    modes.add_argument(
        "--umask", default=None, help="octal umask the tasks write with (default 022: 0644/0755)"
    )
    job.add_argument(
        "--device",
        default=None,
        help="engine device on the nodes: auto | cpu | cuda | cuda:N | mps",
    )
    job.add_argument(
        "--weights-dir",
        default=None,
        help="VOID weights folder as the nodes see it (else $VOID_WEIGHTS_DIR there)",
    )
    job.add_argument("--priority", type=int, default=None)
    job.add_argument("--pool", default=None)
    job.add_argument("--group", default=None)
    job.add_argument("--show", default=None, help="OpenCue show (default $SHOW or 'void')")
    job.add_argument("--shot", default=None, help="OpenCue shot (default $SHOT or the job name)")
    job.add_argument("--timeout-minutes", type=int, default=None, help="per-task time limit")
    job.add_argument(
        "--gpus", type=int, default=None, help="GPUs a window task books (OpenCue; default 1)"
    )
    job.add_argument(
        "--gpu-memory",
        default=None,
        help="GPU memory a window task books, e.g. 24g (OpenCue; default 24g)",
    )
    job.add_argument(
        "--allow-cpu",
        action="store_true",
        help="let a void window task run on a worker without a GPU (default: it fails)",
    )
    job.add_argument(
        "--deadline-plugin",
        default=None,
        choices=["CommandLine", "VoidRemove"],
        help="Deadline plugin: CommandLine (stock) or VoidRemove (shows progress; install it "
        "from the job folder's deadline_plugin/ once)",
    )
    comp = p.add_argument_group("comp render (opencue)")
    comp.add_argument(
        "--comp-render",
        default="",
        metavar="SCRIPT.nk:WRITE[,WRITE...]",
        help="also render these Writes of a saved Nuke script, one layer each in the same "
        "OpenCue job, starting when assemble is done",
    )
    comp.add_argument(
        "--comp-range",
        default="",
        metavar="FIRST-LAST",
        help="frames of the comp render (default: the VOID job's frames)",
    )
    comp.add_argument(
        "--comp-chunk",
        type=int,
        default=cue.COMP_CHUNK,
        metavar="N",
        help=f"frames one comp render task renders with one Nuke start (default {cue.COMP_CHUNK})",
    )
    comp.add_argument(
        "--nuke",
        default="nuke",
        metavar="EXE",
        help="the Nuke executable as the render hosts run it (default: nuke on their PATH)",
    )
    job.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for the tasks (repeatable)",
    )


def build_spec(args: argparse.Namespace) -> FarmSpec:
    """The farm spec from SPEC or the shot flags, with the farm flags applied on top."""
    if args.spec:
        if args.plate or args.remove or args.out:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                "give either a farm.json or --plate/--remove/--out, not both",
                "spec",
            )
        if args.reference:
            # The job's windows (and their cached results) were planned with its references.
            raise VoidError(
                ErrorCode.BAD_SPEC,
                "--reference goes with --plate/--remove/--out: a farm.json keeps the references "
                "it was written with; write a new job to change them",
                "reference",
            )
        spec = FarmSpec.load(args.spec)
    else:
        missing = [f"--{n}" for n in ("plate", "remove", "out") if not getattr(args, n)]
        if missing:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"without a farm.json, {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required",
                missing[0].lstrip("-"),
            )
        req = request_from_args(args)
        spec = FarmSpec.from_request(req, args.work_dir)
    if args.command is not None:
        spec.command = shlex.split(args.command)
    if args.keep_work:
        spec.keep_work = True
    if args.warm_engine:
        spec.warm_engine = True
    if args.windows_per_task is not None:
        spec.windows_per_task = args.windows_per_task
    elif not args.spec or args.farm_size:
        # A new job (or a new farm size for an old one): the default from the window count.
        spec.windows_per_task = choose_windows_per_task(
            len(spec.windows()), spec.job.seam, args.farm_size
        )
    if args.group_writable:
        spec.umask = GROUP_WRITABLE_UMASK
    elif args.umask is not None:
        spec.umask = args.umask
    if args.device is not None:
        spec.engine_config["device"] = args.device
    if args.weights_dir is not None:
        # Absolute: a task runs in the farm's folder, not the submitter's.
        spec.engine_config["weights_dir"] = os.path.abspath(args.weights_dir)
    farm: FarmSettings = spec.farm
    if args.allow_cpu:
        farm.allow_cpu = True
    for key in (
        "priority",
        "pool",
        "group",
        "show",
        "shot",
        "timeout_minutes",
        "gpus",
        "gpu_memory",
        "deadline_plugin",
    ):
        if getattr(args, key) is not None:
            setattr(farm, key, getattr(args, key))
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise VoidError(ErrorCode.BAD_SPEC, f"--env {item!r} must look like KEY=VALUE", "env")
        farm.env[key] = value
    return spec.validate()


def comp_render(args: argparse.Namespace, spec: FarmSpec) -> cue.CompRender | None:
    """``--comp-render`` and its flags, checked (OpenCue only: the Nuke node adds Deadline's
    comp render as its own jobs and OpenJD's as steps of the bundle)."""
    if not args.comp_render:
        if args.comp_range:
            raise VoidError(
                ErrorCode.BAD_SPEC, "--comp-range goes with --comp-render", "comp_render"
            )
        return None
    if args.farm != "opencue":
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--comp-render is for opencue; for {args.farm}, Submit to farm on the Nuke node "
            "adds the comp render itself (docs/nuke.md, Farm)",
            "comp_render",
        )
    return cue.comp_render(
        args.comp_render, args.comp_range, args.nuke, args.comp_chunk, spec.job.frames
    )


def main(args: argparse.Namespace) -> int:
    spec = build_spec(args)
    comp = comp_render(args, spec)
    # With a comp render the spec is written, the comp layers added, then launched once: one
    # spec, so Cuebot resolves the comp layers' depend on assemble.
    main_file = submit_job(
        spec,
        args.farm,
        args.out_dir or None,
        args.submit and comp is None,
        check=not args.no_check,
    )
    if comp is not None:
        folder = main_file.parent
        main_file = cue.write(spec, folder / SPEC_FILE, folder, comp)
        if args.submit:
            reply = cue.submit(main_file, spec)
            (folder / "submitted.log").write_text(reply + ("" if reply.endswith("\n") else "\n"))
    n = len(spec.windows())
    tasks = len(spec.task_windows())
    order = "in order (chain seams)" if spec.sequential else "in parallel (crossfade seams)"
    per = f" ({n} windows, {spec.windows_per_task} per task)" if tasks != n else ""
    print(
        f"{args.farm} job {spec.job_id}: {tasks} window task{'s' if tasks != 1 else ''}{per} "
        f"{order} + assemble",
        file=sys.stderr,
    )
    if comp is not None:
        print(
            f"  comp     {', '.join(comp.writes)} of {comp.script}, frames "
            f"{comp.frames[0]}-{comp.frames[1]}, after assemble",
            file=sys.stderr,
        )
    print(f"  worker   {shlex.join(spec.command)}", file=sys.stderr)
    print(f"  work dir {spec.work_dir}", file=sys.stderr)
    print(f"  output   {spec.out_pattern}", file=sys.stderr)
    if args.submit:
        print(
            f"  submitted; the farm's reply is in {main_file.parent / 'submitted.log'}",
            file=sys.stderr,
        )
    elif args.farm == "openjd":
        print(f"  run it here: openjd run {main_file}", file=sys.stderr)
    print(main_file)
    return 0
