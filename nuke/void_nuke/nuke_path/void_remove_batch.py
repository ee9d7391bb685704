"""Run the VOID Remove nodes of a Nuke script, blocking (render farm, command line)::

    nuke -t <void_nuke/nuke_path>/void_remove_batch.py shot.nk [--node NAME] [--force] [--save]

``<void_nuke/nuke_path>`` is the folder ``void-remove install nuke`` adds to Nuke's plugin path
(``void-remove install nuke --dry-run`` prints it). The work is :func:`void_nuke.actions.batch_main`.

Exit status 0 when every node has its results, 2 otherwise (the reason is logged).
"""

import sys

import void_nuke.actions

# No __main__ guard: `nuke -t` runs this file as a script, whatever it names the module.
sys.exit(void_nuke.actions.batch_main(sys.argv[1:]))
