"""Deadline 10 files (issue 17, finding 5): GPU tasks need a GPU, progress the Monitor reads,
and a documented script that submits the jobs with their dependencies by hand."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from void_client.errors import ErrorCode, VoidError
from void_client.farm import FarmSpec, submit_job
from void_client.farm.deadline import PROGRESS_REGEX, STATUS_REGEX
from void_client.sequence_job import RemoveRequest
from void_daemon.demo_shot import make_shot, write_shot
from void_daemon.engines import EngineConfig
from void_daemon.farm_tasks import engine_config, require_gpu, run_windows_task
from void_daemon.task_command import farm_progress

COMMAND = [sys.executable, "-m", "void_client.cli.main"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(
        make_shot(frames=24, width=64, height=48, seed=12),
        str(tmp_path_factory.mktemp("dl-shot")),
    )


def spec_for(
    paths: dict, tmp_path: Path, engine: str = "void", seam: str = "crossfade"
) -> FarmSpec:
    req = RemoveRequest(
        paths["plate"],
        paths["remove"],
        str(tmp_path / "out" / "clean.####.exr"),
        paths["affected"],
        frame_range=(1001, 1024),
        settings={"window": 13, "overlap": 4, "seam": seam, "engine": engine},
    )
    return FarmSpec.from_request(req, tmp_path / "work", command=COMMAND)


def read_info(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


# ---------------------------------------------------------------------- GPU
def test_a_void_window_refuses_to_run_on_cpu_unless_the_job_allows_it(
    paths, tmp_path: Path
) -> None:
    spec = spec_for(paths, tmp_path)
    # Before: a GPU-less worker with the weights silently ran the 5B model on CPU.
    config = engine_config(spec, environ={"CUDA_VISIBLE_DEVICES": ""})
    assert config.device == "cpu"
    with pytest.raises(VoidError) as err:
        require_gpu(spec, config)
    assert err.value.code == ErrorCode.ENGINE_UNAVAILABLE and "--allow-cpu" in err.value.message
    with pytest.raises(VoidError):
        require_gpu(spec, EngineConfig(device="auto"), cuda_available=False)
    require_gpu(spec, EngineConfig(device="cuda:0"), cuda_available=True)
    spec.farm.allow_cpu = True
    require_gpu(spec, config)  # allowed by the job
    # A CPU engine never needs a GPU.
    require_gpu(spec_for(paths, tmp_path, engine="propagate"), config)


def test_allow_cpu_is_carried_in_farm_json(paths, tmp_path: Path) -> None:
    spec = spec_for(paths, tmp_path)
    spec.farm.allow_cpu = True
    assert FarmSpec.load(spec.save(tmp_path / "farm.json")).farm.allow_cpu is True


def test_a_void_job_routes_only_its_windows_to_the_gpu_group(paths, tmp_path: Path) -> None:
    spec = spec_for(paths, tmp_path)
    spec.farm.group, spec.farm.pool = "gpu", "shots"
    submit_job(spec, "deadline", tmp_path / "dl", check=False)
    windows = read_info(tmp_path / "dl" / "windows.job_info.txt")
    assemble = read_info(tmp_path / "dl" / "assemble.job_info.txt")
    assert windows["Group"] == "gpu" and windows["ExtraInfoKeyValue2"] == "VoidRemoveGpu=required"
    assert "Group" not in assemble and assemble["Pool"] == "shots"


# ---------------------------------------------------------------------- progress
def test_progress_lines_of_a_real_task_match_the_plugins_handlers(
    paths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_for(paths, tmp_path, engine="propagate")
    spec.farm.deadline_plugin = "VoidRemove"
    submit_job(spec, "deadline", tmp_path / "dl", check=False)
    assert read_info(tmp_path / "dl" / "windows.job_info.txt")["Plugin"] == "VoidRemove"
    plugin = (tmp_path / "dl" / "deadline_plugin" / "VoidRemove" / "VoidRemove.py").read_text()
    # The regular expressions the plugin registers with AddStdoutHandlerCallback, read back.
    progress_re = re.search(r'^PROGRESS_REGEX = r"(.*)"$', plugin, re.M).group(1)
    status_re = re.search(r'^STATUS_REGEX = r"(.*)"$', plugin, re.M).group(1)
    assert (progress_re, status_re) == (PROGRESS_REGEX, STATUS_REGEX)
    compile(plugin, "VoidRemove.py", "exec")  # valid Python for Deadline's interpreter
    # The task's real stdout (the same farm_progress the task command prints with).
    run_windows_task(spec, 0, 0, farm_progress)
    lines = capsys.readouterr().out.splitlines()
    # fullmatch: stricter than a stdout handler needs (a match anywhere in the line).
    values = [float(m.group(1)) for ln in lines if (m := re.fullmatch(progress_re, ln))]
    assert values and values[-1] == 100.0 and all(0.0 <= v <= 100.0 for v in values)
    statuses = [m.group(1) for ln in lines if (m := re.fullmatch(status_re, ln))]
    assert statuses and statuses[-1].startswith("window 0 ")
    assert all(re.fullmatch(progress_re, ln) or re.fullmatch(status_re, ln) for ln in lines)


# ---------------------------------------------------------------------- manual submission
@pytest.mark.parametrize("seam", ["crossfade", "chain"])
def test_submit_script_fills_job_dependencies_from_deadlinecommands_reply(
    paths, tmp_path: Path, seam: str
) -> None:
    spec = spec_for(paths, tmp_path, engine="propagate", seam=seam)
    manifest = submit_job(spec, "deadline", tmp_path / "dl", check=False)
    script = manifest.parent / "submit_deadline.sh"
    assert script.stat().st_mode & stat.S_IXUSR
    # Before: JobDependencies was only written by --submit; by hand the files had to be edited.
    # A stand-in deadlinecommand records what it was given and answers as the real one does
    # (the lines the --submit path reads: "Result=Success" then "JobID=<id>").
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.txt"
    fake = bindir / "deadlinecommand"
    fake.write_text(
        "#!/bin/sh\n"
        f'n=$(( $(wc -l < "{log}") + 1 ))\n'
        f'dep=$(grep "^JobDependencies=" "$1" || true)\n'
        f'echo "$(basename "$1") $(basename "$2") $dep" >> "{log}"\n'
        'echo "Submitting to Repository: /repo"\necho "Result=Success"\n'
        'echo "JobID=5f00000000000000000000$n"\necho "The job was submitted successfully."\n'
    )
    fake.chmod(0o755)
    log.write_text("")
    env = {"PATH": f"{bindir}:/usr/bin:/bin"}
    proc = subprocess.run(
        ["/bin/sh", str(script)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    names = [j.name for j in spec.task_graph("farm.json", "<STARTFRAME>")]
    assert [c.split()[0] for c in calls] == [f"{n}.job_info.txt" for n in names]
    for i, call in enumerate(calls):
        deps = call.split()[2:]
        assert deps == ([] if i == 0 else [f"JobDependencies=5f00000000000000000000{i}"])
    assert proc.stdout.splitlines()[-1] == f"assemble JobID=5f00000000000000000000{len(names)}"


def test_submit_script_stops_when_deadlinecommand_gives_no_job_id(paths, tmp_path: Path) -> None:
    manifest = submit_job(spec_for(paths, tmp_path), "deadline", tmp_path / "dl", check=False)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "deadlinecommand"
    fake.write_text('#!/bin/sh\necho "Result=Failure"\necho "Error: no such pool"\n')
    fake.chmod(0o755)
    proc = subprocess.run(
        ["/bin/sh", str(manifest.parent / "submit_deadline.sh")],
        capture_output=True,
        text=True,
        env={"PATH": f"{bindir}:/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode != 0 and "no JobID= in the reply for windows" in proc.stderr
    assert "JobDependencies" not in (tmp_path / "dl" / "assemble.job_info.txt").read_text()
