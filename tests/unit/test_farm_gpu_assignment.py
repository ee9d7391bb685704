"""A farm task runs on the GPU its farm assigned (issue 17, finding 6): OpenCue's
``CUE_GPU_CORES``, ``CUDA_VISIBLE_DEVICES``, or what the job names explicitly. No GPU needed:
this checks the device the task's engine config picks under each variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from void_client.farm.farm_spec import FarmSpec
from void_client.job_spec import JobSpec
from void_daemon.farm_tasks import assigned_device, engine_config


def spec(tmp_path: Path, device: str = "") -> FarmSpec:
    job = JobSpec(
        frames=[1, 2, 3],
        width=8,
        height=8,
        channels=["R", "G", "B"],
        transfer="paths",
        out_pattern=str(tmp_path / "out" / "o.####.exr"),
        job_id="gpu-test",
    )
    return FarmSpec(
        job=job,
        plate=str(tmp_path / "p.####.exr"),
        remove=str(tmp_path / "m.####.exr"),
        work_dir=str(tmp_path / "work"),
        command=["/opt/void/bin/void-remove"],
        engine_config={"device": device} if device else {},
    ).validate()


@pytest.mark.parametrize(
    ("env", "device"),
    [
        ({}, "auto"),  # nothing assigned: the engine's own choice (cuda:0 on a GPU host)
        ({"CUE_GPU_CORES": "2"}, "cuda:2"),  # OpenCue booked physical GPU 2
        ({"CUE_GPU_CORES": "3,1"}, "cuda:3"),  # a two-GPU booking: the first one
        # RQD booked GPU 3 on a host whose mask shows 1 and 3: GPU 3 is cuda:1 in this process.
        ({"CUE_GPU_CORES": "3", "CUDA_VISIBLE_DEVICES": "1,3"}, "cuda:1"),
        ({"CUDA_VISIBLE_DEVICES": "5"}, "cuda:0"),  # masked to one GPU: it is cuda:0
        ({"CUDA_VISIBLE_DEVICES": "GPU-8f2c,GPU-77aa"}, "cuda:0"),  # UUIDs work the same
        ({"CUDA_VISIBLE_DEVICES": ""}, "cpu"),  # the farm gave this task no GPU
        ({"CUDA_VISIBLE_DEVICES": "-1"}, "cpu"),
    ],
)
def test_the_task_uses_the_gpu_its_farm_assigned(tmp_path: Path, env: dict, device: str) -> None:
    assert engine_config(spec(tmp_path), environ=env).device == device
    assert assigned_device("cuda", env)[0] == (device if device != "auto" else "cuda")


def test_an_explicit_device_in_the_job_wins_and_the_reason_is_said(tmp_path: Path) -> None:
    env = {"CUE_GPU_CORES": "2"}
    assert engine_config(spec(tmp_path, "cuda:1"), environ=env).device == "cuda:1"
    assert engine_config(spec(tmp_path, "cpu"), environ=env).device == "cpu"
    # A node override (``task window --device``) is explicit too.
    assert engine_config(spec(tmp_path), {"device": "cuda:3"}, environ=env).device == "cuda:3"
    device, why = assigned_device("auto", env)
    assert device == "cuda:2" and "OpenCue booked GPU 2" in why and "CUE_GPU_CORES=2" in why


def test_weights_default_to_the_tasks_environment(tmp_path: Path) -> None:
    config = engine_config(spec(tmp_path), environ={"VOID_WEIGHTS_DIR": "/mnt/w"})
    assert config.weights_dir == "/mnt/w"
