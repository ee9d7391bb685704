"""Size checks a request passes before the daemon does any work for it, and bounded replies.

A 60-byte message must not cost the daemon a gigabyte: every string a client sends (names,
ids, patterns, paths) has a length limit, the padding width of a frame pattern is validated
before a single path is formatted, nested structures have a depth limit, and the ``status``
reply is capped in entries and bytes (saying how many jobs were left out). The numbers are
fields of :class:`~void_daemon.server.Limits` where an operator may want to change them and
constants here where they are part of the protocol. See ``docs/reliability.md`` ("Admission,
memory and connections") and ``docs/protocol.md``.
"""

from __future__ import annotations

import errno
import re
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.units import format_bytes

#: Digits a frame number may be padded to (``%010d``): frame numbers fit in 10 digits, and a
#: wider pattern would only make the daemon format gigantic paths (``%0900000000d`` is 900 MB).
MAX_PADDING = 10
#: Characters of a job name, shown in panels and logs.
MAX_NAME_CHARS = 256
#: Characters of a job id (a folder name under the jobs folder).
MAX_JOB_ID_CHARS = 64
#: Characters of a file path or pattern a client names (PATH_MAX on Linux).
MAX_PATH_CHARS = 4096
#: Characters of a colour space name.
MAX_COLOURSPACE_CHARS = 256
#: Nesting of maps and lists inside ``engine_options``.
ENGINE_OPTIONS_NESTING = 16
#: Bytes of ``engine_options`` once encoded as JSON.
MAX_ENGINE_OPTIONS_BYTES = 64 << 10
#: Job ids reserved for the daemon's own folders under the jobs folder.
RESERVED_JOB_IDS = frozenset({"cache", "tmp", "lock"})

# The same three spellings, in the same order, as ``void_client.sequence.SequencePattern``;
# the width is captured as text so that it is measured before it is ever turned into a number.
_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%(0?)(\d*)d")
_HOUDINI = re.compile(r"\$F(\d*)")


def check_padding(pattern: str, field: str) -> None:
    """Refuse a frame pattern whose padding is wider than :data:`MAX_PADDING` digits.

    Mirrors the choice :meth:`SequencePattern.parse` makes (the last match of the first
    spelling found), so every pattern that passes here is safe to parse and expand.
    """
    for rx, width in (
        (_HASHES, lambda m: str(len(m.group(0)))),
        (_PRINTF, lambda m: m.group(2) or "1"),
        (_HOUDINI, lambda m: m.group(1) or "1"),
    ):
        found = None
        for found in rx.finditer(pattern):  # noqa: B007  (the last match is the frame number)
            pass
        if found is None:
            continue
        digits = width(found).lstrip("0") or "0"
        if len(digits) > 2 or int(digits) > MAX_PADDING:
            shown = found.group(0) if len(found.group(0)) <= 16 else found.group(0)[:12] + "..."
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"the frame number {shown!r} pads to {'over 99' if len(digits) > 2 else digits} "
                f"digits; the padding is at most {MAX_PADDING} digits (e.g. name.%04d.exr)",
                field,
            )
        return


def check_text(value: Any, limit: int, field: str, what: str = "") -> None:
    """Refuse a string longer than ``limit`` characters (non-strings are left to the spec)."""
    if isinstance(value, str) and len(value) > limit:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"{what or field} is {len(value)} characters long; at most {limit} are accepted",
            field,
        )


def check_spec_sizes(spec: Any) -> None:
    """Length limits on a raw submitted spec, checked before it is parsed or expanded."""
    if not isinstance(spec, Mapping):
        return  # JobSpec.from_dict says what is wrong with it
    check_text(spec.get("name"), MAX_NAME_CHARS, "name", "the job name")
    check_text(spec.get("job_id"), MAX_JOB_ID_CHARS, "job_id", "the job id")
    check_text(spec.get("out_pattern"), MAX_PATH_CHARS, "out_pattern", "the output pattern")
    check_text(spec.get("ocio_config"), MAX_PATH_CHARS, "ocio_config", "the OCIO config path")
    check_text(spec.get("colourspace"), MAX_COLOURSPACE_CHARS, "colourspace", "the colour space")
    job_id = spec.get("job_id")
    if isinstance(job_id, str) and job_id.lower() in RESERVED_JOB_IDS:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"job id {job_id!r} is reserved for the daemon's own folders; pick another id",
            "job_id",
        )
    # The header's nesting was bounded at decode (protocol.MAX_NESTING); engine_options sit
    # two levels down, and JobSpec.to_dict/json walk them recursively, so they get less.
    P.check_nesting(spec.get("engine_options"), ENGINE_OPTIONS_NESTING, "engine_options")
    if isinstance(spec.get("out_pattern"), str):
        check_padding(spec["out_pattern"], "out_pattern")
    layer_patterns = spec.get("layer_patterns")
    if isinstance(layer_patterns, Mapping):  # path mode's fill/matte sequences, as out_pattern
        if len(layer_patterns) > 8:
            raise VoidError(ErrorCode.BAD_SPEC, "too many layer_patterns", "layer_patterns")
        for pattern in layer_patterns.values():
            check_text(pattern, MAX_PATH_CHARS, "layer_patterns", "a layer's pattern")
            if isinstance(pattern, str):
                check_padding(pattern, "layer_patterns")


def check_path_entry(item: Mapping[str, Any]) -> None:
    """Length limits on one path-mode ``frames`` entry."""
    for key in ("plate", "remove", "affected"):
        check_text(item.get(key), MAX_PATH_CHARS, f"paths.{key}", f"the {key} path")


# ----------------------------------------------------------------------------- status replies


def bounded_status(
    entries: Sequence[Mapping[str, Any]], max_entries: int, max_bytes: int
) -> tuple[list[Any], int]:
    """The newest ``entries`` that fit ``max_entries`` and about ``max_bytes`` once encoded,
    with long strings truncated; returns them (oldest first) and how many were left out.

    Jobs journalled before names had a limit may carry megabyte names: they are shortened to
    :data:`MAX_NAME_CHARS` (with an ellipsis) rather than sent whole.
    """
    kept: list[Any] = []
    used = 64  # the envelope: type, id, job
    for entry in reversed(entries):
        if len(kept) >= max_entries:
            break
        e = _shorten(entry)
        size = _approx_size(e)
        if used + size > max_bytes:
            break
        kept.append(e)
        used += size
    kept.reverse()
    return kept, len(entries) - len(kept)


def _shorten(value: Any, limit: int = MAX_NAME_CHARS) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[: limit - 1] + "…"
    if isinstance(value, Mapping):
        return {k: _shorten(v, 4 * limit if k == "message" else limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value[:64]]
    return value


def _approx_size(value: Any) -> int:
    """An upper bound of ``value``'s msgpack size, without encoding it."""
    if isinstance(value, str):
        return 5 + 4 * len(value)
    if isinstance(value, dict):
        return 5 + sum(_approx_size(k) + _approx_size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 5 + sum(_approx_size(v) for v in value)
    return 9


# ----------------------------------------------------------------------------- disk errors


def free_bytes(folder: Any) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


#: How numpy reports a short write (``ndarray.tofile``): an OSError without errno.
_SHORT_WRITE = re.compile(r"(\d+) requested and (\d+) written")


def disk_error(exc: OSError, folder: Any, what: str, job: str | None = None) -> VoidError:
    """A one-line :class:`VoidError` for an ``OSError`` met while storing ``what`` in ``folder``.

    A full disk (ENOSPC, EDQUOT, or numpy's "163840 requested and 116672 written") says so, with
    the folder and its free space, and what to do; other errors keep their own reason.
    """
    free = free_bytes(folder)
    short = _SHORT_WRITE.search(str(exc))
    full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)) or short is not None
    if full:
        room = f"{format_bytes(free)} free" if free is not None else "no space left"
        # The OS's own words when it gave them ("No space left on device"), never numpy's.
        reason = exc.strerror if exc.errno is not None and exc.strerror else "the disk is full"
        return VoidError(
            ErrorCode.IO_ERROR,
            f"cannot store {what} in {folder}: {reason} ({room}); free some space or start "
            f"the daemon with --jobs-dir on a larger disk",
            "jobs_dir",
            job,
        )
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    return VoidError(
        ErrorCode.IO_ERROR, f"cannot store {what} in {folder}: {reason}", "jobs_dir", job
    )


__all__ = [
    "MAX_COLOURSPACE_CHARS",
    "MAX_ENGINE_OPTIONS_BYTES",
    "MAX_JOB_ID_CHARS",
    "MAX_NAME_CHARS",
    "ENGINE_OPTIONS_NESTING",
    "MAX_PADDING",
    "MAX_PATH_CHARS",
    "RESERVED_JOB_IDS",
    "bounded_status",
    "check_padding",
    "check_path_entry",
    "check_spec_sizes",
    "check_text",
    "disk_error",
    "free_bytes",
]
