"""VOID Remove in DaVinci Resolve: everything Resolve, in one package (``docs/architecture.md``).

* :mod:`void_resolve.api` is the one module that calls Resolve and Fusion;
* the decisions, with no Resolve call in them, one module per concern:
  :mod:`~void_resolve.records` (Resolve read into plain records), :mod:`~void_resolve.settings`,
  :mod:`~void_resolve.selection` (which clip, which frames), :mod:`~void_resolve.formats`,
  :mod:`~void_resolve.mattes`, :mod:`~void_resolve.render`, :mod:`~void_resolve.placement`
  (output folder, import, track) and :mod:`~void_resolve.rollback` (progress and undo);
* :mod:`void_resolve.flow` runs the steps in order; :mod:`void_resolve.app` opens a window
  (:mod:`~void_resolve.qt_window` or Resolve's own dialog) and starts it;
* :mod:`void_resolve.installer` is ``void-remove install resolve``: it copies this package
  (but itself) and ``void_hostlink`` into a host-only folder beside Resolve's ``Fusion/Scripts``,
  records which ``void-remove`` to run, and writes ``menu_script.py`` into
  ``Fusion/Scripts/Utility`` as ``VOID Remove.py``, which puts only that folder on ``sys.path``
  and calls :func:`void_resolve.app.main`; :mod:`~void_resolve.locations` knows those folders.

Host isolation (docs/architecture.md, "Host isolation"): every module Resolve loads uses the
standard library and ``void_hostlink`` only, with Python 3.6 syntax (docs/resolve.md, "Which
Python"); the job runs in a ``void-remove run ... --progress jsonl`` worker process.
"""
