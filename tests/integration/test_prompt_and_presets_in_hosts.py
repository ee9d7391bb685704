"""Issue 18 item 3 and issue 20 in every front end: the missing-prompt warning (one definition,
void_client.prompt_advice, the CLI's words) in the panel, the Nuke node and Resolve; and the artist
presets (one table, void_client.presets) on the Nuke node and in both Resolve windows.

Nuke runs against the fake ``nuke`` of test_nuke_glue (its fixtures are imported), Resolve against
the fake Resolve scene, the panel on Qt's offscreen platform; no daemon is needed: each check stops
before a job would be submitted (or submits to a port nobody listens on)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from tests.integration import test_nuke_glue as nuke_glue  # noqa: E402
from tests.support.daemons import free_port  # noqa: E402
from tests.support.fakes.resolve_scene import Scene, add_fusion_savers, make_scene  # noqa: E402
from void_client import node_job as H  # noqa: E402
from void_client.errors import ErrorCode, VoidError  # noqa: E402
from void_client.panel import VoidPanel  # noqa: E402
from void_client.panel.job_form import JobForm  # noqa: E402
from void_client.presets import PRESET_KEYS, apply_preset, preset_names  # noqa: E402
from void_client.prompt_advice import prompt_warning  # noqa: E402
from void_client.sequence_job import RemoveRequest  # noqa: E402
from void_daemon.demo_shot import make_shot  # noqa: E402
from void_resolve.flow import RemoveFlow  # noqa: E402
from void_resolve.settings import (  # noqa: E402
    PRESET_CHOICES,
    ResolveSettings,
    form_values,
    settings_from_form,
)

from void_resolve.api import ResolveAPI  # isort: skip  (importable once resolve_scene has run)
from void_resolve.app import run_dialog  # isort: skip

import void_nuke.actions as glue  # noqa: E402  isort: skip  (test_nuke_glue put nuke/ on sys.path)

# test_nuke_glue's fixtures (a fake ``nuke`` with the glue reset; the shot), shared here.
fake = nuke_glue.fake
shot = nuke_glue.shot
wired = nuke_glue.wired

WARNING = "warning: no prompt; the VOID model card asks for a description of the clean background"
#: The fields a preset decides besides engine options (JobSpec fields).
FIELDS = tuple(k for k in PRESET_KEYS if k != "engine_options")


# --------------------------------------------------------------------------- one definition
@pytest.mark.parametrize(
    "engine, prompt, warns",
    [
        ("void", "", True),
        ("void", "   ", True),
        ("void", "an empty street", False),
        ("propagate", "", False),
    ],
)
def test_the_warning_is_for_the_void_engine_without_a_prompt(engine, prompt, warns) -> None:
    text = prompt_warning(engine, prompt)
    assert (text is not None) == warns
    if warns:
        assert text.startswith(WARNING)
        assert prompt_warning(engine, prompt, "--prompt").startswith("warning: no --prompt;")


# --------------------------------------------------------------------------- panel
def test_the_panel_form_shows_the_warning_while_void_has_no_prompt(qtbot) -> None:
    form = JobForm()
    qtbot.addWidget(form)
    form.engine_combo.addItems(["void"])  # the daemon's engines fill it in the panel
    form.engine_combo.setCurrentText("propagate")
    assert form.prompt_note.isHidden()
    form.engine_combo.setCurrentText("void")
    assert not form.prompt_note.isHidden() and form.prompt_note.text().startswith(WARNING)
    form.prompt_edit.setText("a wooden table in a kitchen")
    assert form.prompt_note.isHidden() and form.prompt_note.text() == ""
    form.prompt_edit.setText("  ")
    assert not form.prompt_note.isHidden()


@pytest.mark.parametrize(
    "settings, warns",
    [
        ({"engine": "void"}, True),
        ({"engine": "void", "prompt": "a wall"}, False),
        ({"engine": "propagate"}, False),
    ],
)
def test_the_panel_logs_the_warning_at_run(qtbot, tmp_path, settings, warns) -> None:
    p = VoidPanel(
        endpoint=f"tcp://127.0.0.1:{free_port()}",
        history_path=tmp_path / "h.json",
        poll_interval_s=0.5,
    )
    qtbot.addWidget(p)
    try:
        req = RemoveRequest(
            plate=str(tmp_path / "plate.####.exr"),
            remove=str(tmp_path / "remove.####.exr"),
            out=str(tmp_path / "out" / "clean.####.exr"),
            settings=settings,
            endpoint=p.endpoint,
            autostart=False,
        )
        assert p.run_request(req)
        assert (WARNING in p.log_text()) == warns
        qtbot.waitUntil(lambda: not p.is_busy(), timeout=20_000)  # fails: no daemon, no plate
    finally:
        p.shutdown()


# --------------------------------------------------------------------------- Nuke
@pytest.mark.parametrize(
    "knobs, warns",
    [({"engine": "void"}, True), ({"engine": "void", "prompt": "a wall"}, False), ({}, False)],
)
@pytest.mark.parametrize("gui", [True, False])
def test_the_nuke_node_says_it_in_its_status_and_the_log(
    fake, shot, monkeypatch, caplog, knobs, warns, gui
) -> None:
    fake.GUI = gui
    node = wired(fake, shot, **knobs)
    seen: list[str] = []

    def export(p: Any, task: Any = None) -> None:  # stop where the export would start
        seen.append(node["status"].value())
        raise VoidError(ErrorCode.CANCELLED, "stopped by the test")

    monkeypatch.setattr(glue, "export", export)
    with caplog.at_level(logging.WARNING, logger="void_nuke"):
        if gui:
            glue.run(node)
        else:
            with pytest.raises(VoidError):
                glue.run_blocking(node)
    [status] = seen
    assert status.startswith("exporting")
    assert (WARNING.replace("no prompt", "no background prompt") in status) == warns
    logged = [r.getMessage() for r in caplog.records if "model card" in r.getMessage()]
    assert logged == ([f"{node.fullName()}: {status.removeprefix('exporting; ')}"] if warns else [])


@pytest.mark.parametrize("name", preset_names())
def test_choosing_a_preset_on_the_node_sets_what_apply_preset_sets(fake, shot, name) -> None:
    node = wired(fake, shot)
    node["preset"].setValue(name)
    fake.this_node, fake.this_knob = node, node["preset"]
    glue.knob_changed()
    applied = apply_preset(name, {"engine_options": {}})
    assert {k: node[k].value() for k in FIELDS} == {k: applied[k] for k in FIELDS}
    job = glue.prepare(node).settings.job_settings()
    assert {k: job[k] for k in FIELDS} == {k: applied[k] for k in FIELDS}
    assert job["engine_options"] == applied["engine_options"]  # quality "standard" adds none
    # editing a field the preset decides makes it custom; the edited value stays
    node["overlap"].setValue(applied["overlap"] + 8)
    fake.this_knob = node["overlap"]
    glue.knob_changed()
    assert (
        node["preset"].value() == H.CUSTOM_PRESET
        and node["overlap"].value() == applied["overlap"] + 8
    )


def test_a_node_without_a_preset_hashes_as_before(fake, shot) -> None:
    # "custom" adds nothing to the job: results of nodes saved before the pulldown stay current
    settings = glue.prepare(wired(fake, shot)).settings
    assert settings.preset == H.CUSTOM_PRESET and settings.job_settings()["engine_options"] == {}


# --------------------------------------------------------------------------- Resolve
@pytest.fixture()
def scene() -> Scene:
    s = make_scene(make_shot(frames=6, width=64, height=48, seed=4))
    add_fusion_savers(s, affected=False)
    return s


def test_resolve_dialog_warns_under_the_prompt_and_applies_the_preset(scene, tmp_path) -> None:
    bmd = scene.namespace["bmd"]
    api = ResolveAPI(scene.resolve, scene.resolve.fusion, bmd)
    seen: dict[str, Any] = {}
    chosen: list[dict] = []

    def artist(dispatcher) -> None:
        window = dispatcher.window
        items = window.GetItems()
        seen["choices"] = list(items["preset"].items)
        seen["initial"] = items["note"].Text  # propagate: nothing to say
        items["engine"].CurrentText = "void"
        window.On.engine.CurrentIndexChanged(None)
        seen["void"] = items["note"].Text
        items["prompt"].Text = "an empty street"
        window.On.prompt.TextChanged(None)
        seen["prompt"] = items["note"].Text
        items["preset"].CurrentIndex = PRESET_CHOICES.index("final")
        window.On.preset.CurrentIndexChanged(None)
        seen["pass2"] = items["pass2"].Checked  # final runs pass 2: the box follows
        window.On.run.Clicked(None)  # make_flow records the values and stops there
        window.On.cancel.Clicked(None)  # idle again: Close

    def make_flow(values: dict) -> RemoveFlow:
        chosen.append(values)
        raise VoidError(ErrorCode.CANCELLED, "stopped by the test")

    bmd.dispatcher.on_run_loop = artist
    assert run_dialog(api, make_flow, ResolveSettings()) == 0
    assert seen["choices"] == [*preset_names(), "custom"]
    assert seen["initial"] == "" and seen["void"].startswith(WARNING) and seen["prompt"] == ""
    assert seen["pass2"] is True
    [values] = chosen
    assert values["preset"] == "final"
    s = settings_from_form(values)
    applied = apply_preset("final", {})
    assert {k: s.job[k] for k in FIELDS if k != "pass2"} == {
        k: applied[k] for k in FIELDS if k != "pass2"
    }
    assert s.pass2 is applied["pass2"] and s.job["engine_options"] == applied["engine_options"]
    assert s.job_settings()["pass2"] is True


def test_resolve_flow_says_it_in_the_console(scene, tmp_path, caplog) -> None:
    api = ResolveAPI(scene.resolve, scene.resolve.fusion)
    for settings, warns in (
        (ResolveSettings(engine="void"), True),
        (ResolveSettings(engine="void", prompt="a wall"), False),
        (ResolveSettings(), False),
    ):
        caplog.clear()
        flow = RemoveFlow(api, settings, work_root=tmp_path / "work", daemon_timeout_s=0.2)
        steps = flow.steps()
        with caplog.at_level(logging.WARNING, logger="void_resolve"):
            next(steps, None)
        steps.close()  # undo whatever the first step did
        assert any(WARNING in r.getMessage() for r in caplog.records) == warns


def test_qt_window_warns_and_its_preset_sets_the_job(qtbot, scene, tmp_path) -> None:
    from void_resolve.qt_window import RemoveWindow

    api = ResolveAPI(scene.resolve, scene.resolve.fusion)
    window = RemoveWindow(lambda values: RemoveFlow(api, settings_from_form(values)))
    qtbot.addWidget(window)
    window.set_values(form_values(ResolveSettings()))
    assert window.note.isHidden()
    window.engine.setEditText("void")
    assert not window.note.isHidden() and window.note.text().startswith(WARNING)
    window.prompt.setText("a wall")
    assert window.note.isHidden()
    for name in preset_names():
        window.preset.setCurrentText(name)
        applied = apply_preset(name, {})
        assert window.pass2.isChecked() is applied["pass2"]
        s = settings_from_form(window.values())
        assert s.preset == name and s.pass2 is applied["pass2"]
        assert {k: s.job[k] for k in FIELDS if k != "pass2"} == {
            k: applied[k] for k in FIELDS if k != "pass2"
        }
        assert s.job["engine_options"] == applied["engine_options"]
    # ticking pass 2 against the preset makes it custom, and custom keeps the job as it was
    window.preset.setCurrentText("fast preview")
    window.pass2.setChecked(True)
    assert window.preset.currentText() == "custom"
    assert settings_from_form(window.values()).pass2 is True
