"""The VOID Remove panel from Nuke: ``void-remove panel`` in its own process.

The full panel (``void_client.panel``: Qt, numpy, the daemon protocol) must not load into Nuke's
Python (docs/nuke.md, "Host isolation"; issue 16, finding 8), and a Qt widget docked in Nuke would
have to use Nuke's own Qt binding. So the menu entry starts the panel as a program from
void-remove's own environment (found by :func:`void_hostlink.find_void_remove`): its own window
beside Nuke, showing the daemon, the jobs (the node's too) and their progress. The node's status
knob stays the one progress indicator inside Nuke.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

from void_hostlink import HostLinkError, find_void_remove

log = logging.getLogger("void_nuke")

#: The panel process this Nuke started (one at a time).
_PROCESS: list[Any] = []


def open_panel() -> bool:
    """Start ``void-remove panel`` unless this Nuke's is still open (False then); raises
    HostLinkError with what to do when it cannot start."""
    if _PROCESS and _PROCESS[0].poll() is None:
        return False
    argv = find_void_remove() + ["panel"]
    kwargs: dict[str, Any] = {}
    if sys.platform.startswith("win"):
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    else:
        kwargs["start_new_session"] = True  # closing Nuke leaves the panel open
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=os.path.expanduser("~"),
            **kwargs,
        )
    except OSError as exc:
        raise HostLinkError(
            "not_installed",
            f"the VOID Remove panel cannot start ({argv[0]}: {exc}); run 'void-remove install nuke'",
        ) from exc
    _PROCESS[:] = [process]
    log.info("VOID Remove panel started: %s (pid %d)", " ".join(argv), process.pid)
    return True
