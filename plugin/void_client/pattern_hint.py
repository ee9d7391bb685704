"""What is on disk when a sequence pattern matches nothing: "did you mean ...?" for the CLI.

A mistyped pattern (``plate_####.exr`` for ``plate.####.exr``, five ``#`` for four-digit
frames, ``.EXR`` for ``.exr``) used to be reported as "missing frames" with nothing to go on.
:func:`pattern_hint` lists the sequences in the pattern's folder, picks those that look like
what was asked for (same folder, similar name) and spells the pattern that would match them,
e.g. ``plate.1001-1060.exr exists; did you mean plate.####.exr?``. Kept free of
:mod:`void_client.sequence` imports so that module can call it (docs/architecture.md, client).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass

#: The last run of digits in a file name is its frame number (``shot_v2.1001.exr`` -> 1001).
_FRAME = re.compile(r"^(.*?)(-?\d+)(\D*)$")
#: At most this many sequences are named in one message.
MAX_HINTS = 3
#: How alike (difflib ratio of the names before the frame number) a sequence must be to be
#: offered; below it the folder's sequences are listed instead.
MIN_LIKENESS = 0.6


@dataclass(frozen=True)
class FoundSequence:
    """Files of one folder that share prefix, suffix and padding."""

    prefix: str
    suffix: str
    padding: int
    frames: tuple[int, ...]

    @property
    def pattern(self) -> str:
        return f"{self.prefix}{'#' * self.padding}{self.suffix}"

    def describe(self) -> str:
        """``plate.1001-1060.exr`` (or ``plate.1001-1060.exr (58 frames)`` with gaps)."""
        first, last = self.frames[0], self.frames[-1]
        span = f"{first:0{self.padding}d}"
        if first != last:
            span += f"-{last:0{self.padding}d}"
        gaps = len(self.frames) != last - first + 1
        return f"{self.prefix}{span}{self.suffix}" + (
            f" ({len(self.frames)} frames)" if gaps else ""
        )


def sequences_in(folder: str) -> list[FoundSequence]:
    """Every frame-numbered sequence among ``folder``'s files (hidden files skipped)."""
    groups: dict[tuple[str, str, int], list[int]] = {}
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    for name in names:
        if name.startswith(".") or not os.path.isfile(os.path.join(folder or ".", name)):
            continue
        m = _FRAME.match(name)
        if not m:
            continue
        prefix, digits, suffix = m.groups()
        groups.setdefault((prefix, suffix, len(digits.lstrip("-"))), []).append(int(digits))
    # Digit counts of one prefix/suffix are one sequence: zero-padded numbers (0001) fix the
    # padding; unpadded ones (1, 10, 100) are spelled with the fewest digits.
    merged: dict[tuple[str, str], list[tuple[int, list[int]]]] = {}
    for (prefix, suffix, padding), frames in groups.items():
        merged.setdefault((prefix, suffix), []).append((padding, frames))
    out = []
    for (prefix, suffix), parts in merged.items():
        padded = [p for p, fs in parts if any(f >= 0 and len(str(f)) < p for f in fs)]
        padding = max(padded) if padded else min(p for p, _ in parts)
        frames = sorted({f for _, fs in parts for f in fs})
        out.append(FoundSequence(prefix, suffix, padding, tuple(frames)))
    return out


def pattern_hint(prefix: str, padding: int, suffix: str) -> str:
    """One clause naming what exists beside a pattern that matches no file, or "".

    ``prefix``/``padding``/``suffix`` are a :class:`~void_client.sequence.SequencePattern`'s.
    """
    folder, base = os.path.split(prefix)
    if folder and not os.path.isdir(folder):
        return f"the folder {folder} does not exist"
    found = sequences_in(folder)
    if not found:
        return f"{folder or '.'} holds no frame-numbered files"
    stem = base.rstrip("._-").lower()
    ext = os.path.splitext(suffix)[1].lower()

    def likeness(s: FoundSequence) -> float:
        # The names matter more than the separators and padding around the frame number; a
        # different extension (.tif for .exr) halves the score.
        ratio = difflib.SequenceMatcher(None, stem, s.prefix.rstrip("._-").lower()).ratio()
        return ratio if os.path.splitext(s.suffix)[1].lower() == ext else ratio / 2

    ranked = sorted(found, key=lambda s: (-likeness(s), -len(s.frames), s.prefix))
    best = likeness(ranked[0])
    if best < MIN_LIKENESS:
        names = ", ".join(s.describe() for s in ranked[:MAX_HINTS])
        return f"{folder or '.'} holds {names}"
    close = [s for s in ranked if likeness(s) >= best - 0.1][:MAX_HINTS]
    exists = "; ".join(f"{s.describe()} exists" for s in close)
    spelled = " or ".join(os.path.join(folder, s.pattern) for s in close)
    return f"{exists}; did you mean {spelled}?"
