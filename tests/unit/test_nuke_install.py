"""``void-remove install nuke`` into a temporary home: one block in init.py however often it runs,
the user's own lines kept, the pip command aimed at Nuke's Python (never actually run here)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.fakes.fake_nuke import FakeNuke
from void_client.cli.main import main as cli_main
from void_nuke import installer as inst

REPO = Path(__file__).resolve().parents[2]
NUKE_PATH = REPO / "nuke" / "void_nuke" / "nuke_path"


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    inst.add_arguments(p)
    return p.parse_args(list(argv))


class Pip:
    """Records the pip command instead of running it."""

    def __init__(self, returncode: int = 0) -> None:
        self.commands: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, cmd: list[str], check: bool = False, **kw: Any) -> SimpleNamespace:
        self.commands.append(list(cmd))
        return SimpleNamespace(returncode=self.returncode)


def test_two_installs_leave_one_block_and_keep_the_users_lines(tmp_path: Path) -> None:
    home = tmp_path / ".nuke"
    home.mkdir()
    (home / "init.py").write_text("import nuke\nnuke.pluginAddPath('./gizmos')\n")
    pip = Pip()
    assert inst.install(parse("--nuke-dir", str(home)), run=pip) == 0
    once = (home / "init.py").read_text()
    assert inst.install(parse("--nuke-dir", str(home)), run=pip) == 0
    text = (home / "init.py").read_text()
    assert text == once
    assert text.startswith("import nuke\nnuke.pluginAddPath('./gizmos')\n")
    assert text.count(inst.BEGIN) == 1 and text.count(f"pluginAddPath({str(NUKE_PATH)!r})") == 1
    assert len(pip.commands) == 2  # deps are refreshed each time; init.py is not rewritten


def test_the_block_registers_the_nuke_path_and_deps_folder_once_when_nuke_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / ".nuke"
    assert inst.install(parse("--nuke-dir", str(home), "--no-deps"), run=Pip()) == 0
    fake = FakeNuke()
    monkeypatch.setitem(sys.modules, "nuke", fake)
    roots = [str(r) for r in inst.package_roots()]
    monkeypatch.setattr(
        sys, "path", [p for p in sys.path if p not in roots]
    )  # as in Nuke's own Python
    code = (home / "init.py").read_text()
    exec(compile(code, str(home / "init.py"), "exec"), {})
    exec(compile(code, str(home / "init.py"), "exec"), {})
    site = str(home / "void_remove" / "site-packages")
    assert sys.path.count(site) == 1 and all(sys.path.count(r) == 1 for r in roots)
    # after Nuke's own modules, and the deps built for Nuke's Python before our packages' folders
    assert sys.path.index(site) < min(sys.path.index(r) for r in roots)
    assert fake.calls == [("pluginAddPath", (str(NUKE_PATH),))] * 2


def test_uninstall_removes_only_the_block(tmp_path: Path) -> None:
    home = tmp_path / ".nuke"
    home.mkdir()
    (home / "init.py").write_text("print('mine')\n")
    inst.install(parse("--nuke-dir", str(home), "--no-deps"), run=Pip())
    (home / "init.py").write_text((home / "init.py").read_text() + "print('after')\n")
    assert inst.install(parse("--nuke-dir", str(home), "--uninstall")) == 0
    assert (home / "init.py").read_text() == "print('mine')\n\nprint('after')\n"


def test_pip_targets_nukes_python_into_the_void_remove_folder(tmp_path: Path) -> None:
    home = tmp_path / ".nuke"
    pip = Pip()
    inst.install(parse("--nuke-dir", str(home), "--nuke-version", "15"), run=pip)
    target = str(home / "void_remove" / "site-packages")
    assert pip.commands == [
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--upgrade",
            "--target",
            target,
            "--python-version",
            "3.10",
            "--implementation",
            "cp",
            "--only-binary=:all:",
            "numpy>=1.24",
            "pyzmq>=25",
            "msgpack>=1.0",
            "OpenImageIO>=2.5",
            "rich>=13",
        ]
    ]
    assert Path(target).is_dir()
    pip = Pip()
    inst.install(parse("--nuke-dir", str(home), "--nuke-version", "16", "--with-qt"), run=pip)
    assert pip.commands[0][pip.commands[0].index("--python-version") + 1] == "3.11"
    assert pip.commands[0][-1] == "PySide6-Essentials>=6.5,<6.6"
    pip = Pip()
    inst.install(
        parse(
            "--nuke-dir",
            str(home),
            "--nuke-version",
            "17",
            "--with-qt",
            "--nuke-python",
            "/opt/Nuke17.0v1/python3",
        ),
        run=pip,
    )
    assert pip.commands[0][:7] == [
        "/opt/Nuke17.0v1/python3",
        "-m",
        "pip",
        "install",
        "--upgrade",
        "--target",
        target,
    ]
    assert (
        "--python-version" not in pip.commands[0]
        and pip.commands[0][-1] == "PySide6-Essentials>=6.5,<6.6"
    )


@pytest.mark.parametrize(("version", "words"), [(13, "no wheel for Python 3.7"), (14, "3.9")])
def test_nuke_13_and_14_are_refused_before_anything_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: int, words: str
) -> None:
    """Finding 8: their Python is below the client's 3.10; pip would fail half-way."""
    home = tmp_path / ".nuke"
    pip = Pip()
    for extra in ((), ("--nuke-python", f"/opt/Nuke{version}.0v1/python3"), ("--no-deps",)):
        assert (
            inst.install(
                parse("--nuke-dir", str(home), "--nuke-version", str(version), *extra), run=pip
            )
            == 2
        )
        err = capsys.readouterr().err
        assert f"Nuke {version} runs Python" in err and words in err and "below" in err
        assert "nothing was installed" in err and "Nuke 15 or later" in err
    assert pip.commands == [] and not home.exists()


def test_the_version_table_knows_nuke_17() -> None:
    assert inst.NUKE_PYTHONS[17] == ("3.11", "PySide6")
    assert inst.unsupported(15) == inst.unsupported(16) == inst.unsupported(17) == ""


def test_dry_run_changes_nothing_and_failures_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / ".nuke"
    pip = Pip()
    assert inst.install(parse("--nuke-dir", str(home), "--dry-run"), run=pip) == 0
    assert not home.exists() and pip.commands == []
    assert "would run: " in capsys.readouterr().out
    assert inst.install(parse("--nuke-dir", str(home)), run=Pip(returncode=1)) == 1
    assert "pip failed" in capsys.readouterr().err
    assert inst.install(parse("--nuke-dir", str(home), "--source", str(tmp_path))) == 1
    assert "not the VOID Remove NUKE_PATH folder" in capsys.readouterr().err


def test_install_command_is_reachable_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / ".nuke"
    assert cli_main(["install", "nuke", "--nuke-dir", str(home), "--no-deps"]) == 0
    assert inst.BEGIN in (home / "init.py").read_text()
    r = subprocess.run(
        [sys.executable, "-m", "void_client.cli.main", "install", "nuke", "--help"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "--nuke-version" in r.stdout
