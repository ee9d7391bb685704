"""``void-remove install nuke``: a host-only copy of VOID Remove's Nuke glue for Nuke's Python,
and which ``void-remove`` it runs.

Nuke's process imports only the standard library, Nuke's own modules and our thin host packages
(docs/nuke.md, "Host isolation"; issue 16, finding 8). So the installer

1. copies ``void_nuke`` (the modules Nuke imports and ``nuke_path/``; not this installer or the
   gizmo writer, which need the client) and ``void_hostlink`` into one host-only folder,
   ``<nuke-dir>/void_remove/python/``, replacing an earlier copy;
2. records there (:func:`void_hostlink.record_executable`) the command that runs this
   installation's ``void-remove`` (this interpreter, ``-m void_client.cli.main``), which the node
   runs for every job, panel and farm submission;
3. writes one marked block into the user's ``init.py`` (running again replaces it, so it is there
   once) that appends only that folder to ``sys.path`` and calls ``nuke.pluginAddPath`` on its
   ``void_nuke/nuke_path``. No site-packages, no numpy, OpenImageIO, pyzmq or Qt enter Nuke.

The host side is Python 3.7 syntax and standard library only (tests/unit/test_nuke_isolation.py),
so every Nuke from 13 (Python 3.7) to 17 installs the same way.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from importlib.resources import files
from pathlib import Path

import void_client
from void_hostlink import record_executable

#: Nuke major version -> its Python, per the VFX Reference Platform year each release follows
#: (13: CY2020, 14: CY2022, 15: CY2023, 16: CY2024, 17: CY2025). Nuke 17's entry is the
#: platform's, not read off a Foundry release note. Informational: the host side needs 3.7+.
NUKE_PYTHONS: dict[int, str] = {13: "3.7", 14: "3.9", 15: "3.10", 16: "3.11", 17: "3.11"}
#: The oldest Python the host side (void_nuke's runtime modules, void_hostlink) supports.
HOST_MIN_PYTHON = (3, 7)
#: Files that make a folder the VOID Remove NUKE_PATH entry.
NUKE_PATH_FILES = ("init.py", "menu.py", "VOIDRemove.gizmo")
#: Modules of void_nuke that run in void-remove's own environment, never in Nuke: not copied.
WORKER_ONLY_MODULES = ("installer.py", "gizmo_writer.py")
#: The host-only folder under the Nuke user folder.
HOST_FOLDER = ("void_remove", "python")

BEGIN = "# >>> void-remove >>>"
END = "# <<< void-remove <<<"
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"[^\n]*\n?", re.S)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nuke-dir",
        default="~/.nuke",
        help="the user's Nuke folder holding init.py (default ~/.nuke)",
    )
    p.add_argument(
        "--nuke-version",
        type=int,
        choices=sorted(NUKE_PYTHONS),
        default=15,
        help="Nuke major version (informational: every one from 13 installs the same way)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would change; change nothing",
    )
    p.add_argument(
        "--uninstall",
        action="store_true",
        help="remove the block from init.py and the host-only folder",
    )


def host_folder(nuke_dir: Path) -> Path:
    """``<nuke-dir>/void_remove/python``: the one folder on Nuke's ``sys.path``."""
    return nuke_dir.joinpath(*HOST_FOLDER)


def install(args: argparse.Namespace) -> int:
    nuke_dir = Path(args.nuke_dir).expanduser()
    init_py = nuke_dir / "init.py"
    text = init_py.read_text(encoding="utf-8") if init_py.is_file() else ""
    folder = host_folder(nuke_dir)
    if args.uninstall:
        new = without_block(text)
        if new == text:
            print(f"nothing to remove: {init_py} has no VOID Remove block")
        elif not args.dry_run:
            init_py.write_text(new, encoding="utf-8")
            print(f"removed the VOID Remove block from {init_py}")
        if folder.is_dir() and not args.dry_run:
            shutil.rmtree(folder)
            print(f"removed {folder}")
        return 0
    block = init_block(folder)
    new = with_block(text, block)
    if args.dry_run:
        print(f"would copy void_nuke and void_hostlink into {folder}")
        print(f"would record {' '.join(worker_argv())} as the void-remove to run")
        print(f"would {'leave' if new == text else 'write'} {init_py}:\n{block}")
        return 0
    copy_host_packages(folder)
    config = record_executable(str(folder), worker_argv(), void_client.__version__)
    print(f"copied the Nuke host packages into {folder}; {config} names this void-remove")
    if new != text:
        nuke_dir.mkdir(parents=True, exist_ok=True)
        init_py.write_text(new, encoding="utf-8")
        print(f"added {folder} to Nuke's sys.path and plugin path in {init_py}")
    else:
        print(f"{init_py} already loads VOID Remove from {folder}")
    print(
        f"done (Nuke {args.nuke_version}, Python {NUKE_PYTHONS[args.nuke_version]}). Restart "
        "Nuke: Nodes toolbar > VOID > VOID Remove (docs/nuke.md)"
    )
    return 0


def worker_argv() -> list[str]:
    """The command that runs this installation's ``void-remove``: its own interpreter, so the
    node runs the client from the environment it was installed in, whatever PATH Nuke has."""
    return [sys.executable, "-m", "void_client.cli.main"]


def package_source(name: str) -> Path:
    return Path(str(files(name)))


def copy_host_packages(folder: Path) -> None:
    """Replace ``folder``'s void_nuke and void_hostlink with this installation's (the host-side
    modules only), so the host folder holds exactly what Nuke may import."""
    source = package_source("void_nuke")
    missing = [f for f in NUKE_PATH_FILES if not (source / "nuke_path" / f).is_file()]
    if missing:
        raise SystemExit(
            f"void-remove: this install of void-remove lacks {', '.join(missing)} in "
            f"{source / 'nuke_path'}; reinstall it (pip install --force-reinstall void-remove)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", *WORKER_ONLY_MODULES)
    for name in ("void_nuke", "void_hostlink"):
        target = folder / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(package_source(name), target, ignore=ignore)


def init_block(folder: Path) -> str:
    nuke_path = folder / "void_nuke" / "nuke_path"
    lines = [
        f"{BEGIN} (written by 'void-remove install nuke'; run it again to update, --uninstall to remove)\n",
        "import sys as _void_sys\n",
        "import nuke as _void_nuke\n",
        # After Nuke's own folders: the host folder holds only our stdlib-only packages.
        f"if {str(folder)!r} not in _void_sys.path:\n    _void_sys.path.append({str(folder)!r})\n",
        f"_void_nuke.pluginAddPath({str(nuke_path)!r})\n",
        f"{END}\n",
    ]
    return "".join(lines)


def with_block(text: str, block: str) -> str:
    """``text`` with exactly one VOID Remove block, replaced in place or appended."""
    if _BLOCK.search(text):
        first = True

        def keep_first(m: re.Match[str]) -> str:
            nonlocal first
            out, first = (block if first else ""), False
            return out

        return _BLOCK.sub(keep_first, text)
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + block


def without_block(text: str) -> str:
    return _BLOCK.sub("", text)
