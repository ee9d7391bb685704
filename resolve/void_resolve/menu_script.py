"""VOID Remove: remove an object from the current clip (DaVinci Resolve, Workspace ▸ Scripts).

This file is what ``void-remove install resolve`` copies into Resolve's ``Fusion/Scripts/Utility``
folder as ``VOID Remove.py``, filling in the two settings below. Resolve runs it with
``resolve``, ``fusion`` and ``bmd`` in its globals; ``__file__`` is not defined there, so the
paths are written in at install time instead of found from this file's location.
"""

import os
import sys

# Folders holding void_resolve, void_client and their packages (numpy, pyzmq, OpenImageIO).
VOID_REMOVE_PATHS = []
# How to start a local daemon when none answers (Resolve's own interpreter cannot).
VOID_DAEMON_COMMAND = ""

for _path in VOID_REMOVE_PATHS:
    if _path not in sys.path:
        sys.path.append(_path)
if VOID_DAEMON_COMMAND:
    os.environ.setdefault("VOID_DAEMON_COMMAND", VOID_DAEMON_COMMAND)

if __name__ != "void_resolve.menu_script":  # run from Resolve, not imported as a module
    try:
        from void_resolve.app import main as _void_main
    except ImportError as _exc:
        print(
            f"VOID Remove: cannot load its Python packages ({_exc}). Run 'void-remove install resolve' "
            "with a Python of the same version as the one Resolve uses (Workspace > Console > Py3 shows it)."
        )
    else:
        _void_main(globals())
