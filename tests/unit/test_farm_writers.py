"""Farm job files: OpenJD templates validated by openjd-model, OpenCue and Deadline files read back
and checked for structure and dependencies, the spec's JSON, and the CLI that writes them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as Et
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from openjd.model import create_job, decode_job_template

from void_client.errors import ErrorCode, VoidError
from void_client.farm import FarmSpec, farm_names, submit_job
from void_client.farm.opencue import fill_submitter
from void_client.farm.openjd import template, to_yaml
from void_client.sequence_job import RemoveRequest
from void_daemon.demo_shot import make_shot, write_shot

COMMAND = [sys.executable, "-m", "void_client.cli.main"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(
        make_shot(frames=24, width=64, height=48, seed=12),
        str(tmp_path_factory.mktemp("writers-shot")),
    )


def spec_for(
    paths: dict,
    tmp_path: Path,
    seam: str = "crossfade",
    engine: str = "propagate",
    frames: int = 24,
) -> FarmSpec:
    req = RemoveRequest(
        paths["plate"],
        paths["remove"],
        str(tmp_path / "out dir" / "clean.####.exr"),
        paths["affected"],
        frame_range=(1001, 1000 + frames),
        settings={"window": 13, "overlap": 4, "seam": seam, "engine": engine},
    )
    return FarmSpec.from_request(req, tmp_path / "work", command=COMMAND)


def read_info(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


# ---------------------------------------------------------------------- the spec
def test_farm_spec_round_trips_and_refuses_what_a_task_could_not_run(paths, tmp_path: Path) -> None:
    spec = spec_for(paths, tmp_path)
    again = FarmSpec.load(spec.save(tmp_path / "farm.json"))
    assert (
        again == spec
        and again.job.transfer == "paths"
        and again.job.out_pattern.endswith("clean.####.exr")
    )
    assert (
        os.path.isabs(again.plate)
        and os.path.isabs(again.work_dir)
        and again.job_dir.parent.name == "jobs"
    )
    d = json.loads(spec.to_json())
    with pytest.raises(VoidError) as err:
        FarmSpec.from_dict({**d, "surprise": 1})
    assert err.value.field == "surprise"
    with pytest.raises(VoidError) as err:
        FarmSpec.from_dict({**d, "job": {**d["job"], "transfer": "pixels"}})
    assert err.value.field == "out_pattern"
    with pytest.raises(VoidError) as err:
        FarmSpec.from_dict({**d, "command": []})
    assert err.value.field == "command"
    with pytest.raises(VoidError):
        FarmSpec.load(tmp_path / "missing.json")


def test_registry_lists_the_three_farms_and_names_an_unknown_one(paths, tmp_path: Path) -> None:
    assert {"openjd", "opencue", "deadline"} <= set(farm_names())
    with pytest.raises(VoidError) as err:
        submit_job(spec_for(paths, tmp_path), "tractor", tmp_path / "x", check=False)
    assert "unknown farm 'tractor'" in err.value.message


# ---------------------------------------------------------------------- OpenJD
@pytest.mark.parametrize("seam", ["crossfade", "chain"])
def test_openjd_template_validates_and_says_how_windows_run(
    paths, tmp_path: Path, seam: str
) -> None:
    spec = spec_for(paths, tmp_path, seam=seam, engine="void")
    main = submit_job(spec, "openjd", tmp_path / "bundle", check=False)
    assert main == tmp_path / "bundle" / "template.yaml"
    data = yaml.safe_load(main.read_text())
    assert data == template(spec, "farm.json")
    tmpl = decode_job_template(template=data)
    job = create_job(job_template=tmpl, job_parameter_values={})
    steps = {s.name: s for s in job.steps}
    gpu = {s.name: s.hostRequirements is not None for s in job.steps}
    if seam == "crossfade":
        assert list(steps) == ["windows", "assemble"]
        space = steps["windows"].parameterSpace
        assert [int(v) for v in space.taskParameterDefinitions["Window"].range] == [0, 1, 2]
        assert [d.dependsOn for d in steps["assemble"].dependencies] == ["windows"]
        assert "run in parallel" in data["description"]
    else:
        assert list(steps) == ["window-000", "window-001", "window-002", "assemble"]
        assert [d.dependsOn for d in steps["window-002"].dependencies] == ["window-001"]
        assert steps["window-000"].dependencies is None
        assert [d.dependsOn for d in steps["assemble"].dependencies] == ["window-002"]
        assert "run one after another" in data["description"]
    assert gpu.pop("assemble") is False and all(gpu.values())  # the void engine asks for a GPU
    # The spec parameter defaults to the farm.json next to the template, relative as OpenJD requires.
    param = data["parameterDefinitions"][0]
    assert (param["name"], param["type"], param["default"]) == ("FarmSpec", "PATH", "farm.json")
    args = data["steps"][0]["script"]["actions"]["onRun"]["args"]
    assert args[-4:-2] == ["--spec", "{{Param.FarmSpec}}"]


def test_a_one_window_shot_is_a_one_task_step(paths, tmp_path: Path) -> None:
    spec = spec_for(paths, tmp_path, frames=9)
    data = template(spec)
    tmpl = decode_job_template(template=yaml.safe_load(to_yaml(data)))
    assert [s.name for s in tmpl.steps] == ["windows", "assemble"]
    assert data["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["range"] == [0]


def test_yaml_writer_quotes_keys_and_strings_a_yaml_reader_would_retype() -> None:
    value = {
        "NO": 1,
        "on": [],
        "null": None,
        "a b": "x: y # z",
        "k": ["yes", "1.5", "~", "", "{{Param.X}}", 'tab\t"q"\\'],
    }
    assert yaml.safe_load(to_yaml(value)) == value


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_leaf = st.one_of(_text, st.integers(-(10**6), 10**6), st.booleans(), st.none())
_tree = st.recursive(
    _leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), kids, max_size=4
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), _tree, min_size=1, max_size=5
    )
)
def test_yaml_writer_round_trips_through_a_real_yaml_parser(value: dict) -> None:
    assert yaml.safe_load(to_yaml(value)) == value


# ---------------------------------------------------------------------- OpenCue
def test_opencue_job_spec_has_a_windows_layer_and_a_dependent_assemble_layer(
    paths, tmp_path: Path
) -> None:
    spec = spec_for(paths, tmp_path)
    spec.farm.env["OCIO"] = "/studio/config.ocio"
    main = submit_job(spec, "opencue", tmp_path / "cue", check=False)
    text = main.read_text()
    assert text.startswith(
        '<?xml version="1.0"?>\n<!DOCTYPE spec PUBLIC "SPI Cue  Specification Language"'
    )
    assert "cjsl-1.14.dtd" in text and "run in parallel" in text
    root = Et.fromstring(text.split("\n", 2)[2])
    assert [c.tag for c in root][:3] == ["show", "shot", "user"]
    job = root.find("job")
    name = job.get("name")
    assert name == f"void_remove_{spec.job_id}"
    assert job.find("env/key[@name='OCIO']").text == "/studio/config.ocio"
    layers = job.findall("layers/layer")
    assert [(lay.get("name"), lay.findtext("range"), lay.findtext("chunk")) for lay in layers] == [
        ("windows", "0-2", "1"),
        ("assemble", "0", "1"),
    ]
    spec_path = str(tmp_path / "cue" / "farm.json")
    cmd = layers[0].findtext("cmd")
    assert cmd.endswith(f"task window --spec '{spec_path}' --index #IFRAME#") or cmd.endswith(
        f"task window --spec {spec_path} --index #IFRAME#"
    )
    assert "task assemble" in layers[1].findtext("cmd")
    # Children in the order the cjsl DTD fixes: cmd, range, chunk, ..., env, services.
    dtd_order = [
        "cmd",
        "range",
        "chunk",
        "cores",
        "threadable",
        "memory",
        "gpus",
        "gpu",
        "gpu_memory",
        "timeout",
        "timeout_llu",
        "tags",
        "limits",
        "env",
        "services",
        "outputs",
    ]
    for lay in layers:
        tags = [c.tag for c in lay]
        assert tags == sorted(tags, key=dtd_order.index)
    deps = root.findall("depends/depend")
    assert [
        (
            d.get("type"),
            d.findtext("depjob"),
            d.findtext("deplayer"),
            d.findtext("onjob"),
            d.findtext("onlayer"),
        )
        for d in deps
    ] == [("LAYER_ON_LAYER", name, "assemble", name, "windows")]
    # No pyoutline outline.json: it was not the same job (issue 17, finding 4; test_farm_opencue).
    assert not (tmp_path / "cue" / "outline.json").exists()


def test_opencue_chain_job_orders_one_layer_per_window(paths, tmp_path: Path) -> None:
    spec = spec_for(paths, tmp_path, seam="chain", engine="void")
    root = Et.fromstring(
        submit_job(spec, "opencue", tmp_path / "cue", check=False).read_text().split("\n", 2)[2]
    )
    layers = root.findall("job/layers/layer")
    assert [lay.get("name") for lay in layers] == [
        "window-000",
        "window-001",
        "window-002",
        "assemble",
    ]
    assert [lay.findtext("gpus") for lay in layers] == ["1", "1", "1", None]
    assert [lay.findtext("cmd").split()[-1] for lay in layers[:3]] == ["0", "1", "2"]
    edges = [
        (d.findtext("deplayer"), d.findtext("onlayer")) for d in root.findall("depends/depend")
    ]
    assert edges == [
        ("window-001", "window-000"),
        ("window-002", "window-001"),
        ("assemble", "window-002"),
    ]
    assert "run one after another" in (tmp_path / "cue" / "job.xml").read_text()


def test_opencue_submission_needs_cuebot_hosts_and_sends_the_written_spec(
    paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(paths, tmp_path)
    monkeypatch.delenv("CUEBOT_HOSTS", raising=False)
    with pytest.raises(VoidError) as err:
        submit_job(spec, "opencue", tmp_path / "cue", submit=True, check=False)
    assert "CUEBOT_HOSTS" in err.value.message
    assert (tmp_path / "cue" / "job.xml").is_file()  # written even when it cannot be submitted
    monkeypatch.setenv("CUEBOT_HOSTS", "cuebot.invalid")
    sent: list[str] = []

    # The OpenCue API is the farm's own client library (not installable here): a stand-in
    # module records what would go to Cuebot.
    class Api:
        @staticmethod
        def launchSpec(text: str) -> list[str]:
            sent.append(text)
            return ["void-plate-root_void_remove_x"]

    monkeypatch.setitem(sys.modules, "opencue", type(sys)("opencue"))
    sys.modules["opencue"].api = Api  # type: ignore[attr-defined]
    # The launching user is filled at submit (never root: Cuebot refuses it); see test_farm_opencue.
    monkeypatch.setattr("getpass.getuser", lambda: "maria")
    monkeypatch.setattr("os.getuid", lambda: 1234)
    main = submit_job(spec, "opencue", tmp_path / "cue", submit=True, check=False)
    assert sent == [fill_submitter(main.read_text(), "maria", 1234)]
    assert (
        "launched void-plate-root_void_remove_x" in (tmp_path / "cue" / "submitted.log").read_text()
    )


# ---------------------------------------------------------------------- Deadline
def test_deadline_files_describe_a_windows_job_and_a_dependent_assemble_job(
    paths, tmp_path: Path
) -> None:
    spec = spec_for(paths, tmp_path)
    spec.farm.pool, spec.farm.priority = "gpu", 70
    main = submit_job(spec, "deadline", tmp_path / "dl", check=False)
    manifest = json.loads(main.read_text())
    assert [(j["name"], j["frames"], j["depends_on"]) for j in manifest["jobs"]] == [
        ("windows", "0-2", []),
        ("assemble", "0", ["windows"]),
    ]
    assert "run in parallel" in manifest["seams"]
    win = read_info(tmp_path / "dl" / "windows.job_info.txt")
    assert (win["Plugin"], win["Frames"], win["ChunkSize"], win["Pool"], win["Priority"]) == (
        "CommandLine",
        "0-2",
        "1",
        "gpu",
        "70",
    )
    assert win["BatchName"] == spec.title() and "JobDependencies" not in win
    plugin = read_info(tmp_path / "dl" / "windows.plugin_info.txt")
    spec_path = str(tmp_path / "dl" / "farm.json")
    assert plugin["Executable"] == sys.executable
    assert (
        plugin["Arguments"]
        == f"-m void_client.cli.main task window --spec {spec_path} --index <STARTFRAME>"
    )
    asm = read_info(tmp_path / "dl" / "assemble.job_info.txt")
    assert asm["Frames"] == "0" and asm["OutputFilename0"] == spec.out_pattern
    assert read_info(tmp_path / "dl" / "assemble.plugin_info.txt")["Arguments"].endswith(
        f"task assemble --spec {spec_path}"
    )


def test_deadline_chain_is_one_job_per_window_each_after_the_last(paths, tmp_path: Path) -> None:
    spec = spec_for(paths, tmp_path, seam="chain")
    manifest = json.loads(submit_job(spec, "deadline", tmp_path / "dl", check=False).read_text())
    assert [(j["name"], j["frames"], j["depends_on"]) for j in manifest["jobs"]] == [
        ("window-000", "0", []),
        ("window-001", "1", ["window-000"]),
        ("window-002", "2", ["window-001"]),
        ("assemble", "0", ["window-002"]),
    ]
    assert read_info(tmp_path / "dl" / "window-002.plugin_info.txt")["Arguments"].endswith(
        "--index 2"
    )
    assert "one after another" in read_info(tmp_path / "dl" / "window-000.job_info.txt")["Comment"]


def test_deadline_submission_chains_job_ids_into_the_dependent_job_info(
    paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(paths, tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("DEADLINE_PATH", raising=False)
    with pytest.raises(VoidError) as err:
        submit_job(spec, "deadline", tmp_path / "dl", submit=True, check=False)
    assert "deadlinecommand is not on PATH" in err.value.message
    # Named for what failed (issue 17, finding 7): the farm's tool, not our engine.
    assert err.value.code == ErrorCode.FARM_TOOL_MISSING
    # deadlinecommand is the farm's own client (not installable here): a stand-in script on
    # PATH logs its arguments and the job info it was given, and answers like Deadline does.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "deadlinecommand"
    log = tmp_path / "calls.jsonl"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"calls = open({str(log)!r}, 'a')\n"
        "n = sum(1 for _ in open(calls.name)) + 1\n"
        "calls.write(json.dumps({'argv': sys.argv[1:], 'info': open(sys.argv[1]).read()}) + '\\n')\n"
        "print('Submitting to Repository: /repo')\nprint('Result=Success')\nprint(f'JobID=job{n:03d}')\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    log.write_text("")
    monkeypatch.setenv("PATH", str(bindir))
    submit_job(spec, "deadline", tmp_path / "dl", submit=True, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [Path(c["argv"][0]).name for c in calls] == [
        "windows.job_info.txt",
        "assemble.job_info.txt",
    ]
    assert [Path(c["argv"][1]).name for c in calls] == [
        "windows.plugin_info.txt",
        "assemble.plugin_info.txt",
    ]
    assert (
        "JobDependencies" not in calls[0]["info"] and "JobDependencies=job001\n" in calls[1]["info"]
    )
    assert read_info(tmp_path / "dl" / "assemble.job_info.txt")["JobDependencies"] == "job001"
    assert (
        tmp_path / "dl" / "submitted.log"
    ).read_text() == "windows JobID=job001\nassemble JobID=job002\n"


# ---------------------------------------------------------------------- CLI
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(autouse=True)
def _submitter_without_void_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A farm job carries the submitter's OCIO and VOID_* variables: submit from a shell that has
    none (CI sets VOID_REQUIRE_GL), so what a test passes with --env is all that is carried."""
    for key in list(os.environ):
        if key == "OCIO" or key.startswith("VOID_"):
            monkeypatch.delenv(key)


def test_cli_rewrites_a_farm_spec_for_another_farm_and_explains_bad_input(
    paths, tmp_path: Path
) -> None:
    spec_path = spec_for(paths, tmp_path, seam="chain").save(tmp_path / "farm.json")
    r = cli(
        "farm",
        "deadline",
        str(spec_path),
        "--out-dir",
        str(tmp_path / "dl"),
        "--priority",
        "80",
        "--env",
        "OCIO=/c.ocio",
        "--worker-command",
        "/opt/void/bin/void-remove",
        # That install exists only on the workers: nothing to check it with here.
        "--no-check",
    )
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == tmp_path / "dl" / "submission.json"
    assert "3 window tasks in order (chain seams)" in r.stderr
    written = FarmSpec.load(tmp_path / "dl" / "farm.json")
    assert (
        written.farm.priority == 80
        and written.farm.env == {"OCIO": "/c.ocio"}
        and written.command == ["/opt/void/bin/void-remove"]
    )
    assert (
        read_info(tmp_path / "dl" / "window-000.plugin_info.txt")["Executable"]
        == "/opt/void/bin/void-remove"
    )
    both = cli("farm", "openjd", str(spec_path), "--plate", paths["plate"])
    assert both.returncode == 2 and "not both" in both.stderr
    none = cli("farm", "opencue", "--plate", paths["plate"])
    assert none.returncode == 2 and "--remove, --out are required" in none.stderr
    gap = cli(
        "farm",
        "opencue",
        "--plate",
        paths["plate"],
        "--remove",
        paths["remove"],
        "--out",
        str(tmp_path / "o.####.exr"),
        "--range",
        "995-1002",
    )
    assert gap.returncode == 2 and "[missing_frames]" in gap.stderr and "995-1000" in gap.stderr


def test_cli_task_help_lists_both_tasks() -> None:
    r = cli("task", "--help")
    assert r.returncode == 0 and "window" in r.stdout and "assemble" in r.stdout
    assert ErrorCode.BAD_SPEC.value == "bad_spec"


def test_what_a_job_carries_defaults_to_this_install_and_a_work_folder_beside_delivery(
    paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17, findings 1, 2, 3 and 7, as recorded in farm.json."""
    from void_client.farm.farm_spec import carried_environment, default_worker_command

    monkeypatch.delenv("VOID_REMOVE_WORKER_COMMAND", raising=False)
    assert default_worker_command() == [sys.executable, "-m", "void_client.cli.main"]
    monkeypatch.setenv("VOID_REMOVE_WORKER_COMMAND", "/opt/void/bin/void-remove --quiet")
    assert default_worker_command() == ["/opt/void/bin/void-remove", "--quiet"]

    env = carried_environment(
        {
            "OCIO": "configs/show.ocio",
            "VOID_WEIGHTS_DIR": "/models/void",
            "VOID_ENDPOINT": "tcp://127.0.0.1:5555",
            "VOID_CURVE_SECRET_KEY": "x",
            "PATH": "/usr/bin",
        }
    )
    assert env == {"OCIO": os.path.abspath("configs/show.ocio"), "VOID_WEIGHTS_DIR": "/models/void"}
    assert carried_environment({"OCIO": "ocio://studio-config-latest"})["OCIO"].startswith("ocio:")

    req = RemoveRequest(
        paths["plate"], paths["remove"], str(tmp_path / "delivery" / "clean.####.exr")
    )
    spec = FarmSpec.from_request(req)
    assert spec.work_dir == str(tmp_path / "_void_work") and spec.umask == "022"
    assert not spec.keep_work
    d = json.loads(spec.to_json())
    for bad in ("077", "640", "abc"):
        with pytest.raises(VoidError) as err:
            FarmSpec.from_dict({**d, "umask": bad})
        assert err.value.field == "umask"
    assert FarmSpec.from_dict({**d, "umask": "027"}).umask == "027"
