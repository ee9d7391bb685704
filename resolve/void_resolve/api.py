"""The seam: every call VOID Remove makes into DaVinci Resolve and Fusion, and nothing else.

Each method is one Resolve call, or a short read of several into a plain record from
:mod:`void_resolve.records`. Nothing is decided here: what to render, which matte, where the
clean plate goes and what to undo live in the decision modules (:mod:`~void_resolve.selection`,
:mod:`~void_resolve.mattes`, :mod:`~void_resolve.render`, :mod:`~void_resolve.placement`,
:mod:`~void_resolve.rollback`) and are tested against a fake of the Resolve objects passed to
:class:`ResolveAPI` (``tests/support/fakes/fake_resolve.py``).

Resolve's objects are opaque handles to the rest of the code; only this module calls them.
"""

import importlib
import logging
import os
import platform
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from void_resolve.locations import scripting_api_dirs
from void_resolve.records import (
    HOST_FAILED,
    NOTHING_SELECTED,
    ItemInfo,
    ResolveError,
    SaverInfo,
    TimelineInfo,
)
from void_resolve.rollback import progress_bar
from void_resolve.settings import (
    CUSTOM_PRESET,
    OVERWRITE_LABEL,
    PLATE_PART_HINT,
    PLATE_PART_TIP,
    PRESET_TIP,
    VIEW_HINT,
    VIEW_TIP,
    form_note,
    preset_pass2,
    uimanager_allowed,
)

log = logging.getLogger(__name__)

VIDEO = "video"


def connect(
    namespace: Optional[Mapping[str, Any]] = None, env: Optional[Mapping[str, str]] = None
) -> "ResolveAPI":
    """The Resolve objects a script can reach, inside Resolve or outside it.

    Inside (Workspace ▸ Scripts, the Console) Resolve puts ``resolve``, ``fusion`` and ``bmd``
    into the script's globals. Outside (Studio, with external scripting allowed), they come from
    Blackmagic's ``DaVinciResolveScript`` module, found through ``$RESOLVE_SCRIPT_API``.
    """
    ns = dict(namespace or {})
    env = os.environ if env is None else env
    resolve, fusion, bmd = ns.get("resolve"), ns.get("fusion") or ns.get("fu"), ns.get("bmd")
    if resolve is None and bmd is not None:
        resolve = bmd.scriptapp("Resolve")
    why = ""
    if resolve is None:
        try:
            bmd = bmd or _import_scripting_module(env)
            resolve = bmd.scriptapp("Resolve")
            why = "Resolve is not running, or Preferences ▸ System ▸ General ▸ External scripting using is set to None"
        except ImportError as exc:
            why = f"Blackmagic's DaVinciResolveScript module cannot be loaded ({exc})"
    if resolve is None:
        raise ResolveError(
            NOTHING_SELECTED,
            f"VOID Remove needs DaVinci Resolve: {why}. Run it from Workspace ▸ Scripts ▸ VOID Remove, or, with "
            "DaVinci Resolve Studio running, set RESOLVE_SCRIPT_API and RESOLVE_SCRIPT_LIB as in Resolve's scripting README",
            "resolve",
        )
    if fusion is None:
        fusion = resolve.Fusion()
    return ResolveAPI(resolve, fusion, bmd)


def _import_scripting_module(env: Mapping[str, str]) -> Any:
    try:
        return importlib.import_module("DaVinciResolveScript")
    except ImportError:
        pass
    for folder in scripting_api_dirs(platform.system(), env):
        modules = os.path.join(str(folder), "Modules")
        if os.path.isdir(modules) and modules not in sys.path:
            sys.path.append(modules)
    importlib.invalidate_caches()
    return importlib.import_module("DaVinciResolveScript")


class ResolveAPI:
    """One instance per run; ``resolve``, ``fusion`` and ``bmd`` as Resolve provides them."""

    def __init__(self, resolve: Any, fusion: Any = None, bmd: Any = None) -> None:
        self.resolve = resolve
        self.fusion = fusion
        self.bmd = bmd

    # ------------------------------------------------------------------ project and timeline
    def version(self) -> str:
        return str(self.resolve.GetVersionString() or "")

    def product(self) -> str:
        return str(self.resolve.GetProductName() or "")

    def project_manager(self) -> Any:
        return self.resolve.GetProjectManager()

    def create_project(self, name: str) -> Any:
        """README: CreateProject(projectName) -> Project, None when the name is taken."""
        return self.project_manager().CreateProject(name)

    def load_project(self, name: str) -> Any:
        return self.project_manager().LoadProject(name)

    def delete_project(self, name: str) -> bool:
        return bool(self.project_manager().DeleteProject(name))

    def create_timeline(self, pool: Any, name: str) -> Any:
        """README: MediaPool.CreateEmptyTimeline(name) -> Timeline."""
        return pool.CreateEmptyTimeline(name)

    def current_project(self) -> Any:
        manager = self.resolve.GetProjectManager()
        return manager.GetCurrentProject() if manager else None

    def project_name(self, project: Any) -> str:
        return str(project.GetName() or "")

    def current_timeline(self, project: Any) -> Any:
        return project.GetCurrentTimeline()

    def timeline_uid(self, timeline: Any) -> str:
        return str(timeline.GetUniqueId() or "")

    def timelines(self, project: Any) -> List[Any]:
        """README: GetTimelineByIndex(idx), 1 <= idx <= GetTimelineCount()."""
        count = int(project.GetTimelineCount() or 0)
        return [t for t in (project.GetTimelineByIndex(i) for i in range(1, count + 1)) if t]

    def set_current_timeline(self, project: Any, timeline: Any) -> bool:
        return bool(project.SetCurrentTimeline(timeline))

    def current_page(self) -> str:
        return str(self.resolve.GetCurrentPage() or "")

    def open_page(self, page: str) -> bool:
        """README: OpenPage(pageName) -> Bool. Edits need the Edit page (issue 16 #3)."""
        return bool(self.resolve.OpenPage(page))

    def timeline_info(self, timeline: Any) -> TimelineInfo:
        get_marks = getattr(timeline, "GetMarkInOut", None)  # Resolve 19.1 and later
        marks = get_marks() if callable(get_marks) else {}
        return TimelineInfo(
            name=str(timeline.GetName() or ""),
            start_frame=int(timeline.GetStartFrame()),
            frame_rate=str(timeline.GetSetting("timelineFrameRate") or ""),
            width=str(timeline.GetSetting("timelineResolutionWidth") or ""),
            height=str(timeline.GetSetting("timelineResolutionHeight") or ""),
            video_tracks=int(timeline.GetTrackCount(VIDEO) or 0),
            marks=dict(marks or {}),
            drop_frame=str(timeline.GetSetting("timelineDropFrameTimecode") or ""),
        )

    def video_items(self, timeline: Any, track: int) -> List[Any]:
        return list(timeline.GetItemListInTrack(VIDEO, track) or [])

    def current_video_item(self, timeline: Any) -> Any:
        return timeline.GetCurrentVideoItem()

    def item_uid(self, item: Any) -> str:
        return str(item.GetUniqueId() or "")

    def item_info(self, item: Any, track: int) -> ItemInfo:
        media = item.GetMediaPoolItem()
        return ItemInfo(
            name=str(item.GetName() or ""),
            track=track,
            start=int(item.GetStart()),
            duration=int(item.GetDuration()),
            uid=str(item.GetUniqueId() or ""),
            resolution=str(media.GetClipProperty("Resolution") or "") if media else "",
            has_media=media is not None,
            comp_count=int(item.GetFusionCompCount() or 0),
            handle=item,
        )

    # ------------------------------------------------------------------ tracks
    def track_enabled(self, timeline: Any, track: int) -> bool:
        return bool(timeline.GetIsTrackEnabled(VIDEO, track))

    def set_track_enabled(self, timeline: Any, track: int, enabled: bool) -> bool:
        return bool(timeline.SetTrackEnable(VIDEO, track, enabled))

    def video_track_count(self, timeline: Any) -> int:
        return int(timeline.GetTrackCount(VIDEO) or 0)

    def append_video_track(self, timeline: Any) -> bool:
        return bool(timeline.AddTrack(VIDEO))

    def insert_video_track(self, timeline: Any, index: int) -> bool:
        return bool(timeline.AddTrack(VIDEO, {"index": index}))

    def delete_video_track(self, timeline: Any, index: int) -> bool:
        return bool(timeline.DeleteTrack(VIDEO, index))

    def set_track_name(self, timeline: Any, index: int, name: str) -> bool:
        return bool(timeline.SetTrackName(VIDEO, index, name))

    def delete_timeline_items(self, timeline: Any, items: List[Any]) -> bool:
        return bool(timeline.DeleteClips(list(items), False))

    # ------------------------------------------------------------------ Fusion comps
    def fusion_savers(self, item: Any) -> List[SaverInfo]:
        out = []
        for index in range(1, int(item.GetFusionCompCount() or 0) + 1):
            comp = item.GetFusionCompByIndex(index)
            for tool in (comp.GetToolList(False, "Saver") or {}).values():
                out.append(
                    SaverInfo(
                        str(tool.GetAttrs()["TOOLS_Name"]), index, self._upstream(tool), tool, comp
                    )
                )
        return out

    def _upstream(self, tool: Any, depth: int = 32) -> Tuple[str, ...]:
        """``TOOLS_RegID`` of the tools up the chain of main inputs feeding ``tool``."""
        ids = []
        for _ in range(depth):
            main = tool.FindMainInput(1)
            output = main.GetConnectedOutput() if main else None
            tool = output.GetTool() if output else None
            if tool is None:
                break
            ids.append(str(tool.GetAttrs()["TOOLS_RegID"]))
        return tuple(ids)

    def comp_render_range(self, comp: Any) -> Tuple[Any, Any]:
        attrs = comp.GetAttrs()
        return attrs.get("COMPN_RenderStart"), attrs.get("COMPN_RenderEnd")

    def saver_state(self, saver: Any) -> dict:
        return {
            "Clip": saver.GetInput("Clip"),
            "OutputFormat": saver.GetInput("OutputFormat"),
            "TOOLB_PassThrough": bool(saver.GetAttrs()["TOOLB_PassThrough"]),
        }

    def point_saver(self, saver: Any, path: str) -> None:
        saver.SetInput("Clip", path)
        saver.SetInput("OutputFormat", "OpenEXRFormat")
        saver.SetAttrs({"TOOLB_PassThrough": False})

    def restore_saver(self, saver: Any, state: Mapping[str, Any]) -> None:
        saver.SetInput("Clip", state["Clip"])
        saver.SetInput("OutputFormat", state["OutputFormat"])
        saver.SetAttrs({"TOOLB_PassThrough": state["TOOLB_PassThrough"]})

    def render_comp(self, comp: Any, start: int, end: int) -> bool:
        # Fusion's comp:Render{Start, End, Wait}: the only render that runs Savers (issue 16 #2).
        return bool(comp.Render({"Start": start, "End": end, "Wait": True}))

    # ------------------------------------------------------------------ render queue
    def render_codecs(self, project: Any, render_format: str) -> dict:
        return dict(project.GetRenderCodecs(render_format) or {})

    def render_format_and_codec(self, project: Any) -> dict:
        return dict(project.GetCurrentRenderFormatAndCodec() or {})

    def set_render_format_and_codec(self, project: Any, render_format: str, codec: str) -> bool:
        return bool(project.SetCurrentRenderFormatAndCodec(render_format, codec))

    def render_mode(self, project: Any) -> int:
        return int(project.GetCurrentRenderMode())

    def set_render_mode(self, project: Any, mode: int) -> bool:
        return bool(project.SetCurrentRenderMode(mode))

    def set_render_settings(self, project: Any, settings: Mapping[str, Any]) -> bool:
        return bool(project.SetRenderSettings(dict(settings)))

    def load_burn_in_preset(self, project: Any, name: str) -> bool:
        """README: LoadBurnInPreset(presetName) "Loads user defined data burn in preset"."""
        return bool(project.LoadBurnInPreset(name))

    def save_render_preset(self, project: Any, name: str) -> bool:
        return bool(project.SaveAsNewRenderPreset(name))

    def load_render_preset(self, project: Any, name: str) -> bool:
        return bool(project.LoadRenderPreset(name))

    def delete_render_preset(self, project: Any, name: str) -> bool:
        return bool(project.DeleteRenderPreset(name))

    def add_render_job(self, project: Any) -> str:
        return str(project.AddRenderJob() or "")

    def start_rendering(self, project: Any, job_id: str) -> bool:
        return bool(project.StartRendering([job_id], False))

    def render_status(self, project: Any, job_id: str) -> dict:
        return dict(project.GetRenderJobStatus(job_id) or {})

    def rendering(self, project: Any) -> bool:
        return bool(project.IsRenderingInProgress())

    def stop_rendering(self, project: Any) -> None:
        project.StopRendering()

    def delete_render_job(self, project: Any, job_id: str) -> bool:
        return bool(project.DeleteRenderJob(job_id))

    # ------------------------------------------------------------------ media pool
    def media_pool(self, project: Any) -> Any:
        return project.GetMediaPool()

    def root_folder(self, pool: Any) -> Any:
        return pool.GetRootFolder()

    def sub_folders(self, folder: Any) -> Dict[str, Any]:
        return {str(f.GetName()): f for f in (folder.GetSubFolderList() or [])}

    def add_sub_folder(self, pool: Any, parent: Any, name: str) -> Any:
        return pool.AddSubFolder(parent, name)

    def delete_folders(self, pool: Any, folders: List[Any]) -> bool:
        return bool(pool.DeleteFolders(list(folders)))

    def current_folder(self, pool: Any) -> Any:
        return pool.GetCurrentFolder()

    def set_current_folder(self, pool: Any, folder: Any) -> bool:
        return bool(pool.SetCurrentFolder(folder))

    def import_media(self, pool: Any, clip_infos: List[dict]) -> List[Any]:
        return list(pool.ImportMedia(list(clip_infos)) or [])

    def clip_properties(self, media_item: Any) -> dict:
        return dict(media_item.GetClipProperty() or {})

    def set_clip_property(self, media_item: Any, key: str, value: str) -> bool:
        return bool(media_item.SetClipProperty(key, value))

    def media_name(self, media_item: Any) -> str:
        return str(media_item.GetName() or "")

    def delete_media(self, pool: Any, media_items: List[Any]) -> bool:
        return bool(pool.DeleteClips(list(media_items)))

    def append_to_timeline(self, pool: Any, clip_infos: List[dict]) -> List[Any]:
        return list(pool.AppendToTimeline(list(clip_infos)) or [])

    # ------------------------------------------------------------------ UIManager
    def ui_manager_allowed(self) -> bool:
        """Whether reading ``fusion.UIManager`` is safe: the free Resolve 19.1 and later puts up
        an "upgrade to Studio" prompt when a script reads it (issue 16 #1), so the edition is
        checked first, from the product name and version alone."""
        return uimanager_allowed(self.product(), self.version())

    def has_ui_manager(self) -> bool:
        if not self.ui_manager_allowed():
            return False  # never touch UIManager where reading it prompts
        try:
            return (
                self.fusion is not None
                and self.bmd is not None
                and self.fusion.UIManager is not None
            )
        except Exception:  # noqa: BLE001 - a refused attribute means no UI
            return False

    def dialog(self, title: str, choices: Mapping[str, List[str]]) -> "Dialog":
        if not self.ui_manager_allowed():
            raise ResolveError(
                HOST_FAILED,
                f"{self.product()} {self.version()} has no scripting dialogs (it would show an "
                "upgrade prompt); run with VOID_RESOLVE_UI=console or install PySide6",
                "ui",
            )
        ui = self.fusion.UIManager
        if ui is None:
            raise ResolveError(HOST_FAILED, "Resolve gave no UIManager", "ui")
        return Dialog(ui, self.bmd, title, choices)


class Dialog:
    """Resolve's own window (UIManager): range, matte, preset, engine, prompt with the
    missing-prompt warning, pass 2, overwrite, plate part and view (issue 21), Panel…/Run/Cancel,
    progress.

    UIManager has no progress widget, so progress is a text bar in a label.
    """

    WINDOW_ID = "VoidRemoveWindow"
    TIMER_ID = "VoidRemoveTick"

    def __init__(self, ui: Any, bmd: Any, title: str, choices: Mapping[str, List[str]]) -> None:
        self.ui = ui
        self.choices = {k: list(v) for k, v in choices.items()}
        self.dispatcher = bmd.UIDispatcher(ui)

        def row(label: str, widget: Any) -> Any:
            return ui.HGroup(
                {"Weight": 0},
                [ui.Label({"Text": label, "Weight": 0, "MinimumSize": [90, 0]}), widget],
            )

        self.window = self.dispatcher.AddWindow(
            {"ID": self.WINDOW_ID, "WindowTitle": title, "Geometry": [200, 200, 520, 360]},
            ui.VGroup(
                {"Spacing": 6},
                [
                    row("Range", ui.ComboBox({"ID": "range"})),
                    row("Matte", ui.ComboBox({"ID": "matte"})),
                    row("Preset", ui.ComboBox({"ID": "preset", "ToolTip": PRESET_TIP})),
                    row("Engine", ui.ComboBox({"ID": "engine"})),
                    row(
                        "Prompt",
                        ui.LineEdit(
                            {
                                "ID": "prompt",
                                "PlaceholderText": "what the background looks like (void engine)",
                            }
                        ),
                    ),
                    # the missing-prompt warning, refreshed as engine and prompt change
                    ui.Label({"ID": "note", "Text": "", "WordWrap": True, "Weight": 0}),
                    ui.CheckBox(
                        {
                            "ID": "pass2",
                            "Text": "Pass 2 (warped-noise refinement, void engine)",
                            "Weight": 0,
                        }
                    ),
                    ui.CheckBox({"ID": "overwrite", "Text": OVERWRITE_LABEL, "Weight": 0}),
                    row(
                        "Plate part",
                        ui.LineEdit(
                            {
                                "ID": "plate_part",
                                "PlaceholderText": PLATE_PART_HINT,
                                "ToolTip": PLATE_PART_TIP,
                            }
                        ),
                    ),
                    row(
                        "View",
                        ui.LineEdit(
                            {"ID": "view", "PlaceholderText": VIEW_HINT, "ToolTip": VIEW_TIP}
                        ),
                    ),
                    ui.Label({"ID": "progress", "Text": "", "Weight": 0}),
                    ui.Label({"ID": "status", "Text": "", "WordWrap": True}),
                    ui.HGroup(
                        {"Weight": 0},
                        [
                            # void-remove panel in its own process (void_resolve.panel_launch)
                            ui.Button({"ID": "panel", "Text": "Panel…", "Weight": 0}),
                            ui.Button({"ID": "run", "Text": "Run"}),
                            ui.Button({"ID": "cancel", "Text": "Cancel"}),
                        ],
                    ),
                ],
            ),
        )
        self.items = self.window.GetItems()
        for key, options in choices.items():
            for text in options:
                self.items[key].AddItem(text)
        self.timer = ui.Timer({"ID": self.TIMER_ID, "Interval": 250})

    def values(self) -> dict:
        return {
            "range": int(self.items["range"].CurrentIndex),
            "matte": int(self.items["matte"].CurrentIndex),
            "engine": str(self.items["engine"].CurrentText),
            "prompt": str(self.items["prompt"].Text),
            "pass2": bool(self.items["pass2"].Checked),
            "overwrite": bool(self.items["overwrite"].Checked),
            "preset": self.preset_name(),
            "plate_part": str(self.items["plate_part"].Text or ""),
            "view": str(self.items["view"].Text or ""),
        }

    def preset_name(self) -> str:
        presets = self.choices.get("preset") or [CUSTOM_PRESET]
        index = int(self.items["preset"].CurrentIndex or 0)
        return presets[index] if 0 <= index < len(presets) else CUSTOM_PRESET

    def refresh_note(self, *_: Any) -> None:
        """Show the missing-prompt warning while the engine reads a prompt and none is given."""
        self.items["note"].Text = form_note(self.values())

    def preset_chosen(self, *_: Any) -> None:
        """A preset was picked: the pass 2 box follows it (its other fields go to the job)."""
        wanted = preset_pass2(self.preset_name())
        if wanted is not None:
            self.items["pass2"].Checked = wanted

    def pass2_clicked(self, *_: Any) -> None:
        """The pass 2 box was changed by hand: the preset is custom once they disagree."""
        wanted = preset_pass2(self.preset_name())
        if wanted is not None and wanted != bool(self.items["pass2"].Checked):
            presets = self.choices.get("preset") or [CUSTOM_PRESET]
            self.items["preset"].CurrentIndex = presets.index(CUSTOM_PRESET)

    def set_values(self, values: Mapping[str, Any]) -> None:
        self.items["range"].CurrentIndex = int(values["range"])
        self.items["matte"].CurrentIndex = int(values["matte"])
        engines = self.choices["engine"]
        self.items["engine"].CurrentIndex = (
            engines.index(values["engine"]) if values["engine"] in engines else 0
        )
        self.items["prompt"].Text = str(values["prompt"])
        self.items["pass2"].Checked = bool(values["pass2"])
        self.items["overwrite"].Checked = bool(values.get("overwrite", False))
        self.items["plate_part"].Text = str(values.get("plate_part") or "")
        self.items["view"].Text = str(values.get("view") or "")
        presets = self.choices.get("preset") or [CUSTOM_PRESET]
        preset = str(values.get("preset", CUSTOM_PRESET))
        self.items["preset"].CurrentIndex = presets.index(preset) if preset in presets else 0
        self.refresh_note()

    def show_progress(self, fraction: float, message: str) -> None:
        self.items["progress"].Text = progress_bar(fraction)
        self.items["status"].Text = message

    def set_running(self, running: bool) -> None:
        self.items["run"].Enabled = not running
        self.items["cancel"].Text = "Cancel" if running else "Close"

    def run(
        self,
        on_run: Callable[[], None],
        on_cancel: Callable[[], None],
        on_tick: Callable[[], None],
        on_close: Callable[[], None],
        on_panel: Optional[Callable[[], str]] = None,
    ) -> None:
        """Show the window and block in Resolve's event loop until it is closed. ``on_panel``
        (the Panel… button) returns the line to show in the status."""
        self.window.On.run.Clicked = lambda ev: on_run()
        if on_panel is not None:

            def panel_clicked(ev: Any) -> None:
                self.items["status"].Text = on_panel()

            self.window.On.panel.Clicked = panel_clicked
        self.window.On.cancel.Clicked = lambda ev: on_cancel()
        self.window.On[self.WINDOW_ID].Close = lambda ev: on_close()
        self.window.On.engine.CurrentIndexChanged = self.refresh_note
        self.window.On.prompt.TextChanged = self.refresh_note
        self.window.On.preset.CurrentIndexChanged = self.preset_chosen
        self.window.On.pass2.Clicked = self.pass2_clicked
        # Builds deliver a Timer's Timeout either to the dispatcher or to the timer's ID; register
        # both (issue 16 #7), or the run never leaves "starting" on the other kind.
        self.dispatcher.On.Timeout = lambda ev: on_tick()
        self.window.On[self.TIMER_ID].Timeout = lambda ev: on_tick()
        self.window.Show()
        self.timer.Start()
        try:
            self.dispatcher.RunLoop()
        finally:
            self.timer.Stop()
            self.window.Hide()

    def close(self) -> None:
        self.dispatcher.ExitLoop()
