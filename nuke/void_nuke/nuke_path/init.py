# VOID Remove: NUKE_PATH init. Runs in the GUI, under `nuke -t` and in render mode (`nuke -x`),
# so it registers only what every mode needs and imports no Qt. Installed by
# `void-remove install nuke`; see docs/nuke.md.
import sys

try:
    import void_nuke.startup
except ImportError as exc:  # keep Nuke starting; say why the node is missing
    sys.stderr.write(f"VOID Remove is not loaded: {exc} (run 'void-remove install nuke')\n")
else:
    void_nuke.startup.init()
