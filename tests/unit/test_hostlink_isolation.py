"""``void_hostlink`` runs inside Nuke's and Resolve's own Python: standard library only, Python 3.6
(Resolve's floor; docs/resolve.md, "Which Python"), no other package of ours (issue 16, "Host
isolation"; docs/architecture.md).

* In a bare interpreter (``python -I -S``: no site-packages, no PYTHONPATH, no user site) with
  only ``plugin/`` on ``sys.path``, importing every module of the package adds no module outside
  the standard library (``sys.stdlib_module_names``) and ``void_hostlink`` itself.
* Every file parses with ``feature_version=(3, 6)`` and uses no postponed annotations, no
  ``dataclasses`` (but through :mod:`void_hostlink.compat`) and no ``capture_output=``; where a
  real Python 3.6 or 3.7 is installed (pyenv), the package imports there in a bare interpreter,
  its locate/stream/process code runs, and on 3.6 a run of the fake ``void-remove``
  (tests/support/fakes) goes through :class:`~void_hostlink.VoidRemoveProcess` to its final event.
* :mod:`void_hostlink.compat`'s 3.6 stand-ins for ``dataclasses`` behave as the real module on
  the same classes (checked here on this Python, where both exist).
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
from void_hostlink import node_plan, node_status
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


#: The oldest Python the package runs on (Resolve's floor; Nuke 13 is 3.7).
FLOOR = (3, 6)


def newer_than_36(tree: ast.AST) -> list[str]:
    """What ``feature_version`` does not catch: 3.7+ features that parse on 3.6 but fail there
    (postponed annotations fail at compile time; the rest at import or call time)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            found += [a.name for a in node.names if a.name == "annotations"]
        if isinstance(node, ast.ImportFrom) and node.module in ("dataclasses", "contextvars"):
            found.append(node.module)
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name in ("dataclasses", "contextvars")]
        if isinstance(node, ast.Attribute) and node.attr in {
            "removeprefix",
            "removesuffix",
            "fromisoformat",
            "nullcontext",
            "time_ns",
            "monotonic_ns",
            "isascii",
        }:
            found.append(node.attr)
        if isinstance(node, ast.Call):
            found += [k.arg for k in node.keywords if k.arg in ("capture_output", "text")]
    return found


def _compat_fallback_only(path: Path, found: list[str]) -> list[str]:
    # compat.py imports the real dataclasses where it exists (inside try/except ImportError).
    return [f for f in found if not (path.name == "compat.py" and f == "dataclasses")]


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_every_file_parses_as_python_36(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    ast.parse(source, str(path), feature_version=FLOOR)
    tree = ast.parse(source, str(path))
    assert _compat_fallback_only(path, newer_than_36(tree)) == [], path.name


def test_the_36_check_is_not_vacuous() -> None:
    with pytest.raises(SyntaxError):
        ast.parse("if (n := 3):\n    pass\n", feature_version=FLOOR)
    code = (
        "from __future__ import annotations\nimport dataclasses\n"
        "subprocess.run(a, capture_output=True, text=True)\ndatetime.fromisoformat(s)\n"
    )
    assert sorted(newer_than_36(ast.parse(code))) == [
        "annotations",
        "capture_output",
        "dataclasses",
        "fromisoformat",
        "text",
    ]


def old_python(version: tuple[int, int]) -> str | None:
    """A real Python of that version (pyenv's, or ``python3.N`` on PATH that runs), else None."""
    name = "python{}.{}".format(*version)
    pattern = "~/.pyenv/versions/{}.{}*/bin/{}".format(*version, name)
    candidates = sorted(glob.glob(os.path.expanduser(pattern)))
    which = shutil.which(name)
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
        if out.returncode == 0 and out.stdout.strip() == str(version):
            return exe
    return None


# On Python 3.6 / 3.7 itself: import, parse a stream, record and find the executable, and run a worker
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


@pytest.mark.parametrize("version", [(3, 6), (3, 7)], ids=["py36", "py37"])
def test_the_package_runs_on_a_real_old_python(version: tuple[int, int]) -> None:
    exe = old_python(version)
    if exe is None:
        pytest.skip("no Python {}.{} installed (pyenv install {}.{})".format(*version, *version))
    got = bare(exe, IMPORT_ALL, str(PLUGIN), json.dumps(module_names()))
    assert set(module_names()) <= set(got["new"])  # every module imports there
    got = bare(exe, ON_37, str(PLUGIN))
    assert got["version"] == list(version)
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


# On Python 3.6: a run of the fake void-remove (a program; it runs on this interpreter) through
# VoidRemoveProcess, and the records (dataclass stand-ins there) made, compared and saved.
ON_36 = r"""
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
from void_hostlink import VoidRemoveProcess, compat
from void_hostlink.node_plan import Manifest, RunPlan
from void_hostlink.node_settings import NodeSettings
from void_hostlink.node_status import RunState
seen = []
proc = VoidRemoveProcess(["run", "--spec", "x.json"], seen.append, exe=sys.argv[2]).start()
final = proc.wait(60)
folder = tempfile.mkdtemp()
Manifest("abc", 1, 3, job="j1", complete=True).save(os.path.join(folder, "run.json"))
loaded = Manifest.load(os.path.join(folder, "run.json"))
plan = RunPlan("/r", 1, 3, "abc", False)
try:
    plan.first = 2
    frozen = False
except AttributeError:
    frozen = True
settings = NodeSettings.from_values({"seed": 7.0, "prompt": " a wall "})
print(json.dumps({
    "version": list(sys.version_info[:2]), "real": compat.dataclass.__module__,
    "events": [e["event"] for e in seen], "final": final, "returncode": proc.returncode,
    "argv": proc.argv[1:], "manifest": repr(loaded), "equal": loaded == Manifest("abc", 1, 3, "j1", True),
    "frozen": frozen, "hash": hash(plan) == hash(RunPlan("/r", 1, 3, "abc", False)),
    "frames": plan.frames, "seed": settings.seed, "prompt": settings.prompt,
    "state": repr(RunState(total=4)),
}))
"""


def test_a_worker_runs_through_void_remove_process_on_python_36(tmp_path: Path) -> None:
    exe = old_python((3, 6))
    if exe is None:
        pytest.skip("no Python 3.6 installed (pyenv install 3.6)")
    from tests.support.fakes.fake_void_remove import (
        FAILED_MESSAGE,
        LOG_ENV,
        make_fake_void_remove,
        recorded,
    )

    fake = make_fake_void_remove(tmp_path / "bin")
    log = tmp_path / "calls.jsonl"
    done = subprocess.run(
        [exe, "-I", "-S", "-c", ON_36, str(PLUGIN), str(fake)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), LOG_ENV: str(log)},
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["version"] == [3, 6]
    assert got["real"] == "void_hostlink.compat"  # the stand-ins, not a dataclasses backport
    assert got["events"] == ["start", "failed"]
    assert got["final"]["event"] == "failed"
    assert got["final"]["error"] == {"code": "bad_spec", "message": FAILED_MESSAGE, "field": ""}
    assert got["returncode"] == 2
    assert got["argv"] == ["run", "--spec", "x.json", "--progress", "jsonl"]
    assert recorded(log) == [got["argv"]]  # the fake saw exactly that command line
    expected = repr(node_plan.Manifest("abc", 1, 3, job="j1", complete=True)).replace(
        "void_hostlink.node_plan.", ""
    )
    assert got["manifest"] == expected
    assert got["equal"] is True and got["frozen"] is True and got["hash"] is True
    assert got["frames"] == [1, 2, 3]
    assert (got["seed"], got["prompt"]) == (7, " a wall ")
    assert got["state"] == repr(node_status.RunState(total=4))


def test_the_36_stand_ins_behave_as_dataclasses() -> None:
    """compat's stand-ins (used only on 3.6) against the standard library's, same classes."""
    import dataclasses
    from typing import Any

    from void_hostlink import compat

    made: dict[str, Any] = {}
    makers: dict[str, Any] = {
        "real": (dataclasses.dataclass, dataclasses.field),
        "stand-in": (compat.dataclass36, compat.field36),
    }
    for kind, (dc, fd) in makers.items():

        @dc(frozen=True)
        class Frozen:
            name: str
            count: int = 2
            tags: tuple[str, ...] = ()
            handle: Any = fd(default=None, compare=False, repr=False)

        @dc
        class Mutable:
            first: int
            job: dict[str, Any] = fd(default_factory=dict)
            items: list[Any] = fd(default_factory=list)

        made[kind] = (Frozen, Mutable)

    def probe(
        kind: str, fields: Any, replace: Any, asdict: Any, frozen_error: Any, missing: Any
    ) -> dict[str, Any]:
        Frozen: Any
        Mutable: Any
        Frozen, Mutable = made[kind]
        a = Frozen("a", tags=("x",), handle=object())
        b = Frozen("a", 2, ("x",), handle=object())
        m = Mutable(1)
        m.job["k"] = [Frozen("in")]
        try:
            a.count = 3
            refused = False
        except frozen_error:
            refused = True
        try:
            Frozen()
            missing = False
        except TypeError:
            missing = True
        copied = asdict(m)
        m.job["k"].append(0)  # asdict copied deeply: the copy does not change
        return {
            "repr": [repr(a).split(".")[-1], repr(m).split(".")[-1]],
            "eq": [a == b, a == Frozen("b"), m == Mutable(1), Mutable(1) == Mutable(1)],
            "hash": [hash(a) == hash(b), Mutable.__hash__ is None],
            "refused": refused,
            "missing": missing,
            "fields": [(f.name, f.default is not missing) for f in fields(a)],
            "replace": repr(replace(a, count=5)).split(".")[-1],
            "replaced_keeps": replace(m).job is m.job,
            "asdict": copied,
            "fresh_default": Mutable(1).job == {} and Mutable(1).job is not Mutable(1).job,
        }

    real = probe(
        "real",
        dataclasses.fields,
        dataclasses.replace,
        dataclasses.asdict,
        dataclasses.FrozenInstanceError,
        dataclasses.MISSING,
    )
    ours = probe(
        "stand-in",
        compat.fields36,
        compat.replace36,
        compat.asdict36,
        compat.FrozenInstanceError,
        compat.MISSING,
    )
    assert ours == real
    assert real["asdict"] == {
        "first": 1,
        "job": {"k": [{"name": "in", "count": 2, "tags": (), "handle": None}]},
        "items": [],
    }
    # On this Python the module hands out the standard library's own.
    assert compat.dataclass is dataclasses.dataclass and compat.replace is dataclasses.replace
