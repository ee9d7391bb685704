"""Load VOID's components from local folders (never from the network).

The base CogVideoX-Fun-V1.5-5b-InP transformer has 33 input channels (noise 16 | mask 1 |
video 16); VOID feeds the mask through the VAE, so its transformer has 48. As the reference
(``videox_fun/models/cogvideox_transformer3d.py`` ``from_pretrained(use_vae_mask=True)`` and
``predict_v2v.py``), the model is built with 48 input channels, the VOID checkpoint is laid over
it, and whatever the checkpoint lacks comes from the base weights; a 33-channel patch embedding is
widened by repeating the single mask channel's columns for each of the 16 mask-latent channels.

Only the tensors actually needed are read (``safe_open``), so a full VOID checkpoint never costs a
second copy of the 11 GB base transformer in memory. Weights are safetensors only (no pickles).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from void_client.errors import ErrorCode, VoidError

log = logging.getLogger(__name__)

PATCH_EMBED = "patch_embed.proj.weight"
_PREFIXES = ("transformer.", "model.", "module.", "_orig_mod.", "diffusion_model.")


class TensorFiles:
    """Tensor names → safetensors file, for one file or a sharded folder; reads on demand."""

    def __init__(self, where: dict[str, Path]) -> None:
        self.where = where

    @classmethod
    def file(cls, path: Path) -> TensorFiles:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return cls({k: path for k in f.keys()})

    @classmethod
    def folder(cls, folder: Path, single: str, index: str) -> TensorFiles:
        if (folder / single).is_file():
            return cls.file(folder / single)
        weight_map = json.loads((folder / index).read_text())["weight_map"]
        return cls({k: folder / v for k, v in weight_map.items()})

    def keys(self) -> set[str]:
        return set(self.where)

    def read(
        self, keys: set[str] | list[str], rename: dict[str, str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Read ``keys`` (file names), returned under ``rename[key]`` when given."""
        by_file: dict[Path, list[str]] = defaultdict(list)
        for k in keys:
            by_file[self.where[k]].append(k)
        out = {}
        for path, names in by_file.items():
            with safe_open(str(path), framework="pt", device="cpu") as f:
                for k in names:
                    out[(rename or {}).get(k, k)] = f.get_tensor(k)
        return out


def _match_keys(available: set[str], wanted: set[str]) -> dict[str, str]:
    """Checkpoint name → model name, stripping a training-wrapper prefix if that matches more."""
    best = {k: k for k in available if k in wanted}
    for prefix in _PREFIXES:
        mapped = {
            k: k[len(prefix) :]
            for k in available
            if k.startswith(prefix) and k[len(prefix) :] in wanted
        }
        if len(mapped) > len(best):
            best = mapped
    return best


def widen_patch_embed(
    weight: torch.Tensor,
    target_in: int,
    latent_channels: int,
    patch_volume: int,
    base: torch.Tensor | None = None,
) -> torch.Tensor:
    """Patch-embedding weight ``(dim, in)`` widened to ``target_in`` columns, as the reference.

    Columns are channel-major (``channel × patch_t × patch × patch``). Noisy-latent columns (first
    ``latent_channels × patch_volume``) and video-latent columns (last as many) come from
    ``weight``. The middle (mask) columns come from ``base`` when given (a VOID checkpoint laid
    over the widened base, ``predict_v2v.py``); otherwise ``weight`` is the 33-channel base and its
    one mask channel's columns are repeated for every mask-latent channel (``use_vae_mask``).
    """
    feat = latent_channels * patch_volume
    out = torch.empty(weight.shape[0], target_in, dtype=weight.dtype)
    out[:, :feat] = weight[:, :feat]
    out[:, -feat:] = weight[:, -feat:]
    if base is not None:
        out[:, feat:-feat] = base[:, feat:-feat].to(weight.dtype)
        return out
    mask_cols = weight[:, feat:-feat]
    if (target_in - 2 * feat) % mask_cols.shape[1]:
        raise VoidError(
            ErrorCode.ENGINE_FAILED,
            f"cannot widen patch embedding {tuple(weight.shape)} to {target_in} inputs",
        )
    for i in range(feat, target_in - feat, mask_cols.shape[1]):
        out[:, i : i + mask_cols.shape[1]] = mask_cols
    return out


@dataclass
class TransformerInfo:
    #: The transformer config asks for noise on the conditioning video (``add_noise_in_inpaint_model``).
    add_noise_in_inpaint_model: bool
    from_checkpoint: int
    from_base: int


def load_transformer(base_dir: Path, checkpoint: Path, latent_channels: int, dtype: torch.dtype):
    """The VOID transformer (48 input channels) from the base folder plus a VOID checkpoint."""
    from diffusers import CogVideoXTransformer3DModel

    folder = base_dir / "transformer"
    raw = json.loads((folder / "config.json").read_text())
    config = dict(CogVideoXTransformer3DModel.load_config(str(folder)))
    config.pop("add_noise_in_inpaint_model", None)  # CogVideoX-Fun's key; read from ``raw`` below
    config["in_channels"] = 3 * latent_channels
    config["out_channels"] = config.get("out_channels") or latent_channels
    try:
        from accelerate import init_empty_weights
    except ImportError:  # pragma: no cover - accelerate is part of the void extra
        model = CogVideoXTransformer3DModel.from_config(config)
    else:
        with init_empty_weights():
            model = CogVideoXTransformer3DModel.from_config(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    patch_volume = config["patch_size"] ** 2 * (config.get("patch_size_t") or 1)

    ckpt = TensorFiles.file(checkpoint)
    mapping = _match_keys(ckpt.keys(), set(expected))
    if not mapping:
        raise VoidError(
            ErrorCode.ENGINE_FAILED,
            f"{checkpoint} holds no CogVideoX transformer weights (is it the VOID checkpoint?)",
            "weights_dir",
        )
    state = ckpt.read(list(mapping), rename=mapping)
    unused = len(ckpt.keys()) - len(mapping)
    if unused:
        log.info(
            "%s: %d tensors are not transformer weights and are ignored", checkpoint.name, unused
        )

    missing = set(expected) - set(state)
    needs_base_patch = (
        PATCH_EMBED in state and tuple(state[PATCH_EMBED].shape) != expected[PATCH_EMBED]
    )
    base_state: dict[str, torch.Tensor] = {}
    if missing or needs_base_patch:
        base = TensorFiles.folder(
            folder,
            "diffusion_pytorch_model.safetensors",
            "diffusion_pytorch_model.safetensors.index.json",
        )
        wanted = (missing | ({PATCH_EMBED} if needs_base_patch else set())) & base.keys()
        base_state = base.read(wanted)
        absent = missing - base.keys()
        if absent:
            raise VoidError(
                ErrorCode.ENGINE_FAILED,
                f"transformer weights missing from both checkpoint and base: {sorted(absent)[:5]}",
            )
    target_in = expected[PATCH_EMBED][1]
    if PATCH_EMBED in base_state and base_state[PATCH_EMBED].shape[1] != target_in:
        base_state[PATCH_EMBED] = widen_patch_embed(
            base_state[PATCH_EMBED], target_in, latent_channels, patch_volume
        )
    if needs_base_patch:
        log.info(
            "%s: widening patch embedding %s -> %d inputs",
            checkpoint.name,
            tuple(state[PATCH_EMBED].shape),
            target_in,
        )
        state[PATCH_EMBED] = widen_patch_embed(
            state[PATCH_EMBED],
            target_in,
            latent_channels,
            patch_volume,
            base=base_state.pop(PATCH_EMBED),
        )
    for k in missing:
        state[k] = base_state[k]
    for k, shape in expected.items():
        if tuple(state[k].shape) != shape:
            raise VoidError(
                ErrorCode.ENGINE_FAILED,
                f"{k}: weights have shape {tuple(state[k].shape)}, model expects {shape}",
            )

    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True, assign=True)
    model = model.eval().requires_grad_(False)
    info = TransformerInfo(
        add_noise_in_inpaint_model=bool(raw.get("add_noise_in_inpaint_model", False)),
        from_checkpoint=len(mapping),
        from_base=len(missing),
    )
    log.info(
        "transformer from %s: %d tensors from the checkpoint, %d from the base",
        checkpoint.name,
        info.from_checkpoint,
        info.from_base,
    )
    return model, info


def load_vae(base_dir: Path, dtype: torch.dtype):
    from diffusers import AutoencoderKLCogVideoX

    vae = AutoencoderKLCogVideoX.from_pretrained(
        str(base_dir / "vae"), torch_dtype=dtype, local_files_only=True
    )
    return vae.eval().requires_grad_(False)


def load_text_encoder(base_dir: Path, dtype: torch.dtype):
    import transformers
    from packaging.version import Version
    from transformers import T5EncoderModel

    # The keyword was renamed in 4.56; typed as a plain mapping because its name is chosen here.
    key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    dtype_kwarg: dict[str, Any] = {key: dtype}
    model = T5EncoderModel.from_pretrained(
        str(base_dir / "text_encoder"), local_files_only=True, **dtype_kwarg
    )
    return model.eval().requires_grad_(False)


def load_schedulers(base_dir: Path):
    """``(pass 1, pass 2)`` schedulers from the base scheduler config, as the reference.

    Pass 1 (``predict_v2v.py``, sampler ``DDIM_Origin``) is diffusers' ``DDIMScheduler``; pass 2
    (``inference_with_pass1_warped_noise.py``) is ``CogVideoXDDIMScheduler``. Both are stateless
    DDIM (η = 0) and give the same steps when the config's ``snr_shift_scale`` is 1.
    """
    from diffusers import CogVideoXDDIMScheduler, DDIMScheduler

    config = CogVideoXDDIMScheduler.load_config(str(base_dir / "scheduler"))
    return DDIMScheduler.from_config(config), CogVideoXDDIMScheduler.from_config(config)
