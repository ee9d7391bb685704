"""VOID Remove's Nuke glue: everything Nuke, in one package (``docs/architecture.md``).

* :mod:`void_nuke.host` is the one module that imports ``nuke``;
* :mod:`void_nuke.node_spec` is the node as data (knobs, inputs, internal nodes, export recipe),
  :mod:`void_nuke.gizmo_writer` writes ``nuke_path/VOIDRemove.gizmo`` from it;
* :mod:`void_nuke.actions` holds the node's buttons, callbacks and the batch entry point,
  :mod:`void_nuke.startup` what ``nuke_path/init.py`` and ``menu.py`` run;
* :mod:`void_nuke.installer` is ``void-remove install nuke``;
* :func:`selftest` (:mod:`void_nuke.self_test`) checks every host call inside a real Nuke.

Every module Nuke imports (all but :mod:`~void_nuke.gizmo_writer` and
:mod:`~void_nuke.installer`, which run in void-remove's own environment) needs only the standard
library, ``nuke`` and :mod:`void_hostlink` (docs/nuke.md, "Host isolation"): settings,
fingerprint, run folder and status line are ``void_hostlink.node_*``, and the run itself is a
``void-remove run ... --progress jsonl`` process. Importing this package touches nothing in
Nuke; ``void-remove install nuke`` copies it and void_hostlink into a host-only folder on Nuke's
``sys.path`` and puts ``nuke_path/`` on its plugin path.
"""

from __future__ import annotations

from typing import Any


def selftest(report_dir: str | None = None) -> Any:
    """Run the self-test from Nuke's Script Editor: ``import void_nuke; void_nuke.selftest()``.
    Prints a PASS/FAIL line per host call and writes a report file (``docs/nuke.md``)."""
    from void_nuke import self_test  # imports nuke: only when called

    return self_test.run(report_dir)
