"""Where VOID's weights live on disk, and what is missing. No torch here: listing engines is cheap.

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
Nothing is ever downloaded by the engine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from void_client.errors import ErrorCode, VoidError

ENV_WEIGHTS_DIR = "VOID_WEIGHTS_DIR"
BASE_MODEL_NAME = "CogVideoX-Fun-V1.5-5b-InP"
BASE_REPO = "alibaba-pai/CogVideoX-Fun-V1.5-5b-InP"
VOID_REPO = "netflix/void-model"
PASS1_FILE = "void_pass1.safetensors"
PASS2_FILE = "void_pass2.safetensors"

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

_LFS_MAGIC = b"version https://git-lfs"


def _lfs_pointer(path: Path) -> bool:
    """A git-lfs pointer file checked out instead of the weights."""
    try:
        if path.stat().st_size > 1024:
            return False
        with path.open("rb") as f:
            return f.read(len(_LFS_MAGIC)) == _LFS_MAGIC
    except OSError:
        return False


def _check_file(path: Path, problems: list[str]) -> bool:
    if not path.is_file():
        problems.append(f"missing: {path}")
        return False
    if _lfs_pointer(path):
        problems.append(f"not downloaded (git-lfs pointer): {path}")
        return False
    return True


def _check_weights(folder: Path, names: tuple[str, ...], problems: list[str]) -> None:
    """One of ``names`` must exist; for a shard index, every shard it lists must exist too."""
    for name in names:
        path = folder / name
        if not path.exists():
            continue
        if name.endswith(".index.json"):
            try:
                shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError) as exc:
                problems.append(f"unreadable shard index {path} ({exc})")
                return
            for shard in shards:
                _check_file(folder / shard, problems)
        else:
            _check_file(path, problems)
        return
    problems.append(f"missing: {folder / names[0]}")


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

    def problems(self, pass2: bool = False) -> list[str]:
        """What is missing or unusable, one line each (empty when everything needed is there)."""
        if self.base is None or self.pass1 is None:
            return [
                f"no weights folder configured (EngineConfig.weights_dir or ${ENV_WEIGHTS_DIR})"
            ]
        problems: list[str] = []
        if not self.base.is_dir():
            problems.append(f"missing: {self.base}/ (the {BASE_MODEL_NAME} base model folder)")
        for component, (config_name, weights) in COMPONENTS.items():
            folder = self.base / component
            if not self.base.is_dir():
                break
            if not folder.is_dir():
                problems.append(f"missing: {folder}/")
                continue
            if config_name:
                _check_file(folder / config_name, problems)
            if weights:
                _check_weights(folder, weights, problems)
        _check_file(self.pass1, problems)
        if pass2:
            if self.pass2 is None:
                problems.append(f"missing: {PASS2_FILE}")
            else:
                _check_file(self.pass2, problems)
        return problems

    def has_pass2(self) -> bool:
        return self.pass2 is not None and self.pass2.is_file() and not _lfs_pointer(self.pass2)

    def how_to_get(self) -> str:
        """The commands that fetch the weights into this layout (for the user to run)."""
        root = str(self.root) if self.root is not None else "<weights_dir>"
        base = str(self.base) if self.base is not None else f"{root}/{BASE_MODEL_NAME}"
        return (
            "Get them with (once, on a machine with network access):\n"
            f"  huggingface-cli download {BASE_REPO} --local-dir {base}\n"
            f"  huggingface-cli download {VOID_REPO} {PASS1_FILE} {PASS2_FILE} --local-dir {root}\n"
            f"then point the daemon at the folder (EngineConfig.weights_dir or ${ENV_WEIGHTS_DIR}={root})."
        )

    def missing_message(self, pass2: bool = False) -> str:
        problems = self.problems(pass2)
        if not problems:
            return ""
        where = f" in {self.root}" if self.root is not None else ""
        lines = "\n".join(f"  {p}" for p in problems)
        return f"VOID weights are incomplete{where}:\n{lines}\n{self.how_to_get()}"

    def require(self, pass2: bool = False) -> tuple[Path, Path]:
        """Raise ``WEIGHTS_MISSING`` naming every missing file, with the commands to fetch them;
        else return ``(base, pass1)``, both known to be set."""
        message = self.missing_message(pass2)
        if message:
            raise VoidError(ErrorCode.WEIGHTS_MISSING, message, "weights_dir")
        # problems() reports an unset base or pass1, so an empty message means both are set
        assert self.base is not None and self.pass1 is not None
        return self.base, self.pass1

    def require_pass2(self) -> Path:
        """:meth:`require` with pass 2, returning the pass-2 checkpoint's path."""
        self.require(pass2=True)
        assert self.pass2 is not None  # problems(pass2=True) reports an unset pass2
        return self.pass2
