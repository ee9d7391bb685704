"""Add VOID Remove to DaVinci Resolve's Workspace ▸ Scripts menu.

Host isolation (docs/architecture.md, "Host isolation"; docs/resolve.md, "Install"): Resolve's
Python gets a folder of its own, ``<Fusion>/VOIDRemoveHost`` beside the ``Scripts`` folder,
holding copies of ``void_resolve`` and ``void_hostlink`` (standard library only) and
``void_remove_host.json``, which names this installation's ``void-remove``
(:func:`void_hostlink.record_executable`). The menu scripts (``VOID Remove.py`` and ``VOID Remove
Self-Test.py``, the text of ``void_resolve/menu_script.py``) put only that folder on
``sys.path``. Running it again rewrites nothing when nothing changed; ``--uninstall`` removes
only what this command wrote. Resolve lists scripts when it starts, so restart it after the first
install.

This module runs in void-remove's own environment (``void-remove install resolve``), never
inside Resolve, and is not copied into the host folder.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import shutil
import sys
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

import void_hostlink
from void_client.atomic import write_text_atomic
from void_resolve.locations import SCRIPT_FOLDERS, scripts_dir

SCRIPT_NAME = "VOID Remove.py"
#: The self-test a TD runs in the real Resolve (void_resolve/selftest.py, docs/resolve.md).
SELFTEST_NAME = "VOID Remove Self-Test.py"
#: The host-only folder, beside ``Fusion/Scripts`` (Resolve lists every ``.py`` under Scripts
#: as a menu entry, so the modules cannot live there).
HOST_DIR = "VOIDRemoveHost"
#: ``void_resolve`` modules that Resolve never loads (they import the client): not copied.
NOT_COPIED = frozenset({"installer.py"})
#: First line of every file this installer writes; uninstall removes nothing else.
MARKER = "# Installed by 'void-remove install resolve'; run it again to update, with --uninstall to remove."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scope",
        choices=("user", "all"),
        default="user",
        help="this user's Scripts folder (default) or all users' (needs admin rights)",
    )
    p.add_argument(
        "--folder",
        choices=SCRIPT_FOLDERS,
        default="Utility",
        help="Utility: listed on every page (default); Comp: on the Fusion page; Edit/Color/Deliver: on that page",
    )
    p.add_argument(
        "--scripts-dir",
        default="",
        help="a Fusion/Scripts folder of your own instead of Resolve's default",
    )
    p.add_argument("--uninstall", action="store_true", help="remove the script instead")


def install(
    args: argparse.Namespace,
    system: str | None = None,
    env: Mapping[str, str] | None = None,
    home: str | os.PathLike | None = None,
    worker: list[str] | None = None,
) -> int:
    """``system``, ``env`` and ``home`` default to this machine's; tests pass other layouts.
    ``worker`` is the ``void-remove`` argv to record (default: this installation's)."""
    root = (
        Path(args.scripts_dir)
        if args.scripts_dir
        else scripts_dir(
            system or platform.system(),
            os.environ if env is None else env,
            Path.home() if home is None else home,
            args.scope,
        )
    )
    target = root / args.folder / SCRIPT_NAME
    selftest = root / args.folder / SELFTEST_NAME
    host = host_dir(root)
    if args.uninstall:
        status = max(uninstall(target), uninstall(selftest))
        others = [
            root / folder / name
            for folder in SCRIPT_FOLDERS
            for name in (SCRIPT_NAME, SELFTEST_NAME)
            if (root / folder / name).is_file() and _ours(root / folder / name)
        ]
        if others:  # another folder's entry still runs from the host folder
            print(f"kept {host}: {others[0]} still uses it")
            return status
        return max(status, uninstall_host(host))
    changed = install_host(host, worker or worker_argv())
    paths = [str(host)]
    test_text = script_text(paths, "void_resolve.selftest")
    if not (selftest.is_file() and selftest.read_text(encoding="utf-8") == test_text):
        if selftest.is_file() and not _ours(selftest):
            print(
                f"void-remove: {selftest} was not written by this installer; left alone",
                file=sys.stderr,
            )
        else:
            write_text_atomic(selftest, test_text)
    text = script_text(paths)
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        print(
            f"VOID Remove is {'updated' if changed else 'already installed and up to date'}: "
            f"{target} (scripts in {host})"
        )
        return 0
    if target.is_file() and not _ours(target):
        print(
            f"void-remove: {target} exists and was not written by this installer; move it away first",
            file=sys.stderr,
        )
        return 1
    write_text_atomic(target, text)  # Resolve never lists a half-written script
    print(
        f"installed {target}\nRestart DaVinci Resolve, then run Workspace ▸ Scripts ▸ VOID Remove.\n"
        f"Resolve's Python (3.6 or later) loads only {host}; the job runs in {' '.join(worker or worker_argv())}."
    )
    return 0


def host_dir(scripts_root: Path) -> Path:
    """``<Fusion>/VOIDRemoveHost`` for ``<Fusion>/Scripts``."""
    return scripts_root.parent / HOST_DIR


def host_sources() -> dict[str, Path]:
    """``{path in the host folder: source file}``: the two packages' modules."""
    resolve_pkg = menu_script_source().parent
    hostlink_pkg = Path(void_hostlink.__file__).resolve().parent
    out: dict[str, Path] = {}
    for pkg in (resolve_pkg, hostlink_pkg):
        for src in sorted(pkg.glob("*.py")):
            if pkg is resolve_pkg and src.name in NOT_COPIED:
                continue
            out[f"{pkg.name}/{src.name}"] = src
    return out


def install_host(host: Path, worker: list[str]) -> bool:
    """Copy the host packages into ``host`` (only files that differ; stale ones removed) and
    record ``worker``; returns whether anything changed."""
    changed = False
    wanted = host_sources()
    for rel, src in wanted.items():
        dest = host / rel
        if dest.is_file() and filecmp.cmp(src, dest, shallow=False):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)  # Resolve never imports a half-copied module
        changed = True
    for pkg in ("void_resolve", "void_hostlink"):
        for old in sorted((host / pkg).glob("*.py")):
            if f"{pkg}/{old.name}" not in wanted:
                old.unlink()
                changed = True
    version = _version()
    try:
        recorded = json.loads((host / void_hostlink.CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = {}
    if recorded.get("argv") != worker or recorded.get("version") != version:
        void_hostlink.record_executable(str(host), worker, version)
        changed = True
    return changed


def uninstall_host(host: Path) -> int:
    """Remove the host folder when it is ours (it holds our record); anything else stays."""
    if not (host / void_hostlink.CONFIG_NAME).is_file():
        return 0
    for rel in host_sources():
        (host / rel).unlink(missing_ok=True)
    for pkg in ("void_resolve", "void_hostlink"):
        shutil.rmtree(host / pkg / "__pycache__", ignore_errors=True)
        try:
            (host / pkg).rmdir()
        except OSError:
            pass
    (host / void_hostlink.CONFIG_NAME).unlink()
    try:
        host.rmdir()
    except OSError:
        print(f"void-remove: {host} holds files of someone else's; left them", file=sys.stderr)
    print(f"removed {host}")
    return 0


def worker_argv() -> list[str]:
    """This installation's ``void-remove``: the console script beside this interpreter, else
    the interpreter running the CLI module."""
    folder = Path(sys.executable).parent
    for name in ("void-remove", "void-remove.exe"):
        if (folder / name).is_file():
            return [str(folder / name)]
    return [sys.executable, "-m", "void_client.cli.main"]


def _version() -> str:
    import void_client

    return str(getattr(void_client, "__version__", ""))


def uninstall(target: Path) -> int:
    if not target.is_file():
        print(f"nothing to remove: {target} does not exist")
        return 0
    if not _ours(target):
        print(
            f"void-remove: {target} was not written by this installer; left alone", file=sys.stderr
        )
        return 1
    target.unlink()
    print(f"removed {target}")
    return 0


def menu_script_source() -> Path:
    """``void_resolve/menu_script.py`` of this installation (package data of a wheel or a checkout)."""
    candidate = Path(str(files("void_resolve") / "menu_script.py"))
    if not candidate.is_file():
        raise FileNotFoundError(
            f"this install of void-remove lacks {candidate}; reinstall it (pip install --force-reinstall void-remove)"
        )
    return candidate


def script_text(paths: list[str], entry: str = "void_resolve.app") -> str:
    """The menu script with the host folder filled in; ``entry`` is the module whose ``main``
    it runs (``void_resolve.selftest`` for the self-test entry)."""
    source = menu_script_source().read_text(encoding="utf-8")
    source = source.replace("from void_resolve.app import main", f"from {entry} import main", 1)
    filled = source.replace("VOID_REMOVE_PATHS = []", f"VOID_REMOVE_PATHS = {paths!r}", 1)
    if filled.count("VOID_REMOVE_PATHS = [") != 1:
        raise RuntimeError("menu_script.py lost its VOID_REMOVE_PATHS line")
    return f"{MARKER}\n{filled}"


def _ours(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readline().rstrip("\n") == MARKER
