"""What the Resolve side needs from the client's tables, read from the tables generated for
every host (``void_hostlink.node_tables``, written by ``python -m
void_client.node_job.host_tables --write`` from the client's one definition), so Resolve's
Python never imports the client (docs/architecture.md, "Host isolation").
"""

from void_hostlink.node_tables import TABLES

DEFAULT_ENDPOINT = TABLES["DEFAULT_ENDPOINT"]  # type: str
#: (name, description, turns pass 2 on) per artist preset, in the client's order.
PRESETS = tuple(
    (p["name"], p["description"], bool(p["settings"].get("pass2"))) for p in TABLES["PRESETS"]
)
