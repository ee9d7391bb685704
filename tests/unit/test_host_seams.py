"""Each host package has exactly one module that touches the application (docs/architecture.md).

Read from the package sources with ``ast``, so nothing here imports Nuke or Resolve:

* ``void_nuke``: only ``host.py`` imports ``nuke`` (or ``nukescripts``);
* ``void_resolve``: only ``api.py`` loads Blackmagic's ``DaVinciResolveScript`` module or calls
  a method of Resolve's scripting API. The API's method names are taken from the fake the flow
  tests run against (``tests/support/fakes/fake_resolve.py``: every method the glue calls exists
  there, so the list stays complete as the glue grows).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from tests.support.fakes import fake_resolve

NUKE_MODULES = ("nuke", "nukescripts")
RESOLVE_SCRIPT_MODULE = "DaVinciResolveScript"


def package_sources(package: str) -> dict[str, ast.Module]:
    """``{path relative to the package: parsed module}`` for every ``.py`` in ``package``."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    root = Path(next(iter(spec.submodule_search_locations)))
    return {
        p.relative_to(root).as_posix(): ast.parse(p.read_text(encoding="utf-8"), str(p))
        for p in sorted(root.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def imported_modules(tree: ast.Module) -> set[str]:
    """Top-level names of every module ``tree`` imports, at any depth (functions included)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def string_constants(tree: ast.Module) -> set[str]:
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def resolve_api_names() -> set[str]:
    """Resolve/Fusion scripting methods: the public CamelCase methods of the fake's classes."""
    names = set()
    for obj in vars(fake_resolve).values():
        if isinstance(obj, type) and obj.__module__ == fake_resolve.__name__:
            names.update(n for n in vars(obj) if n[:1].isupper() and callable(vars(obj)[n]))
    return names


def called_attributes(tree: ast.Module) -> set[str]:
    """Names of the methods called as ``something.Name(...)`` in ``tree``."""
    return {
        n.func.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }


def test_only_host_py_imports_nuke() -> None:
    sources = package_sources("void_nuke")
    importers = sorted(
        path for path, tree in sources.items() if imported_modules(tree) & set(NUKE_MODULES)
    )
    assert importers == ["host.py"]
    # The installer writes `import nuke` into the user's init.py as text, not as an import.
    assert "nuke_path/init.py" in sources and "actions.py" in sources


def test_the_modules_nuke_imports_name_only_the_stdlib_nuke_and_our_host_packages() -> None:
    # Issue 16, finding 8: nothing of the client (numpy, pyzmq, OpenImageIO) in Nuke's process.
    # The installer and the gizmo writer run in void-remove's own environment, never in Nuke
    # (the installer does not copy them into Nuke's host folder).
    allowed = set(sys.stdlib_module_names) | {"nuke", "nukescripts", "void_nuke", "void_hostlink"}
    worker_only = {"installer.py", "gizmo_writer.py"}
    foreign = {
        path: sorted(imported_modules(tree) - allowed)
        for path, tree in package_sources("void_nuke").items()
        if path not in worker_only and imported_modules(tree) - allowed
    }
    assert foreign == {}


def test_only_api_py_loads_resolves_scripting_module() -> None:
    sources = package_sources("void_resolve")
    loaders = sorted(
        path
        for path, tree in sources.items()
        if RESOLVE_SCRIPT_MODULE in imported_modules(tree)
        or RESOLVE_SCRIPT_MODULE in string_constants(tree)  # importlib.import_module("...")
    )
    assert loaders == ["api.py"]


def test_only_api_py_calls_resolve() -> None:
    api_names = resolve_api_names()
    # A handful of names would make this test pass for the wrong reason.
    assert {
        "GetCurrentProject",
        "SetRenderSettings",
        "AppendToTimeline",
        "ImportMedia",
    } <= api_names
    sources = package_sources("void_resolve")
    calls = {path: called_attributes(tree) & api_names for path, tree in sources.items()}
    assert len(calls["api.py"]) > 40, sorted(calls["api.py"])
    others = {path: sorted(names) for path, names in calls.items() if names and path != "api.py"}
    assert others == {}


@pytest.mark.parametrize("package", ["void_nuke", "void_resolve"])
def test_hosts_do_not_import_each_other(package: str) -> None:
    other = "void_resolve" if package == "void_nuke" else "void_nuke"
    importers = sorted(
        path for path, tree in package_sources(package).items() if other in imported_modules(tree)
    )
    assert importers == []
