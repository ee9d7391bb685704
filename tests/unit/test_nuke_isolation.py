"""Nuke's process loads only the standard library, Nuke's own modules and our thin host packages
(issue 16, finding 8; docs/nuke.md, "Host isolation").

* In a bare interpreter (``python -I -S``: no site-packages, no PYTHONPATH) with only the folder
  ``void-remove install nuke`` writes and a fake ``nuke`` on ``sys.path``, Nuke's start-up
  (``nuke_path/init.py``, ``menu.py``), the node's callbacks and the render hook import nothing
  but the standard library, ``nuke``, ``void_nuke`` and ``void_hostlink``.
* Every host-side file parses as Python 3.7 (Nuke 13) and subscripts no builtin or
  ``collections.abc`` type outside annotations (``list[int]`` fails at run time before 3.9).
* The host's baked tables (void_hostlink/node_tables.py) are what the client says, and the
  fingerprint's recipe did not change in the move out of the client (earlier runs are found).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from void_client.node_job import host_tables
from void_hostlink import node_fingerprint as F
from void_hostlink import node_settings as S
from void_nuke import installer

REPO = Path(__file__).resolve().parents[2]
FAKE_NUKE = REPO / "tests" / "support" / "fakes" / "fake_nuke.py"
ALLOWED_OURS = {"nuke", "void_nuke", "void_hostlink", "fake_nuke", "__main__"}
PY37 = (3, 7)

# Run in the bare interpreter: Nuke's start-up as init.py and menu.py do it, then the callbacks
# and a render of a Write downstream of a VOID Remove node that has no results (the hook must
# abort it without starting anything). Prints the modules loaded and what happened.
SCRIPT = r"""
import importlib.util, json, runpy, sys
host_folder, fake_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, host_folder)
spec = importlib.util.spec_from_file_location("fake_nuke", fake_path)
fake_nuke = importlib.util.module_from_spec(spec)
sys.modules["fake_nuke"] = fake_nuke
spec.loader.exec_module(fake_nuke)
fake = fake_nuke.FakeNuke()
fake.GUI = False  # a render task: nuke -x
sys.modules["nuke"] = fake
nuke_path = host_folder + "/void_nuke/nuke_path/"
runpy.run_path(nuke_path + "init.py")
fake.GUI = True
runpy.run_path(nuke_path + "menu.py")
fake.GUI = False

import void_nuke.actions as glue
from void_nuke import node_spec as N

Node = fake_nuke.Node
internal = {N.RESULT_READ: {"reload": None}}
for k in N.KNOBS:  # the internal knobs the node's Link knobs show
    if k.kind == N.LINK:
        child, knob = k.link.split(".")
        internal.setdefault(child, {})[knob] = "rgba.alpha" if "channel" in k.name else "rgba"
children = [Node("NoOp", name, child_knobs) for name, child_knobs in internal.items()]
knobs = {k.name: k.default for k in N.KNOBS if k.default is not None}
knobs.update({"results": "", "run_hash": "", "status": "idle", "output_dir": sys.argv[3]})
node = fake.add(Node(N.NODE_CLASS, "VOIDRemove1", knobs, children=children))
read = fake.add(Node("Read", "Read1", {"file": "/plates/a.####.exr"}, frames=(1001, 1010)))
roto = fake.add(Node("Roto", "Roto1", {"curves": "ball"}, frames=(1001, 1010)))
node.setInput(0, read)
node.setInput(1, roto)
write = fake.add(Node("Write", "Write1", {"file": "/comp/out.####.exr"}))
write.setInput(0, node)
fake.this_node, fake.this_knob = node, node["seed"]
glue.knob_changed()
glue.update_ui()
error = ""
try:
    fake.execute(write, 1001, 1001)
except RuntimeError as exc:
    error = str(exc)
print(json.dumps({
    "modules": sorted(sys.modules),
    "error": error,
    "hooks": len(fake.before_render),
    "menus": sorted(fake.menus),
}))
"""


@pytest.fixture(scope="module")
def host_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder ``void-remove install nuke`` puts on Nuke's sys.path, really installed."""
    folder = tmp_path_factory.mktemp("nuke_home") / "void_remove" / "python"
    installer.copy_host_packages(folder)
    return folder


def host_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_startup_callbacks_and_render_hook_load_only_stdlib_and_host_packages(
    host_folder: Path, tmp_path: Path
) -> None:
    r = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SCRIPT, str(host_folder), str(FAKE_NUKE), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    tops = {m.split(".")[0] for m in out["modules"]}
    foreign = sorted(t for t in tops if t not in sys.stdlib_module_names and t not in ALLOWED_OURS)
    assert foreign == [], foreign
    assert not tops & {"void_client", "void_daemon", "void_shaders", "numpy", "zmq", "OpenImageIO"}
    # The hook ran in the render and refused: no results, and it never runs the job itself.
    assert out["hooks"] == 1
    assert "A render never runs the VOID job" in out["error"], out["error"]
    assert {"Nodes", "Nuke"} <= set(out["menus"])


def test_the_installed_host_folder_holds_only_host_side_modules(host_folder: Path) -> None:
    names = {p.relative_to(host_folder).as_posix() for p in host_files(host_folder)}
    assert "void_nuke/installer.py" not in names and "void_nuke/gizmo_writer.py" not in names
    assert {
        "void_nuke/actions.py",
        "void_nuke/nuke_path/init.py",
        "void_hostlink/process.py",
    } <= names
    assert (host_folder / "void_nuke" / "nuke_path" / "VOIDRemove.gizmo").is_file()


def _runtime_subscripts(tree: ast.AST) -> list[str]:
    """``list[int]``-style subscripts evaluated at run time (outside annotations)."""
    generic = {"list", "dict", "tuple", "set", "frozenset", "type"}
    # typing's aliases subscript at run time in 3.7; collections.abc's classes only from 3.9.
    abc = {
        a.asname or a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "collections.abc"
        for a in n.names
    }
    annotations: set[int] = set()
    for node in ast.walk(tree):
        for ann in (
            [getattr(node, "annotation", None), getattr(node, "returns", None)]
            if isinstance(node, (ast.arg, ast.AnnAssign, ast.FunctionDef, ast.AsyncFunctionDef))
            else []
        ):
            if ann is not None:
                annotations.update(id(n) for n in ast.walk(ann))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and id(node) not in annotations:
            base = node.value
            name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
            if name in generic or name in abc:
                found.append(f"line {node.lineno}: {name}[...]")
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.BitOr)
            and id(node) not in annotations
            and any(
                isinstance(s, ast.Constant) and s.value is None for s in (node.left, node.right)
            )
        ):
            found.append(f"line {node.lineno}: X | None")
    return found


def test_every_host_side_file_is_python_37(host_folder: Path) -> None:
    problems = {}
    for path in host_files(host_folder):
        text = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text, str(path), feature_version=PY37)
        except SyntaxError as exc:
            problems[path.name] = f"not Python 3.7: {exc}"
            continue
        bad = _runtime_subscripts(tree)
        if bad:
            problems[path.name] = bad
    assert problems == {}


def test_the_baked_tables_are_the_clients() -> None:
    assert host_tables.main(["--check"]) == 0, "python -m void_client.node_job.host_tables --write"
    from void_client import protocol as P
    from void_client.presets import PRESETS, apply_preset

    assert S.DEFAULT_ENDPOINT == P.DEFAULT_ENDPOINT
    assert [p.name for p in S.PRESETS] == [p.name for p in PRESETS]
    for p in PRESETS:
        assert S.preset_knob_values(p.name) == {
            k: v for k, v in apply_preset(p.name, {}).items() if k in S.PRESET_KNOBS
        }


def test_the_fingerprint_recipe_is_unchanged() -> None:
    # Pinned from void_client.node_job.fingerprint (recipe version 2) before the move: the same
    # inputs hash the same, so results of runs made before the move are still found.
    settings = S.NodeSettings.from_values(
        {"window": 13, "overlap": 4, "dilation": 2, "quality": "draft", "preset": "final"}
    )
    assert F.FINGERPRINT_VERSION == 2
    assert settings.engine_options() == {"steps": 30, "pass2_steps": 50}
    digest = F.fingerprint(settings, 1001, 1012, ["a", "none"], {"remove_channel": "rgba.alpha"})
    assert digest == PINNED, digest


PINNED = "a3494638d54ecdb9c87edbaf98c16eafada0bce2124272f3318f999340861d95"


def _host_calls_in(path: Path) -> set[str]:
    """Every ``host.<name>`` a module calls or passes (``host.full_name`` as a callback too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "host"
    }


def test_the_self_test_runs_every_host_call_the_fake_declares_one_source() -> None:
    """Issue 16: the host calls the self-test exercises are the list the fake declares. Every
    ``void_nuke.host`` function is declared in ``fake_nuke.HOST_CALLS`` with its source, and
    either run by a self-test step or listed in ``self_test.NOT_EXERCISED`` with a reason."""
    from tests.support.fakes.fake_nuke import HOST_CALLS
    from void_nuke import self_test

    host_py = REPO / "nuke" / "void_nuke" / "host.py"
    defined = {
        n.name
        for n in ast.parse(host_py.read_text(encoding="utf-8")).body
        if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
    }
    assert defined == set(HOST_CALLS), defined ^ set(HOST_CALLS)
    exercised = _host_calls_in(REPO / "nuke" / "void_nuke" / "self_test.py")
    skipped = set(self_test.NOT_EXERCISED)
    assert not exercised & skipped, exercised & skipped
    assert exercised | skipped == set(HOST_CALLS), (exercised | skipped) ^ set(HOST_CALLS)
    assert all(reason for reason in self_test.NOT_EXERCISED.values())
    assert all("http" in source for source in HOST_CALLS.values())
