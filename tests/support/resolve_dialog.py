"""Driving the Resolve UIManager dialog (through tests/support/fakes/resolve_scene.py) the way
an artist and Resolve's own timer do, one way for every Resolve window test."""

from __future__ import annotations

import time
from typing import Any


def wait_for_run_end(dispatcher: Any, items: Any, timeout: float = 60.0) -> None:
    """After Run was clicked: tick Resolve's timer (every 250 ms in real life; here at once)
    until Run is enabled again (the run ended) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not items["run"].Enabled and time.monotonic() < deadline:
        dispatcher.On.Timeout(None)
        time.sleep(0.005)


def dialog_api(scene: Any) -> tuple[Any, Any]:
    """The scene's ``bmd`` (its UIManager dispatcher runs the dialog) and a ``ResolveAPI`` on
    it, as the menu script builds one inside Resolve."""
    # Imported here: void_resolve.api is importable only once the fake scene module has run.
    from void_resolve.api import ResolveAPI

    bmd = scene.namespace["bmd"]
    return bmd, ResolveAPI(scene.resolve, scene.resolve.fusion, bmd)
