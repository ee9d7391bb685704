"""Host isolation on the Resolve side (issue 16): what Resolve's own Python loads.

Resolve runs ``VOID Remove.py`` in its Python, which may be any 3.6 or later with nothing
installed. The installer gives it one folder (copies of ``void_resolve`` and ``void_hostlink``
plus the record of which ``void-remove`` to run); these tests build that folder with the real
installer code, run the menu script in a bare interpreter (``python -I -S``: no site-packages,
no environment, no current folder) and check that only the standard library and our two
packages load, and that every file Resolve loads parses as Python 3.6 with no 3.7+ feature the
parser misses (postponed annotations, ``dataclasses``, ``list[int]`` / ``X | None`` in an
annotation Python evaluates). Where a real Python 3.6 is installed (pyenv's), the menu script
and every host module also run there (docs/resolve.md, "Which Python").
"""

from __future__ import annotations

import ast
import glob
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from void_resolve import client_tables, installer

#: The oldest Python Resolve's side supports (docs/resolve.md, "Which Python").
FLOOR = (3, 6)

#: A stand-in for Blackmagic's ``DaVinciResolveScript`` module, standard library only. What it
#: models, from Blackmagic's scripting README: ``scriptapp("Resolve")`` returns the Resolve
#: object; ``GetProductName()`` / ``GetVersionString()`` name the edition and version;
#: ``GetProjectManager().GetCurrentProject()`` is the open project (None here: nothing open, so
#: the run stops at its first check, having loaded every module the run needs); ``Fusion()``
#: returns the Fusion object.
FAKE_SCRIPTING_MODULE = """
class _Manager:
    def GetCurrentProject(self):
        return None


class _Resolve:
    def GetProductName(self):
        return "DaVinci Resolve Studio"

    def GetVersionString(self):
        return "19.1.3.7"

    def GetProjectManager(self):
        return _Manager()

    def Fusion(self):
        return object()


def scriptapp(name):
    return _Resolve() if name == "Resolve" else None
"""

#: Run in the bare interpreter: the menu script as Resolve runs it, then every module of the
#: host folder's void_resolve (but the Qt window, which needs Resolve's own PySide6) and
#: void_hostlink. Before 3.10 (no ``sys.stdlib_module_names``) the standard library is what
#: came from the interpreter's own library folder or is built in.
PROBE = textwrap.dedent(
    """
    import importlib, json, os, pkgutil, sys
    sys.path.insert(0, {fake!r})
    script = open({script!r}, encoding="utf-8").read()
    exec(compile(script, {script!r}, "exec"), {{"__name__": "__main__"}})
    import void_resolve, void_hostlink
    for package in (void_resolve, void_hostlink):
        for info in pkgutil.iter_modules(package.__path__):
            if info.name != "qt_window":
                importlib.import_module(package.__name__ + "." + info.name)
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib is None:
        lib = os.path.dirname(os.__file__)
        stdlib = {{
            m.split(".")[0] for m, mod in list(sys.modules.items())
            if m != "__main__" and (not getattr(mod, "__file__", None)
                                    or os.path.abspath(mod.__file__).startswith(lib))
        }}
    ours = sorted({{m.split(".")[0] for m in sys.modules}} - set(stdlib))
    files = sorted(
        m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)
        and m.__name__.split(".")[0] in ("void_resolve", "void_hostlink")
    )
    print("PROBE " + json.dumps({{"modules": ours, "files": files}}))
    """
)


@pytest.fixture()
def host(tmp_path: Path) -> Path:
    """The folder ``void-remove install resolve`` makes, and the menu script pointing at it."""
    folder = tmp_path / "Fusion" / installer.HOST_DIR
    installer.install_host(folder, [str(tmp_path / "venv" / "bin" / "void-remove")])
    (tmp_path / "Scripts").mkdir()
    (tmp_path / "Scripts" / "VOID Remove.py").write_text(
        installer.script_text([str(folder)]), encoding="utf-8"
    )
    (tmp_path / "Scripts" / "VOID Remove Self-Test.py").write_text(
        installer.script_text([str(folder)], "void_resolve.selftest"), encoding="utf-8"
    )
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "DaVinciResolveScript.py").write_text(FAKE_SCRIPTING_MODULE)
    return folder


def python36() -> str | None:
    """pyenv's Python 3.6, when installed and it runs (CI has none: its tests skip)."""
    for exe in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3.6"))):
        try:
            out = subprocess.run(
                [exe, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == "(3, 6)":
            return exe
    return None


@pytest.mark.parametrize("python", ["this", "3.6"])
def test_the_menu_script_loads_only_the_standard_library_and_our_two_packages(
    host: Path, tmp_path: Path, python: str
) -> None:
    exe = sys.executable if python == "this" else python36()
    if exe is None:
        pytest.skip("no Python 3.6 installed (pyenv install 3.6)")
    code = PROBE.format(
        fake=str(tmp_path / "fake"), script=str(tmp_path / "Scripts" / "VOID Remove.py")
    )
    env = {"VOID_RESOLVE_UI": "console", "VOID_REMOVE_HOME": str(tmp_path / "home")}
    if os.name == "nt":  # Windows needs its system root to start Python at all
        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
    r = subprocess.run(
        [exe, "-I", "-S", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    # The run reached Resolve (through the scripting module, as from outside) and stopped at
    # its first check, with the window chosen and the flow loaded.
    assert "no project is open in Resolve" in r.stdout, r.stdout
    probe = json.loads(r.stdout.split("PROBE ", 1)[1])
    assert probe["modules"] == ["DaVinciResolveScript", "__main__", "void_hostlink", "void_resolve"]
    # ...and every one of ours came from the host folder, not from this checkout.
    assert probe["files"] and all(f.startswith(str(host)) for f in probe["files"])
    names = {Path(f).parent.name + "/" + Path(f).name for f in probe["files"]}
    assert {"void_resolve/flow.py", "void_resolve/settings.py", "void_hostlink/compat.py"} <= names


def _host_files(host: Path, tmp_path: Path) -> list[Path]:
    return sorted(host.rglob("*.py")) + sorted((tmp_path / "Scripts").glob("*.py"))


#: Names that exist only in Python 3.7+ (a 3.6 Resolve fails on them at run time, which
#: ``ast.parse(feature_version=...)`` cannot see): imports from typing, and calls/attributes.
NEWER_TYPING = {"Protocol", "Literal", "TypedDict", "Final", "runtime_checkable"}
NEWER_MODULES = {"dataclasses", "contextvars", "importlib.resources"}
NEWER_KEYWORDS = {"capture_output", "text"}  # subprocess.run(capture_output=, text=): 3.7
NEWER_CALLS = {
    "fromisoformat",
    "nullcontext",
    "time_ns",
    "monotonic_ns",
    "isascii",
    "removeprefix",
    "removesuffix",
    "is_relative_to",
    "cached_property",
    "prod",
    "isqrt",
    "batched",
}


def _newer_than_36(tree: ast.AST) -> list[str]:
    found = []
    for node in getattr(tree, "body", []):  # module level: not inside `if TYPE_CHECKING:`
        if isinstance(node, ast.ImportFrom) and node.module == "typing":
            found += [a.name for a in node.names if a.name in NEWER_TYPING]
        if isinstance(node, ast.ImportFrom) and node.module == "functools":
            found += [a.name for a in node.names if a.name in {"cache", "cached_property"}]
        if isinstance(node, ast.ImportFrom) and node.module in NEWER_MODULES | {"__future__"}:
            found.append(node.module)
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name in NEWER_MODULES]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "run":
            if isinstance(node.value, ast.Name) and node.value.id == "asyncio":
                found.append("asyncio.run")
        if isinstance(node, ast.Call):
            found += [k.arg for k in node.keywords if k.arg in NEWER_KEYWORDS]
            if isinstance(node.func, ast.Name) and node.func.id == "zip" and node.keywords:
                found.append("zip(strict=)")
            if isinstance(node.func, ast.Attribute) and node.func.attr in NEWER_CALLS:
                found.append(node.func.attr)
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "join"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "shlex"
            ):
                found.append("shlex.join")
    return found


def _evaluated_annotations(tree: ast.Module) -> list[ast.expr]:
    """The annotations Python evaluates (without postponed annotations): signatures, and
    module- and class-level variables; a local variable's annotation is never evaluated."""
    found: list[ast.expr] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = child.args
                every = a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]
                found.extend(x.annotation for x in every if x is not None and x.annotation)
                if child.returns is not None:
                    found.append(child.returns)
                visit(child, True)
            else:
                if isinstance(child, ast.AnnAssign) and not in_function:
                    found.append(child.annotation)
                visit(child, in_function)

    visit(tree, False)
    return found


def _newer_annotations(tree: ast.Module) -> list[str]:
    """``X | None`` and ``list[int]`` in an evaluated annotation: a TypeError on 3.6-3.9."""
    found = []
    for annotation in _evaluated_annotations(tree):
        for node in ast.walk(annotation):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
                found.append(ast.unparse(annotation))
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                if node.value.id in {"list", "dict", "tuple", "set", "frozenset", "type"}:
                    found.append(ast.unparse(annotation))
    return found


def test_every_file_resolve_loads_is_python_36(host: Path, tmp_path: Path) -> None:
    files = _host_files(host, tmp_path)
    names = {f"{p.parent.name}/{p.name}" for p in files}
    assert {"void_resolve/flow.py", "void_hostlink/process.py", "Scripts/VOID Remove.py"} <= names
    problems = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text, str(path), feature_version=FLOOR)
        except SyntaxError as exc:
            problems[str(path)] = f"line {exc.lineno}: {exc.msg}"
            continue
        newer = _newer_than_36(tree)
        if path.name == "compat.py":  # imports the real dataclasses where it exists (try/except)
            newer = [n for n in newer if n != "dataclasses"]
        if newer:
            problems[str(path)] = f"Python 3.7+ only: {sorted(set(newer))}"
        # 3.6 evaluates annotations at definition time (no postponed annotations there).
        annotations = _newer_annotations(tree)
        if annotations:
            problems[str(path)] = f"annotations 3.6 cannot evaluate: {annotations}"
    assert problems == {}


def test_the_menu_scripts_parse_on_35_to_say_what_is_needed(host: Path, tmp_path: Path) -> None:
    """A Resolve on Python 3.5 runs the menu script itself: it must parse there (no f-string),
    to print that VOID Remove needs 3.6 instead of a SyntaxError from a module it imports."""
    for script in sorted((tmp_path / "Scripts").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        tree = ast.parse(text, str(script), feature_version=(3, 5))
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)], script.name
        assert "sys.version_info < (3, 6)" in text


def test_the_parser_check_catches_what_36_lacks() -> None:
    """The check above is not vacuous: newer syntax, run-time names and annotations are caught."""
    with pytest.raises(SyntaxError):
        ast.parse("if (n := 3):\n    pass\n", feature_version=FLOOR)
    with pytest.raises(SyntaxError):
        ast.parse("def f(a, /):\n    pass\n", feature_version=FLOOR)
    tree = ast.parse(
        "from __future__ import annotations\nfrom typing import Protocol\nimport dataclasses\n"
        "zip(a, b, strict=True)\n'x'.removeprefix('y')\nsubprocess.run(a, capture_output=True)\n"
    )
    assert sorted(_newer_than_36(tree)) == [
        "Protocol",
        "__future__",
        "capture_output",
        "dataclasses",
        "removeprefix",
        "zip(strict=)",
    ]
    tree = ast.parse(
        "class A:\n    x: list[int] = []\n"
        "def f(a: str | None, b: 'list[int]') -> dict[str, int]:\n    y: list[int] = []\n"
    )
    assert _newer_annotations(tree) == ["list[int]", "str | None", "dict[str, int]"]


def test_the_copied_client_tables_match_the_client() -> None:
    """``void_resolve.client_tables`` reads the generated host tables (Resolve cannot import the
    client); the presets and the endpoint Resolve shows must equal the client's."""
    from void_client.presets import PRESETS, apply_preset
    from void_client.protocol import DEFAULT_ENDPOINT

    expected = tuple(
        (p.name, p.description, bool(apply_preset(p.name, {}).get("pass2"))) for p in PRESETS
    )
    assert client_tables.PRESETS == expected, (
        "run: python -m void_client.node_job.host_tables --write"
    )
    assert client_tables.DEFAULT_ENDPOINT == DEFAULT_ENDPOINT


def test_the_import_contract_names_every_module_resolve_loads() -> None:
    """pyproject's import-linter contract for Resolve's runtime modules (no client, no numpy,
    zmq or OpenImageIO) lists its modules by name: a new module must join it, and only the
    installer (which runs in void-remove's own environment) stays out."""
    import pkgutil

    import tomllib

    import void_resolve

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    [contract] = [
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["name"].startswith("Resolve's runtime modules")
    ]
    modules = {"void_resolve." + m.name for m in pkgutil.iter_modules(void_resolve.__path__)}
    assert set(contract["source_modules"]) == modules - {"void_resolve.installer"}
    assert {"void_client", "void_daemon", "numpy", "zmq", "OpenImageIO"} <= set(
        contract["forbidden_modules"]
    )
