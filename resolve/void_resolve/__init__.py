"""VOID Remove in DaVinci Resolve: everything Resolve, in one package (``docs/architecture.md``).

* :mod:`void_resolve.api` is the one module that calls Resolve and Fusion;
* the decisions, with no Resolve call in them, one module per concern:
  :mod:`~void_resolve.records` (Resolve read into plain records), :mod:`~void_resolve.settings`,
  :mod:`~void_resolve.selection` (which clip, which frames), :mod:`~void_resolve.formats`,
  :mod:`~void_resolve.mattes`, :mod:`~void_resolve.render`, :mod:`~void_resolve.placement`
  (output folder, import, track) and :mod:`~void_resolve.rollback` (progress and undo);
* :mod:`void_resolve.flow` runs the steps in order; :mod:`void_resolve.app` opens a window
  (:mod:`~void_resolve.qt_window` or Resolve's own dialog) and starts it;
* :mod:`void_resolve.installer` is ``void-remove install resolve``: it copies
  ``menu_script.py`` into Resolve's ``Fusion/Scripts/Utility`` folder as ``VOID Remove.py``,
  which calls :func:`void_resolve.app.main`; :mod:`~void_resolve.locations` knows those folders.
"""
