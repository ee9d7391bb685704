"""OpenCue job spec against Cuebot's own rules (issue 17, finding 4).

The rules quoted here are Cuebot's (``cuebot/src/main/java/com/imageworks/spcue/service/
JobSpec.java``, OpenCue main): ``NAME_REGEX = "^([\\w\\.-]{3,})$"`` for show, shot, layer names
and each tag (``tags.replaceAll(" ", "").split("\\|")``), ``FRAME_RETRIES_MAX = 1`` /
``FRAME_RETRIES_MIN = 0`` (``maxretries`` clamped at launch), and ``if (user.equals("root") ||
uid.equals(Optional.of(0))) throw new SpecBuilderException("Cannot launch jobs as root.")``.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as Et
from pathlib import Path

import pytest

from tests.support.opencue import cue_spec, fake_cuebot
from void_client.errors import VoidError
from void_client.farm import FarmSpec, submit_job
from void_client.farm.opencue import USER_PLACEHOLDER, fill_submitter
from void_daemon.demo_shot import make_shot, write_shot


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(
        make_shot(frames=24, width=64, height=48, seed=12),
        str(tmp_path_factory.mktemp("cue-shot")),
    )


def spec_for(paths: dict, tmp_path: Path, engine: str = "void") -> FarmSpec:
    return cue_spec(paths, tmp_path, 1024, engine=engine)


def write(spec: FarmSpec, tmp_path: Path) -> Et.Element:
    main = submit_job(spec, "opencue", tmp_path / "cue", check=False)
    return Et.fromstring(main.read_text().split("\n", 2)[2])


def layer(root: Et.Element, name: str) -> Et.Element:
    found = root.find(f"job/layers/layer[@name='{name}']")
    assert found is not None
    return found


def test_no_pyoutline_outline_json_is_written(paths, tmp_path: Path) -> None:
    # Before: outline.json was written; loaded and serialised with opencue-pyoutline 1.37 it
    # came out with priority 1, gpu_memory 1g, no env and the serialising user (root, uid 0).
    (tmp_path / "cue").mkdir()
    (tmp_path / "cue" / "outline.json").write_text("{}")  # left by an earlier version
    write(spec_for(paths, tmp_path), tmp_path)
    assert sorted(p.name for p in (tmp_path / "cue").iterdir()) == ["farm.json", "job.xml"]


def test_user_and_uid_are_filled_at_submit_not_at_write(paths, tmp_path: Path) -> None:
    root = write(spec_for(paths, tmp_path), tmp_path)
    # Before: the writing user's name and uid were baked in.
    assert root.findtext("user") == USER_PLACEHOLDER and root.find("uid") is None
    text = (tmp_path / "cue" / "job.xml").read_text()
    filled = Et.fromstring(fill_submitter(text, "maria", 1234).split("\n", 2)[2])
    assert (filled.findtext("user"), filled.findtext("uid")) == ("maria", "1234")
    assert [c.tag for c in filled][:4] == ["show", "shot", "user", "uid"]  # the DTD's order
    for user, uid in (("root", 1234), ("maria", 0)):
        with pytest.raises(VoidError) as err:
            fill_submitter(text, user, uid)
        assert "Cannot launch jobs as root" in err.value.message


def test_submit_sends_the_spec_with_the_submitting_user(
    paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = fake_cuebot(monkeypatch)
    submit_job(spec_for(paths, tmp_path), "opencue", tmp_path / "cue", submit=True, check=False)
    assert "<user>maria</user>" in sent[0] and "<uid>1234</uid>" in sent[0]
    assert USER_PLACEHOLDER in (tmp_path / "cue" / "job.xml").read_text()


@pytest.mark.parametrize(
    ("group", "written"),
    [("gpu-a100", "gpu-a100"), ("gpu farm", "gpufarm"), ("gpu|a100", "gpu | a100")],
)
def test_group_tags_follow_cuebots_tag_rule(paths, tmp_path: Path, group, written) -> None:
    # '-' is allowed by Cuebot's NAME_REGEX ([\w\.-]); spaces are removed by Cuebot, so the tag
    # is written as Cuebot reads it (before: "gpu farm" became the different tag "gpu_farm").
    spec = spec_for(paths, tmp_path)
    spec.farm.group = group
    assert layer(write(spec, tmp_path), "windows").findtext("tags") == written


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [("group", "ab", "group"), ("group", "gpu|x", "group"), ("show", "my show", "show")],
)
def test_names_cuebot_refuses_are_refused_before_writing(
    paths, tmp_path: Path, field, value, flag
) -> None:
    spec = spec_for(paths, tmp_path)
    setattr(spec.farm, field, value)
    with pytest.raises(VoidError) as err:
        write(spec, tmp_path)  # before: written, refused by Cuebot at launch
    assert err.value.field == flag and "Cuebot" in err.value.message
    assert not (tmp_path / "cue" / "job.xml").exists()


def test_gpu_count_and_memory_are_configurable_and_only_on_gpu_layers(
    paths, tmp_path: Path
) -> None:
    spec = spec_for(paths, tmp_path)
    spec.farm.gpus, spec.farm.gpu_memory, spec.farm.group = 2, "40G", "gpu"
    root = write(spec, tmp_path)
    windows, assemble = layer(root, "windows"), layer(root, "assemble")
    assert (windows.findtext("gpus"), windows.findtext("gpu_memory")) == ("2", "40g")
    assert windows.findtext("tags") == "gpu"
    # Before: the GPU tag was also on the CPU-only assemble layer.
    assert [assemble.find(t) for t in ("gpus", "gpu_memory", "tags")] == [None, None, None]
    spec.farm.gpu_memory = "lots"
    with pytest.raises(VoidError) as err:
        write(spec, tmp_path)
    assert err.value.field == "gpu_memory"


def test_cpu_engine_layers_ask_for_no_gpu_and_keep_the_group(paths, tmp_path: Path) -> None:
    spec = spec_for(paths, tmp_path, engine="propagate")
    spec.farm.group = "render"
    root = write(spec, tmp_path)
    for name in ("windows", "assemble"):
        assert layer(root, name).find("gpus") is None
        assert layer(root, name).findtext("tags") == "render"


def test_retries_are_clamped_to_cuebots_range_with_a_warning(
    paths, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = spec_for(paths, tmp_path)
    spec.farm.max_retries, spec.farm.priority = 5, 60
    with caplog.at_level(logging.WARNING, logger="void_client.farm.opencue"):
        root = write(spec, tmp_path)
    assert root.findtext("job/maxretries") == "1" and root.findtext("job/priority") == "60"
    assert "max retries 5 is outside Cuebot's 0..1" in caplog.text  # before: silent
    caplog.clear()
    spec.farm.max_retries = 1
    with caplog.at_level(logging.WARNING, logger="void_client.farm.opencue"):
        write(spec, tmp_path)
    assert caplog.text == ""


def test_cli_flags_set_gpus_gpu_memory_allow_cpu_and_the_deadline_plugin(
    paths, tmp_path: Path
) -> None:
    import argparse

    from void_client.cli.farm import add_arguments, build_spec

    saved = spec_for(paths, tmp_path).save(tmp_path / "farm.json")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "opencue",
            str(saved),
            "--gpus",
            "2",
            "--gpu-memory",
            "40g",
            "--allow-cpu",
            "--deadline-plugin",
            "VoidRemove",
        ]
    )
    farm = build_spec(args).farm
    assert (farm.gpus, farm.gpu_memory, farm.allow_cpu, farm.deadline_plugin) == (
        2,
        "40g",
        True,
        "VoidRemove",
    )
    again = FarmSpec.load(FarmSpec.from_dict(build_spec(args).to_dict()).save(tmp_path / "b.json"))
    assert again.farm == farm
