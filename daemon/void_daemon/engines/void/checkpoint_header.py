"""Check weight files from their safetensors header alone: pure Python, no torch, no tensor data read.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON (tensor
name -> ``{"dtype", "shape", "data_offsets": [begin, end]}``, plus an optional ``__metadata__``),
then the data section, whose length is exactly the largest ``end``. Reading the header is enough to
tell a complete file from a truncated, empty or foreign one, and to read the VOID checkpoint's
patch-embedding shape (48 input channels; the base CogVideoX-Fun InP transformer has 33), so the
daemon refuses a bad file by name before any job runs (``docs/void-engine.md``, "Weights").
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

#: Bytes per element of each safetensors dtype.
DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
#: A header longer than this is not a weights file (the 5B transformer's is ~100 KB).
MAX_HEADER_BYTES = 100 * 1024 * 1024
LFS_MAGIC = b"version https://git-lfs"
PATCH_EMBED = "patch_embed.proj.weight"
#: Training-wrapper prefixes a checkpoint's names may carry (as :mod:`.loading` strips them).
PREFIXES = ("", "transformer.", "model.", "module.", "_orig_mod.", "diffusion_model.")


class FileStatus(str, Enum):
    """What ``void-remove weights check`` says about one file."""

    OK = "present"
    MISSING = "missing"
    NOT_DOWNLOADED = "not-downloaded"  # a git-lfs pointer checked out instead of the file
    EMPTY = "empty"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"  # not a safetensors file, or a header that contradicts itself
    WRONG_SHAPE = "wrong-shape"  # a valid file, but not the one expected here


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class Header:
    """A parsed safetensors header and the size the file must have."""

    tensors: dict[str, TensorInfo]
    header_bytes: int
    data_bytes: int
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def expected_size(self) -> int:
        return 8 + self.header_bytes + self.data_bytes

    def dtypes(self) -> list[str]:
        return sorted({t.dtype for t in self.tensors.values()})

    def find(self, name: str) -> TensorInfo | None:
        """Tensor ``name`` under any of the training-wrapper prefixes."""
        for prefix in PREFIXES:
            info = self.tensors.get(prefix + name)
            if info is not None:
                return info
        return None


class HeaderError(ValueError):
    """A file that is not a usable safetensors file; ``status`` says how."""

    def __init__(self, status: FileStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def is_lfs_pointer(path: Path) -> bool:
    """A git-lfs pointer file checked out instead of the weights."""
    try:
        if path.stat().st_size > 1024:
            return False
        with path.open("rb") as f:
            return f.read(len(LFS_MAGIC)) == LFS_MAGIC
    except OSError:
        return False


def read_header(path: Path) -> Header:
    """Parse ``path``'s header and check it against the file size; :class:`HeaderError` if bad."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise HeaderError(FileStatus.MISSING, f"cannot stat ({exc.strerror})") from exc
    if size == 0:
        raise HeaderError(FileStatus.EMPTY, "0 bytes")
    if is_lfs_pointer(path):
        raise HeaderError(FileStatus.NOT_DOWNLOADED, "a git-lfs pointer, not the weights")
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise HeaderError(FileStatus.TRUNCATED, f"{size} bytes, shorter than a header")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES:
                raise HeaderError(
                    FileStatus.CORRUPT, f"header length {n} bytes: not a safetensors file"
                )
            first = f.read(1)
            if first != b"{":
                raise HeaderError(
                    FileStatus.CORRUPT, "no JSON header after the length: not a safetensors file"
                )
            if 8 + n > size:
                raise HeaderError(
                    FileStatus.TRUNCATED,
                    f"{size} bytes, but its header alone needs {8 + n}",
                )
            raw = first + f.read(n - 1)
    except OSError as exc:
        raise HeaderError(FileStatus.CORRUPT, f"unreadable ({exc.strerror})") from exc
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HeaderError(
            FileStatus.CORRUPT, f"header is not JSON ({exc}): not a safetensors file"
        ) from exc
    if not isinstance(parsed, dict):
        raise HeaderError(FileStatus.CORRUPT, "header is not a JSON object")
    metadata = parsed.pop("__metadata__", None) or {}
    tensors: dict[str, TensorInfo] = {}
    for name, entry in parsed.items():
        try:
            dtype = str(entry["dtype"])
            shape = tuple(int(d) for d in entry["shape"])
            begin, end = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise HeaderError(FileStatus.CORRUPT, f"tensor {name!r}: malformed entry") from exc
        if dtype not in DTYPE_BYTES:
            raise HeaderError(FileStatus.CORRUPT, f"tensor {name!r}: unknown dtype {dtype}")
        if end - begin != math.prod(shape) * DTYPE_BYTES[dtype] or begin < 0:
            raise HeaderError(
                FileStatus.CORRUPT,
                f"tensor {name!r}: {end - begin} bytes for shape {list(shape)} {dtype}",
            )
        tensors[name] = TensorInfo(dtype, shape, begin, end)
    data = max((t.end for t in tensors.values()), default=0)
    header = Header(tensors, n, data, metadata if isinstance(metadata, dict) else {})
    if size < header.expected_size:
        raise HeaderError(
            FileStatus.TRUNCATED,
            f"{size} bytes of {header.expected_size} "
            f"({header.expected_size - size} missing: an interrupted download?)",
        )
    if size > header.expected_size:
        raise HeaderError(
            FileStatus.CORRUPT,
            f"{size} bytes, {size - header.expected_size} more than its header describes",
        )
    if not tensors:
        raise HeaderError(FileStatus.WRONG_SHAPE, "holds no tensors")
    return header


def patch_in_channels(header: Header, patch_volume: int) -> int | None:
    """Input channels of the transformer's patch embedding (``(dim, channels × volume)`` for the
    CogVideoX 1.5 linear embedding, ``(dim, channels, p, p)`` for a convolution), or None."""
    info = header.find(PATCH_EMBED)
    if info is None or len(info.shape) < 2:
        return None
    if len(info.shape) == 2:
        return info.shape[1] // patch_volume if info.shape[1] % patch_volume == 0 else None
    return info.shape[1]
