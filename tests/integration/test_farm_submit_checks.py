"""What a farm job needs besides its format, checked before submission (issue 17, finding 2):
the submitter's ``$OCIO`` and ``VOID_*`` settings carried in ``farm.json`` and applied by the
task; a colour space the OCIO config does not know, a weights folder without the files, an
output folder that cannot be written, refused by ``void-remove farm`` with nothing submitted.

The checks run through the real CLI, which runs ``<worker command> task check`` (a subprocess
with the job's environment), as a worker would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import PyOpenColorIO as OCIO
import pytest
import yaml

from void_client.farm import FarmSpec
from void_daemon.demo_shot import make_shot, write_shot

COMMAND = [sys.executable, "-m", "void_client.cli.main"]
#: In OCIO's studio config, not in its default (CG) config: only the carried $OCIO knows it.
STUDIO_ONLY = "ARRI LogC3 (EI800)"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=180, env=env)


def base_env() -> dict[str, str]:
    """This environment minus anything a previous test or the shell set for OCIO or us."""
    return {k: v for k, v in os.environ.items() if k != "OCIO" and not k.startswith("VOID_")}


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(
        make_shot(frames=8, width=32, height=24, seed=5),
        str(tmp_path_factory.mktemp("checks-shot")),
    )


@pytest.fixture(scope="module")
def studio_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ocio") / "studio.ocio"
    path.write_text(OCIO.Config.CreateFromFile("ocio://studio-config-latest").serialize())
    assert STUDIO_ONLY not in OCIO.Config.CreateFromFile("ocio://default").getColorSpaceNames()
    return path


def shot_args(paths: dict, out: Path, *extra: str) -> list[str]:
    return [
        "--plate",
        paths["plate"],
        "--remove",
        paths["remove"],
        "--out",
        str(out),
        "--window",
        "8",
        *extra,
    ]


def test_ocio_and_void_settings_are_carried_in_farm_json_and_applied_by_the_task(
    paths, studio_config: Path, tmp_path: Path
) -> None:
    env = {
        **base_env(),
        # Relative on purpose: the worker runs elsewhere, so farm.json must hold it absolute.
        "OCIO": os.path.relpath(studio_config, tmp_path),
        "VOID_DAEMON_TIMINGS": "1",
        "VOID_CURVE_SECRET_KEY": "must-not-travel",
    }
    r = subprocess.run(
        [
            *COMMAND,
            "farm",
            "openjd",
            *shot_args(paths, tmp_path / "out" / "c.####.exr", "--colourspace", STUDIO_ONLY),
            "--env",
            "SITE_LICENSE=5053@lic",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    template = Path(r.stdout.strip())
    farm = FarmSpec.load(template.parent / "farm.json")
    assert farm.farm.env == {
        "OCIO": str(studio_config),
        "VOID_DAEMON_TIMINGS": "1",
        "SITE_LICENSE": "5053@lic",
    }
    step = yaml.safe_load(template.read_text())["steps"][0]
    assert step["stepEnvironments"][0]["variables"]["OCIO"] == str(studio_config)

    # The task applies the job's environment itself: a worker without $OCIO still knows the
    # colour space, because farm.json carries the config...
    check = cli("task", "check", "--spec", str(template.parent / "farm.json"), env=base_env())
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout.strip().splitlines()[-1])
    assert report["ok"] and any(STUDIO_ONLY in c for c in report["checked"])
    # ...and the same job without it fails the same check (the carried $OCIO is what passed).
    bare = FarmSpec.load(template.parent / "farm.json")
    bare.farm.env = {}
    bare_path = bare.save(tmp_path / "bare.json")
    refused = cli("task", "check", "--spec", str(bare_path), env=base_env())
    assert refused.returncode == 1
    assert json.loads(refused.stdout.strip().splitlines()[-1])["code"] == "bad_spec"


def test_a_colourspace_the_config_does_not_know_is_refused_before_submission(
    paths, studio_config: Path, tmp_path: Path
) -> None:
    env = {**base_env(), "OCIO": str(studio_config)}
    r = cli(
        "farm",
        "deadline",
        *shot_args(paths, tmp_path / "out" / "c.####.exr", "--colourspace", "ACEScg_typo"),
        "--work-dir",
        str(tmp_path / "work"),
        env=env,
    )
    assert r.returncode == 2
    assert "[bad_spec]" in r.stderr and "'ACEScg_typo' is not in the OCIO config" in r.stderr
    assert "nothing was sent to the farm" in r.stderr
    # No job files for the farm were written, only the spec that was checked.
    job_dirs = list((tmp_path / "work" / "jobs").iterdir())
    assert len(job_dirs) == 1 and sorted(p.name for p in job_dirs[0].iterdir()) == ["farm.json"]


def test_a_weights_folder_without_the_void_files_is_refused_before_submission(
    paths, tmp_path: Path
) -> None:
    empty = tmp_path / "weights"
    empty.mkdir()
    r = cli(
        "farm",
        "opencue",
        *shot_args(paths, tmp_path / "out" / "c.####.exr", "--engine", "void"),
        "--weights-dir",
        str(empty),
        env=base_env(),
    )
    assert r.returncode == 2
    assert "[weights_missing]" in r.stderr and str(empty) in r.stderr
    assert "nothing was sent to the farm" in r.stderr


def test_an_output_folder_that_cannot_be_written_is_refused_before_submission(
    paths, tmp_path: Path
) -> None:
    # A file where the delivery folder should be: no user (root included) can write there.
    (tmp_path / "delivery").write_text("not a folder")
    r = cli(
        "farm",
        "openjd",
        *shot_args(paths, tmp_path / "delivery" / "shot" / "c.####.exr"),
        "--work-dir",
        str(tmp_path / "work"),
        env=base_env(),
    )
    assert r.returncode == 2
    assert "[io_error]" in r.stderr and "output folder" in r.stderr
    assert not list((tmp_path / "work").glob("jobs/*/template.yaml"))


def test_a_worker_command_that_does_not_run_here_is_named(paths, tmp_path: Path) -> None:
    r = cli(
        "farm",
        "openjd",
        *shot_args(paths, tmp_path / "out" / "c.####.exr"),
        "--worker-command",
        "/nonexistent/bin/void-remove",
        env=base_env(),
    )
    assert r.returncode == 2
    assert "/nonexistent/bin/void-remove" in r.stderr and "--no-check" in r.stderr
