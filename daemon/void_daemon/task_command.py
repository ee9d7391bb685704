"""``void-remove task window|assemble|check``: one farm task, run in-process on a farm node.

No daemon: the task reads the shot from shared storage, runs the same job code the daemon runs,
writes atomically into the job's work folder, and is idempotent (a finished window is skipped,
written frames are not written again). Progress goes to stdout as the lines OpenJD reads
(``openjd_progress: <percent>``, ``openjd_status: <message>``); other farms show them in the log.

Before anything else a task applies what the job carries (``farm.json``): its environment
(``OCIO``, ``VOID_*``, ``--env``; the job's values win over the worker's) and its umask, so
every file it writes is readable by the team whichever user the farm runs it as.
``check`` is what ``void-remove farm`` runs at submission: one JSON line on stdout.
``window --index A-B`` / ``--task k`` runs several windows with one engine load; ``serve`` keeps
the engine loaded for a worker session's tasks (:mod:`void_daemon.task_server`, docs/farm.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from void_client.farm.farm_spec import FarmSpec


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="task_kind", required=True, metavar="{window,assemble,check,serve}")
    window = sub.add_parser(
        "window",
        help="run one temporal window, or a run of them with one engine load, of a farm job "
        "(finished windows are skipped)",
    )
    which = window.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--index",
        help="window index K, or a run of consecutive windows A-B, 0-based",
    )
    which.add_argument(
        "--task",
        type=int,
        help="task number k: windows k*N .. k*N+N-1, N = windows_per_task in the spec "
        "(the farm's frame number)",
    )
    assemble = sub.add_parser(
        "assemble", help="blend the seams and write the final frames (after every window)"
    )
    check = sub.add_parser(
        "check",
        help="check a farm job as a worker would (colour space, weights, writable folders)",
    )
    serve = sub.add_parser(
        "serve",
        help="keep the job's engine loaded for the window tasks of one worker session "
        "(OpenJD job environment, --warm-engine; POSIX)",
    )
    serve.add_argument("--socket", required=True, help="Unix socket path (the session's folder)")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument(
        "--detach",
        action="store_true",
        help="start the server in the background, wait for it, print openjd_env for the session",
    )
    mode.add_argument("--stop", action="store_true", help="stop the server on --socket")
    for q in (window, assemble, check, serve):
        q.add_argument("--spec", required=True, help="the job's farm.json")
    window.add_argument(
        "--device", default="", help="override the spec's device: cpu | cuda | cuda:N | mps"
    )
    window.add_argument(
        "--weights-dir",
        default="",
        help="override the weights folder (default: the spec's, else $VOID_WEIGHTS_DIR)",
    )


def farm_progress(percent: float, message: str) -> None:
    """The farm's progress protocol: plain lines on stdout, flushed at once."""
    print(f"openjd_progress: {max(0.0, min(100.0, percent)):.1f}", flush=True)
    print(f"openjd_status: {message}", flush=True)


def apply_job_environment(farm: FarmSpec) -> None:
    """The job's environment and umask, before any file is read or written."""
    for key, value in farm.farm.env.items():
        os.environ[str(key)] = str(value)
    os.umask(int(farm.umask, 8))


def main(args: argparse.Namespace) -> int:
    farm = FarmSpec.load(args.spec)
    apply_job_environment(farm)
    # The daemon package (numpy job code, OpenCV, the engines) is imported only here: the
    # client stays light for hosts, and farm nodes have the daemon installed.
    from void_daemon.farm_tasks import (
        check_job,
        engine_config,
        parse_window_run,
        run_assemble_task,
        run_windows_task,
    )

    if args.task_kind == "check":
        from void_client.errors import VoidError

        try:
            report = check_job(farm)
        except VoidError as exc:
            print(json.dumps({"ok": False, **exc.to_dict()}), flush=True)
            return 1
        print(json.dumps(report), flush=True)
        return 0
    if args.task_kind == "serve":
        from void_daemon import task_server

        if args.detach:
            task_server.start_detached(os.path.abspath(args.spec), args.socket)
        elif args.stop:
            task_server.stop(args.socket)
        else:
            task_server.serve(farm, args.socket)
        return 0
    if args.task_kind == "window":
        first, last = (
            farm.windows_of_task(args.task)
            if args.task is not None
            else parse_window_run(args.index)
        )
        server = os.environ.get("VOID_REMOVE_TASK_SERVER", "")
        if server and not (args.device or args.weights_dir):
            from void_daemon.task_server import run_on_server

            # The session's server keeps the engine loaded; without one, load it here.
            done = run_on_server(server, first, last)
            if done is not None:
                for index, skipped, cached, seconds in done:
                    what = "skipped" if skipped else ("from cache" if cached else "computed")
                    print(
                        f"void-remove: job {farm.job_id} window {index} {what} in {seconds:.1f} s "
                        "(warm engine of this session)",
                        file=sys.stderr,
                    )
                return 0
        config = engine_config(farm, {"device": args.device, "weights_dir": args.weights_dir})
        for outcome in run_windows_task(farm, first, last, farm_progress, config):
            what = (
                "skipped (already done)"
                if outcome.skipped
                else ("from cache" if outcome.cached else "computed")
            )
            print(
                f"void-remove: job {farm.job_id} window {outcome.index} {what} in "
                f"{outcome.seconds:.1f} s",
                file=sys.stderr,
            )
    else:
        outcome = run_assemble_task(farm, farm_progress)
        print(
            f"void-remove: job {farm.job_id}: wrote {len(outcome.frames_written)} frames to {farm.out_pattern} in {outcome.seconds:.1f} s",
            file=sys.stderr,
        )
    return 0
