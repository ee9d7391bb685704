"""VOID Remove's Nuke glue: everything Nuke, in one package (``docs/architecture.md``).

* :mod:`void_nuke.host` is the one module that imports ``nuke``;
* :mod:`void_nuke.node_spec` is the node as data (knobs, inputs, internal nodes, export recipe),
  :mod:`void_nuke.gizmo_writer` writes ``nuke_path/VOIDRemove.gizmo`` from it;
* :mod:`void_nuke.actions` holds the node's buttons, callbacks and the batch entry point,
  :mod:`void_nuke.startup` what ``nuke_path/init.py`` and ``menu.py`` run;
* :mod:`void_nuke.installer` is ``void-remove install nuke``.

The run itself (settings, fingerprint, plan, progress) is host-agnostic and lives in
:mod:`void_client.node_job`. Importing this package touches nothing in Nuke; ``void-remove
install nuke`` puts this package's folder on Nuke's ``sys.path`` and ``nuke_path/`` on its
plugin path.
"""
