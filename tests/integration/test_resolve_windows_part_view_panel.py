"""Both Resolve windows (Resolve's own UIManager dialog through the fake, and the Qt window
offscreen) carry the issue 21 settings, plate part and view, to the worker's command line
unchanged (``--plate PATTERN:part/``, ``--view``), and have a Panel… button that starts
``void-remove panel`` as its own process, the ``void-remove`` that ``void_hostlink`` finds
(issue 16: the client never loads in Resolve's Python).

The worker here is a fake executable that records its command line (tests/support/fakes/
fake_void_remove.py) and ends every run with ``failed``: these tests check what the windows ask
for; tests/integration/test_resolve_ui.py runs the real worker and daemon.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.fakes.fake_void_remove import (
    FAILED_MESSAGE,
    LOG_ENV,
    make_fake_void_remove,
    recorded,
)
from tests.support.fakes.resolve_scene import Scene, add_fusion_savers, make_scene
from tests.support.resolve_dialog import dialog_api, wait_for_run_end
from void_daemon.demo_shot import make_shot
from void_resolve.flow import RemoveFlow
from void_resolve.settings import ResolveSettings, form_values, settings_from_form

from void_resolve.api import Dialog, ResolveAPI  # isort: skip  (importable once resolve_scene has run)
from void_resolve.app import run_dialog  # isort: skip

ENDPOINT = "tcp://127.0.0.1:5999"  # nothing listens: the fake worker never connects


@pytest.fixture()
def scene() -> Scene:
    s = make_scene(make_shot(frames=4, width=48, height=32, seed=5))
    add_fusion_savers(s, affected=False)
    return s


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The fake ``void-remove`` (also as ``$VOID_REMOVE_EXE``, which the panel button and the
    flow find) and the file its command lines go to."""
    exe = make_fake_void_remove(tmp_path / "bin")
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv(LOG_ENV, str(log))
    monkeypatch.setenv("VOID_REMOVE_EXE", str(exe))
    return exe, log


def maker(api: ResolveAPI, tmp_path: Path):  # type: ignore[no-untyped-def]
    base = ResolveSettings(endpoint=ENDPOINT, output_root=str(tmp_path / "out"))

    def make_flow(values: dict) -> RemoveFlow:
        # exe=None: the flow finds the worker as in Resolve ($VOID_REMOVE_EXE here).
        return RemoveFlow(
            api, settings_from_form(values, base), work_root=tmp_path / "work", poll_s=0.0
        )

    return make_flow


def wait_for(log: Path, count: int = 1, timeout: float = 20.0) -> list[list[str]]:
    deadline = time.monotonic() + timeout
    while len(recorded(log)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return recorded(log)


def assert_part_and_view(argv: list[str], work: Path, part: str, view: str) -> None:
    assert argv[0] == "run" and argv[-2:] == ["--progress", "jsonl"]
    plate = argv[argv.index("--plate") + 1]
    # The plate Resolve rendered into this run's work folder, then ":part/" as the artist typed it.
    assert plate.startswith(str(work)) and plate.endswith(f".exr:{part}/"), plate
    assert argv[argv.index("--view") + 1] == view
    assert argv.count("--view") == 1 and argv.count("--plate") == 1


def test_resolve_dialog_passes_plate_part_and_view_to_the_worker(
    scene: Scene, fake: tuple[Path, Path], tmp_path: Path
) -> None:
    _, log = fake
    bmd, api = dialog_api(scene)
    seen: dict = {}

    def artist(dispatcher) -> None:  # type: ignore[no-untyped-def]
        items = dispatcher.window.GetItems()
        # From the settings file's last run:
        seen["initial"] = (items["plate_part"].Text, items["view"].Text)
        items["matte"].CurrentIndex = 1  # Fusion Saver (the scene's matte)
        items["engine"].CurrentText = "propagate"
        items["plate_part"].Text = " beauty "
        items["view"].Text = "left"
        dispatcher.window.On.run.Clicked(None)
        wait_for_run_end(dispatcher, items)
        seen["status"] = items["status"].Text
        dispatcher.window.On[Dialog.WINDOW_ID].Close(None)

    bmd.dispatcher.on_run_loop = artist
    initial = ResolveSettings(plate_part="rgba", view="right", endpoint=ENDPOINT)
    assert run_dialog(api, maker(api, tmp_path), initial) == 0

    assert seen["initial"] == ("rgba", "right")
    [argv] = recorded(log)
    assert_part_and_view(argv, tmp_path / "work", "beauty", "left")
    # The worker's failed event is what the dialog shows; the project is left as it was.
    assert seen["status"].startswith("Failed: ") and FAILED_MESSAGE in seen["status"]
    assert len(scene.timeline.tracks) == 1


def test_empty_part_and_view_add_nothing_to_the_command_line(
    scene: Scene, fake: tuple[Path, Path], tmp_path: Path
) -> None:
    _, log = fake
    bmd, api = dialog_api(scene)

    def artist(dispatcher) -> None:  # type: ignore[no-untyped-def]
        items = dispatcher.window.GetItems()
        items["matte"].CurrentIndex = 1
        items["engine"].CurrentText = "propagate"
        dispatcher.window.On.run.Clicked(None)
        wait_for_run_end(dispatcher, items)
        dispatcher.window.On[Dialog.WINDOW_ID].Close(None)

    bmd.dispatcher.on_run_loop = artist
    run_dialog(api, maker(api, tmp_path), ResolveSettings(endpoint=ENDPOINT))
    [argv] = recorded(log)
    plate = argv[argv.index("--plate") + 1]
    assert plate.endswith(".exr") and "--view" not in argv


def test_qt_window_passes_plate_part_and_view_to_the_worker(
    qtbot, scene: Scene, fake: tuple[Path, Path], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from void_resolve.qt_window import RemoveWindow

    _, log = fake
    api = ResolveAPI(scene.resolve, scene.resolve.fusion)
    window = RemoveWindow(maker(api, tmp_path), endpoint=ENDPOINT)
    qtbot.addWidget(window)
    window.set_values(form_values(ResolveSettings(matte="fusion", plate_part="rgba", view="right")))
    assert (window.plate_part.text(), window.view.text()) == ("rgba", "right")
    window.plate_part.setText("beauty")
    window.view.setText("left")
    assert settings_from_form(window.values()).plate_ref("p.%04d.exr") == "p.%04d.exr:beauty/"
    window.run_button.click()
    assert not window.plate_part.isEnabled() and not window.view.isEnabled()
    qtbot.waitUntil(lambda: window.run_button.isEnabled(), timeout=60000)
    [argv] = recorded(log)
    assert_part_and_view(argv, tmp_path / "work", "beauty", "left")
    assert window.status.text().startswith("Failed: ") and window.plate_part.isEnabled()


def test_a_part_name_with_a_slash_is_refused_before_anything_runs(
    qtbot, scene: Scene, fake: tuple[Path, Path], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from void_resolve.qt_window import RemoveWindow

    _, log = fake
    api = ResolveAPI(scene.resolve, scene.resolve.fusion)
    window = RemoveWindow(maker(api, tmp_path), endpoint=ENDPOINT)
    qtbot.addWidget(window)
    window.set_values(form_values(ResolveSettings(matte="fusion")))
    window.plate_part.setText("left/beauty")
    window.run_button.click()
    qtbot.waitUntil(lambda: window.run_button.isEnabled(), timeout=30000)
    assert "plate_part is a part name" in window.status.text()
    assert recorded(log) == [] and scene.project.jobs == {}


def test_resolve_dialog_panel_button_starts_void_remove_panel(
    scene: Scene, fake: tuple[Path, Path], tmp_path: Path
) -> None:
    exe, log = fake
    bmd, api = dialog_api(scene)
    seen: dict = {}

    def artist(dispatcher) -> None:  # type: ignore[no-untyped-def]
        items = dispatcher.window.GetItems()
        seen["button"] = items["panel"].Text
        dispatcher.window.On.panel.Clicked(None)
        seen["status"] = items["status"].Text
        dispatcher.window.On[Dialog.WINDOW_ID].Close(None)

    bmd.dispatcher.on_run_loop = artist
    run_dialog(api, maker(api, tmp_path), ResolveSettings(endpoint=ENDPOINT))
    assert seen["button"] == "Panel…"
    assert seen["status"].startswith("Opened the VOID Remove panel"), seen["status"]
    # The fake was started as `<VOID_REMOVE_EXE> panel --endpoint <the dialog's endpoint>`.
    assert wait_for(log) == [["panel", "--endpoint", ENDPOINT]]


def test_resolve_dialog_panel_button_says_when_void_remove_is_missing(
    scene: Scene, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOID_REMOVE_EXE", str(tmp_path / "no" / "void-remove"))
    bmd, api = dialog_api(scene)
    seen: dict = {}

    def artist(dispatcher) -> None:  # type: ignore[no-untyped-def]
        items = dispatcher.window.GetItems()
        dispatcher.window.On.panel.Clicked(None)
        seen["status"] = items["status"].Text
        dispatcher.window.On[Dialog.WINDOW_ID].Close(None)

    bmd.dispatcher.on_run_loop = artist
    run_dialog(api, maker(api, tmp_path), ResolveSettings(endpoint=ENDPOINT))
    assert seen["status"].startswith("Panel: void-remove was not found")


def test_qt_window_panel_button_starts_void_remove_panel(
    qtbot, scene: Scene, fake: tuple[Path, Path], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from void_resolve.qt_window import RemoveWindow

    exe, log = fake
    api = ResolveAPI(scene.resolve, scene.resolve.fusion)
    window = RemoveWindow(maker(api, tmp_path), endpoint=ENDPOINT)
    qtbot.addWidget(window)
    window.panel_button.click()
    proc = window.panel
    assert proc is not None and proc.wait(20) == 0  # type: ignore[attr-defined]
    assert proc.args == [str(exe), "panel", "--endpoint", ENDPOINT]  # type: ignore[attr-defined]
    assert recorded(log) == [["panel", "--endpoint", ENDPOINT]]
    assert window.status.text().startswith("Opened the VOID Remove panel")
