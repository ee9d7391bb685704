"""Where VOID's weights live on disk, and whether each file is there and whole. No torch here.

Expected layout (``EngineConfig.weights_dir`` or ``$VOID_WEIGHTS_DIR``)::

    <weights_dir>/
        CogVideoX-Fun-V1.5-5b-InP/      base model, diffusers layout
            transformer/  config.json, diffusion_pytorch_model.safetensors (or sharded + index)
            vae/          config.json, diffusion_pytorch_model.safetensors
            text_encoder/ config.json, model.safetensors (or sharded + index)
            tokenizer/    spiece.model (or tokenizer.json)
            scheduler/    scheduler_config.json
        void_pass1.safetensors           VOID transformer, pass 1
        void_pass2.safetensors           VOID transformer, pass 2 (optional: warped-noise refinement)

``weights_dir`` may also be the base model folder itself, with the two checkpoints next to its
sub-folders. Options ``base_dir``, ``pass1_path`` and ``pass2_path`` override each location.
Nothing is ever downloaded by the engine (``void-remove weights download`` does that).

Every safetensors file is checked from its header (:mod:`.checkpoint_header`): a truncated, empty
or foreign file, or a VOID checkpoint whose patch embedding is not the 48-channel one, is reported
by name here, so the engine refuses it when it is listed or loaded, before any job runs.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from void_client.errors import ErrorCode, VoidError
from void_daemon.engines.void.checkpoint_header import (
    FileStatus,
    Header,
    HeaderError,
    is_lfs_pointer,
    patch_in_channels,
    read_header,
)

ENV_WEIGHTS_DIR = "VOID_WEIGHTS_DIR"
BASE_MODEL_NAME = "CogVideoX-Fun-V1.5-5b-InP"
BASE_REPO = "alibaba-pai/CogVideoX-Fun-V1.5-5b-InP"
VOID_REPO = "netflix/void-model"
PASS1_FILE = "void_pass1.safetensors"
PASS2_FILE = "void_pass2.safetensors"
#: CogVideoX's latent channels and the 1.5 transformer's patch volume (patch_t × patch × patch),
#: used when the base configs cannot be read.
DEFAULT_LATENT_CHANNELS = 16
DEFAULT_PATCH_VOLUME = 8

#: Per component: the config file, then acceptable weight files (single file or shard index).
COMPONENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "transformer": (
        "config.json",
        ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json"),
    ),
    "vae": (
        "config.json",
        ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json"),
    ),
    "text_encoder": ("config.json", ("model.safetensors", "model.safetensors.index.json")),
    "tokenizer": ("", ("spiece.model", "tokenizer.json")),
    "scheduler": ("scheduler_config.json", ()),
}


def _lfs_pointer(path: Path) -> bool:
    return is_lfs_pointer(path)


@dataclass(frozen=True)
class FileCheck:
    """One expected file (or folder) and what is wrong with it, as ``weights check`` lists it."""

    role: str
    path: Path
    status: FileStatus
    size: int = 0
    detail: str = ""
    #: Needed for pass 1 (pass 2's checkpoint is optional).
    required: bool = True
    #: The command that puts this file in place.
    source: str = ""
    folder: bool = False

    @property
    def ok(self) -> bool:
        return self.status == FileStatus.OK

    def problem(self) -> str:
        """One line naming the file and what is wrong (empty when it is fine)."""
        where = f"{self.path}/" if self.folder else str(self.path)
        if self.status == FileStatus.OK:
            return ""
        if self.status == FileStatus.MISSING:
            return f"missing: {where}" + (f" ({self.detail})" if self.detail else "")
        if self.status == FileStatus.NOT_DOWNLOADED:
            return f"not downloaded (git-lfs pointer): {where}"
        return f"{self.status.value}: {where} ({self.detail})"


@functools.lru_cache(maxsize=256)
def _cached_header(path: str, size: int, mtime_ns: int) -> Header | HeaderError:
    """Headers are re-read only when a file changes (``hello`` asks on every connection)."""
    try:
        return read_header(Path(path))
    except HeaderError as exc:
        return exc


def _header(path: Path) -> Header:
    st = path.stat()
    got = _cached_header(str(path), st.st_size, st.st_mtime_ns)
    if isinstance(got, HeaderError):
        raise got
    return got


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class _Shapes:
    """What the VOID checkpoints must look like, from the base configs (defaults if unreadable)."""

    latent_channels: int = DEFAULT_LATENT_CHANNELS
    patch_volume: int = DEFAULT_PATCH_VOLUME
    inner_dim: int | None = None

    @classmethod
    def of(cls, base: Path | None) -> _Shapes:
        if base is None:
            return cls()
        tr = _read_json(base / "transformer" / "config.json")
        vae = _read_json(base / "vae" / "config.json")
        try:
            patch = int(tr.get("patch_size") or 2)
            volume = (
                patch * patch * int(tr.get("patch_size_t") or 1) if tr else DEFAULT_PATCH_VOLUME
            )
            heads, head_dim = tr.get("num_attention_heads"), tr.get("attention_head_dim")
            inner = int(heads) * int(head_dim) if heads and head_dim else None
            latent = int(vae.get("latent_channels") or DEFAULT_LATENT_CHANNELS)
        except (TypeError, ValueError):
            return cls()
        return cls(latent, volume, inner)


def _describe(header: Header, channels: int | None) -> str:
    text = f"{len(header.tensors)} tensors, {'/'.join(header.dtypes())}"
    return text + (f", patch embedding {channels} input channels" if channels else "")


def inspect_file(
    role: str,
    path: Path,
    kind: str = "",
    shapes: _Shapes | None = None,
    required: bool = True,
    source: str = "",
) -> FileCheck:
    """Check one file. ``kind``: ``"checkpoint"`` (a VOID pass checkpoint: 48-channel patch
    embedding), ``"base_transformer"`` (33 or 48 channels), ``"safetensors"`` (integrity only),
    ``"json"`` (parses), else presence only."""
    shapes = shapes or _Shapes()

    def check(status: FileStatus, size: int = 0, detail: str = "") -> FileCheck:
        return FileCheck(role, path, status, size, detail, required, source)

    if not path.is_file():
        return check(FileStatus.MISSING)
    size = path.stat().st_size
    if _lfs_pointer(path):
        return check(FileStatus.NOT_DOWNLOADED, size)
    if kind == "json":
        if not _read_json(path):
            status = FileStatus.EMPTY if size == 0 else FileStatus.CORRUPT
            return check(status, size, "not a JSON object")
        return check(FileStatus.OK, size)
    if kind not in ("checkpoint", "base_transformer", "safetensors"):
        if size == 0:
            return check(FileStatus.EMPTY, size, "0 bytes")
        return check(FileStatus.OK, size)
    try:
        header = _header(path)
    except HeaderError as exc:
        return check(exc.status, size, exc.detail)
    channels = patch_in_channels(header, shapes.patch_volume)
    described = _describe(header, channels)
    void_in, base_in = 3 * shapes.latent_channels, 2 * shapes.latent_channels + 1
    if kind == "checkpoint":
        patch = header.find("patch_embed.proj.weight")
        if patch is None:
            return check(
                FileStatus.WRONG_SHAPE,
                size,
                f"{described}; no transformer patch embedding: not a VOID checkpoint",
            )
        if channels != void_in:
            what = (
                "the base CogVideoX-Fun InP transformer's"
                if channels == base_in
                else "not a VOID transformer's"
            )
            return check(
                FileStatus.WRONG_SHAPE,
                size,
                f"patch embedding {list(patch.shape)} has {channels} input channels, {what}; "
                f"a VOID checkpoint has {void_in}",
            )
        if shapes.inner_dim and patch.shape[0] != shapes.inner_dim:
            return check(
                FileStatus.WRONG_SHAPE,
                size,
                f"patch embedding width {patch.shape[0]}, the base transformer's is "
                f"{shapes.inner_dim}: a checkpoint for another model size",
            )
    if kind == "base_transformer" and channels is not None and channels not in (base_in, void_in):
        return check(
            FileStatus.WRONG_SHAPE,
            size,
            f"patch embedding has {channels} input channels; the InP base has {base_in}",
        )
    return check(FileStatus.OK, size, described)


@dataclass(frozen=True)
class WeightsLayout:
    """Resolved weight locations; ``root`` is None when no folder is configured."""

    root: Path | None
    base: Path | None
    pass1: Path | None
    pass2: Path | None

    @classmethod
    def resolve(cls, weights_dir: str = "", options: dict[str, Any] | None = None) -> WeightsLayout:
        options = options or {}
        raw = weights_dir or os.environ.get(ENV_WEIGHTS_DIR, "")
        root = Path(raw).expanduser() if raw else None

        def place(key: str, default: Path | None) -> Path | None:
            value = options.get(key)
            if not value:
                return default
            p = Path(str(value)).expanduser()
            return p if p.is_absolute() or root is None else root / p

        base = None
        if root is not None:
            nested = root / BASE_MODEL_NAME
            base = nested if nested.is_dir() or not (root / "transformer").is_dir() else root
        base = place("base_dir", base)
        pass1 = place("pass1_path", root / PASS1_FILE if root else None)
        pass2 = place("pass2_path", root / PASS2_FILE if root else None)
        return cls(root=root, base=base, pass1=pass1, pass2=pass2)

    # -- where each file comes from ----------------------------------------------------------

    def _root_text(self) -> str:
        return str(self.root) if self.root is not None else "<weights_dir>"

    def _base_text(self) -> str:
        return str(self.base) if self.base is not None else f"{self._root_text()}/{BASE_MODEL_NAME}"

    def base_command(self, component: str = "") -> str:
        include = f" --include '{component}/*'" if component else ""
        return f"huggingface-cli download {BASE_REPO}{include} --local-dir {self._base_text()}"

    def checkpoint_command(self, path: Path | None, name: str) -> str:
        folder = str(path.parent) if path is not None else self._root_text()
        return f"huggingface-cli download {VOID_REPO} {name} --local-dir {folder}"

    # -- checks ------------------------------------------------------------------------------

    def checks(self) -> list[FileCheck]:
        """Every expected file, pass 2's included (``required=False``), in the order listed."""
        if self.base is None or self.pass1 is None:
            return []
        out: list[FileCheck] = []
        shapes = _Shapes.of(self.base)
        if not self.base.is_dir():
            out.append(
                FileCheck(
                    "base model",
                    self.base,
                    FileStatus.MISSING,
                    detail=f"the {BASE_MODEL_NAME} base model folder",
                    source=self.base_command(),
                    folder=True,
                )
            )
        else:
            for component, (config_name, weights) in COMPONENTS.items():
                out += self._component(component, config_name, weights, shapes)
        out.append(
            inspect_file(
                "VOID pass 1",
                self.pass1,
                "checkpoint",
                shapes,
                source=self.checkpoint_command(self.pass1, PASS1_FILE),
            )
        )
        pass2 = self.pass2 if self.pass2 is not None else self.pass1.parent / PASS2_FILE
        out.append(
            inspect_file(
                "VOID pass 2 (optional)",
                pass2,
                "checkpoint",
                shapes,
                required=False,
                source=self.checkpoint_command(pass2, PASS2_FILE),
            )
        )
        return out

    def _component(
        self, component: str, config_name: str, weights: tuple[str, ...], shapes: _Shapes
    ) -> list[FileCheck]:
        assert self.base is not None
        folder = self.base / component
        source = self.base_command(component)
        role = f"base {component}"
        if not folder.is_dir():
            return [FileCheck(role, folder, FileStatus.MISSING, source=source, folder=True)]
        out = []
        if config_name:
            out.append(inspect_file(role, folder / config_name, "json", source=source))
        if not weights:
            return out
        kind = "base_transformer" if component == "transformer" else "safetensors"
        if not weights[0].endswith(".safetensors"):
            kind = ""  # the tokenizer: presence only
        for name in weights:
            path = folder / name
            if not path.exists():
                continue
            if not name.endswith(".index.json"):
                return out + [inspect_file(role, path, kind, shapes, source=source)]
            try:
                shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                detail = f"unreadable shard index ({exc})"
                return out + [FileCheck(role, path, FileStatus.CORRUPT, 0, detail, source=source)]
            return out + [
                inspect_file(role, folder / s, kind, shapes, source=source) for s in shards
            ]
        return out + [FileCheck(role, folder / weights[0], FileStatus.MISSING, source=source)]

    def problems(self, pass2: bool = False) -> list[str]:
        """What is missing or unusable, one line each (empty when everything needed is there)."""
        if self.base is None or self.pass1 is None:
            return [
                f"no weights folder configured (EngineConfig.weights_dir or ${ENV_WEIGHTS_DIR})"
            ]
        return [c.problem() for c in self.checks() if not c.ok and (c.required or pass2)]

    def pass2_problem(self) -> str:
        """Why pass 2 cannot run (empty when its checkpoint is there and whole)."""
        bad = [c.problem() for c in self.checks() if not c.required and not c.ok]
        return bad[0] if bad else ("" if self.pass1 is not None else "no weights folder")

    def has_pass2(self) -> bool:
        return self.pass2 is not None and not self.pass2_problem()

    def how_to_get(self) -> str:
        """The commands that fetch the weights into this layout (for the user to run)."""
        root = self._root_text()
        return (
            "Get them with (once, on a machine with network access; or void-remove weights "
            "download):\n"
            f"  huggingface-cli download {BASE_REPO} --local-dir {self._base_text()}\n"
            f"  huggingface-cli download {VOID_REPO} {PASS1_FILE} {PASS2_FILE} --local-dir {root}\n"
            f"then point the daemon at the folder (EngineConfig.weights_dir or ${ENV_WEIGHTS_DIR}={root})."
        )

    def missing_message(self, pass2: bool = False) -> str:
        problems = self.problems(pass2)
        if not problems:
            return ""
        where = f" in {self.root}" if self.root is not None else ""
        lines = "\n".join(f"  {p}" for p in problems)
        return f"VOID weights are incomplete or unusable{where}:\n{lines}\n{self.how_to_get()}"

    def require(self, pass2: bool = False) -> tuple[Path, Path]:
        """Raise ``WEIGHTS_MISSING`` naming every missing or damaged file and what is wrong with
        it, with the commands to fetch them; else return ``(base, pass1)``, both known to be set."""
        message = self.missing_message(pass2)
        if message:
            raise VoidError(ErrorCode.WEIGHTS_MISSING, message, "weights_dir")
        # problems() reports an unset base or pass1, so an empty message means both are set
        assert self.base is not None and self.pass1 is not None
        return self.base, self.pass1

    def require_pass2(self) -> Path:
        """:meth:`require` with pass 2, returning the pass-2 checkpoint's path."""
        _, pass1 = self.require(pass2=True)
        return self.pass2 if self.pass2 is not None else pass1.parent / PASS2_FILE
