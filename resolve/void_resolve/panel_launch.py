"""The windows' *Panel…* button: the full VOID Remove panel as its own ``void-remove panel`` process.

Resolve's Python never imports the client (docs/architecture.md, "Host isolation";
docs/resolve.md), so the panel (daemon status, the job log and history with re-attach) runs in
void-remove's own environment, found the way a run finds its worker
(:func:`void_hostlink.locate.find_void_remove`: ``$VOID_REMOVE_EXE``, the installer's record,
then PATH). It is started in its own session and is not waited for: closing the VOID Remove
window, or Resolve, leaves it open. Its output goes to :func:`panel_log`, named in the status
line, because Resolve shows no stderr of a child.

Loaded inside Resolve: standard library and ``void_hostlink`` only, Python 3.6 syntax.
"""

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from void_hostlink import HostLinkError
from void_hostlink.locate import NOT_INSTALLED_MESSAGE, find_void_remove
from void_hostlink.process import worker_environment
from void_resolve.settings import home

log = logging.getLogger(__name__)

#: What the button says, and its tool tip, the same in both windows.
PANEL_LABEL = "Panel…"
PANEL_TIP = "the daemon's status, the job log and history (re-attach): void-remove panel"


def panel_argv(endpoint: str, exe: Optional[Union[str, Sequence[str]]] = None) -> List[str]:
    """``void-remove panel --endpoint ENDPOINT``, with the ``void-remove`` a run would use."""
    return find_void_remove(exe) + ["panel", "--endpoint", endpoint]


def panel_log() -> Path:
    """Where the panel process's stdout and stderr go."""
    return home() / "resolve-panel.log"


def open_panel(
    endpoint: str,
    exe: Optional[Union[str, Sequence[str]]] = None,
    spawn: Callable[..., Any] = subprocess.Popen,
) -> Any:
    """Start ``void-remove panel`` as its own process and return it (``spawn``'s result).

    Raises HostLinkError (``not_installed``) when there is no ``void-remove`` to run or it
    cannot be started."""
    argv = panel_argv(endpoint, exe)
    kwargs: dict = {}
    if sys.platform.startswith("win"):
        # Its own process group, so a Ctrl-Break meant for a run's worker never reaches it.
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    else:
        kwargs["start_new_session"] = True
    path = panel_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path), "ab") as out:
        try:
            # The worker's environment: Resolve's PYTHONHOME/PYTHONPATH would break its Python.
            return spawn(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=worker_environment(),
                close_fds=True,
                **kwargs,
            )
        except OSError as exc:
            raise HostLinkError(
                "not_installed", f"{NOT_INSTALLED_MESSAGE} ({argv[0]}: {exc})"
            ) from exc


def panel_clicked(
    endpoint: str,
    exe: Optional[Union[str, Sequence[str]]] = None,
    spawn: Callable[..., Any] = subprocess.Popen,
) -> Tuple[Any, str]:
    """The button's action in either window: start the panel. Returns the process (None when
    it did not start) and the line to show in the window's status."""
    try:
        proc = open_panel(endpoint, exe, spawn)
    except HostLinkError as exc:
        log.error("the panel did not start: %s", exc.message)
        return None, f"Panel: {exc.message}"
    log.info(
        "opened the VOID Remove panel (pid %s); its log: %s",
        getattr(proc, "pid", None),
        panel_log(),
    )
    return proc, f"Opened the VOID Remove panel in its own window (its log: {panel_log()})"
