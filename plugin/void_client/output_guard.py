"""Sources are sacred: refuse any output frame that is also an input frame, before anything runs.

The same file can be spelled many ways: ``s.####.exr``, ``s.%04d.exr`` and ``s.$F4.exr`` for
the same frame, a symlinked folder, ``..`` segments, a hard link, a different letter case on a
case-insensitive filesystem (macOS, Windows). Every input and output frame is therefore resolved
to the real path of its folder plus its name (``os.path.normcase``), and, for files that exist,
to their (device, inode): a match on either is an overlap. See docs/reliability.md, "Sources and
outputs" and docs/architecture.md (the client checks before it sends; the daemon's path mode
calls :func:`check_outputs_disjoint` on the paths it is given).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from void_client.errors import ErrorCode, VoidError
from void_client.sequence import SequencePattern


def real_path(path: str) -> str:
    """The file's real location: symlinks and ``..`` in its folder resolved, case normalised.

    The name itself is resolved too when it is a symlink (writing through it would replace
    what it points to on some writers, and the target is what the user cares about).
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.islink(path):
        path = os.path.realpath(path)
    folder, name = os.path.split(path)
    return os.path.normcase(os.path.join(os.path.realpath(folder), name))


def same_file_key(path: str) -> tuple[str, tuple[int, int] | None]:
    """(real path, (device, inode) when the file exists): two paths with either equal are one file."""
    try:
        st = os.stat(path)
        ident: tuple[int, int] | None = (st.st_dev, st.st_ino)
    except OSError:
        ident = None
    return real_path(path), ident


def _find_overlap(
    inputs: Iterable[tuple[str, str]], outputs: Iterable[str]
) -> tuple[str, str, str] | None:
    """(label, input path, output path) of the first output that is an input, or None."""
    by_path: dict[str, tuple[str, str]] = {}
    by_inode: dict[tuple[int, int], tuple[str, str]] = {}
    for label, path in inputs:
        if not path:
            continue
        key, ident = same_file_key(path)
        by_path.setdefault(key, (label, path))
        if ident is not None:
            by_inode.setdefault(ident, (label, path))
    for out in outputs:
        key, ident = same_file_key(out)
        hit = by_path.get(key) or (by_inode.get(ident) if ident is not None else None)
        if hit is not None:
            return hit[0], hit[1], out
    return None


def check_outputs_disjoint(inputs: Sequence[str], outputs: Sequence[str]) -> None:
    """Refuse when any output file is one of the input files (concrete per-frame paths).

    For the daemon's path mode, which gets one path per frame and role: call it with every
    plate/matte path of the job and every output path before the job is accepted.
    """
    hit = _find_overlap((("input", p) for p in inputs), outputs)
    if hit is not None:
        _, src, out = hit
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"the output {out} would overwrite the input frame {os.path.abspath(src)}; "
            "choose another output pattern",
            "out",
        )


def check_job_paths(
    inputs: Sequence[tuple[str, SequencePattern]],
    out: SequencePattern,
    frames: Sequence[int],
    field: str = "out",
    flag: str = "--out",
) -> None:
    """Refuse an output pattern that would write over any frame of an input sequence.

    ``inputs``: (role, pattern) with roles such as ``"plate"``, ``"remove matte"``; channel
    selectors already stripped. Every frame of the job is checked, whether on disk yet or not.
    """
    pairs = [(role, pat.path(f)) for role, pat in inputs for f in frames]
    hit = _find_overlap(pairs, (out.path(f) for f in frames))
    if hit is not None:
        role, src, _ = hit
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"the output {out} would overwrite the {role}'s frame {os.path.abspath(src)} "
            f"(sources are never written); choose another {flag}",
            field,
        )
