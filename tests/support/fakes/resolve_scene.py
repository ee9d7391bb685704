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
    h, w = shot.plate.shape[1:3]
    timeline.settings.update(timelineResolutionWidth=str(w), timelineResolutionHeight=str(h))
    media = FakeMediaPoolItem(
        calls, SOURCE, {"Resolution": resolution or f"{w}x{h}", "FPS": "24.000"}
    )
    source = FakeTimelineItem(calls, f"{SOURCE}.mov", record, len(shot.frames), media)
    timeline.tracks[source_track - 1].append(source)
    timeline.current_item = source
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


def render_like_resolve(scene: Scene, jobs: list[str], status: list | None = None) -> None:
    """Render each job: the enabled track's picture over MarkIn..MarkOut as RGB(A) half EXR,
    numbered by record frame; Savers of the source clip write their matte as Resolve's Fusion
    does while it renders the clip."""
    project, timeline, shot = scene.project, scene.timeline, scene.shot
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
                write_image(path, px, channels=["R", "G", "B", "A"][: px.shape[-1]])
                for comp in scene.source.comps:
                    for saver in comp.GetToolList(False, "Saver").values():
                        if not saver.pass_through:
                            matte = (
                                shot.affected[i]
                                if saver.upstream.reg_id == "BSplineMask"
                                else shot.remove[i]
                            )
                            frame = int(comp.attrs["COMPN_RenderStart"]) + i
                            write_image(
                                fusion_frame_path(saver.inputs["Clip"], frame),
                                matte.astype(np.float16),
                                channels=["A"],
                            )
            else:  # the matte clip alone: white on black
                m = shot.remove[i].astype(np.float16)
                write_image(path, np.stack([m, m, m], -1), channels=["R", "G", "B"])
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
    """``endFrame`` read as one past the last frame, the clip laid at ``recordFrame``."""
    out = []
    for info in infos:
        media = info["mediaPoolItem"]
        item = FakeTimelineItem(
            scene.calls,
            media.name,
            info["recordFrame"],
            info["endFrame"] - info["startFrame"],
            media,
        )
        scene.timeline.tracks[info["trackIndex"] - 1].append(item)
        out.append(item)
    return out
