"""A fake of the DaVinci Resolve / Fusion scripting objects that ``void_resolve.api`` calls.

Each object stores state and records every call in a shared :class:`Calls` log; it decides
nothing. Where Resolve would *do* something (render, import media, place a clip, render a
comp, run its UI loop) the fake calls a hook the test sets, so the behaviour a test relies on
is written in the test itself. Method names and signatures follow Resolve's scripting README.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

_ids = itertools.count(1)


def _uid(kind: str) -> str:
    return f"{kind}-{next(_ids)}"


class Calls(list):
    """``[(\"Project.AddRenderJob\", args), ...]`` in call order, across all fake objects."""

    def names(self) -> list[str]:
        return [name for name, _ in self]

    def args(self, name: str) -> list[tuple]:
        return [args for n, args in self if n == name]


class _Fake:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def _rec(self, method: str, *args: Any) -> None:
        self.calls.append((f"{type(self).__name__.removeprefix('Fake')}.{method}", args))


# --------------------------------------------------------------------------- app and project


class FakeResolve(_Fake):
    def __init__(self, calls: Calls | None = None) -> None:
        super().__init__(calls if calls is not None else Calls())
        self.project_manager = FakeProjectManager(self.calls)
        self.fusion = FakeFusion(self.calls)
        self.version = "19.1.3.7"
        self.product = "DaVinci Resolve Studio"

    def GetProjectManager(self) -> FakeProjectManager:
        self._rec("GetProjectManager")
        return self.project_manager

    def Fusion(self) -> FakeFusion:
        self._rec("Fusion")
        return self.fusion

    def GetVersionString(self) -> str:
        return self.version

    def GetProductName(self) -> str:
        return self.product


class FakeProjectManager(_Fake):
    def __init__(self, calls: Calls) -> None:
        super().__init__(calls)
        self.current: FakeProject | None = None

    def GetCurrentProject(self) -> FakeProject | None:
        self._rec("GetCurrentProject")
        return self.current


class FakeProject(_Fake):
    def __init__(self, calls: Calls, name: str = "Show") -> None:
        super().__init__(calls)
        self.name = name
        self.media_pool = FakeMediaPool(calls)
        self.timeline: FakeTimeline | None = None
        self.codecs: dict[str, dict[str, str]] = {}
        self.format_codec = {"format": "mov", "codec": "ProRes422HQ"}
        self.render_mode = 0
        self.render_settings: dict = {}
        self.accept_settings = True
        self.accept_codec = True
        self.jobs: dict[str, dict] = {}
        #: job id → status dict, or a list of them answered in order (the last one repeats).
        self.job_status: dict[str, Any] = {}
        self.rendering = False
        self.start_ok = True
        self.on_start_rendering: Callable[[FakeProject, list[str]], None] | None = None
        self._job_ids = itertools.count(1)

    def GetName(self) -> str:
        return self.name

    def GetMediaPool(self) -> FakeMediaPool:
        return self.media_pool

    def GetCurrentTimeline(self) -> FakeTimeline | None:
        self._rec("GetCurrentTimeline")
        return self.timeline

    def GetRenderCodecs(self, render_format: str) -> dict:
        return dict(self.codecs.get(render_format, {}))

    def GetCurrentRenderFormatAndCodec(self) -> dict:
        return dict(self.format_codec)

    def SetCurrentRenderFormatAndCodec(self, render_format: str, codec: str) -> bool:
        self._rec("SetCurrentRenderFormatAndCodec", render_format, codec)
        if self.accept_codec:
            self.format_codec = {"format": render_format, "codec": codec}
        return self.accept_codec

    def GetCurrentRenderMode(self) -> int:
        return self.render_mode

    def SetCurrentRenderMode(self, mode: int) -> bool:
        self._rec("SetCurrentRenderMode", mode)
        self.render_mode = mode
        return True

    def SetRenderSettings(self, settings: dict) -> bool:
        self._rec("SetRenderSettings", dict(settings))
        if self.accept_settings:
            self.render_settings = dict(settings)
        return self.accept_settings

    def AddRenderJob(self) -> str:
        self._rec("AddRenderJob")
        job = f"job-{next(self._job_ids)}"
        self.jobs[job] = {
            "settings": dict(self.render_settings),
            **self.format_codec,
            "mode": self.render_mode,
        }
        return job

    def GetRenderJobList(self) -> list[dict]:
        return list(self.jobs.values())

    def DeleteRenderJob(self, job: str) -> bool:
        self._rec("DeleteRenderJob", job)
        return self.jobs.pop(job, None) is not None

    def StartRendering(self, jobs: list[str], interactive: bool = False) -> bool:
        self._rec("StartRendering", list(jobs), interactive)
        if self.on_start_rendering:
            self.on_start_rendering(self, list(jobs))
        return self.start_ok

    def GetRenderJobStatus(self, job: str) -> dict:
        self._rec("GetRenderJobStatus", job)
        status = self.job_status.get(job, {})
        if isinstance(status, list):
            return dict(status.pop(0) if len(status) > 1 else status[0])
        return dict(status)

    def IsRenderingInProgress(self) -> bool:
        return self.rendering

    def StopRendering(self) -> None:
        self._rec("StopRendering")
        self.rendering = False


# --------------------------------------------------------------------------- timeline


class FakeTimeline(_Fake):
    def __init__(
        self, calls: Calls, name: str = "Edit", start_frame: int = 86400, tracks: int = 1
    ) -> None:
        super().__init__(calls)
        self.name = name
        self.start_frame = start_frame
        self.settings = {
            "timelineFrameRate": "24",
            "timelineResolutionWidth": "1920",
            "timelineResolutionHeight": "1080",
            "timelineDropFrameTimecode": "0",
        }
        self.tracks: list[list[FakeTimelineItem]] = [[] for _ in range(tracks)]
        self.enabled: list[bool] = [True] * tracks
        self.track_names: list[str] = [f"Video {i + 1}" for i in range(tracks)]
        self.marks: dict = {}
        self.current_item: FakeTimelineItem | None = None
        #: Resolve 19 and later honour ``AddTrack(type, {"index": i})``; earlier ones append.
        self.insert_supported = True
        self.uid = _uid("timeline")

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self.uid

    def GetStartFrame(self) -> int:
        return self.start_frame

    def GetSetting(self, key: str) -> str:
        return self.settings.get(key, "")

    def GetTrackCount(self, track_type: str) -> int:
        return len(self.tracks) if track_type == "video" else 0

    def GetItemListInTrack(self, track_type: str, index: int) -> list:
        return list(self.tracks[index - 1])

    def GetCurrentVideoItem(self) -> FakeTimelineItem | None:
        return self.current_item

    def GetMarkInOut(self) -> dict:
        return dict(self.marks)

    def GetIsTrackEnabled(self, track_type: str, index: int) -> bool:
        return self.enabled[index - 1]

    def SetTrackEnable(self, track_type: str, index: int, enabled: bool) -> bool:
        self._rec("SetTrackEnable", track_type, index, enabled)
        self.enabled[index - 1] = enabled
        return True

    def AddTrack(self, track_type: str, options: Any = None) -> bool:
        self._rec("AddTrack", track_type, options)
        at = len(self.tracks)
        if self.insert_supported and isinstance(options, dict) and "index" in options:
            at = options["index"] - 1
        self.tracks.insert(at, [])
        self.enabled.insert(at, True)
        self.track_names.insert(at, f"Video {len(self.tracks)}")
        return True

    def DeleteTrack(self, track_type: str, index: int) -> bool:
        self._rec("DeleteTrack", track_type, index)
        for lst in (self.tracks, self.enabled, self.track_names):
            lst.pop(index - 1)
        return True

    def SetTrackName(self, track_type: str, index: int, name: str) -> bool:
        self._rec("SetTrackName", track_type, index, name)
        self.track_names[index - 1] = name
        return True

    def GetTrackName(self, track_type: str, index: int) -> str:
        return self.track_names[index - 1]

    def DeleteClips(self, items: list, ripple: bool = False) -> bool:
        self._rec("DeleteClips", list(items), ripple)
        for track in self.tracks:
            for item in items:
                if item in track:
                    track.remove(item)
        return True


class FakeTimelineItem(_Fake):
    def __init__(
        self,
        calls: Calls,
        name: str,
        start: int,
        duration: int,
        media: FakeMediaPoolItem | None = None,
    ) -> None:
        super().__init__(calls)
        self.name = name
        self.start = start
        self.duration = duration
        self.media = media
        self.comps: list[FakeFusionComp] = []
        self.uid = _uid("item")

    def GetName(self) -> str:
        return self.name

    def GetStart(self) -> int:
        return self.start

    def GetEnd(self) -> int:
        return self.start + self.duration

    def GetDuration(self) -> int:
        return self.duration

    def GetMediaPoolItem(self) -> FakeMediaPoolItem | None:
        return self.media

    def GetFusionCompCount(self) -> int:
        return len(self.comps)

    def GetFusionCompByIndex(self, index: int) -> FakeFusionComp:
        return self.comps[index - 1]

    def GetUniqueId(self) -> str:
        return self.uid


# --------------------------------------------------------------------------- media pool


class FakeMediaPoolItem(_Fake):
    def __init__(self, calls: Calls, name: str, properties: dict | None = None) -> None:
        super().__init__(calls)
        self.name = name
        self.properties = dict(properties or {})
        self.accept_properties = True
        self.folder: FakeFolder | None = None
        self.uid = _uid("media")

    def GetName(self) -> str:
        return self.name

    def GetClipProperty(self, key: str | None = None) -> Any:
        return dict(self.properties) if key is None else self.properties.get(key, "")

    def SetClipProperty(self, key: str, value: str) -> bool:
        self._rec("SetClipProperty", key, value)
        if self.accept_properties:
            self.properties[key] = value
        return self.accept_properties

    def GetUniqueId(self) -> str:
        return self.uid


class FakeFolder(_Fake):
    def __init__(self, calls: Calls, name: str, parent: FakeFolder | None = None) -> None:
        super().__init__(calls)
        self.name = name
        self.parent = parent
        self.clips: list[FakeMediaPoolItem] = []
        self.subfolders: list[FakeFolder] = []

    def GetName(self) -> str:
        return self.name

    def GetSubFolderList(self) -> list:
        return list(self.subfolders)


class FakeMediaPool(_Fake):
    def __init__(self, calls: Calls) -> None:
        super().__init__(calls)
        self.root = FakeFolder(calls, "Master")
        self.current = self.root
        #: ``ImportMedia(infos) -> [items]`` and ``AppendToTimeline(infos) -> [items]``, set by the test.
        self.on_import: Callable[[list[dict]], list] | None = None
        self.on_append: Callable[[list[dict]], list] | None = None

    def GetRootFolder(self) -> FakeFolder:
        return self.root

    def GetCurrentFolder(self) -> FakeFolder:
        return self.current

    def SetCurrentFolder(self, folder: FakeFolder) -> bool:
        self._rec("SetCurrentFolder", folder.name)
        self.current = folder
        return True

    def AddSubFolder(self, parent: FakeFolder, name: str) -> FakeFolder:
        self._rec("AddSubFolder", parent.name, name)
        folder = FakeFolder(self.calls, name, parent)
        parent.subfolders.append(folder)
        return folder

    def DeleteFolders(self, folders: list) -> bool:
        self._rec("DeleteFolders", [f.name for f in folders])
        for f in folders:
            f.parent.subfolders.remove(f)
        return True

    def ImportMedia(self, infos: list) -> list:
        self._rec("ImportMedia", [dict(i) if isinstance(i, dict) else i for i in infos])
        return self.on_import(infos) if self.on_import else []

    def DeleteClips(self, clips: list) -> bool:
        self._rec("DeleteClips", [c.name for c in clips])
        for c in clips:
            c.folder.clips.remove(c)
        return True

    def AppendToTimeline(self, infos: list) -> list:
        self._rec("AppendToTimeline", [dict(i) for i in infos])
        return self.on_append(infos) if self.on_append else []


# --------------------------------------------------------------------------- Fusion


class FakeFusion(_Fake):
    def __init__(self, calls: Calls) -> None:
        super().__init__(calls)
        #: None: a Resolve without UIManager (the free version since 19.1).
        self.UIManager: FakeUIManager | None = FakeUIManager(calls)


class FakeFusionComp(_Fake):
    def __init__(
        self,
        calls: Calls,
        name: str = "Composition 1",
        render_start: float = 0.0,
        render_end: float = 0.0,
    ) -> None:
        super().__init__(calls)
        self.name = name
        self.tools: list[FakeTool] = []
        self.attrs = {"COMPN_RenderStart": render_start, "COMPN_RenderEnd": render_end}
        self.on_render: Callable[[FakeFusionComp, dict], bool] | None = None

    def GetToolList(self, selected: bool = False, reg_id: str = "") -> dict:
        return {
            i: t
            for i, t in enumerate(
                (t for t in self.tools if not reg_id or t.reg_id == reg_id), start=1
            )
        }

    def GetAttrs(self, key: str | None = None) -> Any:
        return dict(self.attrs) if key is None else self.attrs.get(key)

    def Render(self, options: dict) -> bool:
        self._rec("Render", dict(options))
        return self.on_render(self, options) if self.on_render else False


class FakeTool(_Fake):
    def __init__(
        self,
        calls: Calls,
        name: str,
        reg_id: str,
        upstream: FakeTool | None = None,
        inputs: dict | None = None,
    ) -> None:
        super().__init__(calls)
        self.name = name
        self.reg_id = reg_id
        self.upstream = upstream
        self.inputs = dict(inputs or {})
        self.pass_through = False

    def GetAttrs(self) -> dict:
        return {
            "TOOLS_Name": self.name,
            "TOOLS_RegID": self.reg_id,
            "TOOLB_PassThrough": self.pass_through,
        }

    def SetAttrs(self, attrs: dict) -> None:
        self._rec("SetAttrs", self.name, dict(attrs))
        self.pass_through = attrs.get("TOOLB_PassThrough", self.pass_through)

    def GetInput(self, name: str) -> Any:
        return self.inputs.get(name)

    def SetInput(self, name: str, value: Any) -> bool:
        self._rec("SetInput", self.name, name, value)
        self.inputs[name] = value
        return True

    def FindMainInput(self, index: int) -> FakeInput:
        return FakeInput(self.upstream)


class FakeInput:
    def __init__(self, tool: FakeTool | None) -> None:
        self.tool = tool

    def GetConnectedOutput(self) -> FakeOutput | None:
        return FakeOutput(self.tool) if self.tool else None


class FakeOutput:
    def __init__(self, tool: FakeTool) -> None:
        self.tool = tool

    def GetTool(self) -> FakeTool:
        return self.tool


# --------------------------------------------------------------------------- UIManager


class FakeWidget:
    """A UIManager element: its kind, its properties (read and written as attributes), children."""

    def __init__(self, kind: str, props: dict | None = None, children: list | None = None) -> None:
        self.__dict__.update(
            kind=kind, props=dict(props or {}), children=list(children or []), items=[]
        )

    def __getattr__(self, name: str) -> Any:
        return self.props.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self.props[name] = value

    def AddItem(self, text: str) -> None:
        self.items.append(text)


class FakeUIManager(_Fake):
    """``ui.VGroup(props, children)``, ``ui.Label(props)``...: each returns a FakeWidget."""

    def __getattr__(self, kind: str) -> Callable[..., FakeWidget]:
        if kind.startswith("_"):
            raise AttributeError(kind)

        def make(props: Any = None, children: Any = None) -> FakeWidget:
            if isinstance(props, list):  # ui.VGroup([children]) without properties
                props, children = {}, props
            return FakeTimer(props) if kind == "Timer" else FakeWidget(kind, props, children)

        return make


class FakeTimer(FakeWidget):
    def __init__(self, props: dict | None) -> None:
        super().__init__("Timer", props)
        self.__dict__["running"] = False

    def Start(self) -> None:
        self.__dict__["running"] = True

    def Stop(self) -> None:
        self.__dict__["running"] = False


class FakeEvents:
    """``win.On.run.Clicked = f`` / ``disp.On.Timeout = f``: handlers stored by target and event."""

    def __init__(self) -> None:
        self.__dict__["targets"] = {}

    def __getattr__(self, name: str) -> FakeEvents:
        return self.targets.setdefault(name, FakeEvents())

    __getitem__ = __getattr__

    def __setattr__(self, name: str, value: Any) -> None:
        self.targets[name] = value


class FakeWindow(_Fake):
    def __init__(self, calls: Calls, props: dict, layout: FakeWidget) -> None:
        super().__init__(calls)
        self.props = props
        self.layout = layout
        self.On = FakeEvents()
        self.shown = False

    def GetItems(self) -> dict:
        found, stack = {}, [self.layout]
        while stack:
            w = stack.pop()
            if w.props.get("ID"):
                found[w.props["ID"]] = w
            stack.extend(w.children)
        return found

    def Show(self) -> None:
        self.shown = True

    def Hide(self) -> None:
        self.shown = False


class FakeDispatcher(_Fake):
    def __init__(self, calls: Calls) -> None:
        super().__init__(calls)
        self.On = FakeEvents()
        self.window: FakeWindow | None = None
        #: What the artist does while Resolve's loop runs (the test clicks and ticks here).
        self.on_run_loop: Callable[[FakeDispatcher], None] | None = None

    def AddWindow(self, props: dict, layout: FakeWidget) -> FakeWindow:
        self._rec("AddWindow", props.get("ID"))
        self.window = FakeWindow(self.calls, props, layout)
        return self.window

    def RunLoop(self) -> None:
        self._rec("RunLoop")
        if self.on_run_loop:
            self.on_run_loop(self)

    def ExitLoop(self) -> None:
        self._rec("ExitLoop")


class FakeBmd(_Fake):
    def __init__(self, calls: Calls, resolve: FakeResolve | None = None) -> None:
        super().__init__(calls)
        self.resolve = resolve
        self.dispatcher = FakeDispatcher(calls)

    def scriptapp(self, name: str) -> Any:
        return self.resolve if name == "Resolve" else None

    def UIDispatcher(self, ui: FakeUIManager) -> FakeDispatcher:
        return self.dispatcher
