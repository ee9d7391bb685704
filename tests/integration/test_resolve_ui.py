"""The two VOID Remove windows in Resolve: Resolve's own UIManager dialog (through the fake) and
the Qt one (pytest-qt, offscreen). Both drive the flow from a timer and never block."""

from __future__ import annotations

import time

import pytest

from tests.support.cli import VOID_REMOVE
from tests.support.fakes.resolve_scene import Scene, add_fusion_savers, make_scene
from tests.support.resolve_dialog import dialog_api, wait_for_run_end
from void_daemon.demo_shot import make_shot
from void_resolve.flow import RemoveFlow
from void_resolve.settings import ResolveSettings, form_values, settings_from_form

from void_resolve.api import Dialog, ResolveAPI  # isort: skip  (importable once resolve_scene has run)
from void_resolve.app import run_dialog  # isort: skip

JOB = {"window": 13, "overlap": 4, "dilation": 2, "feather": 4}


@pytest.fixture()
def scene() -> Scene:
    s = make_scene(make_shot(frames=6, width=64, height=48, seed=4))
    add_fusion_savers(s, affected=False)
    return s


def maker(api: ResolveAPI, base: ResolveSettings, tmp_path):
    def make_flow(values: dict) -> RemoveFlow:
        return RemoveFlow(
            api,
            settings_from_form(values, base),
            work_root=tmp_path / "work",
            poll_s=0.0,
            daemon_timeout_s=0.5,
            exe=VOID_REMOVE,  # the real worker process, as Resolve runs it
        )

    return make_flow


def base_settings(daemon, tmp_path, **kw) -> ResolveSettings:
    return ResolveSettings(
        endpoint=daemon.endpoint,
        autostart=False,
        output_root=str(tmp_path / "out"),
        job=dict(JOB),
        **kw,
    )


def test_resolve_dialog_runs_the_flow_from_its_timer(daemon, scene, tmp_path) -> None:
    bmd, api = dialog_api(scene)
    seen: dict = {}

    def artist(dispatcher) -> None:
        window = dispatcher.window
        items = window.GetItems()
        seen["choices"] = {k: list(items[k].items) for k in ("range", "matte", "engine")}
        seen["initial"] = (
            items["range"].CurrentIndex,
            items["matte"].CurrentIndex,
            items["engine"].CurrentIndex,
            items["pass2"].Checked,
            items["overwrite"].Checked,
        )
        items["matte"].CurrentIndex = 1  # Fusion Saver
        items["engine"].CurrentText = "propagate"
        items["prompt"].Text = "  an empty street  "
        window.On.run.Clicked(None)
        seen["running"] = (items["run"].Enabled, items["cancel"].Text)
        wait_for_run_end(dispatcher, items)
        seen["end"] = (items["progress"].Text, items["status"].Text, items["cancel"].Text)
        window.On[Dialog.WINDOW_ID].Close(None)

    bmd.dispatcher.on_run_loop = artist
    assert (
        run_dialog(
            api, maker(api, base_settings(daemon, tmp_path), tmp_path), ResolveSettings(pass2=True)
        )
        == 0
    )

    assert seen["choices"]["range"] == ["Clip, or In/Out when marked", "Whole clip", "In/Out marks"]
    assert seen["choices"]["matte"][1] == "Fusion Saver in the clip's comp" and seen["choices"][
        "engine"
    ] == ["propagate", "void"]
    # From the settings handed in; the matte defaults to the clip on the track above (#2).
    assert seen["initial"] == (0, 2, 0, True, False)
    assert seen["running"] == (False, "Cancel")
    bar, status, button = seen["end"]
    assert bar.endswith("100%") and status.startswith(
        "Done: 'A001_C002_mov_void_v001.[86400-86405].exr' on V2 at frame 86400"
    )
    assert button == "Close"
    assert scene.calls.names()[-1] == "Dispatcher.ExitLoop"
    [placed] = scene.timeline.tracks[1]
    assert placed.start == 86400


def test_resolve_dialog_cancel_undoes_and_says_so(daemon, scene, tmp_path) -> None:
    bmd, api = dialog_api(scene)

    def start(p, jobs):  # a render that never finishes on its own
        p.rendering = True
        p.job_status[jobs[0]] = {"JobStatus": "Rendering", "CompletionPercentage": 25}

    scene.project.on_start_rendering = start
    seen = {}

    def artist(dispatcher) -> None:
        items = dispatcher.window.GetItems()
        items["matte"].CurrentIndex = 1  # Fusion Saver (the scene's matte)
        dispatcher.window.On.run.Clicked(None)
        for _ in range(3):
            dispatcher.On.Timeout(None)
        seen["rendering"] = items["status"].Text
        dispatcher.window.On.cancel.Clicked(None)
        dispatcher.On.Timeout(None)
        seen["after"] = (items["status"].Text, items["run"].Enabled)
        dispatcher.window.On.cancel.Clicked(None)  # idle now: Close

    bmd.dispatcher.on_run_loop = artist
    run_dialog(api, maker(api, base_settings(daemon, tmp_path), tmp_path))
    assert seen["rendering"] == "Resolve is rendering the plate: 25%"
    assert seen["after"] == ("Cancelled; the project is as it was", True)
    assert (
        scene.project.jobs == {} and not scene.project.rendering and len(scene.timeline.tracks) == 1
    )
    assert scene.calls.names().count("Dispatcher.ExitLoop") == 1


def test_qt_window_runs_and_shows_progress(qtbot, daemon, scene, tmp_path) -> None:
    from void_resolve.qt_window import RemoveWindow

    api = ResolveAPI(scene.resolve, scene.resolve.fusion)
    window = RemoveWindow(maker(api, base_settings(daemon, tmp_path), tmp_path))
    qtbot.addWidget(window)
    window.set_values(form_values(ResolveSettings(matte="fusion", prompt="a wall", overwrite=True)))
    assert window.values() == {
        "range": 0,
        "matte": 1,
        "engine": "propagate",
        "prompt": "a wall",
        "pass2": False,
        "overwrite": True,
        "preset": "custom",
        "plate_part": "",
        "view": "",
    }
    assert settings_from_form(window.values()).overwrite is True
    window.run_button.click()
    assert not window.run_button.isEnabled() and window.cancel_button.text() == "Cancel"
    qtbot.waitUntil(lambda: window.run_button.isEnabled(), timeout=60000)
    assert window.status.text().startswith("Done:") and window.progress.value() == 1000
    [placed] = scene.timeline.tracks[1]
    assert placed.duration == 6


def test_closing_the_qt_window_mid_run_undoes(qtbot, daemon, scene, tmp_path) -> None:
    from void_resolve.qt_window import RemoveWindow

    def start(p, jobs):
        p.rendering = True
        p.job_status[jobs[0]] = {"JobStatus": "Rendering", "CompletionPercentage": 5}

    scene.project.on_start_rendering = start
    api = ResolveAPI(scene.resolve, scene.resolve.fusion)
    window = RemoveWindow(maker(api, base_settings(daemon, tmp_path), tmp_path))
    qtbot.addWidget(window)
    window.set_values(form_values(ResolveSettings(matte="fusion")))
    window.show()
    window.run_button.click()
    qtbot.waitUntil(lambda: "rendering the plate" in window.status.text(), timeout=30000)
    window.close()
    assert scene.project.jobs == {} and not scene.project.rendering
    assert scene.calls.names().count("Project.StopRendering") == 1 and all(scene.timeline.enabled)


def test_a_build_that_sends_the_timer_to_its_id_still_runs(daemon, scene, tmp_path) -> None:
    """Issue 16 #7: some builds deliver a Timer's Timeout to ``win.On[timerID]`` rather than
    ``disp.On.Timeout``; the dialog must not stay at "starting"."""
    bmd, api = dialog_api(scene)
    bmd.dispatcher.timer_route = "id"
    seen = {}

    def artist(dispatcher) -> None:
        items = dispatcher.window.GetItems()
        items["engine"].CurrentText = "propagate"  # the fake's combo box keeps no text itself
        items["matte"].CurrentIndex = 1  # Fusion Saver (the scene's matte)
        dispatcher.window.On.run.Clicked(None)
        deadline = time.monotonic() + 60
        while not items["run"].Enabled and time.monotonic() < deadline:
            if not dispatcher.fire_timer(Dialog.TIMER_ID):
                break  # nobody listens there: the run would never leave "starting"
            time.sleep(0.005)
        seen["status"] = items["status"].Text
        dispatcher.window.On[Dialog.WINDOW_ID].Close(None)

    bmd.dispatcher.on_run_loop = artist
    run_dialog(api, maker(api, base_settings(daemon, tmp_path), tmp_path))
    assert seen["status"].startswith("Done: "), seen["status"]


def test_a_worker_failure_is_shown_in_the_dialog(daemon, tmp_path) -> None:
    """The job runs in the void-remove worker; its ``failed`` event (here the daemon's refusal
    of a matte that is empty on every frame) is what the artist reads in Resolve's dialog, and
    the project is left as it was."""
    import dataclasses

    import numpy as np

    from tests.support.fakes.resolve_scene import NO_BURN_IN, add_matte_clip

    shot = make_shot(frames=6, width=64, height=48, seed=4)
    scene = make_scene(dataclasses.replace(shot, remove=np.zeros_like(shot.remove)), tracks=2)
    add_matte_clip(scene, 2, "ball matte")
    bmd, api = dialog_api(scene)
    seen = {}

    def artist(dispatcher) -> None:
        items = dispatcher.window.GetItems()
        items["engine"].CurrentText = "propagate"  # the fake's combo box keeps no text itself
        dispatcher.window.On.run.Clicked(None)  # the default matte: the clip on the track above
        wait_for_run_end(dispatcher, items)
        seen["status"] = items["status"].Text
        dispatcher.window.On[Dialog.WINDOW_ID].Close(None)

    bmd.dispatcher.on_run_loop = artist
    # (Without the empty burn-in preset, the fake burns data into the matte's top rows, as
    # Resolve would: the matte would not be empty.)
    base = base_settings(daemon, tmp_path, burn_in_preset=NO_BURN_IN)
    run_dialog(api, maker(api, base, tmp_path))
    assert seen["status"].startswith("Failed: ") and "empty on every frame" in seen["status"]
    assert len(scene.timeline.tracks) == 2 and scene.project.media_pool.root.subfolders == []
