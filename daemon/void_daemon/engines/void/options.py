"""The ``void`` engine's settings: reference defaults, overridable per daemon and per job.

``EngineConfig.options`` sets daemon-wide values (memory, weights overrides); ``WindowInput.options``
sets per-job values (steps, guidance, ...). Job values win. Unknown keys are logged and ignored so
an older daemon accepts a newer client's spec.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from void_client.errors import ErrorCode, VoidError
from void_client.windows import is_valid_length
from void_daemon.engines.void.defaults import (
    FAST_FBC_THRESHOLD,
    FAST_TAYLORSEER_INTERVAL,
    MAX_SEQUENCE_LENGTH,
    NEGATIVE_PROMPT,
    NOISE_AUG_STRENGTH,
    STEP_CACHES,
)

log = logging.getLogger(__name__)

#: Keys that locate weights; read by :class:`~.layout.WeightsLayout`, not here.
LAYOUT_KEYS = frozenset({"base_dir", "pass1_path", "pass2_path"})
#: The reference's pass-2 guidance (``inference_with_pass1_warped_noise.py``).
PASS2_GUIDANCE = 6.0
_WARNED: set[str] = set()
#: Pass-2 noise modes, the default first (see ``pass2_noise`` below).
PASS2_NOISE_MODES = ("reference", "unit")
#: The std of the reference's pass-2 noise after its bilinear resize (measured; docs/void-engine.md).
REFERENCE_NOISE_STD = 0.66


def pass2_noise_std(opts: VoidOptions) -> float:
    """The std pass 2's warped noise is scaled to: the forced value, else the mode's."""
    if opts.pass2_noise_std is not None:
        return opts.pass2_noise_std
    return REFERENCE_NOISE_STD if opts.pass2_noise == "reference" else 1.0


@dataclass(frozen=True)
class VoidOptions:
    """Every knob, with the reference's value as default (``predict_v2v.py``, pass-2 script)."""

    # pass 1 (reference: DDIM, 30 steps, guidance 1.0 = no CFG)
    steps: int = 30
    guidance: float = 1.0
    negative_prompt: str = NEGATIVE_PROMPT
    # pass 2 (reference: CogVideoX DDIM, 50 steps, guidance 6.0, empty negative prompt). None:
    # PASS2_GUIDANCE, or 1 (no CFG) when prompt and negative prompt are both empty
    # (engine.pass2_guidance); a number forces it.
    pass2_steps: int = 50
    pass2_guidance: float | None = None
    pass2_negative_prompt: str = ""
    # time: internal multi-diffusion window and overlap (frames), and the reference's minimum
    # clip length (shorter windows are padded by flip-concatenation, then cropped back)
    temporal_window: int = 85
    temporal_overlap: int = 16
    min_frames: int = 85
    # conditioning-video noise when the transformer config asks for it (add_noise_in_inpaint_model)
    noise_aug_strength: float = NOISE_AUG_STRENGTH
    max_sequence_length: int = MAX_SEQUENCE_LENGTH
    # pass-2 warped noise: flow resolution factor, warp super-sampling per latent pixel, and
    # optional variance-preserving mix with fresh noise (0 = pure warped noise, as the reference)
    flow_scale: float = 0.5
    noise_warp_scale: int = 8
    noise_degradation: float = 0.0
    # memory: VAE tiling (None: only when the untiled decode would not fit, per window), slicing
    # and fp8 storage of transformer weights (daemon-wide, read at load)
    vae_tiling: bool | None = None
    vae_slicing: bool = False
    transformer_fp8: bool = False
    # fast mode (fast.py): step caching per call; "" = TaylorSeer lite when fast, none otherwise.
    # The default (fast off) is the reference's computation, unchanged.
    fast: bool = False
    step_cache: str = ""
    step_cache_threshold: float = FAST_FBC_THRESHOLD
    step_cache_interval: int = FAST_TAYLORSEER_INTERVAL
    # compile each transformer block with torch.compile (daemon-wide, read at load; off: slow to
    # compile on a CPU and not yet measured on a GPU)
    torch_compile: bool = False
    # pass-2 warped noise mode (noise_warp.select_flow): "reference" (default) as the reference
    # does it: RAFT flow via torchvision when its weights are on local disk (raft_weights, or
    # torch's hub cache; never downloaded), else DIS, and the reference's noise std ~0.66 (its
    # bilinear resize of the warped noise); "unit": DIS flow and unit-variance noise (what DDIM
    # expects; our behaviour before). pass2_noise_std None: the mode's std; a number forces it.
    pass2_noise: str = PASS2_NOISE_MODES[0]
    pass2_noise_std: float | None = None
    raft_weights: str = ""

    @classmethod
    def merge(cls, *sources: dict[str, Any] | None) -> VoidOptions:
        """Options from dicts, later ones winning; values are type-checked and range-checked."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for source in sources:
            for key, value in (source or {}).items():
                if key in LAYOUT_KEYS:
                    continue
                if key not in known:
                    if key not in _WARNED:
                        _WARNED.add(key)
                        log.warning("void engine: ignoring unknown option %r", key)
                    continue
                values[key] = _coerce(key, value, known[key].type)
        opts = cls(**values)
        opts.validate()
        return opts

    def validate(self) -> None:
        def bad(field: str, why: str) -> VoidError:
            return VoidError(
                ErrorCode.BAD_SPEC,
                f"void option {field}={getattr(self, field)!r}: {why}",
                f"options.{field}",
            )

        for name in ("steps", "pass2_steps"):
            if not 1 <= getattr(self, name) <= 1000:
                raise bad(name, "must be between 1 and 1000")
        for name in ("guidance", "pass2_guidance"):
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) <= 50.0:
                raise bad(name, "must be between 0 and 50")
        if not is_valid_length(self.temporal_window):
            raise bad(
                "temporal_window", "must be a valid window length (8m+5: 13, ..., 85, ..., 197)"
            )
        if (
            self.temporal_overlap < 0
            or self.temporal_overlap % 8
            or self.temporal_overlap >= self.temporal_window - 1
        ):
            raise bad(
                "temporal_overlap", "must be a multiple of 8 frames, shorter than temporal_window"
            )
        if self.min_frames and not is_valid_length(self.min_frames):
            raise bad("min_frames", "must be 0 (no padding) or a valid window length (8m+5)")
        if not 0.0 <= self.noise_aug_strength <= 1.0:
            raise bad("noise_aug_strength", "must be between 0 and 1")
        if not 1 <= self.max_sequence_length <= 512:
            raise bad("max_sequence_length", "must be between 1 and 512")
        if not 0.05 <= self.flow_scale <= 1.0:
            raise bad("flow_scale", "must be between 0.05 and 1")
        if not 1 <= self.noise_warp_scale <= 32:
            raise bad("noise_warp_scale", "must be between 1 and 32")
        if not 0.0 <= self.noise_degradation <= 1.0:
            raise bad("noise_degradation", "must be between 0 and 1")
        if self.step_cache not in ("", *STEP_CACHES):
            raise bad(
                "step_cache", f"must be one of {', '.join(STEP_CACHES)} (or empty: automatic)"
            )
        if not 0.0 < self.step_cache_threshold <= 1.0:
            raise bad("step_cache_threshold", "must be in (0, 1]")
        if not 1 <= self.step_cache_interval <= 20:
            raise bad("step_cache_interval", "must be between 1 and 20")
        if self.pass2_noise not in PASS2_NOISE_MODES:
            raise bad("pass2_noise", f"must be one of {', '.join(PASS2_NOISE_MODES)}")
        if self.pass2_noise_std is not None and not 0.1 <= self.pass2_noise_std <= 2.0:
            raise bad("pass2_noise_std", "must be between 0.1 and 2 (reference ~0.66, ours 1.0)")


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if kind.startswith("bool"):
            if value is None and "None" in kind:
                return None
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind == "int":
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError("not an integer")
            return int(float(value))
        if kind.startswith("float"):
            if value in (None, "") and "None" in kind:
                return None
            return float(value)
        if kind == "str":
            return str(value)
    except (TypeError, ValueError) as exc:
        raise VoidError(
            ErrorCode.BAD_SPEC, f"void option {key}={value!r}: {exc}", f"options.{key}"
        ) from exc
    return value
