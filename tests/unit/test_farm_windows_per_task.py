"""``windows_per_task``: how a farm job groups consecutive windows into one task (one model load),
and how each writer expresses that grouping: OpenJD templates validated and expanded by
openjd-model, OpenCue's ``job.xml`` and Deadline's files read back (docs/farm.md)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as Et
from pathlib import Path

import pytest
import yaml
from openjd.model import StepParameterSpaceIterator, create_job, decode_job_template

from void_client.errors import ErrorCode, VoidError
from void_client.farm import FarmSpec, submit_job
from void_client.farm.farm_spec import choose_windows_per_task
from void_client.farm.openjd import template
from void_client.sequence_job import RemoveRequest
from void_daemon.demo_shot import make_shot, write_shot

COMMAND = [sys.executable, "-m", "void_client.cli.main"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(
        make_shot(frames=24, width=32, height=24, seed=5),
        str(tmp_path_factory.mktemp("per-task-shot")),
    )


def six_windows(paths: dict, tmp_path: Path, seam: str, per: int) -> FarmSpec:
    """24 frames in 5-frame windows overlapping by 1: six windows."""
    req = RemoveRequest(
        paths["plate"],
        paths["remove"],
        str(tmp_path / "out" / "clean.####.exr"),
        paths["affected"],
        settings={"window": 5, "overlap": 1, "seam": seam, "engine": "void"},
    )
    spec = FarmSpec.from_request(req, tmp_path / "work", command=COMMAND)
    spec.windows_per_task = per
    assert len(spec.windows()) == 6
    return spec.validate()


def test_default_grouping_follows_the_window_count_the_farm_size_and_the_seams() -> None:
    # crossfade: one task per free worker, never more windows per task than needed to fill them.
    assert [choose_windows_per_task(n, "crossfade") for n in (1, 3, 8, 9, 16, 40, 200)] == [
        1,
        1,
        1,
        2,
        2,
        5,
        8,  # capped: a task stays within a farm timeout
    ]
    assert choose_windows_per_task(6, "crossfade", farm_size=2) == 3
    assert choose_windows_per_task(6, "crossfade", farm_size=4) == 2
    assert choose_windows_per_task(6, "crossfade", farm_size=100) == 1
    # chain windows run one after another anyway: grouping them costs no parallelism.
    assert [choose_windows_per_task(n, "chain") for n in (1, 3, 6, 20)] == [1, 3, 6, 8]


def test_task_windows_cover_every_window_once_in_order(paths, tmp_path: Path) -> None:
    spec = six_windows(paths, tmp_path, "crossfade", 4)
    assert spec.task_windows() == [(0, 3), (4, 5)]
    assert spec.windows_of_task(1) == (4, 5)
    with pytest.raises(VoidError) as err:
        spec.windows_of_task(2)
    assert err.value.code == ErrorCode.BAD_SPEC and "task 2 is outside 0..1" in err.value.message
    spec.windows_per_task = 0
    with pytest.raises(VoidError) as err:
        spec.validate()
    assert err.value.field == "windows_per_task"
    # The field round-trips through farm.json, and an older farm.json without it means 1.
    spec.windows_per_task = 3
    saved = spec.save(tmp_path / "farm.json")
    assert FarmSpec.load(saved).windows_per_task == 3
    data = spec.to_dict()
    del data["windows_per_task"]
    assert FarmSpec.from_dict(data).windows_per_task == 1


def expand(data: dict) -> dict[str, list[list[str]]]:
    """Every step's tasks as openjd-model expands them: the command line each task runs."""
    job = create_job(job_template=decode_job_template(template=data), job_parameter_values={})
    out: dict[str, list[list[str]]] = {}
    for step in job.steps:
        args = [str(a) for a in step.script.actions.onRun.args or []]
        tasks = []
        if step.parameterSpace is None:
            tasks.append(args)
        else:
            for params in StepParameterSpaceIterator(space=step.parameterSpace):
                tasks.append(
                    [
                        a.replace("{{Task.Param.Windows}}", str(params["Windows"].value))
                        if "Windows" in params
                        else a
                        for a in args
                    ]
                )
        out[step.name] = tasks
    return out


def test_openjd_crossfade_tasks_are_runs_of_windows(paths, tmp_path: Path) -> None:
    spec = six_windows(paths, tmp_path, "crossfade", 3)
    main = submit_job(spec, "openjd", tmp_path / "bundle", check=False)
    data = yaml.safe_load(main.read_text())
    assert data == template(spec, "farm.json")
    steps = expand(data)
    assert list(steps) == ["windows", "assemble"]
    assert [t[-2:] for t in steps["windows"]] == [["--index", "0-2"], ["--index", "3-5"]]
    assert "one engine load each" in data["steps"][0]["description"]


def test_openjd_chain_steps_cover_runs_and_stay_in_order(paths, tmp_path: Path) -> None:
    spec = six_windows(paths, tmp_path, "chain", 4)
    data = template(spec)
    job = create_job(job_template=decode_job_template(template=data), job_parameter_values={})
    steps = {s.name: s for s in job.steps}
    assert list(steps) == ["windows-000-003", "windows-004-005", "assemble"]
    assert steps["windows-000-003"].dependencies is None
    assert [d.dependsOn for d in steps["windows-004-005"].dependencies or []] == ["windows-000-003"]
    assert [d.dependsOn for d in steps["assemble"].dependencies or []] == ["windows-004-005"]
    assert data["steps"][1]["script"]["actions"]["onRun"]["args"][-2:] == ["--index", "4-5"]


def test_one_window_per_task_keeps_the_per_window_template(paths, tmp_path: Path) -> None:
    spec = six_windows(paths, tmp_path, "crossfade", 1)
    space = template(spec)["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]
    assert (space["name"], space["type"], space["range"]) == ("Window", "INT", "0-5")


def test_opencue_and_deadline_frames_are_task_numbers(paths, tmp_path: Path) -> None:
    spec = six_windows(paths, tmp_path, "crossfade", 3)
    cue = submit_job(spec, "opencue", tmp_path / "cue", check=False)
    layers = Et.parse(cue).getroot().find("job/layers")
    assert layers is not None
    windows = layers.find("layer[@name='windows']")
    assert windows is not None and windows.findtext("range") == "0-1"
    assert (windows.findtext("cmd") or "").endswith("--task #IFRAME#")
    dl = submit_job(spec, "deadline", tmp_path / "dl", check=False)
    info = dict(
        line.split("=", 1) for line in (dl.parent / "windows.job_info.txt").read_text().splitlines()
    )
    plugin = (dl.parent / "windows.plugin_info.txt").read_text()
    assert info["Frames"] == "0-1" and "--task <STARTFRAME>" in plugin
    # chain: one job/layer per run, each after the one before, with the run on its command line.
    chain = six_windows(paths, tmp_path / "c", "chain", 3)
    tasks = chain.task_graph("farm.json", "#IFRAME#")
    assert [(t.name, t.argv[-2:], t.depends) for t in tasks] == [
        ("windows-000-002", ["--index", "0-2"], []),
        ("windows-003-005", ["--index", "3-5"], ["windows-000-002"]),
        (
            "assemble",
            [*COMMAND, "task", "assemble", "--spec", "farm.json"][-2:],
            ["windows-003-005"],
        ),
    ]


def test_warm_engine_is_a_job_environment_around_every_step(paths, tmp_path: Path) -> None:
    spec = six_windows(paths, tmp_path, "chain", 2)
    assert "jobEnvironments" not in template(spec)
    spec.warm_engine = True
    data = template(spec)
    tmpl = decode_job_template(template=yaml.safe_load(yaml.safe_dump(data)))
    assert tmpl.jobEnvironments is not None and len(tmpl.jobEnvironments) == 1
    actions = data["jobEnvironments"][0]["script"]["actions"]
    enter, leave = actions["onEnter"]["args"], actions["onExit"]["args"]
    assert enter[-6:] == [
        "serve",
        "--spec",
        "{{Param.FarmSpec}}",
        "--socket",
        "{{Session.WorkingDirectory}}/void-engine.sock",
        "--detach",
    ]
    assert leave[-1] == "--stop" and enter[:-1] == leave[:-1]
