# VOID Remove: NUKE_PATH menu (GUI only): Nodes toolbar > VOID > VOID Remove, the node's
# callbacks and the dockable panel. See docs/nuke.md.
import sys

try:
    import void_nuke.startup
except ImportError as exc:
    sys.stderr.write(f"VOID Remove menus are not loaded: {exc}\n")
else:
    void_nuke.startup.menu()
