"""``void-remove install resolve`` per OS layout, idempotent, and the installed script itself
running inside a (fake) Resolve; ``void_resolve.api.connect`` inside and outside Resolve."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.support.fakes.resolve_scene import add_fusion_savers, make_scene
from void_client.errors import ErrorCode
from void_resolve import installer
from void_resolve.locations import scripting_api_dirs, scripts_dir
from void_resolve.records import ResolveError

from void_resolve import api as resolve_api  # isort: skip  (importable once resolve_scene has run)
from void_resolve.app import choose_ui  # isort: skip


def args(**kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    installer.add_arguments(parser)
    ns = parser.parse_args([])
    ns.__dict__.update(kw)
    return ns


LAYOUTS = {
    "Darwin": (
        {},
        Path("Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"),
    ),
    "Windows": (
        {"APPDATA": "{home}/AppData/Roaming"},
        Path("AppData/Roaming/Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts"),
    ),
    "Linux": ({}, Path(".local/share/DaVinciResolve/Fusion/Scripts")),
}


@pytest.mark.parametrize("system", list(LAYOUTS))
def test_install_into_each_os_layout_is_idempotent_and_uninstalls(system, tmp_path, capsys) -> None:
    home = tmp_path / "home" / "ana"
    env_t, relative = LAYOUTS[system]
    env = {k: v.format(home=home) for k, v in env_t.items()}
    target = home / relative / "Utility" / "VOID Remove.py"

    assert installer.install(args(), system=system, env=env, home=home) == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith(installer.MARKER + "\n")
    compile(text, str(target), "exec")
    namespace: dict = {"__name__": "not-run"}
    exec(
        compile(text.split("\nif __name__", 1)[0], str(target), "exec"), namespace
    )  # the settings block only
    # Host isolation: Resolve's sys.path gets one folder, beside Scripts, holding only the two
    # standard-library packages and the record of which void-remove to run.
    host = home / relative.parent / installer.HOST_DIR
    assert namespace["VOID_REMOVE_PATHS"] == [str(host)]
    assert "VOID_DAEMON_COMMAND" not in namespace
    assert sorted(p.name for p in host.iterdir()) == [
        "void_hostlink",
        "void_remove_host.json",
        "void_resolve",
    ]
    assert (host / "void_resolve" / "app.py").is_file()
    assert not (host / "void_resolve" / "installer.py").exists()  # it imports the client
    assert (host / "void_hostlink" / "process.py").is_file()
    record = json.loads((host / "void_remove_host.json").read_text(encoding="utf-8"))
    assert record["argv"] == installer.worker_argv() and record["version"]
    assert Path(record["argv"][0]).is_file()
    assert "Restart DaVinci Resolve" in capsys.readouterr().out

    stamp = target.stat().st_mtime_ns
    os.utime(target, ns=(stamp - 10**9, stamp - 10**9))
    recorded = (host / "void_remove_host.json").stat().st_mtime_ns
    assert installer.install(args(), system=system, env=env, home=home) == 0
    assert "already installed and up to date" in capsys.readouterr().out
    assert target.stat().st_mtime_ns == stamp - 10**9  # not rewritten
    assert (host / "void_remove_host.json").stat().st_mtime_ns == recorded

    assert installer.install(args(folder="Comp"), system=system, env=env, home=home) == 0
    assert (home / relative / "Comp" / "VOID Remove.py").read_text(encoding="utf-8") == text

    # The Comp entry still runs from the host folder: it stays until that one goes too.
    assert installer.install(args(uninstall=True), system=system, env=env, home=home) == 0
    assert not target.exists() and (host / "void_remove_host.json").is_file()
    comp = args(folder="Comp", uninstall=True)
    assert installer.install(comp, system=system, env=env, home=home) == 0
    assert not host.exists()
    assert installer.install(args(uninstall=True), system=system, env=env, home=home) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_a_script_of_someone_elses_is_never_overwritten_or_removed(tmp_path, capsys) -> None:
    target = tmp_path / "Utility" / "VOID Remove.py"
    target.parent.mkdir()
    target.write_text("print('mine')\n")
    assert installer.install(args(scripts_dir=str(tmp_path))) == 1
    assert installer.install(args(scripts_dir=str(tmp_path), uninstall=True)) == 1
    assert target.read_text() == "print('mine')\n"
    assert "not written by this installer" in capsys.readouterr().err


def test_all_users_and_scripting_api_locations() -> None:
    env = {"PROGRAMDATA": "C:\\ProgramData"}
    assert scripts_dir("Darwin", {}, "/Users/ana", "all") == Path(
        "/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"
    )
    assert scripts_dir("Windows", env, "C:\\Users\\ana", "all") == Path("C:\\ProgramData").joinpath(
        "Blackmagic Design", "DaVinci Resolve", "Fusion", "Scripts"
    )
    assert scripts_dir("Windows", {}, "/home/ana", "user") == Path(
        "/home/ana/AppData/Roaming/Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts"
    )
    assert str(scripts_dir("Linux", {}, "/home/ana", "all")).endswith("resolve/Fusion/Scripts")
    with pytest.raises(ValueError, match="not 'Haiku'"):
        scripts_dir("Haiku", {}, "/", "user")
    assert scripting_api_dirs("Linux", {"RESOLVE_SCRIPT_API": "/x"})[:2] == [
        Path("/x"),
        Path("/opt/resolve/Developer/Scripting"),
    ]
    assert scripting_api_dirs("Darwin", {}) == [
        Path("/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting")
    ]


def test_cli_installs_through_the_dispatcher(tmp_path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "void_client.cli.main",
            "install",
            "resolve",
            "--scripts-dir",
            str(tmp_path),
            "--folder",
            "Edit",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (
        (tmp_path / "Edit" / "VOID Remove.py")
        .read_text(encoding="utf-8")
        .startswith(installer.MARKER)
    )


def test_installed_script_runs_the_flow_inside_resolve(
    daemon, tmp_path, monkeypatch, caplog
) -> None:
    """What Workspace ▸ Scripts ▸ VOID Remove does: Resolve runs the file with its objects in the
    globals. No window here (console), so the saved settings of the last run are used."""
    from void_daemon.demo_shot import make_shot

    assert installer.install(args(scripts_dir=str(tmp_path / "Scripts"))) == 0
    script = tmp_path / "Scripts" / "Utility" / "VOID Remove.py"
    monkeypatch.setenv("VOID_REMOVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VOID_RESOLVE_UI", "console")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "resolve-settings.json").write_text(
        json.dumps(
            {
                "endpoint": daemon.endpoint,
                "autostart": False,
                "output_root": str(tmp_path / "out"),
                "matte": "fusion",
                "job": {"window": 13, "overlap": 4, "dilation": 2, "feather": 4},
            }
        )
    )
    # This process already imported the repo's void_hostlink (not the copy beside the record),
    # so name the worker the way a studio may: $VOID_REMOVE_EXE.
    monkeypatch.setenv("VOID_REMOVE_EXE", installer.worker_argv()[0])
    scene = make_scene(make_shot(frames=6, width=64, height=48, seed=2))
    add_fusion_savers(scene, affected=False)
    namespace = {"__name__": "__main__", **scene.namespace}
    caplog.set_level("INFO", logger="void_resolve")
    exec(compile(script.read_text(encoding="utf-8"), str(script), "exec"), namespace)
    [placed] = scene.timeline.tracks[1]
    assert (placed.start, placed.duration) == (86400, 6)
    assert "clean plate" in caplog.text and "console window" in caplog.text


def test_installed_script_says_what_is_missing(tmp_path, monkeypatch, caplog) -> None:
    assert installer.install(args(scripts_dir=str(tmp_path))) == 0
    script = tmp_path / "Utility" / "VOID Remove.py"
    monkeypatch.setenv("VOID_RESOLVE_UI", "console")
    scene = make_scene(
        __import__("void_daemon.demo_shot", fromlist=["make_shot"]).make_shot(
            frames=5, width=32, height=32
        )
    )
    scene.resolve.project_manager.current = None
    caplog.set_level("INFO", logger="void_resolve")
    exec(
        compile(script.read_text(encoding="utf-8"), str(script), "exec"),
        {"__name__": "__main__", **scene.namespace},
    )
    assert "no project is open in Resolve" in caplog.text


# --------------------------------------------------------------------------- connect


def test_connect_inside_resolve_uses_the_injected_objects(tmp_path) -> None:
    from void_daemon.demo_shot import make_shot

    scene = make_scene(make_shot(frames=5, width=32, height=32))
    api = resolve_api.connect(scene.namespace)
    assert (
        api.resolve is scene.resolve and api.fusion is scene.resolve.fusion and api.has_ui_manager()
    )
    only_bmd = resolve_api.connect({"bmd": scene.namespace["bmd"]})
    assert only_bmd.resolve is scene.resolve and only_bmd.fusion is scene.resolve.fusion
    scene.resolve.fusion.UIManager = None  # DaVinci Resolve (free) 19.1 and later
    assert not api.has_ui_manager()
    assert choose_ui(api, {"VOID_RESOLVE_UI": "console"}) == "console"
    assert choose_ui(api, {}) == "qt"  # PySide6 is importable here


def test_resolves_own_dialog_only_where_it_opens(monkeypatch) -> None:
    from void_daemon.demo_shot import make_shot
    from void_resolve.settings import uimanager_allowed

    assert uimanager_allowed("DaVinci Resolve Studio", "20.0.1.6") and uimanager_allowed(
        "DaVinci Resolve", "19.0.3.7"
    )
    assert not uimanager_allowed("DaVinci Resolve", "19.1.0.12") and not uimanager_allowed(
        "DaVinci Resolve", "20.2"
    )
    scene = make_scene(make_shot(frames=5, width=32, height=32))
    api = resolve_api.connect(scene.namespace)
    monkeypatch.setattr("void_resolve.app.qt_available", lambda: False)
    assert choose_ui(api, {}) == "resolve"
    scene.resolve.product = "DaVinci Resolve"
    assert choose_ui(api, {}) == "console"


def test_connect_outside_resolve_through_davinciresolvescript(tmp_path, monkeypatch) -> None:
    from void_daemon.demo_shot import make_shot

    scene = make_scene(make_shot(frames=5, width=32, height=32))
    monkeypatch.setitem(
        sys.modules,
        "DaVinciResolveScript",
        types.SimpleNamespace(scriptapp=lambda name: scene.resolve),
    )
    api = resolve_api.connect({}, env={})
    assert api.resolve is scene.resolve and api.fusion is scene.resolve.fusion


def test_connect_explains_when_resolve_is_not_reachable(tmp_path, monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "DaVinciResolveScript", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(ResolveError) as err:
        resolve_api.connect({}, env={})
    assert (err.value.code, err.value.field) == (ErrorCode.NOTHING_SELECTED, "resolve")
    assert "Workspace ▸ Scripts" in err.value.message and "RESOLVE_SCRIPT_API" in err.value.message
    assert "DaVinciResolveScript module cannot be loaded" in err.value.message

    modules = tmp_path / "Scripting" / "Modules"
    modules.mkdir(parents=True)
    (modules / "DaVinciResolveScript.py").write_text("def scriptapp(name):\n    return None\n")
    with pytest.raises(ResolveError, match="Resolve is not running"):
        resolve_api.connect({}, env={"RESOLVE_SCRIPT_API": str(tmp_path / "Scripting")})
    assert str(modules) in sys.path


def test_running_outside_resolve_without_it_says_what_to_set(tmp_path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLVE_SCRIPT")}
    env["PYTHONPATH"] = os.pathsep.join([str(root / "resolve"), env.get("PYTHONPATH", "")])
    r = subprocess.run(
        [sys.executable, "-m", "void_resolve", "--ui", "console", "--no-autostart"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 2
    assert "VOID Remove needs DaVinci Resolve" in r.stdout and "RESOLVE_SCRIPT_API" in r.stdout


def test_free_resolve_19_1_is_never_asked_for_uimanager(tmp_path, monkeypatch) -> None:
    """Issue 16 #1: reading ``fusion.UIManager`` on the free Resolve 19.1+ puts up the upgrade
    prompt (a modal dialog: later calls fail). The edition is checked first, so it never is."""
    from void_daemon.demo_shot import make_shot

    scene = make_scene(make_shot(frames=5, width=32, height=32))
    scene.resolve.product, scene.resolve.version = "DaVinci Resolve", "19.1.3.7"
    monkeypatch.setattr("void_resolve.app.qt_available", lambda: False)
    api = resolve_api.connect(scene.namespace)
    assert choose_ui(api, {}) == "console"
    assert scene.calls.modal == ""  # no prompt: choosing the window did not read UIManager
    assert not api.has_ui_manager()
    with pytest.raises(ResolveError, match="upgrade prompt"):
        api.dialog("VOID Remove", {})
    assert scene.calls.modal == "" and not any("UIManager" in n for n in scene.calls.names())
    # The fake is as strict as the host: reading it would have put the prompt up.
    assert scene.resolve.fusion.UIManager is None and scene.calls.modal
    assert scene.project.SetCurrentRenderMode(1) is None  # refused while the prompt is up


def test_the_self_test_entry_is_installed_and_runs_every_check(
    tmp_path, monkeypatch, capsys
) -> None:
    """The Scripts-menu "VOID Remove Self-Test" on a scratch project, against the strict fake:
    one line per check with the host version, a report file, the artist's project reopened and
    the scratch project deleted."""
    from tests.support.fakes.resolve_scene import scratch_project
    from void_daemon.demo_shot import make_shot

    assert installer.install(args(scripts_dir=str(tmp_path / "Scripts"))) == 0
    script = tmp_path / "Scripts" / "Utility" / "VOID Remove Self-Test.py"
    assert script.read_text(encoding="utf-8").startswith(installer.MARKER)
    assert "from void_resolve.selftest import main" in script.read_text(encoding="utf-8")

    scene = make_scene(make_shot(frames=5, width=32, height=32))
    manager = scene.resolve.project_manager
    manager.on_create_project = lambda name: scratch_project(scene.calls, name)
    monkeypatch.setenv("VOID_REMOVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VOID_REMOVE_EXE", installer.worker_argv()[0])
    exec(
        compile(script.read_text(encoding="utf-8"), str(script), "exec"),
        {"__name__": "__main__", **scene.namespace},
    )
    out = capsys.readouterr().out
    lines = [ln.removeprefix("VOID Remove Self-Test: ") for ln in out.splitlines()]
    verdicts = {
        ln.split(":")[0][5:].split(" [")[0]: ln[:4].strip()
        for ln in lines
        if ln[:4] in ("PASS", "FAIL", "INFO", "SKIP")
    }
    assert verdicts == {
        "host": "INFO",
        "edition": "INFO",
        "void-remove worker": "PASS",
        "CreateProject": "PASS",
        "OpenPage": "PASS",
        "SetCurrentTimeline by unique id": "PASS",
        "ImportMedia": "PASS",
        "AppendToTimeline endFrame": "INFO",
        "render (async, pinned settings)": "PASS",
        "DeleteClips and the Edit page": "PASS",
        "Fusion comp render of a Saver": "SKIP",
        "dialog timer": "SKIP",
        "cleanup": "PASS",
    }, out
    assert "DaVinci Resolve Studio 19.1.3.7" in out and "endFrame is exclusive" in out
    assert "off the Edit page: False; on it: True" in out
    [report] = (tmp_path / "home" / "resolve-selftest").glob("resolve-selftest-*.txt")
    assert report.read_text(encoding="utf-8").count("\n") == len(verdicts)
    assert manager.current is scene.project and list(manager.projects) == ["Show 1"]
    assert scene.calls.modal == ""
