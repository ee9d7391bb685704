"""VOID Remove in DaVinci Resolve: connect, open a window, run.

Called by the Workspace ▸ Scripts entry with the script's globals (where Resolve put
``resolve``, ``fusion`` and ``bmd``), or by ``python -m void_resolve`` from outside Resolve.
The window is the Qt one when Resolve's Python has PySide6, else Resolve's own UIManager
dialog (Studio; the free version has no UIManager since 19.1), else the run goes ahead with
the given settings and reports to the Console.

Loaded inside Resolve: standard library, ``void_resolve`` and ``void_hostlink`` only, Python 3.6
(docs/architecture.md, "Host isolation"; docs/resolve.md, "Which Python").
"""

import importlib.util
import logging
import os
import sys
from typing import Any, Callable, Mapping, Optional

from void_resolve.api import ResolveAPI, connect
from void_resolve.flow import FlowController, FlowEvent, RemoveFlow
from void_resolve.panel_launch import panel_clicked
from void_resolve.records import ResolveError
from void_resolve.settings import (
    ENGINES,
    MATTE_LABELS,
    MATTE_MODES,
    PRESET_CHOICES,
    RANGE_LABELS,
    RANGE_MODES,
    ResolveSettings,
    form_values,
    load_settings,
    save_settings,
    settings_from_form,
    uimanager_allowed,
)

log = logging.getLogger("void_resolve")

#: Force a window: ``qt``, ``resolve`` (UIManager) or ``console`` (no window).
UI_ENV = "VOID_RESOLVE_UI"
UIS = ("qt", "resolve", "console")


def qt_available() -> bool:
    return importlib.util.find_spec("PySide6") is not None


def choose_ui(api: ResolveAPI, env: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if env is None else env
    forced = env.get(UI_ENV, "").strip().lower()
    if forced in UIS:
        return forced
    if qt_available():
        return "qt"
    # The edition first: on the free Resolve 19.1+ even reading UIManager prompts (issue 16 #1).
    if uimanager_allowed(api.product(), api.version()) and api.has_ui_manager():
        return "resolve"
    return "console"


def main(
    namespace: Optional[Mapping[str, Any]] = None,
    settings: Optional[ResolveSettings] = None,
    ui: str = "",
) -> int:
    """Run VOID Remove; returns 0 on success (or a closed window), 2 on an error."""
    if not logging.getLogger().handlers:
        # Resolve's Console shows stdout; say what happens there.
        logging.basicConfig(
            level=logging.INFO, stream=sys.stdout, format="VOID Remove: %(message)s"
        )
    try:
        api = connect(namespace)
    except ResolveError as exc:
        log.error("%s", exc.message)
        return 2
    base = settings or load_settings()
    ui = ui or choose_ui(api)
    if ui == "resolve" and not api.ui_manager_allowed():
        log.warning(
            "%s %s shows an upgrade prompt for script dialogs; running without a window",
            api.product(),
            api.version(),
        )
        ui = "console"
    log.info("DaVinci Resolve %s, %s window", api.version(), ui)

    def make_flow(values: dict) -> RemoveFlow:
        chosen = settings_from_form(values, base)
        save_settings(chosen)  # the next run starts from these
        return RemoveFlow(api, chosen)

    if ui == "qt":
        from void_resolve.qt_window import show

        return show(make_flow, form_values(base), base.endpoint)
    if ui == "resolve":
        try:
            return run_dialog(api, make_flow, base)
        except ResolveError:
            raise
        except Exception as exc:  # noqa: BLE001 - a Resolve that refuses its dialog still gets the run
            log.warning("Resolve's dialog did not open (%s); running with the last settings", exc)
    return run_console(api, base)


def run_dialog(
    api: ResolveAPI,
    make_flow: Callable[[dict], RemoveFlow],
    initial: Optional[ResolveSettings] = None,
) -> int:
    initial = initial or ResolveSettings()
    choices = {
        "range": [RANGE_LABELS[m] for m in RANGE_MODES],
        "matte": [MATTE_LABELS[m] for m in MATTE_MODES],
        "engine": list(ENGINES),
        "preset": list(PRESET_CHOICES),
    }
    dialog = api.dialog("VOID Remove", choices)
    controller = FlowController(dialog, make_flow)
    dialog.set_values(form_values(initial))
    dialog.set_running(False)

    def on_close() -> None:
        controller.closing()
        dialog.close()

    def on_panel() -> str:
        # The full panel as its own `void-remove panel` process: the client never loads here.
        return panel_clicked(initial.endpoint)[1]

    dialog.run(
        controller.run_clicked, controller.cancel_clicked, controller.tick, on_close, on_panel
    )
    return 0


def run_console(api: ResolveAPI, settings: ResolveSettings) -> int:
    """No window available: run with ``settings`` and report progress as log lines."""
    last = [""]

    def report(event: FlowEvent) -> None:
        if event.message != last[0]:
            log.info("%3.0f%% %s", event.fraction * 100, event.message)
            last[0] = event.message

    try:
        RemoveFlow(api, settings).run(report)
    except ResolveError as exc:
        log.error("%s", exc.message)
        return 2
    return 0
