"""A fake of the DaVinci Resolve / Fusion scripting objects that ``void_resolve.api`` calls.

Each object stores state and records every call in a shared :class:`Calls` log; it decides
nothing. Where Resolve would *do* something (render, import media, place a clip, render a
comp, run its UI loop) the fake calls a hook the test sets, so the behaviour a test relies on
is written in the test itself. Method names and signatures follow Resolve's scripting README.

The fake is as strict as the real host where a source says how the host behaves (issue 16). Each
method's docstring names its source: ``README`` is Blackmagic's Developer/Scripting README
(``Resolve.OpenPage(pageName)``, ``Timeline.DeleteClips([timelineItems], Bool) -> Bool``...);
``ledger D0xx`` is a decision log of behaviours measured on DaVinci Resolve Studio 21.0.4.5 by
a production integration (public, quoted where it is used); ``issue 16 #n`` is a behaviour the
review reported that no public source here confirms; the self-test checks it on a real host.
Host-wide state (the page that is open, a modal prompt, the current timeline) lives on the
shared :class:`Calls` log, so every object sees it as every Resolve object sees the app's.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from typing import Any, TypeVar

_ids = itertools.count(1)


def _uid(kind: str) -> str:
    return f"{kind}-{next(_ids)}"


class Calls(list):
    """``[(\"Project.AddRenderJob\", args), ...]`` in call order, across all fake objects, and the
    app-wide state they share: the open page and a modal dialog in front of Resolve."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        #: Resolve opens on the page the artist left; scripts from Workspace ▸ Scripts run there.
        self.page = "color"
        #: A modal dialog in front of Resolve ("" when none). Ledger D018: with one up "every
        #: setter returned None and Resolve.GetCurrentPage() returned None".
        self.modal = ""

    def names(self) -> list[str]:
        return [name for name, _ in self]

    def args(self, name: str) -> list[tuple]:
        return [args for n, args in self if n == name]


class _Fake:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def _rec(self, method: str, *args: Any) -> None:
        self.calls.append((f"{type(self).__name__.removeprefix('Fake')}.{method}", args))


F = TypeVar("F", bound=Callable[..., Any])


def setter(method: F) -> F:
    """A call that changes the project: answers None while a modal dialog is up (ledger D018:
    "every setter returned None ... which is what an open modal dialog looks like")."""

    @functools.wraps(method)
    def guarded(self: _Fake, *args: Any, **kw: Any) -> Any:
        if self.calls.modal:
            self._rec(method.__name__ + " (refused: modal dialog)", *args)
            return None
        return method(self, *args, **kw)

    return guarded  # type: ignore[return-value]


# --------------------------------------------------------------------------- app and project


class FakeResolve(_Fake):
    PAGES = ("media", "cut", "edit", "fusion", "color", "fairlight", "deliver")

    def __init__(self, calls: Calls | None = None) -> None:
        super().__init__(calls if calls is not None else Calls())
        self.project_manager = FakeProjectManager(self.calls)
        self.fusion = FakeFusion(self.calls, self)
        self.version = "19.1.3.7"
        self.product = "DaVinci Resolve Studio"

    def GetProjectManager(self) -> FakeProjectManager:
        """README: GetProjectManager() -> ProjectManager."""
        self._rec("GetProjectManager")
        return self.project_manager

    def Fusion(self) -> FakeFusion:
        """README: Fusion() -> Fusion, "Starting point for Fusion scripts"."""
        self._rec("Fusion")
        return self.fusion

    def GetVersionString(self) -> str:
        """README: GetVersionString() -> string, e.g. "19.1.3.7"."""
        return self.version

    def GetProductName(self) -> str:
        """README: GetProductName() -> string, "DaVinci Resolve" or "DaVinci Resolve Studio"."""
        return self.product

    def GetCurrentPage(self) -> str | None:
        """README: GetCurrentPage() -> String; ledger D018: None while a modal dialog is up."""
        return None if self.calls.modal else self.calls.page

    @setter
    def OpenPage(self, page: str) -> bool:
        """README: OpenPage(pageName) -> Bool, one of "media", "cut", "edit", "fusion", "color",
        "fairlight", "deliver"."""
        self._rec("OpenPage", page)
        if page not in self.PAGES:
            return False
        self.calls.page = page
        return True

    def free_upgrade_prompt(self) -> bool:
        """Issue 16 #1: the free Resolve 19.1 and later shows "upgrade to Studio" when a script
        reads ``fusion.UIManager`` (Studio and earlier versions do not)."""
        if "studio" in self.product.lower():
            return False
        major, minor = ([int(p) for p in re.findall(r"\d+", self.version)[:2]] + [0, 0])[:2]
        return (major, minor) >= (19, 1)


class FakeProjectManager(_Fake):
    def __init__(self, calls: Calls) -> None:
        super().__init__(calls)
        self.current: FakeProject | None = None
        self.projects: dict[str, FakeProject] = {}
        #: Builds the project ``CreateProject`` makes (a test gives it render/import behaviour).
        self.on_create_project: Callable[[str], FakeProject] | None = None

    @setter
    def CreateProject(self, name: str) -> FakeProject | None:
        """README: CreateProject(projectName) -> Project, "Creates and returns a project if
        projectName (text) is unique, and None if it is not"; it becomes the current one."""
        self._rec("CreateProject", name)
        if name in self.projects or (self.current is not None and self.current.name == name):
            return None
        if self.current is not None:
            self.projects.setdefault(self.current.name, self.current)
        project = (
            self.on_create_project(name)
            if self.on_create_project
            else FakeProject(self.calls, name)
        )
        self.projects[name] = self.current = project
        return project

    @setter
    def LoadProject(self, name: str) -> FakeProject | None:
        """README: LoadProject(projectName) -> Project, None when there is no such project."""
        self._rec("LoadProject", name)
        if self.current is not None:
            self.projects.setdefault(self.current.name, self.current)
        project = self.projects.get(name)
        if project is not None:
            self.current = project
        return project

    @setter
    def DeleteProject(self, name: str) -> bool:
        """README: DeleteProject(projectName) -> Bool, "Delete project in the current folder if
        not currently loaded"."""
        self._rec("DeleteProject", name)
        if self.current is not None and self.current.name == name:
            return False
        return self.projects.pop(name, None) is not None

    def GetCurrentProject(self) -> FakeProject | None:
        """README: GetCurrentProject() -> Project, the currently loaded project."""
        self._rec("GetCurrentProject")
        return self.current


class FakeProject(_Fake):
    def __init__(self, calls: Calls, name: str = "Show") -> None:
        super().__init__(calls)
        self.name = name
        self.media_pool = FakeMediaPool(calls)
        self.media_pool.project = self
        self.timelines: list[FakeTimeline] = []
        self._current: FakeTimeline | None = None
        self.codecs: dict[str, dict[str, str]] = {}
        self.format_codec = {"format": "mov", "codec": "ProRes422HQ"}
        self.render_mode = 0
        #: The Deliver page's settings as the artist left them. ``SetRenderSettings`` changes
        #: only the keys it is given (ledger D020: the API "exposes no getter"; a job renders
        #: "based on current render settings"), so whatever is not set is inherited.
        self.render_settings: dict = {"ExportAudio": True, "ExportSubtitle": True}
        #: Project data burn-in (Workspace ▸ Data Burn-In), on as a dailies project leaves it;
        #: README: LoadBurnInPreset(presetName) "Loads user defined data burn in preset".
        self.burn_in = True
        self.burn_in_presets: dict[str, bool] = {}
        #: Render presets by name (README: SaveAsNewRenderPreset / LoadRenderPreset /
        #: DeleteRenderPreset; ledger D020 restores the Deliver page through one).
        self.render_presets: dict[str, dict] = {}
        self.accept_settings = True
        self.accept_codec = True
        self.jobs: dict[str, dict] = {}
        #: job id → status dict, or a list of them answered in order (the last one repeats).
        self.job_status: dict[str, Any] = {}
        self.rendering = False
        self.start_ok = True
        #: What Resolve does when a job renders. Rendering is asynchronous: ``StartRendering``
        #: returns at once and the job runs while the script polls ``GetRenderJobStatus``
        #: (README: "IsRenderingInProgress() -> Bool"); the hook runs at the first poll.
        self.on_start_rendering: Callable[[FakeProject, list[str]], None] | None = None
        self._in_flight: list[str] = []
        self._job_ids = itertools.count(1)

    # The current timeline: ``project.timeline = tl`` adds it and makes it current.
    @property
    def timeline(self) -> FakeTimeline | None:
        return self._current

    @timeline.setter
    def timeline(self, timeline: FakeTimeline | None) -> None:
        if timeline is not None and timeline not in self.timelines:
            self.timelines.append(timeline)
            timeline.project = self
        self._current = timeline

    def GetName(self) -> str:
        """README: GetName() -> string."""
        return self.name

    def GetMediaPool(self) -> FakeMediaPool:
        """README: GetMediaPool() -> MediaPool."""
        return self.media_pool

    def GetCurrentTimeline(self) -> FakeTimeline | None:
        """README: GetCurrentTimeline() -> Timeline, the currently loaded timeline; the artist
        can switch it at any moment (issue 16 #4)."""
        self._rec("GetCurrentTimeline")
        return self._current

    def GetTimelineCount(self) -> int:
        """README: GetTimelineCount() -> int."""
        return len(self.timelines)

    def GetTimelineByIndex(self, index: int) -> FakeTimeline | None:
        """README: GetTimelineByIndex(idx) -> Timeline, 1 <= idx <= project.GetTimelineCount()."""
        return self.timelines[index - 1] if 1 <= index <= len(self.timelines) else None

    @setter
    def SetCurrentTimeline(self, timeline: FakeTimeline) -> bool:
        """README: SetCurrentTimeline(timeline) -> Bool, "Sets given timeline as current"."""
        self._rec("SetCurrentTimeline", timeline.name)
        if timeline not in self.timelines:
            return False
        self._current = timeline
        return True

    def GetRenderCodecs(self, render_format: str) -> dict:
        """README: GetRenderCodecs(renderFormat) -> {codec description: codec name}."""
        return dict(self.codecs.get(render_format, {}))

    def GetCurrentRenderFormatAndCodec(self) -> dict:
        """README: GetCurrentRenderFormatAndCodec() -> {"format": ..., "codec": ...}."""
        return dict(self.format_codec)

    @setter
    def SetCurrentRenderFormatAndCodec(self, render_format: str, codec: str) -> bool:
        """README: SetCurrentRenderFormatAndCodec(format, codec) -> Bool."""
        self._rec("SetCurrentRenderFormatAndCodec", render_format, codec)
        if self.accept_codec:
            self.format_codec = {"format": render_format, "codec": codec}
        return self.accept_codec

    def GetCurrentRenderMode(self) -> int:
        """README: GetCurrentRenderMode() -> int, 0 individual clips, 1 single clip."""
        return self.render_mode

    @setter
    def SetCurrentRenderMode(self, mode: int) -> bool:
        """README: SetCurrentRenderMode(renderMode) -> Bool."""
        self._rec("SetCurrentRenderMode", mode)
        self.render_mode = mode
        return True

    @setter
    def SetRenderSettings(self, settings: dict) -> bool:
        """README: SetRenderSettings({settings}) -> Bool; ledger D019: all or nothing, False for
        the whole dict when one key is refused. Keys not given keep the Deliver page's value."""
        self._rec("SetRenderSettings", dict(settings))
        if self.accept_settings:
            self.render_settings.update(settings)
        return self.accept_settings

    @setter
    def LoadBurnInPreset(self, name: str) -> bool:
        """README: LoadBurnInPreset(presetName) -> Bool, "Loads user defined data burn in preset
        for project"; False when there is no such preset."""
        self._rec("LoadBurnInPreset", name)
        if name not in self.burn_in_presets:
            return False
        self.burn_in = self.burn_in_presets[name]
        return True

    @setter
    def SaveAsNewRenderPreset(self, name: str) -> bool:
        """README: SaveAsNewRenderPreset(presetName) -> Bool, False when the name is taken."""
        self._rec("SaveAsNewRenderPreset", name)
        if name in self.render_presets:
            return False
        self.render_presets[name] = {
            "settings": dict(self.render_settings),
            "format_codec": dict(self.format_codec),
            "mode": self.render_mode,
        }
        return True

    @setter
    def LoadRenderPreset(self, name: str) -> bool:
        """README: LoadRenderPreset(presetName) -> Bool; ledger D020: loading the saved preset
        "restored the Deliver page exactly"."""
        self._rec("LoadRenderPreset", name)
        preset = self.render_presets.get(name)
        if preset is None:
            return False
        self.render_settings = dict(preset["settings"])
        self.format_codec = dict(preset["format_codec"])
        self.render_mode = preset["mode"]
        return True

    @setter
    def DeleteRenderPreset(self, name: str) -> bool:
        """README: DeleteRenderPreset(presetName) -> Bool."""
        self._rec("DeleteRenderPreset", name)
        return self.render_presets.pop(name, None) is not None

    @setter
    def AddRenderJob(self) -> str:
        """README: AddRenderJob() -> string, a job "based on current render settings"."""
        self._rec("AddRenderJob")
        job = f"job-{next(self._job_ids)}"
        self.jobs[job] = {
            "settings": dict(self.render_settings),
            **self.format_codec,
            "mode": self.render_mode,
            "burn_in": self.burn_in,
        }
        return job

    def GetRenderJobList(self) -> list[dict]:
        """README: GetRenderJobList() -> [render jobs]."""
        return list(self.jobs.values())

    @setter
    def DeleteRenderJob(self, job: str) -> bool:
        """README: DeleteRenderJob(jobId) -> Bool."""
        self._rec("DeleteRenderJob", job)
        return self.jobs.pop(job, None) is not None

    @setter
    def StartRendering(self, jobs: list[str], interactive: bool = False) -> bool:
        """README: StartRendering([jobIds...], isInteractiveMode=False) -> Bool. Returns at once;
        the render runs while the script polls (asynchronous)."""
        self._rec("StartRendering", list(jobs), interactive)
        if not self.start_ok:
            return False
        self.rendering = True
        for job in jobs:
            self.job_status.setdefault(job, {"JobStatus": "Rendering", "CompletionPercentage": 0})
        self._in_flight.extend(jobs)
        return True

    def GetRenderJobStatus(self, job: str) -> dict:
        """README: GetRenderJobStatus(jobId) -> {"JobStatus": ..., "CompletionPercentage": ...}."""
        self._rec("GetRenderJobStatus", job)
        if job in self._in_flight:  # the render runs now, between the script's polls
            self._in_flight.remove(job)
            if self.on_start_rendering:
                self.on_start_rendering(self, [job])
        status = self.job_status.get(job, {})
        if isinstance(status, list):
            status = dict(status.pop(0) if len(status) > 1 else status[0])
        if str(status.get("JobStatus", "")).lower() in ("complete", "failed", "cancelled"):
            self.rendering = bool(self._in_flight)
        return dict(status)

    def IsRenderingInProgress(self) -> bool:
        """README: IsRenderingInProgress() -> Bool."""
        return self.rendering

    def StopRendering(self) -> None:
        """README: StopRendering() -> None."""
        self._rec("StopRendering")
        self._in_flight.clear()
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
        self.project: FakeProject | None = None

    def is_current(self) -> bool:
        return self.project is not None and self.project.timeline is self

    def GetName(self) -> str:
        """README: GetName() -> string."""
        return self.name

    def GetUniqueId(self) -> str:
        """README: GetUniqueId() -> string; ledger D038: stable per timeline, a duplicate gets
        a new one."""
        return self.uid

    def GetStartFrame(self) -> int:
        """README: GetStartFrame() -> int, the timeline's first record frame."""
        return self.start_frame

    def GetSetting(self, key: str) -> str:
        """README: GetSetting(settingName) -> string ("timelineFrameRate"...)."""
        return self.settings.get(key, "")

    def GetTrackCount(self, track_type: str) -> int:
        """README: GetTrackCount(trackType) -> int."""
        return len(self.tracks) if track_type == "video" else 0

    def GetItemListInTrack(self, track_type: str, index: int) -> list:
        """README: GetItemListInTrack(trackType, index) -> list."""
        return list(self.tracks[index - 1])

    def GetCurrentVideoItem(self) -> FakeTimelineItem | None:
        """README: GetCurrentVideoItem() -> item under the playhead."""
        return self.current_item

    def GetMarkInOut(self) -> dict:
        """README (19.1+): GetMarkInOut() -> {"video": {"in": .., "out": ..}, "audio": ...}."""
        return dict(self.marks)

    def GetIsTrackEnabled(self, track_type: str, index: int) -> bool:
        """README: GetIsTrackEnabled(trackType, trackIndex) -> Bool."""
        return self.enabled[index - 1]

    @setter
    def SetTrackEnable(self, track_type: str, index: int, enabled: bool) -> bool:
        """README: SetTrackEnable(trackType, trackIndex, Bool) -> Bool."""
        self._rec("SetTrackEnable", track_type, index, enabled)
        self.enabled[index - 1] = enabled
        return True

    @setter
    def AddTrack(self, track_type: str, options: Any = None) -> bool:
        """README: AddTrack(trackType, optionalSubTrackType) -> Bool; 19+ also takes
        {"index": i} (newTrackOptions); earlier versions append on top."""
        self._rec("AddTrack", track_type, options)
        at = len(self.tracks)
        if self.insert_supported and isinstance(options, dict) and "index" in options:
            at = options["index"] - 1
        self.tracks.insert(at, [])
        self.enabled.insert(at, True)
        self.track_names.insert(at, f"Video {len(self.tracks)}")
        return True

    @setter
    def DeleteTrack(self, track_type: str, index: int) -> bool:
        """README: DeleteTrack(trackType, trackIndex) -> Bool."""
        self._rec("DeleteTrack", track_type, index)
        for lst in (self.tracks, self.enabled, self.track_names):
            lst.pop(index - 1)
        return True

    @setter
    def SetTrackName(self, track_type: str, index: int, name: str) -> bool:
        """README: SetTrackName(trackType, trackIndex, name) -> Bool."""
        self._rec("SetTrackName", track_type, index, name)
        self.track_names[index - 1] = name
        return True

    def GetTrackName(self, track_type: str, index: int) -> str:
        """README: GetTrackName(trackType, trackIndex) -> string."""
        return self.track_names[index - 1]

    @setter
    def DeleteClips(self, items: list, ripple: bool = False) -> bool:
        """README: DeleteClips([timelineItems], Bool) -> Bool, "Deletes specified TimelineItems
        from the timeline". Stricter than the README says: ledger D042 measured "called on a
        timeline that is not current it returns False and deletes nothing", and issue 16 #3
        reports False unless the Edit page is open."""
        self._rec("DeleteClips", list(items), ripple)
        if not self.is_current() or self.calls.page != "edit":
            return False
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
        """README: TimelineItem.GetName() -> string."""
        return self.name

    def GetStart(self) -> int:
        """README: GetStart() -> int, first record frame."""
        return self.start

    def GetEnd(self) -> int:
        """README: GetEnd() -> int, one past the last record frame (ledger D013)."""
        return self.start + self.duration

    def GetDuration(self) -> int:
        """README: GetDuration() -> int."""
        return self.duration

    def GetMediaPoolItem(self) -> FakeMediaPoolItem | None:
        """README: GetMediaPoolItem() -> MediaPoolItem; ledger D008: None for generators."""
        return self.media

    def GetFusionCompCount(self) -> int:
        """README: GetFusionCompCount() -> int."""
        return len(self.comps)

    def GetFusionCompByIndex(self, index: int) -> FakeFusionComp:
        """README: GetFusionCompByIndex(compIndex) -> fusionComp, 1-based."""
        return self.comps[index - 1]

    def GetUniqueId(self) -> str:
        """README: GetUniqueId() -> string; ledger D008: stable per instance."""
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
        """README: MediaPoolItem.GetName() -> string."""
        return self.name

    def GetClipProperty(self, key: str | None = None) -> Any:
        """README: GetClipProperty(propertyName=None) -> string|dict (all with no name)."""
        return dict(self.properties) if key is None else self.properties.get(key, "")

    @setter
    def SetClipProperty(self, key: str, value: str) -> bool:
        """README: SetClipProperty(propertyName, propertyValue) -> Bool."""
        self._rec("SetClipProperty", key, value)
        if self.accept_properties:
            self.properties[key] = value
        return self.accept_properties

    def GetUniqueId(self) -> str:
        """README: GetUniqueId() -> string."""
        return self.uid


class FakeFolder(_Fake):
    def __init__(self, calls: Calls, name: str, parent: FakeFolder | None = None) -> None:
        super().__init__(calls)
        self.name = name
        self.parent = parent
        self.clips: list[FakeMediaPoolItem] = []
        self.subfolders: list[FakeFolder] = []

    def GetName(self) -> str:
        """README: Folder.GetName() -> string."""
        return self.name

    def GetSubFolderList(self) -> list:
        """README: GetSubFolderList() -> [folders...]."""
        return list(self.subfolders)


class FakeMediaPool(_Fake):
    def __init__(self, calls: Calls) -> None:
        super().__init__(calls)
        self.root = FakeFolder(calls, "Master")
        self.current = self.root
        self.project: FakeProject | None = None
        #: ``ImportMedia(infos) -> [items]`` and ``AppendToTimeline(infos) -> [items]``, set by the test.
        self.on_import: Callable[[list[dict]], list] | None = None
        self.on_append: Callable[[list[dict]], list] | None = None

    @setter
    def CreateEmptyTimeline(self, name: str) -> FakeTimeline | None:
        """README: CreateEmptyTimeline(name) -> Timeline, "Adds new timeline with given name";
        it becomes the current timeline of the project that owns this pool."""
        self._rec("CreateEmptyTimeline", name)
        if self.project is None or any(t.name == name for t in self.project.timelines):
            return None
        timeline = FakeTimeline(self.calls, name, 86400, 1)
        self.project.timeline = timeline
        return timeline

    def GetRootFolder(self) -> FakeFolder:
        """README: GetRootFolder() -> Folder."""
        return self.root

    def GetCurrentFolder(self) -> FakeFolder:
        """README: GetCurrentFolder() -> Folder."""
        return self.current

    @setter
    def SetCurrentFolder(self, folder: FakeFolder) -> bool:
        """README: SetCurrentFolder(Folder) -> Bool."""
        self._rec("SetCurrentFolder", folder.name)
        self.current = folder
        return True

    @setter
    def AddSubFolder(self, parent: FakeFolder, name: str) -> FakeFolder:
        """README: AddSubFolder(folder, name) -> Folder."""
        self._rec("AddSubFolder", parent.name, name)
        folder = FakeFolder(self.calls, name, parent)
        parent.subfolders.append(folder)
        return folder

    @setter
    def DeleteFolders(self, folders: list) -> bool:
        """README: DeleteFolders([subfolders]) -> Bool."""
        self._rec("DeleteFolders", [f.name for f in folders])
        for f in folders:
            f.parent.subfolders.remove(f)
        return True

    @setter
    def ImportMedia(self, infos: list) -> list:
        """README: ImportMedia([{clipInfo}]) -> [MediaPoolItems], into the current folder;
        clipInfo "FilePath" (printf pattern), "StartIndex", "EndIndex" for a sequence."""
        self._rec("ImportMedia", [dict(i) if isinstance(i, dict) else i for i in infos])
        return self.on_import(infos) if self.on_import else []

    @setter
    def DeleteClips(self, clips: list) -> bool:
        """README: MediaPool.DeleteClips([clips]) -> Bool."""
        self._rec("DeleteClips", [c.name for c in clips])
        for c in clips:
            c.folder.clips.remove(c)
        return True

    @setter
    def AppendToTimeline(self, infos: list) -> list:
        """README: AppendToTimeline([{clipInfo}, ...]) -> [TimelineItem], "Appends list of
        clipInfos specified as dict of "mediaPoolItem", "startFrame" (int), "endFrame" (int),
        (optional) "mediaType" (int; 1 - Video only, 2 - Audio only), "trackIndex" (int) and
        "recordFrame" (int) to the current timeline" (the current one, whichever it is now)."""
        self._rec("AppendToTimeline", [dict(i) for i in infos])
        return self.on_append(infos) if self.on_append else []


# --------------------------------------------------------------------------- Fusion


class FakeFusion(_Fake):
    def __init__(self, calls: Calls, resolve: FakeResolve | None = None) -> None:
        super().__init__(calls)
        self.resolve = resolve
        self._ui: FakeUIManager | None = FakeUIManager(calls)

    @property
    def UIManager(self) -> FakeUIManager | None:  # noqa: N802 - Fusion's name
        """Fusion scripting: ``fusion.UIManager``. Issue 16 #1: reading it on the free Resolve
        19.1+ puts up the "upgrade to Studio" prompt, a modal dialog (see :func:`setter`), and
        gives no UIManager."""
        if self.resolve is not None and self.resolve.free_upgrade_prompt():
            self._rec("UIManager (upgrade to Studio prompt)")
            self.calls.modal = "upgrade to DaVinci Resolve Studio"
            return None
        return self._ui

    @UIManager.setter
    def UIManager(self, ui: FakeUIManager | None) -> None:  # noqa: N802
        self._ui = ui


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
        """Fusion: comp:GetToolList(selected, type) -> {index: tool}."""
        return {
            i: t
            for i, t in enumerate(
                (t for t in self.tools if not reg_id or t.reg_id == reg_id), start=1
            )
        }

    def GetAttrs(self, key: str | None = None) -> Any:
        """Fusion: comp:GetAttrs() -> {"COMPN_RenderStart": .., "COMPN_RenderEnd": ..}."""
        return dict(self.attrs) if key is None else self.attrs.get(key)

    def Render(self, options: dict) -> bool:
        """Fusion: comp:Render({Start=, End=, Wait=true}) -> Bool; renders the comp's Savers
        (issue 16 #2: the only way they write; a Deliver render does not run them)."""
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
        """Fusion: tool:GetAttrs() -> {"TOOLS_Name", "TOOLS_RegID", "TOOLB_PassThrough"...}."""
        return {
            "TOOLS_Name": self.name,
            "TOOLS_RegID": self.reg_id,
            "TOOLB_PassThrough": self.pass_through,
        }

    def SetAttrs(self, attrs: dict) -> None:
        """Fusion: tool:SetAttrs({TOOLB_PassThrough = false})."""
        self._rec("SetAttrs", self.name, dict(attrs))
        self.pass_through = attrs.get("TOOLB_PassThrough", self.pass_through)

    def GetInput(self, name: str) -> Any:
        """Fusion: tool:GetInput(id) -> value."""
        return self.inputs.get(name)

    def SetInput(self, name: str, value: Any) -> bool:
        """Fusion: tool:SetInput(id, value)."""
        self._rec("SetInput", self.name, name, value)
        self.inputs[name] = value
        return True

    def FindMainInput(self, index: int) -> FakeInput:
        """Fusion: tool:FindMainInput(1) -> Input."""
        return FakeInput(self.upstream)


class FakeInput:
    def __init__(self, tool: FakeTool | None) -> None:
        self.tool = tool

    def GetConnectedOutput(self) -> FakeOutput | None:
        """Fusion: input:GetConnectedOutput() -> Output or None."""
        return FakeOutput(self.tool) if self.tool else None


class FakeOutput:
    def __init__(self, tool: FakeTool) -> None:
        self.tool = tool

    def GetTool(self) -> FakeTool:
        """Fusion: output:GetTool() -> Tool."""
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
        """UIManager: ComboBox:AddItem(text)."""
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
        """UIManager: Timer:Start()."""
        self.__dict__["running"] = True

    def Stop(self) -> None:
        """UIManager: Timer:Stop()."""
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
        """UIManager: win:GetItems() -> {ID: element}."""
        found, stack = {}, [self.layout]
        while stack:
            w = stack.pop()
            if w.props.get("ID"):
                found[w.props["ID"]] = w
            stack.extend(w.children)
        return found

    def Show(self) -> None:
        """UIManager: win:Show()."""
        self.shown = True

    def Hide(self) -> None:
        """UIManager: win:Hide()."""
        self.shown = False


class FakeDispatcher(_Fake):
    def __init__(self, calls: Calls) -> None:
        super().__init__(calls)
        self.On = FakeEvents()
        self.window: FakeWindow | None = None
        #: What the artist does while Resolve's loop runs (the test clicks and ticks here).
        self.on_run_loop: Callable[[FakeDispatcher], None] | None = None
        #: Where this build delivers a Timer's Timeout (issue 16 #7): ``"dispatcher"``
        #: (``disp.On.Timeout``) or ``"id"`` (``win.On[timerID].Timeout``, as real scripts
        #: also register it).
        self.timer_route = "dispatcher"

    def AddWindow(self, props: dict, layout: FakeWidget) -> FakeWindow:
        """UIManager: disp:AddWindow({props}, layout) -> window."""
        self._rec("AddWindow", props.get("ID"))
        self.window = FakeWindow(self.calls, props, layout)
        return self.window

    def fire_timer(self, timer_id: str) -> bool:
        """One Timeout of the timer ``timer_id``, delivered the way this build does; False when
        nothing is registered there (the event is dropped, as UIManager drops it)."""
        handler: Any
        mine: Any = self.On
        if self.timer_route == "id":
            on: Any = self.window.On if self.window else None
            target: Any = on.targets.get(timer_id) if on is not None else None
            handler = target.targets.get("Timeout") if target is not None else None
        else:
            handler = mine.targets.get("Timeout")
        if isinstance(handler, FakeEvents) or not callable(handler):
            return False
        handler(None)
        return True

    def RunLoop(self) -> None:
        """UIManager: disp:RunLoop(), blocks until disp:ExitLoop()."""
        self._rec("RunLoop")
        if self.on_run_loop:
            self.on_run_loop(self)

    def ExitLoop(self) -> None:
        """UIManager: disp:ExitLoop()."""
        self._rec("ExitLoop")


class FakeBmd(_Fake):
    def __init__(self, calls: Calls, resolve: FakeResolve | None = None) -> None:
        super().__init__(calls)
        self.resolve = resolve
        self.dispatcher = FakeDispatcher(calls)

    def scriptapp(self, name: str) -> Any:
        """README: bmd.scriptapp("Resolve") -> Resolve (None when not reachable)."""
        return self.resolve if name == "Resolve" else None

    def UIDispatcher(self, ui: FakeUIManager) -> FakeDispatcher:
        """UIManager: bmd.UIDispatcher(ui) -> dispatcher."""
        return self.dispatcher
