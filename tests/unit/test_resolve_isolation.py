"""Host isolation on the Resolve side (issue 16): what Resolve's own Python loads.

Resolve runs ``VOID Remove.py`` in its Python, which may be any 3.7 or later with nothing
installed. The installer gives it one folder (copies of ``void_resolve`` and ``void_hostlink``
plus the record of which ``void-remove`` to run); these tests build that folder with the real
installer code, run the menu script in a bare interpreter (``python -I -S``: no site-packages,
no environment, no current folder) and check that only the standard library and our two
packages load, and that every file Resolve loads parses as Python 3.7.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from void_resolve import client_tables, installer, settings

#: The oldest Python Resolve's side supports (docs/resolve.md, "Which Python").
FLOOR = (3, 7)

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
#: host folder's void_resolve (but the Qt window, which needs Resolve's own PySide6).
PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    sys.path.insert(0, {fake!r})
    script = open({script!r}, encoding="utf-8").read()
    exec(compile(script, {script!r}, "exec"), {{"__name__": "__main__"}})
    import void_resolve
    for info in pkgutil.iter_modules(void_resolve.__path__):
        if info.name != "qt_window":
            importlib.import_module("void_resolve." + info.name)
    ours = sorted({{m.split(".")[0] for m in sys.modules}} - set(sys.stdlib_module_names))
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


def test_the_menu_script_loads_only_the_standard_library_and_our_two_packages(
    host: Path, tmp_path: Path
) -> None:
    code = PROBE.format(
        fake=str(tmp_path / "fake"), script=str(tmp_path / "Scripts" / "VOID Remove.py")
    )
    env = {"VOID_RESOLVE_UI": "console", "VOID_REMOVE_HOME": str(tmp_path / "home")}
    if os.name == "nt":  # Windows needs its system root to start Python at all
        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
    r = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
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


def _host_files(host: Path, tmp_path: Path) -> list[Path]:
    return sorted(host.rglob("*.py")) + sorted((tmp_path / "Scripts").glob("*.py"))


#: Names that exist only in Python 3.8+ (a 3.7 Resolve fails on them at run time, which
#: ``ast.parse(feature_version=...)`` cannot see): imports from typing, and calls/attributes.
NEWER_TYPING = {"Protocol", "Literal", "TypedDict", "Final", "runtime_checkable"}
NEWER_CALLS = {
    "removeprefix",
    "removesuffix",
    "is_relative_to",
    "cached_property",
    "prod",
    "isqrt",
    "batched",
}


def _newer_than_37(tree: ast.AST) -> list[str]:
    found = []
    for node in getattr(tree, "body", []):  # module level: not inside `if TYPE_CHECKING:`
        if isinstance(node, ast.ImportFrom) and node.module == "typing":
            found += [a.name for a in node.names if a.name in NEWER_TYPING]
        if isinstance(node, ast.ImportFrom) and node.module == "functools":
            found += [a.name for a in node.names if a.name in {"cache", "cached_property"}]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
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


def test_every_file_resolve_loads_is_python_37(host: Path, tmp_path: Path) -> None:
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
        newer = _newer_than_37(tree)
        if newer:
            problems[str(path)] = f"Python 3.8+ only: {sorted(set(newer))}"
        # Annotations are evaluated at run time on 3.7 unless postponed; `list[int]` and
        # `X | None` then fail, so every module with annotations postpones them.
        has_annotations = any(
            isinstance(n, (ast.AnnAssign, ast.arg)) and getattr(n, "annotation", None)
            for n in ast.walk(tree)
        ) or any(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.returns
            for n in ast.walk(tree)
        )
        if has_annotations and path.parent.name == "void_resolve":
            future = "from __future__ import annotations" in text
            if not future:
                problems[str(path)] = "annotations without 'from __future__ import annotations'"
    assert problems == {}


def test_the_menu_scripts_parse_on_36_to_say_what_is_needed(host: Path, tmp_path: Path) -> None:
    """A Resolve on Python 3.6 runs the menu script itself: it must parse there, to print that
    VOID Remove needs 3.7 instead of a SyntaxError from a module it imports."""
    for script in sorted((tmp_path / "Scripts").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        ast.parse(text, str(script), feature_version=(3, 6))
        assert "sys.version_info < (3, 7)" in text


def test_the_parser_check_catches_what_37_lacks() -> None:
    """The check above is not vacuous: 3.8 syntax and run-time names are caught."""
    with pytest.raises(SyntaxError):
        ast.parse("if (n := 3):\n    pass\n", feature_version=FLOOR)
    with pytest.raises(SyntaxError):
        ast.parse("def f(a, /):\n    pass\n", feature_version=FLOOR)
    tree = ast.parse("from typing import Protocol\nzip(a, b, strict=True)\n'x'.removeprefix('y')")
    assert sorted(_newer_than_37(tree)) == ["Protocol", "removeprefix", "zip(strict=)"]


def test_the_copied_client_tables_match_the_client() -> None:
    """``void_resolve.client_tables`` is a copy (Resolve cannot import the client); one source
    stays the client's: a changed preset, prompt wording or endpoint fails here."""
    from void_client.presets import PRESETS, apply_preset
    from void_client.prompt_advice import PROMPT_ENGINE, PROMPT_EXAMPLE, prompt_warning
    from void_client.protocol import DEFAULT_ENDPOINT

    expected = tuple(
        (p.name, p.description, bool(apply_preset(p.name, {}).get("pass2"))) for p in PRESETS
    )
    assert client_tables.PRESETS == expected, f"paste into client_tables.py: PRESETS = {expected!r}"
    assert client_tables.DEFAULT_ENDPOINT == DEFAULT_ENDPOINT
    assert (client_tables.PROMPT_ENGINE, client_tables.PROMPT_EXAMPLE) == (
        PROMPT_ENGINE,
        PROMPT_EXAMPLE,
    )
    for engine, prompt in [("void", ""), ("void", "  "), ("void", "a wall"), ("propagate", "")]:
        for field in ("prompt", "--prompt"):
            assert settings.prompt_warning(engine, prompt, field) == prompt_warning(
                engine, prompt, field
            )


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
