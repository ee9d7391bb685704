"""The non-blocking Nuke export (issue 16, finding 11; ``nuke/void_nuke/export.py``): the
temporary Writes are saved into a throw-away script and rendered by a separate ``nuke -x``
process, here ``tests/support/fakes/fake_nuke_exe.py`` (as strict as Nuke's command line, it
writes real EXRs with OpenImageIO), while the calling thread stays free."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.fakes import fake_nuke_exe as FX
from tests.support.fakes.fake_nuke import FakeNuke, LinkKnob, Node
from tests.unit.test_nuke_gizmo import GIZMO, read_gizmo, typed_default
from void_client.sequence import read_image, write_image
from void_nuke import node_spec as N

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "nuke") not in sys.path:
    sys.path.insert(0, str(REPO / "nuke"))

import void_nuke.host  # noqa: E402
from void_nuke import export as EX  # noqa: E402

FIRST, LAST = 1001, 1004
H, W = 24, 32


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeNuke:
    f = FakeNuke()
    monkeypatch.setitem(sys.modules, "nuke", f)
    monkeypatch.setattr(void_nuke.host, "nuke", f)
    FX.install(f, tmp_path / "bin")
    return f


def void_node(fake: FakeNuke) -> Node:
    """A VOIDRemove node built from the gizmo file (knobs, internal nodes, Link knobs)."""
    g = read_gizmo(GIZMO.read_text(encoding="utf-8"))
    values: dict[str, Any] = {k: typed_default(u, g.knobs.get(k)) for k, u in g.user_knobs.items()}
    children = [Node(n.cls, n.name, dict(n.knobs)) for n in g.nodes.values()]
    by_name = {c.name(): c for c in children}
    for k in N.KNOBS:
        if k.kind == N.LINK:
            node_name, knob_name = k.link.split(".")
            values[k.name] = LinkKnob(k.name, by_name[node_name][knob_name], k.link)
    return fake.add(Node(N.NODE_CLASS, "VOIDRemove1", values, children=children))


def shot(tmp_path: Path) -> dict[str, np.ndarray]:
    """Plate frames with rgba and a ``beauty`` layer, and a remove matte, as real EXRs."""
    rng = np.random.default_rng(3)
    out = {}
    for f in range(FIRST, LAST + 1):
        px = rng.uniform(0, 2, (H, W, 8)).astype(np.float16)
        names = ["R", "G", "B", "A", "beauty.R", "beauty.G", "beauty.B", "beauty.A"]
        write_image(tmp_path / "src" / f"plate.{f:04d}.exr", px, channels=names)
        matte = (rng.uniform(0, 1, (H, W)) > 0.5).astype(np.float16)
        write_image(tmp_path / "src" / f"roto.{f:04d}.exr", matte, channels=["A"])
        out[f"plate{f}"], out[f"matte{f}"] = px, matte
    return out


def wired(fake: FakeNuke, tmp_path: Path) -> Node:
    (tmp_path / "src").mkdir(exist_ok=True)
    node = void_node(fake)
    node.setInput(
        0, fake.add(Node("Read", "Read1", {"file": str(tmp_path / "src/plate.####.exr")}))
    )
    node.setInput(1, fake.add(Node("Read", "Roto1", {"file": str(tmp_path / "src/roto.####.exr")})))
    return node


def exports(tmp_path: Path) -> list[EX.Export]:
    run = tmp_path / "run" / "input"
    return [
        EX.Export("plate", str(run / "plate.%04d.exr"), "rgba"),
        EX.Export("remove", str(run / "remove.%04d.exr"), "alpha"),
    ]


def test_the_export_returns_at_once_and_progress_arrives_while_the_caller_works(
    fake: FakeNuke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOID_FAKE_NUKE_FRAME_S", "0.15")
    pixels = shot(tmp_path)
    node = wired(fake, tmp_path)
    progress: list[tuple[float, int, int, int]] = []
    done = threading.Event()
    t0 = time.monotonic()
    job = EX.start(
        node,
        exports(tmp_path),
        FIRST,
        LAST,
        on_progress=lambda d, t, _m: progress.append(
            (time.monotonic(), d, t, threading.get_ident())
        ),
        on_done=lambda _o: done.set(),
    )
    returned_after = time.monotonic() - t0
    # The caller's thread (Nuke's main thread) keeps working while the frames render.
    ticks: list[float] = []
    while not done.is_set() and time.monotonic() - t0 < 60:
        ticks.append(time.monotonic())
        time.sleep(0.01)
    outcome = job.wait(5)
    assert outcome is not None and outcome.state == "done", outcome
    assert returned_after < 1.0, returned_after  # 8 frames x 0.15 s render after start() returned
    assert [d for _, d, _, _ in progress] == list(range(1, 9)) and progress[-1][2] == 8
    assert threading.get_ident() not in {tid for *_, tid in progress}
    # Progress came while the caller's loop ran: ticks before and after each of the first events.
    for when, *_ in progress[:-1]:
        assert any(t < when for t in ticks) and any(t > when for t in ticks)
    # The frames are the Source's rgba (plate) and the matte's alpha, as half EXRs.
    for f in range(FIRST, LAST + 1):
        plate = read_image(tmp_path / f"run/input/plate.{f:04d}.exr")
        assert plate.channels == ["R", "G", "B", "A"]
        assert plate.pixels.tobytes() == pixels[f"plate{f}"][:, :, :4].tobytes()
        matte = read_image(tmp_path / f"run/input/remove.{f:04d}.exr")
        assert matte.pixels[:, :, 0].tobytes() == pixels[f"matte{f}"].tobytes()
    # The artist's script is as it was: the temporary Writes are gone; the copy is deleted.
    assert [n for n in fake.registry.values() if n.Class() == "Write" and not n.deleted] == []
    assert not os.path.exists(job.script)
    assert [j.write for j in job.jobs] == [f"VOIDRemove1.Write{i}" for i in (1, 2)]


def test_cancel_stops_the_render_and_leaves_no_frame_whole_or_partial(
    fake: FakeNuke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOID_FAKE_NUKE_FRAME_S", "1.0")
    shot(tmp_path)
    node = wired(fake, tmp_path)
    first = threading.Event()
    job = EX.start(node, exports(tmp_path), FIRST, LAST, on_progress=lambda *_: first.set())
    assert first.wait(30)  # one frame written, the next one half-written
    assert any(os.path.exists(p) for p in job.jobs[0].paths())
    t0 = time.monotonic()
    job.cancel()
    assert time.monotonic() - t0 < 0.5  # Cancel is pressed on Nuke's main thread: no waiting
    outcome = job.wait(15)
    assert outcome is not None and outcome.state == EX.CANCELLED
    assert time.monotonic() - t0 < 6.0  # SIGTERM, not the remaining 7 s of frames
    leftovers = sorted(os.listdir(tmp_path / "run" / "input"))
    assert leftovers == [], leftovers
    assert outcome.frames < outcome.total == 8


def test_the_plate_layer_is_exported_as_rgba(
    fake: FakeNuke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pixels = shot(tmp_path)
    node = wired(fake, tmp_path)
    node["plate_layer"].setValue("beauty")  # the Link knob sets VOID_ResultIntoPlate.out
    outcome = EX.start(node, exports(tmp_path)[:1], FIRST, FIRST).wait(30)
    assert outcome is not None and outcome.state == "done", outcome
    assert node.node(N.PLATE_LAYER_NODE)["in"].value() == "beauty"
    plate = read_image(tmp_path / f"run/input/plate.{FIRST:04d}.exr")
    assert plate.channels == ["R", "G", "B", "A"]
    assert plate.pixels.tobytes() == pixels[f"plate{FIRST}"][:, :, 4:].tobytes()


def test_a_stereo_script_exports_every_view_through_percent_v(
    fake: FakeNuke, tmp_path: Path
) -> None:
    shot(tmp_path)
    fake.views = lambda: ["left", "right"]  # type: ignore[attr-defined]
    node = wired(fake, tmp_path)
    job = EX.start(node, exports(tmp_path)[:1], FIRST, FIRST + 1)
    outcome = job.wait(30)
    assert outcome is not None and outcome.state == "done", outcome
    assert job.jobs[0].pattern.endswith("plate.%V.%04d.exr")
    assert EX.command("nuke", "s.nk", job.jobs[0])[-3:] == ["--view", "left,right", "s.nk"]
    names = sorted(os.listdir(tmp_path / "run" / "input"))
    assert names == sorted(f"plate.{v}.{f}.exr" for f in (1001, 1002) for v in ("left", "right"))
    node["stereo_view"].setValue("right")
    assert EX.script_views(node) == ["right"]
    node["stereo_view"].setValue("centre")
    with pytest.raises(EX.HostLinkError, match="left, right"):
        EX.script_views(node)


def test_a_failed_render_is_reported_with_nukes_last_line(fake: FakeNuke, tmp_path: Path) -> None:
    shot(tmp_path)
    node = wired(fake, tmp_path)
    os.unlink(tmp_path / "src" / f"plate.{FIRST + 1:04d}.exr")  # a missing frame upstream
    outcome = EX.start(node, exports(tmp_path)[:1], FIRST, FIRST + 2).wait(30)
    assert outcome is not None and outcome.state == "failed"
    assert outcome.error is not None
    assert outcome.error.message.startswith("the plate export failed to render: Nuke exited")


@pytest.mark.parametrize(
    "argv, why",
    [
        (["-X", "W", "-F", "1-2", "s.nk"], "execute mode"),
        (["-x", "-X", "W", "-F", "1-2", "--threads", "4", "s.nk"], "unknown option"),
        (["-x", "-X", "W", "-F", "1:2", "s.nk"], "not a frame range"),
        (["-x", "-X", "W", "-F", "1-2", "missing.nk"], "no script"),
        (["-x", "-X", "Nope", "-F", "1-2", "s.nk"], "no such node"),
    ],
)
def test_the_fake_nuke_refuses_what_nuke_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], why: str
) -> None:
    script = tmp_path / "s.nk"
    script.write_text('version 13.0 v1\nWrite {\n name "W"\n}\n')
    argv = [str(script) if a == "s.nk" else a for a in argv]
    assert FX.main(argv) == 1
    assert why in capsys.readouterr().err


def test_the_gui_path_reports_on_the_status_line_and_starts_the_job_on_the_main_thread(
    fake: FakeNuke, tmp_path: Path
) -> None:
    shot(tmp_path)
    node = wired(fake, tmp_path)
    status: list[str] = []
    started: list[int] = []
    job = EX.export_then(
        node,
        "VOIDRemove1",
        exports(tmp_path),
        FIRST,
        LAST,
        on_status=status.append,
        then=lambda: started.append(threading.get_ident()),
        on_error=lambda exc: pytest.fail(exc.message),
    )
    with pytest.raises(EX.HostLinkError, match="is exporting"):  # pressed twice
        EX.export_then(node, "VOIDRemove1", [], FIRST, LAST, status.append, list, print)
    assert job.wait(30) is not None
    # Nothing touched a knob off the main thread: everything was posted (executeInMainThread).
    assert status == [] and started == []
    while fake.main_thread:  # Nuke's event loop
        function, args = fake.main_thread.pop(0)
        function(*args)
    assert status[0] == "exporting 1/8 frames (plate)"
    assert status[-1] == "exporting 8/8 frames (remove)"
    assert started == [threading.get_ident()] and "VOIDRemove1" not in EX.EXPORTS
    assert EX.cancel_export(node) is False


def test_the_nodes_knobs_become_the_runs_extra_flags(fake: FakeNuke, tmp_path: Path) -> None:
    from void_nuke import run_options as R

    node = wired(fake, tmp_path)
    result = str(tmp_path / "run" / "result" / "VOIDRemove1.%04d.exr")
    assert R.run_arguments(node, result) == []  # the gizmo's defaults add nothing
    before = R.fingerprint_line(node)
    node["grade_outputs"].setValue(True)
    node["reference_frames"].setValue("1003=/paint/clean.1003.exr")
    node["plate_layer"].setValue("beauty")  # through the Link knob, not its toScript()
    assert R.run_arguments(node, result) == [
        "--fill-out",
        str(tmp_path / "run" / "fill" / "VOIDRemove1.%04d.exr"),
        "--matte-out",
        str(tmp_path / "run" / "matte" / "VOIDRemove1.%04d.exr"),
        "--reference",
        "1003=/paint/clean.1003.exr",
    ]
    assert R.fingerprint_line(node) != before
    assert "plate_layer=beauty" in R.fingerprint_line(node)
    node["reference_frames"].setValue("1003")
    with pytest.raises(EX.HostLinkError, match="not FRAME=PATH"):
        R.run_arguments(node, result)


PY37 = Path.home() / ".pyenv" / "versions" / "3.7.16" / "bin" / "python"


@pytest.mark.skipif(not PY37.exists(), reason="no Python 3.7 here (Nuke 13's)")
def test_the_export_runs_in_nuke_13s_python_with_the_standard_library_alone(
    tmp_path: Path,
) -> None:
    # -I -S: no site-packages, as Nuke's own Python; `nuke` is an empty module: export.py needs
    # only the standard library (and void_hostlink) for the background render itself.
    fake_nuke = tmp_path / "nuke.sh"
    fake_nuke.write_text(
        "#!/bin/sh\n"
        'for f in 1001 1002; do : > "$OUT.$f.exr"; echo "VOID_EXPORT_FRAME $f Write1"; done\n'
    )
    fake_nuke.chmod(0o755)
    script = tmp_path / "copy.nk"
    script.write_text("version 13.0 v1\n")
    code = (
        "import sys, types; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
        "sys.modules['nuke'] = types.ModuleType('nuke'); "
        "from void_nuke import export as EX; "
        "job = EX.ExportJob('plate', 'VOIDRemove1.Write1', sys.argv[4] + '.%04d.exr', 1001, 1002); "
        "seen = []; "
        "out = EX.BackgroundExport(sys.argv[3], [job], sys.argv[5], "
        "on_progress=lambda d, t, m: seen.append(d)).start().wait(30); "
        "print(out.state, out.frames, out.total, seen)"
    )
    argv = [str(REPO / "plugin"), str(REPO / "nuke"), str(script), str(tmp_path / "plate")]
    done = subprocess.run(
        [str(PY37), "-I", "-S", "-c", code, *argv, str(fake_nuke)],
        capture_output=True,
        text=True,
        env={"OUT": str(tmp_path / "plate"), "PATH": os.environ["PATH"]},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done", "2", "2", "[1,", "2]"]
    assert not script.exists()  # the throw-away script is removed


def test_a_render_that_ignores_sigterm_is_killed_and_cleaned_up(
    fake: FakeNuke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOID_FAKE_NUKE_FRAME_S", "1.0")
    monkeypatch.setenv("VOID_FAKE_NUKE_IGNORE_TERM", "1")
    monkeypatch.setattr(EX, "TERMINATE_GRACE_S", 1.0)
    shot(tmp_path)
    node = wired(fake, tmp_path)
    first = threading.Event()
    job = EX.start(node, exports(tmp_path), FIRST, LAST, on_progress=lambda *_: first.set())
    assert first.wait(30)
    # What an atomic writer killed between write and rename leaves (a CI run hit this race):
    # a hidden temp beside the frame, which the clean-up must find too.
    killed_mid_write = tmp_path / "run" / "input" / ".plate.1002.exr.29426825699398850.exr"
    killed_mid_write.write_bytes(b"partial")
    t0 = time.monotonic()
    job.cancel()
    assert time.monotonic() - t0 < 0.5
    outcome = job.wait(15)
    assert outcome is not None and outcome.state == EX.CANCELLED
    assert 0.9 < time.monotonic() - t0 < 6.0  # killed after the grace period, not at the end
    assert sorted(os.listdir(tmp_path / "run" / "input")) == []
