"""Host-side logic that is specific to one host application but needs none of its API.

Each host's glue package (``void_resolve``, ``void_nuke``) talks to its application through one
thin seam module; the decisions (what to render, how to name it, where to put the result, what
to undo on failure) live here so they can be tested without the application. Nothing in the
core (protocol, client, sequences, sessions) imports this package.
"""
