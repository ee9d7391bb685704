"""Run the VOID Remove nodes of a Nuke script, blocking (render farm, command line)::

    nuke -t /path/to/void-remove/nuke/void_nuke/nuke_path/void_remove_batch.py shot.nk [--node NAME] [--force] [--save]

Exit status 0 when every node has its results, 2 otherwise (the reason is logged).
"""

import sys

import void_nuke.actions

# No __main__ guard: `nuke -t` runs this file as a script, whatever it names the module.
sys.exit(void_nuke.actions.batch_main(sys.argv[1:]))
