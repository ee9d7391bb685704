"""The comp render in the VOID job's own OpenCue spec (issue 16, "Farm-safe Nuke").

``void-remove farm opencue --comp-render SCRIPT.nk:WRITE[,WRITE...]`` adds, to the same
``job.xml``, one layer per Write that renders it with Nuke (``nuke -x -X WRITE -F
#FRAME_START#-#FRAME_END# SCRIPT``, a chunk of frames per OpenCue frame) and a
``LAYER_ON_LAYER`` depend on the VOID ``assemble`` layer, so Cuebot starts the comp once the
clean plate is on disk. Checked against Cuebot's own DTD (tests/data/opencue).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from lxml import etree

from tests.support.opencue import cue_spec, fake_cuebot
from void_client.cli import farm as cli_farm
from void_client.errors import VoidError
from void_client.farm.opencue import SPEC_VERSION, fill_submitter
from void_daemon.demo_shot import make_shot, write_shot

DTD_FILE = Path(__file__).resolve().parents[1] / "data" / "opencue" / f"cjsl-{SPEC_VERSION}.dtd"
PARSER = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
SCRIPT = "/shows/x/comp/sh010_comp.v003.nk"
NUKE = "/opt/Nuke16.0v2/Nuke16.0"


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # 48 frames, window 13, overlap 4: 5 windows.
    return write_shot(
        make_shot(frames=48, width=32, height=24, seed=5),
        str(tmp_path_factory.mktemp("cue-comp-shot")),
    )


def saved_spec(paths: dict, tmp_path: Path, seam: str = "crossfade", engine: str = "void") -> str:
    spec = cue_spec(paths, tmp_path, 1048, seam, engine)
    spec.windows_per_task = 1
    spec.farm.group = "gpu-a100"
    return str(spec.save(tmp_path / "farm.json"))


def farm_args(spec: str, tmp_path: Path, *flags: str, farm: str = "opencue") -> argparse.Namespace:
    """``void-remove farm FARM SPEC --out-dir TMP/cue --no-check FLAGS``, parsed."""
    parser = argparse.ArgumentParser()
    cli_farm.add_arguments(parser)
    out_dir = str(tmp_path / "cue")
    return parser.parse_args([farm, spec, "--out-dir", out_dir, "--no-check", *flags])


def run_cli(capsys: pytest.CaptureFixture[str], spec: str, tmp_path: Path, *flags: str) -> Path:
    """Run :func:`farm_args`'s command; the path it prints last (the main job file)."""
    assert cli_farm.main(farm_args(spec, tmp_path, *flags)) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def parse(path: Path) -> etree._ElementTree:
    return etree.ElementTree(etree.fromstring(path.read_bytes(), PARSER))


def dtd_errors(tree: etree._ElementTree) -> str:
    dtd = etree.DTD(str(DTD_FILE))
    return "" if dtd.validate(tree) else str(dtd.error_log.filter_from_errors())


@pytest.mark.parametrize("seam", ["crossfade", "chain"])
def test_comp_render_adds_a_nuke_layer_per_write_depending_on_assemble(
    paths, tmp_path: Path, capsys: pytest.CaptureFixture[str], seam: str
) -> None:
    main = run_cli(
        capsys,
        saved_spec(paths, tmp_path, seam),
        tmp_path,
        "--comp-render",
        f"{SCRIPT}:Write1,Group1.Write_EXR",
        "--comp-range",
        "1001-1048",
        "--comp-chunk",
        "8",
        "--nuke",
        NUKE,
    )
    tree = parse(main)
    assert dtd_errors(tree) == ""
    # As submitted (user and uid filled in) it is still what Cuebot accepts.
    filled = fill_submitter(main.read_text(), "maria", 1234)
    assert dtd_errors(etree.ElementTree(etree.fromstring(filled.encode(), PARSER))) == ""

    names = [el.get("name") for el in tree.findall("job/layers/layer")]
    n_void = 2 if seam == "crossfade" else 6  # windows + assemble, or 5 chained + assemble
    assert len(names) == n_void + 2 and names[n_void - 1] == "assemble"
    assert names[n_void:] == ["comp_Write1", "comp_Group1.Write_EXR"]
    for write in ("Write1", "Group1.Write_EXR"):
        el = tree.find(f"job/layers/layer[@name='comp_{write}']")
        assert el is not None and el.get("type") == "Render"
        assert el.findtext("cmd") == (f"{NUKE} -x -X {write} -F #FRAME_START#-#FRAME_END# {SCRIPT}")
        assert (el.findtext("range"), el.findtext("chunk")) == ("1001-1048", "8")
        # Nuke renders on CPU hosts: no GPU booking, not the VOID job's GPU group.
        assert el.find("gpus") is None and el.find("gpu_memory") is None
        assert el.find("tags") is None
        assert [s.text for s in el.findall("services/service")] == ["shell"]
    job = tree.find("job").get("name")
    deps = {
        d.findtext("deplayer"): (d.get("type"), d.findtext("depjob"), d.findtext("onjob"))
        for d in tree.findall("depends/depend")
    }
    onlayer = {
        d.findtext("deplayer"): d.findtext("onlayer") for d in tree.findall("depends/depend")
    }
    for write in ("Write1", "Group1.Write_EXR"):
        assert deps[f"comp_{write}"] == ("LAYER_ON_LAYER", job, job)
        assert onlayer[f"comp_{write}"] == "assemble"
    # The VOID job's own dependencies are unchanged.
    assert onlayer["assemble"] == ("windows" if seam == "crossfade" else "window-004")
    assert len(deps) == (n_void - 1) + 2


def test_comp_range_defaults_to_the_jobs_frames_and_chunk_to_ten(
    paths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = run_cli(
        capsys,
        saved_spec(paths, tmp_path, engine="propagate"),
        tmp_path,
        "--comp-render",
        f"{SCRIPT}:Write1",
    )
    tree = parse(main)
    assert dtd_errors(tree) == ""
    el = tree.find("job/layers/layer[@name='comp_Write1']")
    assert el is not None
    assert (el.findtext("range"), el.findtext("chunk")) == ("1001-1048", "10")
    assert el.findtext("cmd").startswith("nuke -x -X Write1 ")
    # A CPU engine's layers carry the group; the comp layer never does.
    assert tree.find("job/layers/layer[@name='assemble']").findtext("tags") == "gpu-a100"
    assert el.find("tags") is None


def test_a_script_path_with_spaces_is_quoted_and_tokens_stay_bare(
    paths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = "C:/shows/my show/sh010 comp.nk"
    main = run_cli(
        capsys,
        saved_spec(paths, tmp_path),
        tmp_path,
        "--comp-render",
        f"{script}:Write1",
        "--comp-range",
        "1010-1020",
    )
    el = parse(main).find("job/layers/layer[@name='comp_Write1']")
    assert el is not None and el.findtext("range") == "1010-1020"
    assert el.findtext("cmd") == (
        "nuke -x -X Write1 -F #FRAME_START#-#FRAME_END# 'C:/shows/my show/sh010 comp.nk'"
    )


@pytest.mark.parametrize(
    ("farm", "flags", "field"),
    [
        ("opencue", ["--comp-render", "Write1"], "comp_render"),  # no SCRIPT:
        ("opencue", ["--comp-render", f"{SCRIPT}:"], "comp_render"),  # no Write
        ("opencue", ["--comp-render", f"{SCRIPT}:Write1,Write1"], "comp_render"),
        ("opencue", ["--comp-render", f"{SCRIPT}:My Write"], "comp_render"),
        ("opencue", ["--comp-render", "comp.nk:Write1"], "comp_render"),  # relative
        ("opencue", ["--comp-render", f"{SCRIPT}:Write1", "--comp-range", "20-10"], "comp_range"),
        ("opencue", ["--comp-render", f"{SCRIPT}:Write1", "--comp-range", "x"], "comp_range"),
        ("opencue", ["--comp-render", f"{SCRIPT}:Write1", "--comp-chunk", "0"], "comp_chunk"),
        ("opencue", ["--comp-range", "1-10"], "comp_render"),  # without --comp-render
        ("deadline", ["--comp-render", f"{SCRIPT}:Write1"], "comp_render"),
        ("openjd", ["--comp-render", f"{SCRIPT}:Write1"], "comp_render"),
    ],
)
def test_bad_comp_render_flags_are_refused_before_anything_is_written(
    paths, tmp_path: Path, farm: str, flags: list[str], field: str
) -> None:
    args = farm_args(saved_spec(paths, tmp_path), tmp_path, *flags, farm=farm)
    with pytest.raises(VoidError) as err:
        cli_farm.main(args)
    assert err.value.field == field, err.value.message
    assert not (tmp_path / "cue" / "job.xml").exists()


def test_submit_launches_the_comp_layers_in_the_same_spec(
    paths, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = fake_cuebot(monkeypatch)
    main = run_cli(
        capsys,
        saved_spec(paths, tmp_path),
        tmp_path,
        "--submit",
        "--comp-render",
        f"{SCRIPT}:Write1",
    )
    # One launch: the VOID layers and the comp layer in one spec, so the depend resolves.
    assert len(sent) == 1
    tree = etree.ElementTree(etree.fromstring(sent[0].encode(), PARSER))
    assert dtd_errors(tree) == ""
    assert [el.get("name") for el in tree.findall("job/layers/layer")][-1] == "comp_Write1"
    assert tree.findtext("user") == "maria"
    log = (main.parent / "submitted.log").read_text()
    assert log == "launched myshow-sh010-maria_void_remove_x\n"
