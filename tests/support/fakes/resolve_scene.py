"""Resolve scenes for the tests: a fake project holding a shot, and what Resolve *does* when
asked to render, import or place media, written out here as test behaviour.

The fake objects in :mod:`.fake_resolve` only store state; these hooks give them the
behaviour each test relies on, and they write real EXR frames through OpenImageIO.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from void_client.sequence import write_image
from void_daemon.demo_shot import Shot

from .fake_resolve import (
    Calls,
    FakeBmd,
    FakeFusionComp,
    FakeMediaPoolItem,
    FakeProject,
    FakeResolve,
    FakeTimeline,
    FakeTimelineItem,
    FakeTool,
)

# ``void_resolve`` lives in resolve/; an editable install made before it existed does not map it.
if importlib.util.find_spec("void_resolve") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "resolve"))

CODECS = {
    "RGB Float (No compression)": "RGBFloat",
    "RGB Half (DWAA)": "RGBHalfDWAA",
    "RGB Half (ZIP)": "RGBHalfZIP",
    "RGB Half (No compression)": "RGBHalf",
}
SOURCE = "A001_C002"
#: An empty Data Burn-In preset the TD made once (docs/resolve.md); the scene's project has it.
NO_BURN_IN = "VOID Remove No Burn-In"


@dataclass
class Scene:
    calls: Calls
    resolve: FakeResolve
    project: FakeProject
    timeline: FakeTimeline
    source: FakeTimelineItem
    shot: Shot
    #: Pixels the "render" of the source track writes (defaults to the shot's RGBA plate).
    plate: np.ndarray
    #: What the renders did: [(job settings, enabled tracks), ...].
    renders: list
    #: ``AppendToTimeline`` reads ``endFrame`` as the last frame (inclusive) instead of one past
    #: it. Ledger D013 measured exclusive on 21.0.4.5; issue 16 #6 reports builds that differ.
    end_inclusive: bool = False

    @property
    def namespace(self) -> dict:
        return {
            "resolve": self.resolve,
            "fusion": self.resolve.fusion,
            "bmd": FakeBmd(self.calls, self.resolve),
        }


def make_scene(
    shot: Shot,
    *,
    tracks: int = 1,
    source_track: int = 1,
    record: int = 86400,
    timeline_start: int = 86400,
    resolution: str | None = None,
) -> Scene:
    calls = Calls()
    resolve = FakeResolve(calls)
    project = FakeProject(calls, "Show 1")
    resolve.project_manager.current = project
    timeline = FakeTimeline(calls, "Edit v3", timeline_start, tracks)
    project.timeline = timeline
    project.codecs["exr"] = dict(CODECS)
    project.burn_in_presets[NO_BURN_IN] = False
    h, w = shot.plate.shape[1:3]
    timeline.settings.update(timelineResolutionWidth=str(w), timelineResolutionHeight=str(h))
    media = FakeMediaPoolItem(
        calls, SOURCE, {"Resolution": resolution or f"{w}x{h}", "FPS": "24.000"}
    )
    source = FakeTimelineItem(calls, f"{SOURCE}.mov", record, len(shot.frames), media)
    timeline.tracks[source_track - 1].append(source)
    timeline.current_item = source
    # Scripts run from Workspace ▸ Scripts on whatever page is open; the edit page is not a given.
    calls.page = "color"
    scene = Scene(
        calls, resolve, project, timeline, source, shot, shot.plate.astype(np.float16), []
    )
    project.on_start_rendering = lambda p, jobs: render_like_resolve(scene, jobs)
    project.media_pool.on_import = lambda infos: import_like_resolve(scene, infos)
    project.media_pool.on_append = lambda infos: append_like_resolve(scene, infos)
    return scene


def add_matte_clip(scene: Scene, track: int, name: str = "ball matte") -> FakeTimelineItem:
    item = FakeTimelineItem(
        scene.calls,
        name,
        scene.source.start,
        scene.source.duration,
        FakeMediaPoolItem(scene.calls, name, {"Resolution": "96x64"}),
    )
    scene.timeline.tracks[track - 1].append(item)
    return item


def add_fusion_savers(
    scene: Scene, affected: bool = True, named: bool = False
) -> tuple[FakeFusionComp, list[FakeTool]]:
    """A comp as an artist builds it: MediaIn → MediaOut, Polygon → Saver (and one for the shadow)."""
    comp = FakeFusionComp(scene.calls, "Composition 1", 0.0, float(scene.source.duration - 1))
    media_in = FakeTool(scene.calls, "MediaIn1", "MediaIn")
    polygon = FakeTool(scene.calls, "Polygon1", "PolylineMask")
    savers = [
        FakeTool(
            scene.calls,
            "VOID_remove" if named else "Saver1",
            "Saver",
            polygon,
            {"Clip": "/Volumes/show/roto/ball_.exr", "OutputFormat": "TiffFormat"},
        )
    ]
    comp.tools += [
        media_in,
        polygon,
        FakeTool(scene.calls, "MediaOut1", "MediaOut", media_in),
        savers[0],
    ]
    comp.on_render = lambda c, options: render_comp_like_fusion(scene, c, options)
    if affected:
        shadow = FakeTool(scene.calls, "BSpline1", "BSplineMask")
        savers.append(
            FakeTool(
                scene.calls,
                "VOID_affected",
                "Saver",
                shadow,
                {"Clip": "/Volumes/show/roto/shadow_.exr", "OutputFormat": "TiffFormat"},
            )
        )
        comp.tools += [shadow, savers[1]]
    scene.source.comps.append(comp)
    return comp, savers


def fusion_frame_path(clip: str, frame: int) -> Path:
    """Where a Saver writes ``frame``: Fusion puts the number before the extension."""
    p = Path(clip)
    return p.with_name(f"{p.stem}{frame:04d}{p.suffix}")


BURN_IN = 0.9  # what data burn-in (or burnt subtitles) paints over the top rows of the picture


def render_comp_like_fusion(scene: Scene, comp: FakeFusionComp, options: dict) -> bool:
    """``comp.Render({Start, End, Wait})``: every Saver that is not passed through writes its
    matte for the comp frames asked for, numbered in comp time as Fusion numbers them."""
    shot = scene.shot
    comp_start = int(comp.attrs["COMPN_RenderStart"])
    for saver in comp.GetToolList(False, "Saver").values():
        if saver.pass_through:
            continue
        for frame in range(int(options["Start"]), int(options["End"]) + 1):
            i = frame - comp_start
            matte = shot.affected[i] if saver.upstream.reg_id == "BSplineMask" else shot.remove[i]
            write_image(
                fusion_frame_path(saver.inputs["Clip"], frame),
                matte.astype(np.float16),
                channels=["A"],
            )
    return True


def render_like_resolve(scene: Scene, jobs: list[str], status: list | None = None) -> None:
    """Render each job: the enabled track's picture over MarkIn..MarkOut as RGB(A) half EXR,
    numbered by record frame. The Savers in the clip's comp write nothing: a Deliver render does
    not run them (issue 16 #2). Whatever the job inherited from the Deliver page shows: data
    burn-in or burnt-in subtitles paint the top rows."""
    project, shot = scene.project, scene.shot
    timeline = project.timeline or scene.timeline  # Deliver renders the current timeline
    for job in jobs:
        s = project.jobs[job]["settings"]
        enabled = [t + 1 for t, on in enumerate(timeline.enabled) if on]
        scene.renders.append((s, enabled))
        source_track = next(
            t + 1 for t, items in enumerate(timeline.tracks) if scene.source in items
        )
        for record in range(s["MarkIn"], s["MarkOut"] + 1):
            i = record - scene.source.start
            path = Path(s["TargetDir"]) / f"{s['CustomName']}_{record:08d}.exr"
            if enabled == [source_track]:
                px = scene.plate[i] if s["ExportAlpha"] else scene.plate[i][..., :3]
            else:  # the matte clip alone: white on black
                m = shot.remove[i].astype(np.float16)
                px = np.stack([m, m, m], -1)
            if project.jobs[job].get("burn_in") or s.get("ExportSubtitle"):
                px = px.copy()
                px[:2, :, :3] = BURN_IN
            write_image(path, px, channels=["R", "G", "B", "A"][: px.shape[-1]])
        project.job_status[job] = (
            status
            if status is not None
            else [
                {"JobStatus": "Rendering", "CompletionPercentage": 40},
                {"JobStatus": "Complete", "CompletionPercentage": 100},
            ]
        )


def import_like_resolve(scene: Scene, infos: list[dict], fps: str = "24") -> list[Any]:
    """One sequence clip per clipInfo, if every frame exists (Resolve refuses missing media)."""
    pool = scene.project.media_pool
    out = []
    for info in infos:
        frames = range(info["StartIndex"], info["EndIndex"] + 1)
        if not all(Path(info["FilePath"] % f).is_file() for f in frames):
            continue
        name = Path(info["FilePath"]).name.replace(
            "%08d", f"[{info['StartIndex']}-{info['EndIndex']}]"
        )
        item = FakeMediaPoolItem(
            scene.calls,
            name,
            {
                "File Path": info["FilePath"],
                "Start": str(info["StartIndex"]),
                "End": str(info["EndIndex"]),
                "Frames": str(len(frames)),
                "FPS": fps,
                "Resolution": "x".join(map(str, scene.shot.plate.shape[2:0:-1])),
            },
        )
        item.folder = pool.current
        pool.current.clips.append(item)
        out.append(item)
    return out


def append_like_resolve(scene: Scene, infos: list[dict]) -> list[Any]:
    """Onto the *current* timeline (README), ``endFrame`` read as one past the last frame
    (ledger D013) or, with ``scene.end_inclusive``, as the last frame; the clip laid at
    ``recordFrame``. A track the timeline does not have, or an overlap with a clip already on
    the track, places nothing (issue 16 #6: overlapping records are dropped)."""
    timeline = scene.project.timeline
    out = []
    for info in infos:
        media = info["mediaPoolItem"]
        duration = info["endFrame"] - info["startFrame"] + (1 if scene.end_inclusive else 0)
        if timeline is None or not 1 <= info["trackIndex"] <= len(timeline.tracks):
            continue
        track = timeline.tracks[info["trackIndex"] - 1]
        first, last = info["recordFrame"], info["recordFrame"] + duration - 1
        if any(i.start <= last and first <= i.start + i.duration - 1 for i in track):
            continue
        item = FakeTimelineItem(scene.calls, media.name, first, duration, media)
        track.append(item)
        out.append(item)
    return out


def scratch_project(calls: Calls, name: str, end_inclusive: bool = False) -> FakeProject:
    """A new, empty project as ``CreateProject`` makes it, that renders, imports and places
    like Resolve (for the self-test): frames of mid grey, sequences imported when every file
    exists, clips appended to its current timeline."""
    project = FakeProject(calls, name)
    project.codecs["exr"] = dict(CODECS)
    project.burn_in_presets[NO_BURN_IN] = False
    pool = project.media_pool

    def start(p: FakeProject, jobs: list[str]) -> None:
        for job in jobs:
            s = p.jobs[job]["settings"]
            for record in range(s["MarkIn"], s["MarkOut"] + 1):
                path = Path(s["TargetDir"]) / f"{s['CustomName']}_{record:08d}.exr"
                write_image(path, np.full((16, 16, 3), 0.5, np.float16), channels=list("RGB"))
            p.job_status[job] = [
                {"JobStatus": "Rendering", "CompletionPercentage": 50},
                {"JobStatus": "Complete", "CompletionPercentage": 100},
            ]

    def import_media(infos: list[dict]) -> list[Any]:
        out = []
        for info in infos:
            frames = range(info["StartIndex"], info["EndIndex"] + 1)
            if not all(Path(info["FilePath"] % f).is_file() for f in frames):
                continue
            item = FakeMediaPoolItem(
                calls,
                Path(info["FilePath"]).name,
                {"Start": str(info["StartIndex"]), "Frames": str(len(frames)), "FPS": "25"},
            )
            item.folder = pool.current
            pool.current.clips.append(item)
            out.append(item)
        return out

    def append(infos: list[dict]) -> list[Any]:
        timeline = project.timeline
        out = []
        for info in infos:
            duration = info["endFrame"] - info["startFrame"] + (1 if end_inclusive else 0)
            if timeline is None or not 1 <= info["trackIndex"] <= len(timeline.tracks):
                continue
            item = FakeTimelineItem(
                calls,
                info["mediaPoolItem"].name,
                info["recordFrame"],
                duration,
                info["mediaPoolItem"],
            )
            timeline.tracks[info["trackIndex"] - 1].append(item)
            out.append(item)
        return out

    project.on_start_rendering = start
    pool.on_import = import_media
    pool.on_append = append
    return project
