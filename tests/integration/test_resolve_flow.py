"""The Resolve flow on a fake of Resolve's scripting objects and the real daemon: render to EXR,
job, import, placement, and every failure leaving the project as it was."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import VOID_REMOVE
from tests.support.daemons import free_port
from tests.support.fakes.fake_resolve import FakeTimelineItem
from tests.support.fakes.resolve_scene import (
    NO_BURN_IN,
    Scene,
    add_fusion_savers,
    add_matte_clip,
    import_like_resolve,
    make_scene,
    render_like_resolve,
)
from void_client.errors import ErrorCode
from void_client.output_manifest import read_manifest
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image
from void_daemon.demo_shot import make_shot
from void_daemon.roi import composite_alpha
from void_resolve.flow import RemoveFlow
from void_resolve.records import ResolveError
from void_resolve.settings import ResolveSettings

from void_resolve.api import ResolveAPI  # isort: skip  (importable once resolve_scene has run)

JOB = {"window": 13, "overlap": 4, "dilation": 2, "feather": 4}
FRAMES = 9


@pytest.fixture(scope="module")
def shot():
    return make_shot(frames=FRAMES, width=96, height=64, seed=11)


def settings(daemon_or_endpoint, tmp_path: Path, **kw) -> ResolveSettings:
    endpoint = getattr(daemon_or_endpoint, "endpoint", daemon_or_endpoint)
    return ResolveSettings(
        endpoint=endpoint,
        autostart=False,
        output_root=str(tmp_path / "out"),
        job=dict(JOB),
        **{"burn_in_preset": NO_BURN_IN, **kw},
    )


def flow(scene: Scene, s: ResolveSettings, tmp_path: Path) -> RemoveFlow:
    return RemoveFlow(
        ResolveAPI(scene.resolve, scene.resolve.fusion),
        s,
        work_root=tmp_path / "work",
        poll_s=0.01,
        daemon_timeout_s=0.5,
        exe=VOID_REMOVE,  # the real worker, in its own process, as Resolve runs it
    )


def unreachable() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


def assert_project_untouched(scene: Scene, tracks: int, tmp_path: Path) -> None:
    """What a failed run must leave: no job, no new track, no media, no bin, settings back."""
    p, tl = scene.project, scene.timeline
    assert p.jobs == {}
    assert len(tl.tracks) == tracks and all(tl.enabled)
    assert p.media_pool.root.subfolders == [] and p.media_pool.root.clips == []
    assert p.format_codec == {"format": "mov", "codec": "ProRes422HQ"} and p.render_mode == 0
    assert not list((tmp_path / "work").glob("*"))
    out = tmp_path / "out"
    assert not out.exists() or not [f for f in out.rglob("*") if f.is_file()]


# --------------------------------------------------------------------------- end to end


def test_fusion_saver_mattes_end_to_end_on_the_real_daemon(daemon, shot, tmp_path) -> None:
    scene = make_scene(shot, tracks=1)
    comp, savers = add_fusion_savers(scene, affected=True)
    result = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()

    first, last = 86400, 86400 + FRAMES - 1
    assert (result.span.first, result.span.last, result.track) == (first, last, 2)
    assert result.matte == "Fusion Saver 'Saver1' and 'VOID_affected'"

    # One render, of the source track alone, as half EXR at the clip's resolution over the clip.
    [(rendered, enabled)] = scene.renders
    target = rendered["TargetDir"]
    assert rendered == {
        "SelectAllFrames": False,
        "MarkIn": first,
        "MarkOut": last,
        "TargetDir": target,
        "CustomName": "plate",
        "ExportVideo": True,
        "ExportAudio": False,
        "ExportSubtitle": False,
        "FormatWidth": 96,
        "FormatHeight": 64,
        "FrameRate": 24.0,
        "ExportAlpha": False,
    }
    assert enabled == [1]
    assert ("Project.SetCurrentRenderFormatAndCodec", ("exr", "RGBHalfZIP")) in scene.calls
    assert ("Project.SetCurrentRenderMode", (1,)) in scene.calls
    # The job is gone, the Deliver format and mode and the Savers are as the artist left them.
    assert scene.project.jobs == {} and scene.calls.args("Project.DeleteRenderJob") == [("job-1",)]
    assert (
        scene.project.format_codec == {"format": "mov", "codec": "ProRes422HQ"}
        and scene.project.render_mode == 0
    )
    assert (
        savers[0].inputs == {"Clip": "/Volumes/show/roto/ball_.exr", "OutputFormat": "TiffFormat"}
        and not savers[0].pass_through
    )
    assert savers[1].inputs["Clip"] == "/Volumes/show/roto/shadow_.exr"
    assert scene.timeline.enabled == [True, True]

    # Imported into the VOID bin as one EXR sequence, placed on a new V2 at the same record frame.
    pool = scene.project.media_pool
    [bin_] = pool.root.subfolders
    assert bin_.name == "VOID" and pool.current is pool.root
    [media] = bin_.clips
    out_pattern = str(
        tmp_path
        / "out"
        / "Show_1"
        / f"A001_C002_mov_{first}-{last}"
        / "A001_C002_mov_void_v001.%08d.exr"
    )
    # First the rendered plate for the trial placement (issue 16 #6), then the clean plate.
    assert scene.calls.args("MediaPool.ImportMedia")[1:] == [
        ([{"FilePath": out_pattern, "StartIndex": first, "EndIndex": last}],)
    ]
    assert scene.calls.args("MediaPool.ImportMedia")[0][0][0]["FilePath"].endswith("plate.%08d.exr")
    assert scene.calls.args("MediaPool.AppendToTimeline")[1:] == [
        (
            [
                {
                    "mediaPoolItem": media,
                    "startFrame": first,
                    "endFrame": first + FRAMES,
                    "mediaType": 1,
                    "trackIndex": 2,
                    "recordFrame": first,
                }
            ],
        )
    ]
    [placed] = scene.timeline.tracks[1]
    assert (placed.start, placed.duration, placed.media) == (first, FRAMES, media)
    assert scene.timeline.track_names[1] == "VOID" and scene.timeline.tracks[0] == [scene.source]

    # The clean plate: half RGB like the render (no alpha asked for), bit-identical to it outside the edited region.
    qms = [
        build_quadmask(r, a, JOB["dilation"])
        for r, a in zip(shot.remove, shot.affected, strict=True)
    ]
    changed = 0
    for i, record in enumerate(range(first, last + 1)):
        img = read_image(out_pattern % record)
        assert img.pixels.dtype == np.float16 and img.channels == ["R", "G", "B"]
        plate = shot.plate[i][..., :3].astype(np.float16)
        outside = composite_alpha(hole(qms[i]), JOB["feather"]) == 0
        assert img.pixels[outside].tobytes() == plate[outside].tobytes()
        changed += int((img.pixels[hole(qms[i])] != plate[hole(qms[i])]).any())
    assert changed == FRAMES

    # The daemon got the shot's frames, resolution and the chosen settings.
    spec = json.loads((daemon.jobs_dir / result.report.job / "spec.json").read_text())
    assert spec["frames"] == list(range(first, last + 1)) and (spec["width"], spec["height"]) == (
        96,
        64,
    )
    assert (spec["engine"], spec["window"], spec["dilation"], spec["pass2"]) == (
        "propagate",
        13,
        2,
        False,
    )
    assert not list((tmp_path / "work").glob("*"))


def test_matte_clip_on_the_track_above_renders_separately_and_the_plate_goes_above_it(
    daemon, shot, tmp_path
) -> None:
    scene = make_scene(shot, tracks=3)
    matte = add_matte_clip(scene, 2, "ball matte")
    scene.timeline.current_item = matte  # the playhead's "current item" is the topmost: the matte
    scene.timeline.enabled[1] = False  # the artist keeps the matte track switched off
    result = flow(scene, settings(daemon, tmp_path, matte="auto"), tmp_path).run()

    assert result.matte == "matte clip 'ball matte' on V2"
    assert [(s["CustomName"], enabled) for s, enabled in scene.renders] == [
        ("plate", [1]),
        ("matte", [2]),
    ]
    # Inserted above the matte, below the existing V3: a new track 3, the old V3 is now V4.
    assert result.track == 3 and len(scene.timeline.tracks) == 4
    assert scene.calls.args("Timeline.AddTrack") == [("video", {"index": 3})]
    assert scene.timeline.enabled == [True, False, True, True]
    [placed] = scene.timeline.tracks[2]
    assert placed.start == 86400 and placed.duration == FRAMES
    assert scene.timeline.tracks[1] == [matte]


def test_in_out_marks_limit_the_frames_and_the_placement(daemon, shot, tmp_path) -> None:
    scene = make_scene(shot, record=86410, timeline_start=86400)
    add_fusion_savers(scene, affected=False, named=True)
    pool = scene.project.media_pool
    pool.on_import = lambda infos: import_like_resolve(
        scene, infos, fps="25"
    )  # the project's default rate
    scene.timeline.marks = {
        "video": {"in": 12, "out": 16},
        "audio": {"in": 12, "out": 16},
    }  # counted from the timeline start
    result = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    assert (result.span.first, result.span.last) == (86412, 86416)
    [(rendered, _)] = scene.renders
    assert (rendered["MarkIn"], rendered["MarkOut"]) == (86412, 86416)
    [info] = scene.calls.args("MediaPool.AppendToTimeline")[-1][0]
    assert (info["startFrame"], info["endFrame"], info["recordFrame"]) == (86412, 86417, 86412)
    [placed] = scene.timeline.tracks[1]
    assert (placed.start, placed.duration) == (86412, 5)
    # Set to the timeline's rate: the trial import of the plate, then the clean plate.
    assert scene.calls.args("MediaPoolItem.SetClipProperty") == [("FPS", "24")] * 2


def test_clip_alpha_as_the_matte_is_read_from_its_own_render(daemon, shot, tmp_path) -> None:
    """The plate renders without alpha; a second render of the same track keeps the alpha
    (straight) and the worker reads the matte from it (``PATTERN:A``): Resolve's Python never
    splits channels itself (host isolation), and the clean plate comes back opaque."""
    scene = make_scene(shot)
    scene.plate = scene.plate.copy()
    scene.plate[..., 3] = shot.remove.astype(
        np.float16
    )  # Magic Mask into the Color page's Alpha Output
    f = flow(scene, settings(daemon, tmp_path, matte="alpha"), tmp_path)
    result = f.run()
    [(plate, plate_tracks), (matte, matte_tracks)] = scene.renders
    assert plate["ExportAlpha"] is False and "AlphaMode" not in plate
    assert matte["ExportAlpha"] is True and matte["AlphaMode"] == 1
    assert plate_tracks == matte_tracks == [1] and matte["CustomName"] == "matte"
    assert f.args is not None and f.args[f.args.index("--remove") + 1].endswith(
        "remove.########.exr:A"
    )
    img = read_image(SequencePattern.parse(result.output).path(86400))
    assert img.channels == [
        "R",
        "G",
        "B",
    ]  # the matte does not come back as the clean plate's alpha
    outside = (
        composite_alpha(hole(build_quadmask(shot.remove[0], None, JOB["dilation"])), JOB["feather"])
        == 0
    )
    assert (
        img.pixels[outside].tobytes()
        == shot.plate[0][..., :3].astype(np.float16)[outside].tobytes()
    )
    inside = shot.remove[0] > 0.5
    assert np.abs(img.pixels[inside].astype(np.float32) - shot.plate[0][..., :3][inside]).max() > 0


def test_older_resolve_that_appends_tracks_on_top_still_places_above_the_source(
    daemon, shot, tmp_path
) -> None:
    scene = make_scene(shot, tracks=2)
    add_fusion_savers(scene, affected=False)
    scene.timeline.tracks[1].append(
        FakeTimelineItem(scene.calls, "Title", 86400, 3, None)
    )  # an unrelated title on V2
    scene.timeline.insert_supported = False
    result = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    assert result.track == 3 and [i.name for i in scene.timeline.tracks[1]] == ["Title"]
    [placed] = scene.timeline.tracks[2]
    assert placed.start == 86400


# --------------------------------------------------------------------------- refusals before any render


@pytest.mark.parametrize(
    "case, code, field, words",
    [
        ("no project", ErrorCode.NOTHING_SELECTED, "project", "no project is open"),
        ("no timeline", ErrorCode.NOTHING_SELECTED, "timeline", "no current timeline"),
        ("no clip", ErrorCode.NOTHING_SELECTED, "clip", "no clip under the playhead"),
        ("title", ErrorCode.NOTHING_SELECTED, "clip", "has no source media"),
        ("frame rate", ErrorCode.UNSUPPORTED_MEDIA, "frame_rate", "runs at 12.5 fps"),
        ("too large", ErrorCode.UNSUPPORTED_MEDIA, "resolution", "is 20000x11250"),
        ("aspect", ErrorCode.UNSUPPORTED_MEDIA, "resolution", "would be distorted"),
        ("no matte", ErrorCode.NOTHING_SELECTED, "matte", "no matte clip on the track above"),
        ("no half exr", ErrorCode.UNSUPPORTED_MEDIA, "codec", "no half-float EXR codec"),
        ("busy", ErrorCode.HOST_FAILED, "render", "already rendering"),
    ],
)
def test_refusals_name_the_problem_and_touch_nothing(
    shot, tmp_path, case, code, field, words
) -> None:
    scene = make_scene(
        shot,
        resolution="20000x11250"
        if case == "too large"
        else ("1440x1080" if case == "aspect" else None),
    )
    if case != "no matte":
        add_fusion_savers(scene, affected=False)
    if case == "aspect":
        scene.timeline.settings.update(
            timelineResolutionWidth="1920", timelineResolutionHeight="1080"
        )
    elif case == "too large":
        scene.timeline.settings.update(
            timelineResolutionWidth="1920", timelineResolutionHeight="1080"
        )
    else:
        scene.timeline.settings.update(timelineResolutionWidth="96", timelineResolutionHeight="64")
    if case == "no project":
        scene.resolve.project_manager.current = None
    elif case == "no timeline":
        scene.project.timeline = None
    elif case == "no clip":
        scene.timeline.current_item = None
    elif case == "title":
        scene.source.media = None
    elif case == "frame rate":
        scene.timeline.settings["timelineFrameRate"] = "12.5"
    elif case == "no half exr":
        scene.project.codecs["exr"] = {"RGB Float": "RGBFloat"}
    elif case == "busy":
        scene.project.rendering = True
    with pytest.raises(ResolveError) as err:
        # The default matte (a clip on the track above) for "no matte"; the others have Savers.
        matte = "track" if case == "no matte" else "fusion"
        flow(scene, settings(unreachable(), tmp_path, matte=matte), tmp_path).run()
    assert (err.value.code, err.value.field) == (code, field) and words in err.value.message
    assert "Project.AddRenderJob" not in scene.calls.names()
    assert_project_untouched(scene, 1, tmp_path)


def test_missing_daemon_is_found_before_rendering(shot, tmp_path) -> None:
    scene = make_scene(shot)
    scene.timeline.settings.update(timelineResolutionWidth="96", timelineResolutionHeight="64")
    add_fusion_savers(scene)
    endpoint = unreachable()
    with pytest.raises(ResolveError) as err:
        flow(scene, settings(endpoint, tmp_path, matte="fusion"), tmp_path).run()
    assert (
        err.value.code == ErrorCode.DAEMON_UNREACHABLE
        and endpoint in err.value.message
        and "void-daemon serve" in err.value.message
    )
    assert "Project.AddRenderJob" not in scene.calls.names()
    assert_project_untouched(scene, 1, tmp_path)


# --------------------------------------------------------------------------- failures after work began


def test_failed_render_deletes_the_job_and_restores_tracks_savers_and_deliver_settings(
    daemon, shot, tmp_path
) -> None:
    scene = make_scene(shot, tracks=2)
    add_matte_clip(scene, 2, "ball matte")
    _, savers = add_fusion_savers(scene, affected=False)
    scene.project.on_start_rendering = lambda p, jobs: render_like_resolve(
        scene,
        jobs,
        [{"JobStatus": "Failed", "CompletionPercentage": 30, "Error": "Render failed: disk full"}],
    )
    with pytest.raises(ResolveError) as err:
        flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    assert err.value.code == ErrorCode.HOST_FAILED and err.value.field == "render"
    assert "Resolve's render of the plate failed: Render failed: disk full" in err.value.message
    assert scene.calls.args("Project.DeleteRenderJob") == [("job-1",)]
    assert savers[0].inputs["Clip"] == "/Volumes/show/roto/ball_.exr"
    assert "MediaPool.ImportMedia" not in scene.calls.names()
    assert_project_untouched(scene, 2, tmp_path)


def test_cancel_while_rendering_stops_resolve_and_undoes(daemon, shot, tmp_path) -> None:
    scene = make_scene(shot)
    add_fusion_savers(scene, affected=False)

    def start(p, jobs):
        p.rendering = True
        p.job_status[jobs[0]] = {"JobStatus": "Rendering", "CompletionPercentage": 10}

    scene.project.on_start_rendering = start
    f = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path)
    events = []
    with pytest.raises(ResolveError) as err:
        for event in f.steps():
            events.append(event)
            if event.stage == "render":
                f.cancel()
    assert err.value.code == ErrorCode.CANCELLED
    assert [e.stage for e in events] == ["prepare", "render"] and "10%" in events[1].message
    assert scene.calls.names().count("Project.StopRendering") == 1 and not scene.project.rendering
    assert_project_untouched(scene, 1, tmp_path)


def test_closing_the_window_mid_job_cancels_the_daemon_job_and_undoes(
    daemon, shot, tmp_path
) -> None:
    scene = make_scene(shot)
    add_fusion_savers(scene, affected=False)
    f = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path)
    steps = f.steps()
    stages = []
    for event in steps:
        stages.append(event.stage)
        if event.stage == "remove":
            break
    steps.close()  # what FlowRunner.close does when the window closes
    assert stages[-1] == "remove" and f.args is not None
    assert_project_untouched(scene, 1, tmp_path)
    # Only the rendered plate was imported (the trial placement), never a clean plate.
    assert [a[0][0]["FilePath"][-14:] for a in scene.calls.args("MediaPool.ImportMedia")] == [
        "plate.%08d.exr"
    ]


def test_an_empty_matte_is_refused_before_the_job_and_undone(daemon, shot, tmp_path) -> None:
    scene = make_scene(dataclasses.replace(shot, remove=np.zeros_like(shot.remove)), tracks=2)
    add_matte_clip(scene, 2, "ball matte")
    with pytest.raises(ResolveError) as err:
        flow(scene, settings(daemon, tmp_path), tmp_path).run()
    assert err.value.code == ErrorCode.EMPTY_MATTE and "empty on every frame" in err.value.message
    assert_project_untouched(scene, 2, tmp_path)


def test_render_that_writes_too_few_frames_is_refused(daemon, shot, tmp_path) -> None:
    scene = make_scene(shot)
    add_fusion_savers(scene, affected=False)

    def short_render(p, jobs):
        render_like_resolve(scene, jobs)
        target = Path(p.jobs[jobs[0]]["settings"]["TargetDir"])
        sorted(target.glob("plate_*.exr"))[-1].unlink()

    scene.project.on_start_rendering = short_render
    with pytest.raises(ResolveError) as err:
        flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    assert (
        err.value.code == ErrorCode.HOST_FAILED
        and f"wrote {FRAMES - 1} frames" in err.value.message
    )
    assert_project_untouched(scene, 1, tmp_path)


@pytest.mark.parametrize("step", ["import", "fps", "place", "misplaced"])
def test_failure_while_bringing_the_plate_back_removes_media_track_bin_and_files(
    daemon, shot, tmp_path, step
) -> None:
    scene = make_scene(shot, tracks=1)
    add_fusion_savers(scene, affected=False)
    pool = scene.project.media_pool
    if step == "import":
        pool.on_import = lambda infos: []
    elif step == "fps":
        original = pool.on_import

        def import_at_30(infos):
            items = original(infos)
            for item in items:
                item.properties["FPS"] = "30"
                item.accept_properties = False  # this Resolve will not change it
            return items

        pool.on_import = import_at_30
    elif step == "place":
        pool.on_append = lambda infos: []
    else:
        original_append = pool.on_append

        def off_by_one(infos):
            infos = [{**i, "recordFrame": i["recordFrame"] + 1} for i in infos]
            return original_append(infos)

        pool.on_append = off_by_one
    with pytest.raises(ResolveError) as err:
        flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    expected = {
        "import": (ErrorCode.HOST_FAILED, "did not import"),
        "fps": (ErrorCode.UNSUPPORTED_MEDIA, "will not set it"),
        "place": (ErrorCode.HOST_FAILED, "did not place"),
        "misplaced": (ErrorCode.HOST_FAILED, "at 86401"),
    }[step]
    assert err.value.code == expected[0] and expected[1] in err.value.message
    assert_project_untouched(scene, 1, tmp_path)
    assert scene.timeline.tracks == [[scene.source]]


# --------------------------------------------------------------------------- versions (issue 15)


def _frames(pattern: str, first: int) -> list[bytes]:
    return [read_image(pattern % f).pixels.tobytes() for f in range(first, first + FRAMES)]


def _out(tmp_path: Path, version: int) -> str:
    return str(
        tmp_path
        / "out"
        / "Show_1"
        / "A001_C002_mov_86400-86408"
        / f"A001_C002_mov_void_v{version:03d}.%08d.exr"
    )


def _changed(daemon, tmp_path: Path, **kw) -> ResolveSettings:
    return dataclasses.replace(settings(daemon, tmp_path, **kw), job={**JOB, "dilation": 4})


def test_a_rerun_with_other_settings_writes_v002_and_places_it_leaving_v001_untouched(
    daemon, shot, tmp_path
) -> None:
    scene = make_scene(shot, tracks=1)
    add_fusion_savers(scene, affected=False)
    first = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    assert first.output.endswith("A001_C002_mov_void_v001.########.exr")
    v001 = _frames(_out(tmp_path, 1), 86400)
    stat_before = [Path(_out(tmp_path, 1) % f).stat().st_mtime_ns for f in range(86400, 86409)]

    # A new scene of the same project: the artist runs again on the same clip, other settings.
    again = make_scene(shot, tracks=1)
    add_fusion_savers(again, affected=False)
    second = flow(again, _changed(daemon, tmp_path, matte="fusion"), tmp_path).run()

    assert second.output.endswith("A001_C002_mov_void_v002.########.exr")
    assert again.calls.args("MediaPool.ImportMedia")[1:] == [
        ([{"FilePath": _out(tmp_path, 2), "StartIndex": 86400, "EndIndex": 86408}],)
    ]
    [placed] = again.timeline.tracks[1]
    assert placed.start == 86400 and placed.duration == FRAMES
    # v001 is bit-identical and was not even rewritten; v002 differs (other dilation).
    assert _frames(_out(tmp_path, 1), 86400) == v001
    assert [
        Path(_out(tmp_path, 1) % f).stat().st_mtime_ns for f in range(86400, 86409)
    ] == stat_before
    v002 = _frames(_out(tmp_path, 2), 86400)
    assert all(a != b for a, b in zip(v001, v002, strict=True))
    m1 = read_manifest(SequencePattern.parse(_out(tmp_path, 1)))
    m2 = read_manifest(SequencePattern.parse(_out(tmp_path, 2)))
    assert (m1["job"], m1["state"]) == (first.report.job, "complete")
    assert (m2["job"], m2["state"], m2["frames_written"]) == (
        second.report.job,
        "complete",
        list(range(86400, 86409)),
    )


def test_overwrite_replaces_the_latest_version_without_mixing_frames(
    daemon, shot, tmp_path
) -> None:
    scene = make_scene(shot, tracks=1)
    add_fusion_savers(scene, affected=False)
    first = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    v001 = _frames(_out(tmp_path, 1), 86400)

    again = make_scene(shot, tracks=1)
    add_fusion_savers(again, affected=False)
    second = flow(again, _changed(daemon, tmp_path, overwrite=True, matte="fusion"), tmp_path).run()

    assert second.output == first.output
    assert not list((tmp_path / "out").rglob("*_v002*"))
    after = _frames(_out(tmp_path, 1), 86400)
    # Every frame is the new job's: none of the old result is left among them.
    assert all(a != b for a, b in zip(v001, after, strict=True))
    m = read_manifest(SequencePattern.parse(_out(tmp_path, 1)))
    assert [(e["job"], e["frames"]) for e in m["jobs"]] == [
        (second.report.job, list(range(86400, 86409)))
    ]
    assert m["state"] == "complete"


def test_a_failed_rerun_deletes_only_its_own_version(daemon, shot, tmp_path) -> None:
    scene = make_scene(shot, tracks=1)
    add_fusion_savers(scene, affected=False)
    flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    v001 = _frames(_out(tmp_path, 1), 86400)
    folder = tmp_path / "out" / "Show_1" / "A001_C002_mov_86400-86408"
    names = sorted(p.name for p in folder.iterdir())

    again = make_scene(shot, tracks=1)
    add_fusion_savers(again, affected=False)
    again.project.media_pool.on_import = lambda infos: []
    with pytest.raises(ResolveError, match="did not import"):
        flow(again, _changed(daemon, tmp_path, matte="fusion"), tmp_path).run()
    # v002 was written, then removed with its manifest; v001 and its manifest are as they were.
    assert sorted(p.name for p in folder.iterdir()) == names
    assert _frames(_out(tmp_path, 1), 86400) == v001


# --------------------------------------------------------------------------- issue 16: the host as it behaves


def _clean_plate_one_frame_late(scene: Scene) -> None:
    """The clean plate (not the trial placement) lands one frame late: the run must undo."""
    original = scene.project.media_pool.on_append

    def append(infos):
        if "void_v" in infos[0]["mediaPoolItem"].name:
            infos = [{**i, "recordFrame": i["recordFrame"] + 1} for i in infos]
        return original(infos)

    scene.project.media_pool.on_append = append


def test_undo_runs_on_the_edit_page_and_a_refused_delete_is_reported(
    daemon, shot, tmp_path, caplog
) -> None:
    """#3: DeleteClips returns False off the Edit page; the undo opens it, and a refusal is a
    failure, not a success."""
    scene = make_scene(shot, tracks=1)
    add_fusion_savers(scene, affected=False)
    assert scene.calls.page == "color"  # the artist ran the script from the Color page
    _clean_plate_one_frame_late(scene)
    with pytest.raises(ResolveError, match="at 86401"):
        flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    assert ("Resolve.OpenPage", ("edit",)) in scene.calls
    assert scene.timeline.tracks == [[scene.source]]
    assert_project_untouched(scene, 1, tmp_path)

    # Resolve refuses the delete (another timeline is current and will not switch back):
    # the undo reports it instead of claiming success.
    scene2 = make_scene(shot, tracks=1)
    add_fusion_savers(scene2, affected=False)
    _clean_plate_one_frame_late(scene2)
    refuse = scene2.timeline.DeleteClips
    calls = []

    def delete_clips(items, ripple=False):
        calls.append(items)
        return False if len(calls) > 1 else refuse(items, ripple)  # the trial delete works

    scene2.timeline.DeleteClips = delete_clips
    caplog.set_level("WARNING")
    with pytest.raises(ResolveError):
        flow(scene2, settings(daemon, tmp_path / "2", matte="fusion"), tmp_path / "2").run()
    assert "could not undo remove the clean plate from the timeline" in caplog.text
    assert "could not undo" in caplog.text and "Resolve refused" in caplog.text


def test_the_plate_goes_onto_the_timeline_the_run_started_on(daemon, shot, tmp_path) -> None:
    """#4: the artist switches timelines during the job; the clean plate still lands on the
    shot's timeline, by its unique id."""
    from tests.support.fakes.fake_resolve import FakeTimeline

    scene = make_scene(shot, tracks=1)
    add_fusion_savers(scene, affected=False)
    other = FakeTimeline(scene.calls, "Edit v4", 86400, 1)
    scene.project.timelines.append(other)
    other.project = scene.project

    def on_event(event) -> None:
        if event.stage == "remove":
            scene.project.timeline = other  # the artist opens another timeline

    result = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run(on_event)
    [placed] = scene.timeline.tracks[1]
    assert (result.track, placed.start, placed.duration) == (2, 86400, FRAMES)
    assert other.tracks == [[]]
    assert ("Project.SetCurrentTimeline", ("Edit v3",)) in scene.calls
    # ...and the artist's timeline is current again afterwards.
    assert scene.project.timeline is other
    assert scene.calls.args("Project.SetCurrentTimeline")[-1] == ("Edit v4",)


@pytest.mark.parametrize("end", ["success", "failure", "cancel"])
def test_the_artists_page_and_timeline_come_back_however_the_run_ends(
    daemon, shot, tmp_path, end
) -> None:
    """Issue 16 ("restore the user's ... state afterwards"): the run opens the Edit page and makes
    the shot's timeline current to place the plate (#3, #4); afterwards the artist is on the page
    they ran it from and on the timeline they opened during the run, whether the run succeeded,
    failed after the job, or was cancelled during it. With the default matte (a clip above)."""
    from tests.support.fakes.fake_resolve import FakeTimeline

    scene = make_scene(shot, tracks=2)
    add_matte_clip(scene, 2, "ball matte")
    assert scene.resolve.GetCurrentPage() == "color"  # Workspace ▸ Scripts from the Color page
    other = FakeTimeline(scene.calls, "Edit v4", 86400, 1)
    scene.project.timelines.append(other)
    other.project = scene.project
    pool = scene.project.media_pool
    if end == "failure":  # the clean plate (the second append, after the job) is not placed
        appends = []
        place = pool.on_append

        def second_fails(infos):
            appends.append(infos)
            return place(infos) if len(appends) == 1 else []

        pool.on_append = second_fails
    f = flow(scene, settings(daemon, tmp_path), tmp_path)

    def on_event(event) -> None:
        if event.stage == "remove":
            scene.project.timeline = other  # the artist opens another timeline meanwhile
            if end == "cancel":
                f.cancel()

    if end == "success":
        result = f.run(on_event)
        assert result.matte == "matte clip 'ball matte' on V2"
        assert [i.start for i in scene.timeline.tracks[2]] == [86400]
    else:
        with pytest.raises(ResolveError) as err:
            f.run(on_event)
        assert err.value.code == (ErrorCode.CANCELLED if end == "cancel" else ErrorCode.HOST_FAILED)
        assert_project_untouched(scene, 2, tmp_path)
    assert ("Resolve.OpenPage", ("edit",)) in scene.calls  # edits happened on the Edit page
    assert scene.resolve.GetCurrentPage() == "color"
    assert scene.project.timeline is other
    assert not f.unrestored


def test_render_pins_burn_in_subtitles_and_restores_the_deliver_page(
    daemon, shot, tmp_path
) -> None:
    """#5: the job inherits the Deliver page unless told; burn-in and subtitles are switched
    off, the render is waited for asynchronously, and the Deliver page comes back as it was."""
    scene = make_scene(shot, tracks=2)
    add_matte_clip(scene, 2, "ball matte")
    deliver = dict(scene.project.render_settings)
    result = flow(scene, settings(daemon, tmp_path), tmp_path).run()
    assert all(not scene.project.jobs.get(j) for j in ("job-1", "job-2"))
    plate = read_image(str(Path(tmp_path / "out").rglob("*void_v001.00086400.exr").__next__()))
    assert float(plate.pixels[:2, :, :3].max()) != pytest.approx(0.9)  # no burn-in rows
    assert [s["ExportSubtitle"] for s, _ in scene.renders] == [False, False]
    assert scene.calls.args("Project.LoadBurnInPreset") == [(NO_BURN_IN,)]
    assert scene.project.render_settings == deliver and scene.project.render_presets == {}
    assert result.track == 3


def test_a_render_that_never_finishes_times_out_and_undoes(daemon, shot, tmp_path) -> None:
    """#5: rendering is asynchronous; a render stuck at 10% is given up after the timeout."""
    scene = make_scene(shot)
    add_fusion_savers(scene, affected=False)

    def stuck(p, jobs):
        p.rendering = True
        p.job_status[jobs[0]] = {"JobStatus": "Rendering", "CompletionPercentage": 10}

    scene.project.on_start_rendering = stuck
    f = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path)
    f.render_timeout_s = 0.2
    with pytest.raises(ResolveError, match="did not finish within"):
        f.run()
    assert "Project.StopRendering" in scene.calls.names()
    assert_project_untouched(scene, 1, tmp_path)


def test_an_inclusive_end_frame_is_found_before_the_job(daemon, shot, tmp_path) -> None:
    """#6: a Resolve that reads endFrame as the last frame is found by the trial placement
    before the job, and the clean plate is placed with the right length."""
    scene = make_scene(shot, tracks=1)
    add_fusion_savers(scene, affected=False)
    scene.end_inclusive = True
    result = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path).run()
    [placed] = scene.timeline.tracks[1]
    assert (result.track, placed.start, placed.duration) == (2, 86400, FRAMES)
    names = scene.calls.names()
    # The trial placement happened before the job's output was imported.
    assert names.index("Timeline.DeleteClips") < len(names) - names[::-1].index(
        "MediaPool.ImportMedia"
    )


def test_a_placement_that_cannot_be_made_fails_before_the_job(daemon, shot, tmp_path) -> None:
    """#6: a placement Resolve will not make is refused before minutes of daemon work."""
    scene = make_scene(shot, tracks=1)
    add_fusion_savers(scene, affected=False)
    scene.project.media_pool.on_append = lambda infos: []
    f = flow(scene, settings(daemon, tmp_path, matte="fusion"), tmp_path)
    with pytest.raises(ResolveError, match="did not place"):
        f.run()
    assert f.args is None  # no daemon job was ever sent
    assert_project_untouched(scene, 1, tmp_path)


def test_auto_takes_the_matte_clip_and_fusion_savers_render_their_comp(
    daemon, shot, tmp_path
) -> None:
    """#2: Savers do not write during a Deliver render. Auto prefers a matte clip above; the
    Fusion path renders the comp explicitly, once."""
    scene = make_scene(shot, tracks=2)
    add_matte_clip(scene, 2, "ball matte")
    comp, _ = add_fusion_savers(scene, affected=True)
    result = flow(scene, settings(daemon, tmp_path, matte="auto"), tmp_path).run()
    assert result.matte == "matte clip 'ball matte' on V2"
    assert "FusionComp.Render" not in scene.calls.names()

    scene2 = make_scene(shot, tracks=1)
    comp2, _ = add_fusion_savers(scene2, affected=True)
    result2 = flow(scene2, settings(daemon, tmp_path / "2", matte="fusion"), tmp_path / "2").run()
    assert result2.matte == "Fusion Saver 'Saver1' and 'VOID_affected'"
    assert scene2.calls.args("FusionComp.Render") == [
        ({"Start": 0, "End": FRAMES - 1, "Wait": True},)
    ]
