"""``void-daemon``: run the VOID Remove service."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from void_client.errors import VoidError
from void_client.paths import default_jobs_dir
from void_client.protocol import DEFAULT_ENDPOINT
from void_daemon.connections import fit_max_clients, raise_descriptor_limit
from void_daemon.engines import EngineConfig
from void_daemon.server import Limits


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="void-daemon", description="VOID Remove daemon (ZeroMQ service)."
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve jobs until stopped (Ctrl-C or SIGTERM)")
    s.add_argument(
        "--endpoint",
        default=os.environ.get("VOID_ENDPOINT", DEFAULT_ENDPOINT),
        help=f"ZeroMQ endpoint to bind (default {DEFAULT_ENDPOINT})",
    )
    s.add_argument(
        "--ipc",
        action="append",
        default=[],
        help="extra endpoint to bind, e.g. ipc:///tmp/void.sock",
    )
    s.add_argument(
        "--jobs-dir",
        default=str(default_jobs_dir()),
        help="where jobs, journals and the window cache live",
    )
    s.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    s.add_argument(
        "--weights-dir",
        default=os.environ.get("VOID_WEIGHTS_DIR", ""),
        help="local folder with the VOID weights (void engine)",
    )
    s.add_argument(
        "--memory-mode", default="auto", help="full | model_offload | sequential_offload | auto"
    )
    s.add_argument(
        "--allow-root",
        action="append",
        default=[],
        help="path mode: only read/write under these folders (repeatable)",
    )
    s.add_argument("--log-level", default="INFO")
    s.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one object per line, for log collectors",
    )
    sec = s.add_argument_group("security (CurveZMQ; required to bind beyond loopback)")
    sec.add_argument(
        "--curve-secret-key",
        default=os.environ.get("VOID_CURVE_SECRET_KEY", ""),
        metavar="FILE",
        help="the daemon's .key_secret file (void-daemon keys); every endpoint then requires CurveZMQ",
    )
    sec.add_argument(
        "--curve-authorized-keys",
        default=os.environ.get("VOID_CURVE_AUTHORIZED_KEYS", ""),
        metavar="DIR",
        help="folder of client public keys (.key files) allowed to connect; others are refused",
    )
    lim = s.add_argument_group("limits (what one client may ask of this daemon)")
    d = Limits()
    lim.add_argument("--max-job-frames", type=int, default=d.max_job_frames)
    lim.add_argument(
        "--max-job-gib",
        type=float,
        default=d.max_job_bytes / 2**30,
        help="disk a job may need, worst case (GiB)",
    )
    lim.add_argument(
        "--max-jobs", type=int, default=d.max_active_jobs, help="active jobs at once, all clients"
    )
    lim.add_argument(
        "--max-inflight-mib",
        type=float,
        default=d.max_inflight_result_bytes / 2**20,
        help="results sent but not acknowledged, per job (MiB)",
    )
    lim.add_argument(
        "--memory-budget-gib",
        type=float,
        default=0.0,
        help="daemon memory one job's window may take, as estimated before the job is accepted "
        "(GiB; default 0: the memory available when the daemon starts)",
    )
    lim.add_argument(
        "--max-clients",
        type=int,
        default=d.max_clients,
        help="clients served at once; a new one beyond it is told 'busy' (lowered to fit the "
        "open-file limit)",
    )
    life = s.add_argument_group("jobs and disk (docs/reliability.md: Jobs end, Disk)")
    life.add_argument(
        "--job-lease-s",
        type=float,
        default=60.0,
        help="a job whose inputs stop arriving fails after this many seconds without word of it",
    )
    life.add_argument(
        "--retention-days",
        type=float,
        default=7.0,
        help="finished jobs are removed this many days after they end (0: never)",
    )
    life.add_argument(
        "--disk-budget-gib",
        type=float,
        default=0.0,
        help="jobs and window cache stay under this; oldest finished jobs go first (0: no budget)",
    )
    life.add_argument(
        "--keep-job-files",
        action="store_true",
        help="keep a finished job's stored frames (inspection, debugging); age and budget still apply",
    )
    k = sub.add_parser(
        "keys", help="write a CurveZMQ key pair (NAME.key public, NAME.key_secret private)"
    )
    k.add_argument("--dir", required=True, help="folder for the key files")
    k.add_argument(
        "--name", default="server", help="file name stem (server, or one per artist/host)"
    )
    h = sub.add_parser(
        "status",
        help="health check: exit 0 and print the queue when the daemon answers, 1 when not",
    )
    h.add_argument("--endpoint", default=os.environ.get("VOID_ENDPOINT", DEFAULT_ENDPOINT))
    h.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    h.add_argument("--json", action="store_true", help="print the answer as JSON")
    return p


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "t": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def status(args: argparse.Namespace) -> int:
    from void_client.client import DaemonClient

    try:
        with DaemonClient(args.endpoint, timeout=args.timeout) as c:
            hello = c.hello(timeout=args.timeout)
            jobs = c.status()
    except VoidError as exc:
        print(f"void-daemon: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "endpoint": args.endpoint,
                    "version": hello.daemon_version,
                    "gpu": hello.gpu,
                    "engines": hello.engines,
                    "queue_length": hello.queue_length,
                    "jobs": jobs,
                },
                indent=2,
            )
        )
        return 0
    engines = ", ".join(
        f"{e['name']} ({'ok' if e['available'] else 'unavailable'})" for e in hello.engines
    )
    print(
        f"void-daemon {hello.daemon_version} at {args.endpoint}: {hello.gpu or 'CPU'}; engines: {engines}; {hello.queue_length} active jobs"
    )
    for j in jobs:
        print(
            f"  {j['job']}  {j['state']:<9} {j['frames_done']}/{j['frames_total']} frames  {j['name']}"
        )
    return 0


def is_loopback(endpoint: str) -> bool:
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]", "::1")


def keys(args: argparse.Namespace) -> int:
    from void_client.curvezmq import generate

    public, secret = generate(args.dir, args.name)
    print(
        f"public key: {public}  (give it to clients: VOID_CURVE_SERVER_KEY, or the daemon's --curve-authorized-keys folder)"
    )
    print(f"secret key: {secret}  (keep it private; mode 0600)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "keys":
        return keys(args)
    if args.command == "status":
        return status(args)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    curve = None
    if args.curve_secret_key or args.curve_authorized_keys:
        from void_client.curvezmq import load_secret_keys

        try:
            curve = load_secret_keys(args.curve_secret_key)
        except VoidError as exc:
            print(f"void-daemon: {exc.message}", file=sys.stderr)
            return 2
        folder = args.curve_authorized_keys
        if (
            not folder
            or not os.path.isdir(folder)
            or not any(n.endswith(".key") for n in os.listdir(folder))
        ):
            print(
                f"void-daemon: --curve-authorized-keys must be a folder holding the clients' .key files (got {folder!r})",
                file=sys.stderr,
            )
            return 2
    remote = [ep for ep in [args.endpoint, *args.ipc] if not is_loopback(ep)]
    if remote and curve is None:
        print(
            f"void-daemon: refusing to bind {', '.join(remote)}: remote binding is opt-in and needs CurveZMQ; "
            "make keys with 'void-daemon keys' and pass --curve-secret-key and --curve-authorized-keys, "
            "or use tcp://127.0.0.1:PORT",
            file=sys.stderr,
        )
        return 2
    from void_daemon.retention import RetentionPolicy
    from void_daemon.server import serve

    config = EngineConfig(
        device=args.device, weights_dir=args.weights_dir, memory_mode=args.memory_mode
    )
    limits = Limits(
        max_job_frames=args.max_job_frames,
        max_job_bytes=int(args.max_job_gib * 2**30),
        max_active_jobs=args.max_jobs,
        max_inflight_result_bytes=int(args.max_inflight_mib * 2**20),
        memory_budget_bytes=int(args.memory_budget_gib * 2**30),
        # Idle connections must not take the descriptors jobs need (docs/reliability.md).
        max_clients=fit_max_clients(max(1, args.max_clients), raise_descriptor_limit()),
    )
    try:
        serve(
            args.endpoint,
            args.jobs_dir,
            config,
            args.allow_root,
            args.ipc,
            limits,
            curve,
            args.curve_authorized_keys or None,
            retention=RetentionPolicy(
                retention_days=args.retention_days,
                disk_budget_bytes=int(args.disk_budget_gib * 2**30),
                drop_collected=not args.keep_job_files,
            ),
            job_lease_s=args.job_lease_s,
        )
    except VoidError as exc:  # jobs folder in use or unsafe, endpoint taken: say how to fix it
        print(f"void-daemon: {exc.message}", file=sys.stderr)
        return 1
    except Exception as exc:  # e.g. address in use
        print(f"void-daemon: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
