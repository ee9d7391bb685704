"""``void-remove install nuke`` into a temporary home: a host-only folder (void_nuke's host-side
modules and void_hostlink, no site-packages) on Nuke's sys.path, the void-remove to run recorded
beside it, one block in init.py however often it runs, the user's own lines kept
(docs/nuke.md, "Install"; issue 16, finding 8)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fakes.fake_nuke import FakeNuke
from void_client.cli.main import main as cli_main
from void_hostlink import CONFIG_NAME
from void_nuke import installer as inst


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    inst.add_arguments(p)
    return p.parse_args(list(argv))


def test_two_installs_leave_one_block_and_keep_the_users_lines(tmp_path: Path) -> None:
    home = tmp_path / ".nuke"
    home.mkdir()
    (home / "init.py").write_text("import nuke\nnuke.pluginAddPath('./gizmos')\n")
    assert inst.install(parse("--nuke-dir", str(home))) == 0
    once = (home / "init.py").read_text()
    assert inst.install(parse("--nuke-dir", str(home))) == 0
    text = (home / "init.py").read_text()
    assert text == once
    assert text.startswith("import nuke\nnuke.pluginAddPath('./gizmos')\n")
    nuke_path = inst.host_folder(home) / "void_nuke" / "nuke_path"
    assert text.count(inst.BEGIN) == 1 and text.count(f"pluginAddPath({str(nuke_path)!r})") == 1


def test_the_host_folder_holds_only_host_packages_and_names_the_worker(tmp_path: Path) -> None:
    home = tmp_path / ".nuke"
    assert inst.install(parse("--nuke-dir", str(home))) == 0
    folder = inst.host_folder(home)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [CONFIG_NAME, "void_hostlink", "void_nuke"]
    )
    assert not (folder / "void_nuke" / "installer.py").exists()  # needs the client: not in Nuke
    assert not (folder / "void_nuke" / "gizmo_writer.py").exists()
    assert (folder / "void_nuke" / "nuke_path" / "VOIDRemove.gizmo").is_file()
    config = json.loads((folder / CONFIG_NAME).read_text())
    assert config["argv"] == [sys.executable, "-m", "void_client.cli.main"]
    # The recorded command is this installation's void-remove.
    r = subprocess.run([*config["argv"], "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "usage: void-remove" in r.stdout
    # A stale file from an older copy is gone after the next install.
    (folder / "void_nuke" / "old_module.py").write_text("")
    assert inst.install(parse("--nuke-dir", str(home))) == 0
    assert not (folder / "void_nuke" / "old_module.py").exists()


def test_the_block_puts_only_the_host_folder_on_sys_path_once_when_nuke_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / ".nuke"
    assert inst.install(parse("--nuke-dir", str(home))) == 0
    fake = FakeNuke()
    monkeypatch.setitem(sys.modules, "nuke", fake)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = list(sys.path)
    code = (home / "init.py").read_text()
    exec(compile(code, str(home / "init.py"), "exec"), {})
    exec(compile(code, str(home / "init.py"), "exec"), {})
    folder = str(inst.host_folder(home))
    assert sys.path == [*before, folder]  # appended once: Nuke's own folders come first
    nuke_path = str(inst.host_folder(home) / "void_nuke" / "nuke_path")
    assert fake.calls == [("pluginAddPath", (nuke_path,))] * 2
    assert "site-packages" not in code


def test_uninstall_removes_the_block_and_the_host_folder(tmp_path: Path) -> None:
    home = tmp_path / ".nuke"
    home.mkdir()
    (home / "init.py").write_text("print('mine')\n")
    inst.install(parse("--nuke-dir", str(home)))
    (home / "init.py").write_text((home / "init.py").read_text() + "print('after')\n")
    assert inst.install(parse("--nuke-dir", str(home), "--uninstall")) == 0
    assert (home / "init.py").read_text() == "print('mine')\n\nprint('after')\n"
    assert not inst.host_folder(home).exists()


@pytest.mark.parametrize("version", [13, 14, 15, 16, 17])
def test_every_nuke_from_13_installs_the_same_way(tmp_path: Path, version: int) -> None:
    # The host side is Python 3.7 and standard library only (test_nuke_isolation.py checks it),
    # so Nuke 13 (Python 3.7) and 14 (3.9) are no longer refused.
    home = tmp_path / ".nuke"
    assert inst.install(parse("--nuke-dir", str(home), "--nuke-version", str(version))) == 0
    assert (inst.host_folder(home) / "void_nuke" / "startup.py").is_file()
    python = tuple(int(x) for x in inst.NUKE_PYTHONS[version].split("."))
    assert python >= inst.HOST_MIN_PYTHON == (3, 7)


def test_the_version_table_knows_nuke_17() -> None:
    assert inst.NUKE_PYTHONS == {13: "3.7", 14: "3.9", 15: "3.10", 16: "3.11", 17: "3.11"}


def test_dry_run_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / ".nuke"
    assert inst.install(parse("--nuke-dir", str(home), "--dry-run")) == 0
    assert not home.exists()
    out = capsys.readouterr().out
    assert "would copy void_nuke and void_hostlink" in out and inst.BEGIN in out


def test_install_command_is_reachable_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / ".nuke"
    assert cli_main(["install", "nuke", "--nuke-dir", str(home)]) == 0
    assert inst.BEGIN in (home / "init.py").read_text()
    r = subprocess.run(
        [sys.executable, "-m", "void_client.cli.main", "install", "nuke", "--help"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "--nuke-version" in r.stdout
