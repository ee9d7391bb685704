"""The progress stream's vocabulary: the one definition of its event names.

``void-remove run|attach --progress jsonl`` writes one JSON object a line on stdout
(void_client.cli.progress_stream imports these names); hosts read it with :func:`parse_event`.
The schema is docs/protocol.md, "Progress stream (jsonl)".
"""

import json
from typing import Any, Dict, Optional

EVENT_START = "start"
EVENT_STATE = "state"
EVENT_FRAME = "frame"
EVENT_WARNING = "warning"
EVENT_DONE = "done"
EVENT_FAILED = "failed"
EVENT_CANCELLED = "cancelled"

# Exactly one of these ends every stream the worker finishes (a crash ends it with none).
FINAL_EVENTS = frozenset([EVENT_DONE, EVENT_FAILED, EVENT_CANCELLED])

# Error code the host side synthesizes when the worker exits without a final event.
WORKER_DIED = "worker_died"


def parse_event(line: str) -> Optional[Dict[str, Any]]:
    """The event on one stdout line, or None for a line that is not a JSON object with an
    ``event`` name (a stray print must not break the host)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        return None
    return obj


def is_final(event: Optional[Dict[str, Any]]) -> bool:
    """Whether ``event`` ends the stream."""
    return event is not None and event.get("event") in FINAL_EVENTS
