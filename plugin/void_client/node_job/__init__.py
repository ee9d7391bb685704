"""What a host node's run needs from the client, baked for hosts that cannot import it.

A compositing node's run no longer runs inside the host (docs/nuke.md, "Host isolation"): the
host reads its knobs, hashes its inputs and plans its run folder with the standard-library
modules ``void_hostlink.node_settings``, ``node_fingerprint``, ``node_plan`` and
``node_status``, and runs ``void-remove run ... --progress jsonl`` (the CLI's code path) for the
job itself. The one thing left here is :mod:`.host_tables`, which writes
``void_hostlink/node_tables.py`` from the client's presets, job defaults and protocol, so the host
side never restates a number.
"""
