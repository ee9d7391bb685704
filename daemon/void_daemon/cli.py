"""``void-daemon``: run the VOID Remove service."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from void_client.paths import default_jobs_dir
from void_client.protocol import DEFAULT_ENDPOINT

from .engines import EngineConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="void-daemon", description="VOID Remove daemon (ZeroMQ service).")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve jobs until stopped (Ctrl-C or SIGTERM)")
    s.add_argument("--endpoint", default=os.environ.get("VOID_ENDPOINT", DEFAULT_ENDPOINT), help=f"ZeroMQ endpoint to bind (default {DEFAULT_ENDPOINT})")
    s.add_argument("--ipc", action="append", default=[], help="extra endpoint to bind, e.g. ipc:///tmp/void.sock")
    s.add_argument("--jobs-dir", default=str(default_jobs_dir()), help="where jobs, journals and the window cache live")
    s.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    s.add_argument("--weights-dir", default=os.environ.get("VOID_WEIGHTS_DIR", ""), help="local folder with the VOID weights (void engine)")
    s.add_argument("--memory-mode", default="auto", help="full | model_offload | sequential_offload | auto")
    s.add_argument("--allow-root", action="append", default=[], help="path mode: only read/write under these folders (repeatable)")
    s.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = args.endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    if args.endpoint.startswith("tcp://") and host not in ("127.0.0.1", "localhost", "[::1]"):
        print(
            f"void-daemon: refusing to bind {args.endpoint}: remote binding is opt-in and needs CurveZMQ keys, "
            "which this version does not configure yet; use tcp://127.0.0.1:PORT",
            file=sys.stderr,
        )
        return 2
    from .server import serve

    config = EngineConfig(device=args.device, weights_dir=args.weights_dir, memory_mode=args.memory_mode)
    try:
        serve(args.endpoint, args.jobs_dir, config, args.allow_root, args.ipc)
    except Exception as exc:  # e.g. address in use
        print(f"void-daemon: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
