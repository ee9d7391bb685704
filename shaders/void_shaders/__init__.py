"""VOID Remove's kernels as package data: GLSL (panel preview), BlinkScript (Nuke), DCTL (Resolve).

``spec.json`` holds the numbers every kernel carries (``sync_constants.py`` keeps them equal;
``docs/shaders.md``). Read files through :func:`asset`, which works from a wheel, a zip or a
source checkout alike and names the file when an install lacks it.
"""

from __future__ import annotations

import json
import sys
from importlib.resources import files
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; Nuke 15 runs 3.10
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

SPEC_NAME = "spec.json"


class MissingAssetError(FileNotFoundError):
    """A kernel file this install should have shipped is not there."""


def asset(name: str) -> Traversable:
    """The packaged file ``name`` (e.g. ``quadmask_overlay.frag``); a clear error if missing."""
    path = files(__name__) / name
    if not path.is_file():
        raise MissingAssetError(
            f"the shader file {name!r} is missing from this install of void-remove ({files(__name__)}); "
            "reinstall the package (pip install --force-reinstall void-remove)"
        )
    return path


def read_text(name: str) -> str:
    return asset(name).read_text(encoding="utf-8")


def spec() -> dict[str, Any]:
    """The kernels' shared constants and file table (``spec.json``)."""
    return json.loads(read_text(SPEC_NAME))
