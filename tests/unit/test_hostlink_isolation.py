"""``void_hostlink`` runs inside Nuke's and Resolve's own Python: standard library only, Python 3.7
syntax, no other package of ours (issue 16, "Host isolation"; docs/architecture.md).

* In a bare interpreter (``python -I -S``: no site-packages, no PYTHONPATH, no user site) with
  only ``plugin/`` on ``sys.path``, importing every module of the package adds no module outside
  the standard library (``sys.stdlib_module_names``) and ``void_hostlink`` itself.
* Every file parses with ``feature_version=(3, 7)``; where a real Python 3.7 is installed (pyenv),
  the package imports there and its locate/stream/process code runs.
* A copy of the package in a host folder finds the ``void-remove`` the installer recorded
  beside it (``record_executable``), after an explicit argv and ``VOID_REMOVE_EXE``.

These start interpreters (the only way to see what an import loads in a fresh process).
"""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import void_hostlink
from void_hostlink import stream as S

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugin"
PACKAGE = PLUGIN / "void_hostlink"


def module_names() -> list[str]:
    return ["void_hostlink"] + [
        f"void_hostlink.{p.stem}" for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"
    ]


# Run by a bare interpreter: import every module of the package, report what got loaded.
IMPORT_ALL = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
before = set(sys.modules)
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
print(json.dumps({"new": sorted(set(sys.modules) - before), "path": sys.path,
                  "stdlib": sorted(getattr(sys, "stdlib_module_names", ()))}))
"""


def bare(python: str, code: str, *args: str, cwd: Path | None = None) -> dict:
    done = subprocess.run(
        [python, "-I", "-S", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_package_imports_only_the_standard_library() -> None:
    got = bare(sys.executable, IMPORT_ALL, str(PLUGIN), json.dumps(module_names()))
    assert not [p for p in got["path"] if "site-packages" in p], got["path"]
    stdlib = set(got["stdlib"]) | set(sys.builtin_module_names)
    foreign = sorted(
        m
        for m in got["new"]
        if m.split(".")[0] not in stdlib and m.split(".")[0] != "void_hostlink"
    )
    assert foreign == [], f"void_hostlink loads non-stdlib modules: {foreign}"
    # It did import the whole package (a test that imported nothing would pass too).
    assert set(module_names()) <= set(got["new"])


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_every_file_parses_as_python_37(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    ast.parse(source, str(path), feature_version=(3, 7))
    tree = ast.parse(source, str(path))
    # What feature_version does not catch: names that do not exist in 3.7.
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in {"removeprefix", "removesuffix"}, f"{path.name}: {node.attr}"


def python37() -> str | None:
    """A real Python 3.7 (pyenv's, or ``python3.7`` that runs), else None."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.7*/bin/python3.7")))
    which = shutil.which("python3.7")
    for exe in [*candidates, *([which] if which else [])]:
        try:
            out = subprocess.run(
                [exe, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == "(3, 7)":
            return exe
    return None


# On Python 3.7 itself: import, parse a stream, record and find the executable, and run a worker
# (this interpreter printing a fixed stream) through VoidRemoveProcess to its final event.
ON_37 = r"""
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
import void_hostlink as H
folder = tempfile.mkdtemp()
worker = os.path.join(folder, "worker.py")
with open(worker, "w") as f:
    f.write("import sys\n"
            "print('{\"event\": \"start\", \"stream\": 1, \"total\": 2}')\n"
            "print('not json')\n"
            "sys.stderr.write('log line\\n')\n"
            "print('{\"event\": \"frame\", \"frame\": 1, \"path\": \"a\"}')\n"
            "print('{\"event\": \"done\", \"written\": 1}')\n")
seen = []
final = H.run_void_remove(["x"], seen.append, exe=[sys.executable, worker])
path = H.record_executable(folder, [sys.executable, worker], "9.9")
print(json.dumps({"version": list(sys.version_info[:2]), "events": [e["event"] for e in seen],
                  "final": final, "parse": H.parse_event('{"event": "state"}'),
                  "recorded": json.load(open(path))["argv"][1] == worker}))
"""


def test_the_package_runs_on_a_real_python_37() -> None:
    exe = python37()
    if exe is None:
        pytest.skip("no Python 3.7 installed (pyenv install 3.7)")
    got = bare(exe, ON_37, str(PLUGIN))
    assert got["version"] == [3, 7]
    assert got["events"] == ["start", "frame", "done"]  # the non-JSON line is not an event
    assert got["final"] == {"event": "done", "written": 1}
    assert got["parse"] == {"event": "state"}
    assert got["recorded"] is True


# A host folder as an installer leaves it: void_hostlink copied in, the config beside it.
FIND = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import void_hostlink as H
out = {"config": H.find_void_remove()}
out["explicit"] = H.find_void_remove(["/x/void-remove", "--flag"])
os.environ["VOID_REMOVE_EXE"] = "/env/void-remove"
out["env"] = H.find_void_remove()
del os.environ["VOID_REMOVE_EXE"]
os.remove(os.path.join(sys.argv[1], H.CONFIG_NAME))
os.environ["PATH"] = ""
try:
    H.find_void_remove()
    out["missing"] = None
except H.HostLinkError as exc:
    out["missing"] = [exc.code, exc.message]
print(json.dumps(out))
"""


def test_a_copied_package_finds_what_the_installer_recorded(tmp_path: Path) -> None:
    host = tmp_path / "nuke_home"
    shutil.copytree(PACKAGE, host / "void_hostlink", ignore=shutil.ignore_patterns("__pycache__"))
    recorded = ["/venvs/void/bin/void-remove"]
    path = void_hostlink.record_executable(str(host), recorded, "0.1.0")
    assert Path(path) == host / void_hostlink.CONFIG_NAME
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    assert data["argv"] == recorded and data["version"] == "0.1.0" and data["written"]
    assert [p.name for p in host.iterdir() if p.name.startswith(".")] == []  # no temp left

    got = bare(sys.executable, FIND, str(host))
    assert got["config"] == recorded
    assert got["explicit"] == ["/x/void-remove", "--flag"]
    assert got["env"] == ["/env/void-remove"]
    code, message = got["missing"]
    assert code == "not_installed"
    assert "void-remove install nuke" in message


def test_a_broken_config_says_to_reinstall(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / void_hostlink.CONFIG_NAME
    bad.write_text('{"argv": []}', encoding="utf-8")
    with pytest.raises(void_hostlink.HostLinkError) as info:
        void_hostlink.locate.read_config(str(bad))
    assert info.value.code == "bad_config" and "install" in info.value.message
    assert void_hostlink.locate.read_config(str(tmp_path / "absent.json")) is None


def test_parse_event_takes_only_event_objects() -> None:
    assert S.parse_event('{"event": "frame", "frame": 3, "path": "/o/a.0003.exr"}\n') == {
        "event": "frame",
        "frame": 3,
        "path": "/o/a.0003.exr",
    }
    for line in ("", "hello", "[1, 2]", '{"frame": 1}', '{"event": 3}', "{broken"):
        assert S.parse_event(line) is None, line
    assert S.FINAL_EVENTS == {"done", "failed", "cancelled"}
    assert void_hostlink.STREAM_VERSION == 1
