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
from tests.support.cli import VOID_REMOVE  # noqa: E402
from tests.support.daemons import free_port  # noqa: E402
from tests.support.fakes.resolve_scene import Scene, add_fusion_savers, make_scene  # noqa: E402
from void_client.errors import ErrorCode  # noqa: E402
from void_client.panel import VoidPanel  # noqa: E402
from void_client.panel.job_form import JobForm  # noqa: E402
from void_client.presets import PRESET_KEYS, apply_preset, preset_names  # noqa: E402
from void_client.prompt_advice import prompt_warning  # noqa: E402
from void_client.sequence_job import RemoveRequest  # noqa: E402
from void_daemon.demo_shot import make_shot  # noqa: E402
from void_hostlink import HostLinkError  # noqa: E402
from void_hostlink.node_settings import CUSTOM_PRESET  # noqa: E402
from void_resolve.flow import RemoveFlow  # noqa: E402
from void_resolve.records import ResolveError  # noqa: E402
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
sources = nuke_glue.sources  # autouse: the shot's sequences the background export renders
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
    [({"engine": "void"}, True), ({"engine": "void", "prompt": "a wall"}, False)],
)
@pytest.mark.parametrize("gui", [True, False])
def test_the_nuke_node_says_it_in_its_status_and_the_log(
    fake, shot, daemon, caplog, knobs, warns, gui
) -> None:
    # The warning is the worker's (`void-remove run`, the CLI's words, sent as a `warning`
    # event); the test daemon has no VOID weights, so the job then fails: no model is run.
    # The stream's warning event carries the text without its "warning: " (docs/protocol.md).
    worker_warning = str(prompt_warning("void", "", "--prompt")).removeprefix("warning: ")
    fake.GUI = gui
    node = wired(fake, shot, endpoint=daemon.endpoint, **knobs)
    fake.on_execute = nuke_glue.renderer(shot)  # batch exports in this process
    with caplog.at_level(logging.WARNING, logger="void_nuke"):
        if gui:
            glue.run(node)
            nuke_glue.pump(fake, lambda: bool(glue.RUNS))
            current = glue.RUNS[node.fullName()]
            nuke_glue.pump(fake, nuke_glue.idle)
            assert (current.state.warning == worker_warning) == warns
        else:
            with pytest.raises(HostLinkError):
                glue.run_blocking(node)
    logged = [r.getMessage() for r in caplog.records if "model card" in r.getMessage()]
    expected = f"{node.fullName()}: {worker_warning}"
    assert logged == ([expected] if warns else [])
    assert "weights" in node["status"].value()


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
        node["preset"].value() == CUSTOM_PRESET
        and node["overlap"].value() == applied["overlap"] + 8
    )


def test_a_node_without_a_preset_hashes_as_before(fake, shot) -> None:
    # "custom" adds nothing to the job: results of nodes saved before the pulldown stay current
    settings = glue.prepare(wired(fake, shot)).settings
    assert settings.preset == CUSTOM_PRESET and settings.job_settings()["engine_options"] == {}


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
        raise ResolveError(ErrorCode.CANCELLED, "stopped by the test")

    bmd.dispatcher.on_run_loop = artist
    assert run_dialog(api, make_flow, ResolveSettings()) == 0
    assert seen["choices"] == [*preset_names(), "custom"]
    assert seen["initial"] == "" and seen["void"].startswith(WARNING) and seen["prompt"] == ""
    assert seen["pass2"] is True
    [values] = chosen
    assert values["preset"] == "final"
    s = settings_from_form(values)
    # The preset goes to the void-remove worker by name, which applies the one table
    # (void_client.presets); the window shows its pass 2.
    assert s.pass2 is apply_preset("final", {})["pass2"] and s.job == {}
    args = s.cli_args()
    assert args[args.index("--preset") + 1] == "final" and "--pass2" in args


def test_resolve_flow_says_it_in_the_console(scene, tmp_path, caplog) -> None:
    api = ResolveAPI(scene.resolve, scene.resolve.fusion)
    for settings, warns in (
        (ResolveSettings(engine="void", matte="fusion"), True),
        (ResolveSettings(engine="void", prompt="a wall", matte="fusion"), False),
        (ResolveSettings(matte="fusion"), False),
    ):
        caplog.clear()
        flow = RemoveFlow(
            api, settings, work_root=tmp_path / "work", daemon_timeout_s=0.2, exe=VOID_REMOVE
        )
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
        args = s.cli_args()  # the worker applies the preset's other fields
        assert args[args.index("--preset") + 1] == name and ("--pass2" in args) is s.pass2
    # ticking pass 2 against the preset makes it custom, and custom keeps the job as it was
    window.preset.setCurrentText("fast preview")
    window.pass2.setChecked(True)
    assert window.preset.currentText() == "custom"
    assert settings_from_form(window.values()).pass2 is True
