"""VOID Remove's Nuke glue: the VOID Remove node's buttons and callbacks, menus, batch entry.

Only :mod:`void_nuke.host` imports ``nuke``; everything that is not a Nuke call lives in
``void_client`` (:mod:`void_client.hostjob`, :mod:`void_client.hosts.nuke_node`) and is tested there.
Importing this package touches nothing in Nuke; it only makes ``void_client`` importable when
Nuke runs from a source checkout (``nuke/`` next to ``plugin/``).
"""

from __future__ import annotations

import os
import sys


def _ensure_client_importable() -> None:
    try:
        import void_client  # noqa: F401
    except ImportError:
        plugin = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "plugin")
        if os.path.isdir(os.path.join(plugin, "void_client")) and plugin not in sys.path:
            sys.path.append(plugin)


_ensure_client_importable()
