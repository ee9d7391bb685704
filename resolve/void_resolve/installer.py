"""Add VOID Remove to DaVinci Resolve's Workspace ▸ Scripts menu.

Writes ``VOID Remove.py`` (the text of ``void_resolve/menu_script.py`` with this installation's
paths filled in) into Resolve's ``Fusion/Scripts/<folder>`` for this user (or all users).
Running it again rewrites nothing when nothing changed; ``--uninstall`` removes only a file this
command wrote. Resolve lists scripts when it starts, so restart it after the first install.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shlex
import sys
import sysconfig
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

from void_client.atomic import write_text_atomic
from void_resolve.locations import SCRIPT_FOLDERS, scripts_dir

SCRIPT_NAME = "VOID Remove.py"
#: The self-test a TD runs in the real Resolve (void_resolve/selftest.py, docs/resolve.md).
SELFTEST_NAME = "VOID Remove Self-Test.py"
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
) -> int:
    """``system``, ``env`` and ``home`` default to this machine's; tests pass other layouts."""
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
    if args.uninstall:
        return max(uninstall(target), uninstall(selftest))
    paths, daemon = package_paths(), daemon_command()
    test_text = script_text(paths, daemon, "void_resolve.selftest")
    if not (selftest.is_file() and selftest.read_text(encoding="utf-8") == test_text):
        if selftest.is_file() and not _ours(selftest):
            print(
                f"void-remove: {selftest} was not written by this installer; left alone",
                file=sys.stderr,
            )
        else:
            write_text_atomic(selftest, test_text)
    text = script_text(paths, daemon)
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        print(f"VOID Remove is already installed and up to date: {target}")
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
        f"Resolve must use Python {sys.version_info.major}.{sys.version_info.minor} (this one) to load the packages."
    )
    return 0


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


def package_paths() -> list[str]:
    """Folders Resolve's Python needs on ``sys.path``: where void_resolve and void_client live,
    then this interpreter's site-packages (numpy, pyzmq, msgpack, OpenImageIO)."""
    import void_client

    paths = [menu_script_source().parents[1], Path(void_client.__file__).resolve().parents[1]]
    paths += [Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")]
    out: list[str] = []
    for p in paths:
        s = str(p.resolve())
        if s not in out:
            out.append(s)
    return out


def daemon_command() -> str:
    """This interpreter running the daemon, when it can; Resolve's own cannot start one."""
    if importlib.util.find_spec("void_daemon") and importlib.util.find_spec("cv2"):
        return shlex.join([sys.executable, "-m", "void_daemon"])
    return ""


def script_text(paths: list[str], daemon: str, entry: str = "void_resolve.app") -> str:
    """The menu script with this installation's paths; ``entry`` is the module whose ``main``
    it runs (``void_resolve.selftest`` for the self-test entry)."""
    source = menu_script_source().read_text(encoding="utf-8")
    source = source.replace("from void_resolve.app import main", f"from {entry} import main", 1)
    filled = source.replace("VOID_REMOVE_PATHS = []", f"VOID_REMOVE_PATHS = {paths!r}", 1)
    filled = filled.replace('VOID_DAEMON_COMMAND = ""', f"VOID_DAEMON_COMMAND = {daemon!r}", 1)
    if filled.count("VOID_REMOVE_PATHS = [") != 1:
        raise RuntimeError("menu_script.py lost its VOID_REMOVE_PATHS line")
    return f"{MARKER}\n{filled}"


def _ours(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readline().rstrip("\n") == MARKER
