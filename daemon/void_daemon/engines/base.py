"""The engine interface: ``fill(window) -> frames``. Adding an engine touches one file."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass
class EngineConfig:
    """How the daemon runs engines; set from ``void-daemon serve`` flags or the environment."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    #: Local folder holding model weights (``void`` engine); never downloaded by us.
    weights_dir: str = ""
    memory_mode: str = "auto"  # full | model_offload | sequential_offload | auto
    dtype: str = "auto"  # auto | bfloat16 | float16 | float32
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class WindowInput:
    """One window as the engine sees it: already cropped to the ROI and sized for the engine.

    ``frames`` are float32 RGB ``(T, H, W, 3)`` in the engine's colour space (see
    ``Engine.colour``); ``quadmask`` holds VOID's levels 0/63/127/255 as uint8 ``(T, H, W)``.
    ``context`` marks frames that are already final (``chain`` seams): their mask is all keep.
    ``references`` are clean frames the artist painted (``--reference``), as ``(offset, rgb)``:
    ``offset`` is the frame's index relative to this window's first frame (negative or past the
    end for a reference outside the window), ``rgb`` float32 ``(H, W, 3)`` cropped, sized and
    coloured like ``frames``. An engine may ignore them (``void`` does; see docs/void-engine.md).
    With margins (``Engine.margin``) ``frames``, ``quadmask``, ``context`` and ``positions``
    include the frames beyond the window (source only: their fill is discarded) and the
    reference offsets count from the first of them; ``margins`` says how many of them lead and
    trail, so the engine may leave them unfilled (``propagate`` does: what it returns there is
    not read).
    ``in_place``: the caller does not need ``frames`` after :meth:`Engine.fill`, so the engine
    may write its fill into that array and return it (saving a window-sized output: the
    ``propagate`` engine does); callers that read the original plate afterwards leave it False.
    Either way the returned frames are the same values.
    """

    frames: np.ndarray
    quadmask: np.ndarray
    index: int = 0
    positions: tuple[int, ...] = ()
    context: np.ndarray | None = None
    prompt: str = ""
    seed: int = 42
    pass2: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    references: list[tuple[int, np.ndarray]] = field(default_factory=list)
    progress: Callable[[int, int, str], None] = lambda step, steps, stage: None
    cancelled: Callable[[], bool] = lambda: False
    in_place: bool = False
    margins: tuple[int, int] = (0, 0)


class Engine(ABC):
    """A removal engine. Subclasses set ``name``/``version`` and implement :meth:`fill`."""

    name: ClassVar[str] = ""
    #: Bumped when results change; part of the per-window cache key.
    version: ClassVar[str] = "1"
    #: ``"linear"`` (scene-linear plate values) or ``"display"`` (model space in [0, 1]).
    colour: ClassVar[str] = "linear"
    #: ``(h, w)`` the engine works at (the ROI is fitted to this aspect and resized), or None
    #: to take the ROI crop at its own size.
    model_size: ClassVar[tuple[int, int] | None] = None
    #: Every ``(h, w)`` the engine accepts, when it takes more than ``model_size`` both ways round.
    model_sizes: ClassVar[tuple[tuple[int, int], ...] | None] = None
    #: Frames on each side of a window the engine may read as sources ("margins"): the runner
    #: appends up to this many of the shot's frames before and after the window's own (clamped
    #: to the shot and to half the window, none before a ``chain`` window:
    #: ``void_client.windows.window_margins``), with their own quadmasks, and discards their
    #: fill. A window then sees background that is
    #: uncovered just beyond it. 0 for an engine whose window length is fixed (``void``).
    margin: ClassVar[int] = 0

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()

    @classmethod
    def availability(cls, config: EngineConfig) -> tuple[bool, str]:
        """Whether the engine can run here, and if not, what the user should do."""
        return True, ""

    @abstractmethod
    def fill(self, window: WindowInput) -> np.ndarray:
        """Return the filled RGB frames, float32 ``(T, H, W, 3)``, same shape as the input."""

    def close(self) -> None:
        """Free memory (GPU included). Called on cancel and shutdown."""
