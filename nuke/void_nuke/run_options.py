"""The node's output, stereo, reference and layer knobs, read from Nuke, as ``void-remove run``
flags: what the node's run appends to its command line (docs/nuke.md, "Knobs").

The decisions are :func:`void_nuke.node_spec.run_arguments` (plain data in, flags out); this
module only reads the knobs through :mod:`void_nuke.host`. Runs inside Nuke: standard library,
:mod:`void_hostlink` and :mod:`void_nuke` only, Python 3.7 syntax.
"""

from __future__ import annotations

from typing import Any

from void_hostlink import HostLinkError
from void_nuke import host
from void_nuke import node_spec as N

BAD_SPEC = "bad_spec"


def read_options(node: Any) -> N.RunOptions:
    """The node's run options; ``plate_layer`` through its Link knob (the channel set itself,
    as a Link knob's ``toScript()`` may give the link's name)."""
    values = host.knob_values(node, ("stereo_view", "reference_frames", "grade_outputs"))
    link = next(k.link for k in N.KNOBS if k.name == "plate_layer")
    values["plate_layer"] = host.linked_value(node, link)
    return N.RunOptions.from_values(values)


def run_arguments(node: Any, result_pattern: str) -> list[str]:
    """The flags to append to ``void-remove run`` for a run whose ``--out`` is
    ``result_pattern``; a knob that cannot run raises ``HostLinkError`` (bad_spec) naming it."""
    try:
        return N.run_arguments(read_options(node), result_pattern, host.views())
    except N.RunOptionError as exc:
        raise HostLinkError(BAD_SPEC, exc.message) from exc


def fingerprint_line(node: Any) -> str:
    """The options as one stable line, for the run's fingerprint: a changed reference, view,
    plate layer or grade-outputs switch is a different run."""
    try:
        return N.run_option_values(read_options(node))
    except N.RunOptionError as exc:
        raise HostLinkError(BAD_SPEC, exc.message) from exc
