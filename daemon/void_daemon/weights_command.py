"""check the VOID weights on disk, or download them (base model and the VOID checkpoints)

``void-remove weights check [--dir DIR]`` lists every file the ``void`` engine expects
(:mod:`void_daemon.engines.void.layout`) with its status (present, missing, not-downloaded,
empty, truncated, corrupt, wrong-shape), its size and the command that obtains it. Checkpoints are
judged from their safetensors header alone, in pure Python: no torch, no tensor data read.
``void-remove weights download [--dir DIR]`` fetches only the needed files with ``huggingface_hub``
(an interrupted download resumes); offline it fails at once with the manual commands. It reaches
the CLI as the ``weights`` entry point of ``void_remove.commands`` (``docs/architecture.md``,
plugin entry points; ``docs/void-engine.md``, "Weights"); the first line of this docstring is the
command's ``--help`` description.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from void_client.errors import ErrorCode, VoidError
from void_client.units import format_bytes
from void_daemon.engines.void.checkpoint_header import FileStatus
from void_daemon.engines.void.layout import (
    BASE_REPO,
    COMPONENTS,
    ENV_WEIGHTS_DIR,
    PASS1_FILE,
    PASS2_FILE,
    VOID_REPO,
    FileCheck,
    WeightsLayout,
)

log = logging.getLogger(__name__)

#: Exit status of ``check`` when a needed file is absent or damaged.
EXIT_BAD = 1
#: Seconds to wait for the hub before calling the network unreachable.
PROBE_TIMEOUT_S = 5.0
DEFAULT_ENDPOINT = "https://huggingface.co"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="weights_action", required=True, metavar="{check,download}")
    check = sub.add_parser(
        "check", help="list each expected file: present, missing, truncated, wrong-shape..."
    )
    download = sub.add_parser(
        "download", help="fetch the base model and the VOID checkpoints (huggingface_hub)"
    )
    for q in (check, download):
        q.add_argument("--dir", default="", help=f"weights folder (default ${ENV_WEIGHTS_DIR})")
    download.add_argument(
        "--no-pass2", action="store_true", help=f"skip {PASS2_FILE} (pass 2 is optional)"
    )


def layout_for(folder: str) -> WeightsLayout:
    layout = WeightsLayout.resolve(folder)
    if layout.root is None:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"no weights folder: pass --dir DIR or set ${ENV_WEIGHTS_DIR}",
            "dir",
        )
    return layout


def check_ok(checks: list[FileCheck]) -> bool:
    """Everything pass 1 needs is whole, and pass 2's checkpoint is whole or simply absent."""
    return all(c.ok or (not c.required and c.status == FileStatus.MISSING) for c in checks)


def report(layout: WeightsLayout, checks: list[FileCheck]) -> str:
    """The table ``weights check`` prints: one line per file, the fix under each bad one."""
    lines = [f"VOID weights in {layout.root}"]
    for c in checks:
        where = f"{c.path}/" if c.folder else str(c.path)
        detail = f"  ({c.detail})" if c.detail else ""
        size = format_bytes(c.size) if c.status != FileStatus.MISSING else "-"
        lines.append(f"  {c.status.value:<15} {size:>9}  {c.role:<22} {where}{detail}")
        if not c.ok:
            lines.append(f"      get it: {c.source}")
    if check_ok(checks):
        tail = "pass 1 ready"
        tail += "" if all(c.ok for c in checks) else f"; pass 2 unavailable ({PASS2_FILE} missing)"
    else:
        bad = sum(1 for c in checks if not c.ok)
        tail = f"{bad} file(s) to fix; or run: void-remove weights download --dir {layout.root}"
    return "\n".join([*lines, tail])


def run_check(folder: str) -> int:
    layout = layout_for(folder)
    checks = layout.checks()
    print(report(layout, checks))
    return 0 if check_ok(checks) else EXIT_BAD


# -- download ------------------------------------------------------------------------------------


def _offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_endpoint() -> str:
    """``$HF_ENDPOINT`` read now (huggingface_hub reads it once, at import)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline_reason(endpoint: str) -> str:
    """Why nothing can be downloaded here (empty when the hub answers)."""
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        return "huggingface_hub is not installed (pip install huggingface_hub)"
    if _offline_env():
        return "HF_HUB_OFFLINE is set"
    try:
        urllib.request.urlopen(
            urllib.request.Request(endpoint, method="HEAD"), timeout=PROBE_TIMEOUT_S
        ).close()
    except urllib.error.HTTPError:
        return ""  # it answered: reachable
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{endpoint} cannot be reached ({getattr(exc, 'reason', exc)})"
    return ""


def manual_commands(layout: WeightsLayout, pass2: bool = True) -> str:
    names = f"{PASS1_FILE} {PASS2_FILE}" if pass2 else PASS1_FILE
    folder = layout.pass1.parent if layout.pass1 is not None else layout.root
    return (
        f"  {layout.base_command()}\n"
        f"  huggingface-cli download {VOID_REPO} {names} --local-dir {folder}"
    )


def base_patterns() -> list[str]:
    """Only the files the engine reads from the base repository (no .bin duplicates)."""
    patterns = []
    for component, (config, _weights) in COMPONENTS.items():
        if config:
            patterns.append(f"{component}/{config}")
        patterns += [f"{component}/*.safetensors", f"{component}/*.index.json"]
    patterns += ["tokenizer/*"]
    return patterns


def download(layout: WeightsLayout, pass2: bool = True) -> None:
    """Fetch what is missing or damaged; raise ``WEIGHTS_MISSING`` with the manual commands when
    the hub cannot be reached (checked first, so an offline machine fails at once)."""
    endpoint = hub_endpoint()
    reason = offline_reason(endpoint)
    if reason:
        raise VoidError(
            ErrorCode.WEIGHTS_MISSING,
            f"cannot download the VOID weights: {reason}. On a machine with network access run\n"
            f"{manual_commands(layout, pass2)}\n"
            f"then copy the folder here and run: void-remove weights check --dir {layout.root}",
            "dir",
        )
    from huggingface_hub import hf_hub_download, snapshot_download

    checks = layout.checks()
    assert layout.base is not None and layout.pass1 is not None  # layout_for set the root
    try:
        if any(not c.ok for c in checks if c.role.startswith("base")):
            log.info("downloading %s into %s", BASE_REPO, layout.base)
            # Complete files are skipped and interrupted ones resume (huggingface_hub's
            # .incomplete files under local_dir/.cache).
            snapshot_download(
                BASE_REPO,
                local_dir=layout.base,
                allow_patterns=base_patterns(),
                endpoint=endpoint,
            )
        wanted = [(layout.pass1, PASS1_FILE)]
        if pass2:
            wanted.append((layout.pass2 or layout.pass1.parent / PASS2_FILE, PASS2_FILE))
        by_path = {c.path: c for c in checks}
        for path, name in wanted:
            check = by_path.get(path)
            if check is not None and check.ok:
                continue
            if check is not None and check.status not in (FileStatus.MISSING,):
                # a damaged copy would be taken for a finished one: start over
                Path(path).unlink(missing_ok=True)
            log.info("downloading %s/%s into %s", VOID_REPO, name, path.parent)
            got = Path(
                str(hf_hub_download(VOID_REPO, name, local_dir=path.parent, endpoint=endpoint))
            )
            if got != path:
                got.replace(path)
    except VoidError:
        raise
    except Exception as exc:  # the hub's errors are many; each gets the same remedy
        raise VoidError(
            ErrorCode.WEIGHTS_MISSING,
            f"downloading the VOID weights failed ({exc.__class__.__name__}: {exc}); re-run to "
            f"resume, or on a machine with network access run\n{manual_commands(layout, pass2)}",
            "dir",
        ) from exc


def run_download(folder: str, pass2: bool) -> int:
    layout = layout_for(folder)
    download(layout, pass2)
    checks = layout.checks()
    print(report(layout, checks))
    return 0 if check_ok(checks) else EXIT_BAD


def main(args: argparse.Namespace) -> int:
    if args.weights_action == "check":
        return run_check(args.dir)
    try:
        return run_download(args.dir, pass2=not args.no_pass2)
    except VoidError as exc:
        if exc.code != ErrorCode.WEIGHTS_MISSING:
            raise
        print(f"void-remove: {exc.message}", file=sys.stderr)
        return EXIT_BAD
