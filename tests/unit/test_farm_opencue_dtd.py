"""OpenCue ``job.xml`` validated against Cuebot's own DTD (issue 17, Tests).

The DTD is Cuebot's ``cjsl-1.14.dtd``, vendored unmodified in ``tests/data/opencue`` with
OpenCue's Apache-2.0 licence (see the README there for the repository, commit and path). Cuebot
parses the spec with a validating parser against this DTD (``JobSpec.java``), so a document that
breaks it is refused at launch: here it is refused in the test instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from lxml import etree

from tests.support.opencue import cue_spec
from void_client.farm import FarmSpec, submit_job
from void_client.farm.opencue import SPEC_VERSION, USER_PLACEHOLDER, fill_submitter
from void_daemon.demo_shot import make_shot, write_shot

DATA = Path(__file__).resolve().parents[1] / "data" / "opencue"
DTD_FILE = DATA / f"cjsl-{SPEC_VERSION}.dtd"
#: Git blob id of ``cuebot/src/main/resources/public/dtd/cjsl-1.14.dtd`` at OpenCue commit
#: 1cea9a8d965ef75e8b5884cf4f67ec857f733183 (tests/data/opencue/README.md).
DTD_BLOB = "8bbcbf6f12ebc4f448005e10de3d2425ff19885e"
# Never fetch the DOCTYPE's URL (a Cuebot on localhost:8080): the vendored DTD is the reference.
PARSER = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)


@pytest.fixture(scope="module")
def dtd() -> etree.DTD:
    data = DTD_FILE.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert blob == DTD_BLOB, "the vendored DTD is not Cuebot's file; see tests/data/opencue"
    assert (DATA / "LICENSE").read_text().find("Apache License") >= 0
    return etree.DTD(str(DTD_FILE))


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # 48 frames, window 13, overlap 4: 5 windows, so 3 windows per task still gives 2 tasks.
    return write_shot(
        make_shot(frames=48, width=32, height=24, seed=17),
        str(tmp_path_factory.mktemp("cue-dtd-shot")),
    )


def spec_for(paths: dict, tmp_path: Path, engine: str, seam: str, per_task: int) -> FarmSpec:
    spec = cue_spec(paths, tmp_path, 1048, seam, engine)
    spec.windows_per_task = per_task
    # Everything optional the writer can emit: tags, timeout, env keys, clamped retries.
    spec.farm.group = "gpu-a100 | farm.b"
    spec.farm.timeout_minutes = 90
    spec.farm.max_retries = 3
    spec.farm.env = {**spec.farm.env, "OCIO": "/studio/ocio/config.ocio", "VOID_X": "a<b&c"}
    return spec


def parse(text: str) -> etree._ElementTree:
    return etree.ElementTree(etree.fromstring(text.encode(), PARSER))


def errors(dtd: etree.DTD, text: str) -> str:
    ok = dtd.validate(parse(text))
    return "" if ok else "\n".join(str(e) for e in dtd.error_log.filter_from_errors())


CASES = [
    (engine, seam, per_task)
    for engine in ("void", "propagate")  # a GPU engine and a CPU engine
    for seam in ("crossfade", "chain")
    for per_task in (1, 3)
]


@pytest.mark.parametrize(("engine", "seam", "per_task"), CASES)
def test_job_xml_validates_against_cuebots_dtd(
    dtd: etree.DTD, paths, tmp_path: Path, engine: str, seam: str, per_task: int
) -> None:
    spec = spec_for(paths, tmp_path, engine, seam, per_task)
    text = submit_job(spec, "opencue", tmp_path / "cue", check=False).read_text()
    assert f'"http://localhost:8080/spcue/dtd/{DTD_FILE.name}"' in text.splitlines()[1]
    # As written: the placeholder user and no <uid> (optional in the DTD: "user,email?,uid?").
    tree = parse(text)
    assert tree.findtext("user") == USER_PLACEHOLDER and tree.find("uid") is None
    assert errors(dtd, text) == ""
    # As submitted: the launching user and uid filled in.
    assert errors(dtd, fill_submitter(text, "maria", 1234)) == ""

    # The DTD is really exercised: the layers and dependencies it validated are the job's.
    n_tasks = len(spec.task_windows())
    assert n_tasks == (5 if per_task == 1 else 2)
    layer_els = tree.findall("job/layers/layer")
    depends = tree.findall("depends/depend")
    if seam == "chain":
        assert len(layer_els) == n_tasks + 1 and len(depends) == n_tasks
    else:
        assert len(layer_els) == 2 and len(depends) == 1
        assert layer_els[0].findtext("range") == f"0-{n_tasks - 1}"
    gpu_layers = [el for el in layer_els if el.find("gpus") is not None]
    assert len(gpu_layers) == (len(layer_els) - 1 if engine == "void" else 0)
    assert tree.find("job/env/key[@name='VOID_X']").text == "a<b&c"


@pytest.mark.parametrize(
    ("what", "old", "new", "message"),
    [
        # <range> before <cmd>: the layer's children are a fixed sequence.
        ("order", "<cmd>", "<range>0</range><cmd>", "layer"),
        # An element Cuebot does not know.
        ("unknown", "<chunk>1</chunk>", "<chunk>1</chunk><frames>1</frames>", "frames"),
        # A layer type outside (Render | Util | Post).
        ("type", 'type="Render"', 'type="Batch"', "type"),
        # A name with a space is not an NMTOKEN.
        ("name", 'layer name="assemble"', 'layer name="assemble all"', "name"),
        # <show> is required.
        ("missing", "<show>myshow</show>", "", "spec"),
    ],
)
def test_a_document_that_breaks_the_dtd_is_refused(
    dtd: etree.DTD, paths, tmp_path: Path, what: str, old: str, new: str, message: str
) -> None:
    spec = spec_for(paths, tmp_path, "void", "crossfade", 1)
    text = submit_job(spec, "opencue", tmp_path / "cue", check=False).read_text()
    assert errors(dtd, text) == ""
    assert old in text
    broken = text.replace(old, new, 1)
    found = errors(dtd, broken)
    assert found and message in found, (what, found)
