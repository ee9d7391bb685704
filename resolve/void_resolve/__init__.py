"""VOID Remove's DaVinci Resolve glue: the Workspace ▸ Scripts entry and its one seam (``api``).

``void-remove install resolve`` puts ``menu_script.py`` into Resolve's ``Fusion/Scripts/Utility``
folder as ``VOID Remove.py``; it calls :func:`void_resolve.app.main`. Everything that is not a
call into Resolve lives in :mod:`void_client.hosts` (``resolve_plan``, ``resolve_flow``).
"""
