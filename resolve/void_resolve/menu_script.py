"""VOID Remove: remove an object from the current clip (DaVinci Resolve, Workspace ▸ Scripts).

This file is what ``void-remove install resolve`` copies into Resolve's ``Fusion/Scripts/Utility``
folder as ``VOID Remove.py``, filling in the folder below. Resolve runs it with ``resolve``,
``fusion`` and ``bmd`` in its globals; ``__file__`` is not defined there, so the folder is
written in at install time instead of found from this file's location.

Host isolation (docs/architecture.md): the one folder put on Resolve's ``sys.path`` holds only
copies of ``void_resolve`` and ``void_hostlink`` (standard library, Python 3.6 syntax) and the
installer's record of which ``void-remove`` to run. numpy, OpenImageIO, ZeroMQ and the client
stay in void-remove's own environment and run in its worker process.
"""

import sys

# The host-only folder the installer made (void_resolve, void_hostlink, void_remove_host.json).
VOID_REMOVE_PATHS = []  # type: list[str]

for _path in VOID_REMOVE_PATHS:
    if _path not in sys.path:
        sys.path.insert(0, _path)

if __name__ != "void_resolve.menu_script" and sys.version_info < (3, 6):
    # The modules below use f-strings and variable annotations (Python 3.6): say so rather than
    # fail with a SyntaxError in the Console (docs/resolve.md, "Which Python"). No f-string
    # here, so that an older Python can read this far.
    _found = sys.version.split()[0]
    print(
        "VOID Remove needs Python 3.6 or later in Resolve; Resolve uses {}. Point "
        "Resolve at a newer Python 3 (Workspace > Console > Py3 shows which).".format(_found)
    )
elif __name__ != "void_resolve.menu_script":  # run from Resolve, not imported as a module
    try:
        from void_resolve.app import main as _void_main
    except ImportError as _exc:
        print(
            "VOID Remove: cannot load its Resolve scripts ({}) from {}. "
            "Run 'void-remove install resolve' again.".format(_exc, VOID_REMOVE_PATHS)
        )
    else:
        _void_main(globals())
