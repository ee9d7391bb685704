"""``void-remove install nuke``: VOID Remove's NUKE_PATH folder in ~/.nuke/init.py, the client's
dependencies for Nuke's Python.

Writes one marked block into the user's ``init.py`` (running again replaces the block, so it is
there once) that appends ``<nuke-dir>/void_remove/site-packages`` and the folders holding
``void_nuke``, ``void_client`` and ``void_shaders`` to ``sys.path``, and calls
``nuke.pluginAddPath`` on this installation's ``void_nuke/nuke_path`` folder (package data:
``init.py``, ``menu.py``, ``VOIDRemove.gizmo``, ``void_remove_batch.py``; found with
:func:`find_nuke_path`). The client's light dependencies (numpy, pyzmq, msgpack,
OpenImageIO) are pip-installed with ``--target`` into that site-packages folder for Nuke's own
Python version, so Nuke's installation is never touched. Qt is not installed by default: Nuke
13-15 ship PySide2 and Nuke 16-17 ship PySide6, and a second copy on ``sys.path`` would load a Qt
that does not match Nuke's (``--with-qt`` adds it for a build that lacks one).

Nuke 13 and 14 are refused before anything changes (issue 16, finding 8): their Python (3.7,
3.9) is below the client's 3.10 and OpenImageIO publishes no wheel for 3.7, so pip would fail
half-way or install a client that cannot import. The host isolation planned in ``docs/nuke.md``
lifts this.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

#: Nuke major version -> (its Python, the Qt binding it ships), per the VFX Reference Platform
#: year each release follows (13: CY2020, 14: CY2022, 15: CY2023, 16: CY2024, 17: CY2025: Python
#: 3.11, Qt 6.5). Nuke 17's entry is the platform's, not read off a Foundry release note: pass
#: ``--nuke-python`` (Nuke's own ``python3``) to be exact.
NUKE_PYTHONS: dict[int, tuple[str, str]] = {
    13: ("3.7", "PySide2"),
    14: ("3.9", "PySide2"),
    15: ("3.10", "PySide2"),
    16: ("3.11", "PySide6"),
    17: ("3.11", "PySide6"),
}
#: What ``--with-qt`` adds, matching the Qt each Nuke is built against (5.15 and 6.5).
QT_REQUIREMENTS = {"PySide2": "PySide2>=5.15,<5.16", "PySide6": "PySide6-Essentials>=6.5,<6.6"}
#: The client's Python floor (pyproject's requires-python); older Nukes are refused.
CLIENT_MIN_PYTHON = (3, 10)
DISTRIBUTION = "void-remove"
#: Files that make a folder the VOID Remove NUKE_PATH entry.
NUKE_PATH_FILES = ("init.py", "menu.py", "VOIDRemove.gizmo")

BEGIN = "# >>> void-remove >>>"
END = "# <<< void-remove <<<"
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"[^\n]*\n?", re.S)

Runner = Callable[..., Any]


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
        help="Nuke major version, picks its Python for the dependencies (default 15; 13 and 14 are refused)",
    )
    p.add_argument(
        "--nuke-python",
        default="",
        help="Nuke's own Python (e.g. /usr/local/Nuke15.1v1/python3); pip runs with it instead of matching --nuke-version",
    )
    p.add_argument(
        "--source",
        default="",
        help="the NUKE_PATH folder to register (default: this installation's nuke/ folder)",
    )
    p.add_argument(
        "--no-deps", action="store_true", help="only edit init.py; install no dependencies"
    )
    p.add_argument(
        "--with-qt",
        action="store_true",
        help="also install the Qt binding Nuke ships (only for a Nuke build without it)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would change and the pip command; change nothing",
    )
    p.add_argument(
        "--uninstall",
        action="store_true",
        help="remove the block from init.py (the site-packages folder is left)",
    )


def install(args: argparse.Namespace, run: Runner = subprocess.run) -> int:
    """``run`` executes the pip command (``subprocess.run`` semantics); tests pass a recorder."""
    nuke_dir = Path(args.nuke_dir).expanduser()
    init_py = nuke_dir / "init.py"
    text = init_py.read_text(encoding="utf-8") if init_py.is_file() else ""
    if args.uninstall:
        new = without_block(text)
        if new == text:
            print(f"nothing to remove: {init_py} has no VOID Remove block")
        elif not args.dry_run:
            init_py.write_text(new, encoding="utf-8")
            print(f"removed the VOID Remove block from {init_py}")
        return 0
    refusal = unsupported(args.nuke_version)
    if refusal:
        print(f"void-remove: {refusal}", file=sys.stderr)
        return 2
    source = Path(args.source).expanduser().resolve() if args.source else find_nuke_path()
    missing = [f for f in NUKE_PATH_FILES if not (source / f).is_file()]
    if missing:
        print(
            f"void-remove: {source} is not the VOID Remove NUKE_PATH folder (no {', '.join(missing)})",
            file=sys.stderr,
        )
        return 1
    site = nuke_dir / "void_remove" / "site-packages"
    new = with_block(text, init_block(source, site, package_roots()))
    if args.dry_run:
        print(
            f"would {'leave' if new == text else 'write'} {init_py}:\n{init_block(source, site, package_roots())}"
        )
    elif new != text:
        nuke_dir.mkdir(parents=True, exist_ok=True)
        init_py.write_text(new, encoding="utf-8")
        print(f"added {source} to Nuke's plugin path in {init_py}")
    else:
        print(f"{init_py} already loads VOID Remove from {source}")
    if args.no_deps:
        return 0
    cmd = pip_command(
        site, args.nuke_version, client_requirements(), args.nuke_python, args.with_qt
    )
    if args.dry_run:
        print("would run: " + " ".join(cmd))
        return 0
    site.mkdir(parents=True, exist_ok=True)
    print("installing the client's dependencies for Nuke's Python: " + " ".join(cmd))
    done = run(cmd, check=False)
    if done.returncode != 0:
        print(
            f"void-remove: pip failed (exit {done.returncode}); the node needs these packages in {site}",
            file=sys.stderr,
        )
        return int(done.returncode) or 1
    print("done. Restart Nuke: Nodes toolbar > VOID > VOID Remove (docs/nuke.md)")
    return 0


def unsupported(nuke_version: int) -> str:
    """Why this Nuke cannot run the VOID Remove node (empty when it can)."""
    py = NUKE_PYTHONS[nuke_version][0]
    if tuple(int(x) for x in py.split(".")) >= CLIENT_MIN_PYTHON:
        return ""
    floor = ".".join(map(str, CLIENT_MIN_PYTHON))
    why = f"Nuke {nuke_version} runs Python {py}, below the VOID Remove client's {floor}"
    if py == "3.7":
        why += " (and OpenImageIO publishes no wheel for Python 3.7)"
    return (
        f"{why}; nothing was installed. Use Nuke 15 or later, or run VOID Remove outside Nuke "
        "('void-remove run', or a render farm) and read its results with a Read node."
    )


def find_nuke_path() -> Path:
    """This installation's NUKE_PATH folder: ``void_nuke/nuke_path`` (package data; a wheel and a
    source checkout alike). A clear error names the file when the install lacks one."""
    folder = Path(str(files("void_nuke") / "nuke_path"))
    missing = [f for f in NUKE_PATH_FILES if not (folder / f).is_file()]
    if missing:
        raise SystemExit(
            f"void-remove: this install of void-remove lacks {', '.join(missing)} in {folder}; "
            "reinstall it (pip install --force-reinstall void-remove)"
        )
    return folder


def package_roots() -> list[Path]:
    """Folders that hold our own packages (void_nuke, void_client, void_shaders), for Nuke's sys.path."""
    roots: list[Path] = []
    for name in ("void_nuke", "void_client", "void_shaders"):
        root = Path(str(files(name))).resolve().parent
        if root not in roots:
            roots.append(root)
    return roots


def client_requirements() -> list[str]:
    """The base (light) dependencies of the installed distribution: pyproject is the one list."""
    try:
        requires = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(
            f"void-remove: the {DISTRIBUTION} distribution is not installed; pip install -e . first"
        ) from None
    return [r for r in requires if ";" not in r]  # markers mean extras (daemon, void, dev...)


def pip_command(
    target: Path,
    nuke_version: int,
    requirements: Sequence[str],
    nuke_python: str = "",
    with_qt: bool = False,
) -> list[str]:
    """pip install --target for Nuke's Python: run by Nuke's own interpreter when given, else by
    this one with ``--python-version`` and wheels only (so nothing is built for the wrong Python)."""
    py, qt = NUKE_PYTHONS[nuke_version]
    reqs = [*requirements, *([QT_REQUIREMENTS[qt]] if with_qt else [])]
    if nuke_python:
        return [nuke_python, "-m", "pip", "install", "--upgrade", "--target", str(target), *reqs]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--upgrade",
        "--target",
        str(target),
        "--python-version",
        py,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        *reqs,
    ]


def init_block(source: Path, site: Path, roots: Sequence[Path] = ()) -> str:
    lines = [
        f"{BEGIN} (written by 'void-remove install nuke'; run it again to update, --uninstall to remove)\n",
        "import sys as _void_sys\n",
        "import nuke as _void_nuke\n",
        # after Nuke's own modules: these folders only fill in what Nuke lacks; the dependencies
        # built for Nuke's Python come before our own packages' folders
        *(
            f"if {str(p)!r} not in _void_sys.path:\n    _void_sys.path.append({str(p)!r})\n"
            for p in (site, *roots)
        ),
        f"_void_nuke.pluginAddPath({str(source)!r})\n",
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
