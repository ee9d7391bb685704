"""What decides a run's pixels, as one hash: settings, range and the upstream graph.

Standard library only, Python 3.6 (docs/nuke.md, "Host isolation"): the stale check, the render
hook and the run-folder lookup run inside the host's process. A host walks its own node graph
through the callbacks of :func:`upstream_order` and :func:`upstream_digest`; :func:`fingerprint`
combines the digests with the settings. The run's folder is named by the fingerprint
(:func:`void_hostlink.node_plan.plan_run`), so unchanged inputs find an earlier run's results.
"""

import hashlib
import json
from typing import (  # noqa: F401 (Dict, Set, Tuple: used in type comments)
    Any,
    Callable,
    Dict,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
)

from void_hostlink.node_settings import NodeSettings

T = TypeVar("T")

#: Version of the fingerprint's recipe: bump it when what goes into it changes meaning.
#: 2: the host's ``extra`` carries the matte channels as selected, no longer a Link knob's
#: ``toScript()`` (which may be the link's name: issue 16, finding 10). Unchanged by the move
#: out of the client: the same payload hashes the same, so earlier runs' results are found.
FINGERPRINT_VERSION = 2


def upstream_order(
    starts: Sequence[Optional[T]],
    inputs_of: Callable[[T], Sequence[Optional[T]]],
    key_of: Callable[[T], Hashable],
) -> List[T]:
    """Every node upstream of ``starts`` (included), each once, inputs before the nodes they feed."""
    out = []  # type: List[T]
    done = set()  # type: Set[Hashable]
    for root in starts:
        if root is None:
            continue
        stack = [(root, False)]  # type: List[Tuple[T, bool]]
        active = set()  # type: Set[Hashable]
        while stack:
            node, expanded = stack.pop()
            key = key_of(node)
            if key in done:
                continue
            if expanded:
                done.add(key)
                active.discard(key)
                out.append(node)
                continue
            active.add(key)
            stack.append((node, True))
            stack.extend(
                (i, False)
                for i in reversed(list(inputs_of(node)))
                if i is not None and key_of(i) not in done and key_of(i) not in active
            )
    return out


def upstream_digest(
    starts: Sequence[Optional[T]],
    inputs_of: Callable[[T], Sequence[Optional[T]]],
    key_of: Callable[[T], Hashable],
    describe: Callable[[T], str],
) -> List[str]:
    """One digest per start node, of it and everything upstream of it (a Merkle hash).

    A node's digest covers its own description and its inputs' digests in input order, so a
    change anywhere upstream, or a rewiring, changes it, while moving nodes around (which the
    host's ``describe`` leaves out) does not. Shared upstream nodes are hashed once; an
    unconnected input or a cycle (through expressions) hashes as a fixed marker.
    """
    memo = {}  # type: Dict[Hashable, str]
    for node in upstream_order(starts, inputs_of, key_of):  # inputs first: their digests exist
        h = hashlib.sha256(describe(node).encode("utf-8"))
        for i in inputs_of(node):
            h.update(b"\0" + (memo.get(key_of(i), "cycle") if i is not None else "none").encode())
        memo[key_of(node)] = h.hexdigest()
    return [memo[key_of(r)] if r is not None else "none" for r in starts]


def fingerprint(
    settings: NodeSettings,
    first: int,
    last: int,
    upstream: Iterable[str],
    extra: Optional[Mapping[str, Any]] = None,
) -> str:
    """A stable hash of everything that decides the result: settings, range and upstream digests.

    The daemon address and the output folder are left out: they change where, not what.
    """
    payload = {
        "v": FINGERPRINT_VERSION,
        "settings": settings.job_settings(),
        "range": [first, last],
        "upstream": list(upstream),
        "extra": dict(extra or {}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
