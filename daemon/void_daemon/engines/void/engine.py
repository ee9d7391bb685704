"""``VoidEngine``: the daemon's face of the VOID model (``docs/architecture.md``, "Engines").

``fill(window)`` takes one window at the model size in display space and returns the filled
frames: pass 1 (quadmask → trimask, 30 DDIM steps, no CFG), then optionally pass 2 (binary mask,
flow-warped noise from the pass-1 result, 50 steps, guidance 6, or 1 with an empty prompt).
Weights load on first use from local folders only (:mod:`.layout`), checked by header first;
torch is imported then, not when the engine is listed.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from void_client.errors import ErrorCode, VoidError
from void_client.quadmask import KEEP, snap
from void_client.windows import is_valid_length
from void_daemon.engines.base import Engine, EngineConfig, WindowInput
from void_daemon.engines.void.layout import WeightsLayout
from void_daemon.engines.void.options import PASS2_GUIDANCE, VoidOptions, pass2_noise_std

log = logging.getLogger(__name__)

#: Python packages the engine needs (the ``void`` extra, plus OpenCV from ``daemon`` for pass-2 flow).
REQUIRED_MODULES = ("torch", "diffusers", "transformers", "safetensors", "accelerate", "cv2")
#: Added to the job seed for the pass-2 noise field, so it is not the same stream as pass 2's
#: conditioning noise.
NOISE_WARP_SEED_OFFSET = 7919
#: Prompt embeddings kept per engine (a job reuses one prompt across all its windows).
PROMPT_CACHE_SIZE = 8


def temporal_pad(x: np.ndarray, length: int) -> np.ndarray:
    """The reference's ``temporal_padding``: append the clip reversed until ``length``, then cut."""
    while x.shape[0] < length:
        x = np.concatenate([x, x[::-1]])[:length]
    return x


def mask_video_from_quadmask(quadmask: np.ndarray) -> np.ndarray:
    """The reference loader: snap to 0/63/127/255, then ``(255 − m)/255`` (1 = remove), float32."""
    return (255.0 - snap(quadmask).astype(np.float32)) / 255.0


@dataclass
class _Runtime:
    """Everything loaded: the pipeline, one transformer per pass, and where it all runs."""

    device: Any
    dtype: Any
    memory_mode: str
    pipe: Any
    transformers: dict[int, Any]
    schedulers: dict[int, Any]
    add_noise: dict[int, bool]
    prompts: OrderedDict = field(default_factory=OrderedDict)
    active: int = 1


def pass2_guidance(opts: VoidOptions, prompt: str) -> float:
    """Pass 2's guidance: ``pass2_guidance`` when set; else the reference's 6, except when the
    prompt and the negative prompt are both empty: then both halves of classifier-free guidance
    see the same text and the result equals guidance 1 at twice the transformer work."""
    if opts.pass2_guidance is not None:
        return opts.pass2_guidance
    if not prompt.strip() and not opts.pass2_negative_prompt.strip():
        log.info(
            "pass 2: no prompt, so no classifier-free guidance (guidance 1 instead of %g: with an "
            "empty prompt and negative prompt it changes nothing and doubles the work); set "
            "pass2_guidance to force it",
            PASS2_GUIDANCE,
        )
        return 1.0
    return PASS2_GUIDANCE


class VoidEngine(Engine):
    """Netflix VOID on CogVideoX-Fun-V1.5-5b-InP (pass 1, optional pass 2)."""

    name: ClassVar[str] = "void"
    version: ClassVar[str] = "1"
    colour: ClassVar[str] = "display"
    model_size: ClassVar[tuple[int, int] | None] = (384, 672)

    def __init__(self, config: EngineConfig | None = None) -> None:
        super().__init__(config)
        self.layout = WeightsLayout.resolve(self.config.weights_dir, self.config.options)
        self.defaults = VoidOptions.merge(self.config.options)
        self._runtime: _Runtime | None = None
        self._lock = threading.RLock()
        #: Per pass, the step cache's counts from the last window (fast mode; zeros otherwise).
        self.cache_stats: dict[int, Any] = {}

    # -- availability ------------------------------------------------------------------------

    @classmethod
    def availability(cls, config: EngineConfig) -> tuple[bool, str]:
        """Installed packages and weight files only; nothing is imported or loaded."""
        absent = [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
        if absent:
            return (
                False,
                f"missing Python packages {', '.join(absent)}: pip install 'void-remove[void]'",
            )
        layout = WeightsLayout.resolve(config.weights_dir, config.options)
        message = layout.missing_message()
        if message:
            return False, message
        if not layout.has_pass2():
            return True, f"pass 2 unavailable ({layout.pass2_problem()})"
        return True, ""

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> _Runtime:
        """Load every component (idempotent). Raises ``WEIGHTS_MISSING`` naming what is absent."""
        with self._lock:
            if self._runtime is None:
                base, pass1 = self.layout.require()
                self._runtime = self._build(base, pass1)
            return self._runtime

    @property
    def pipeline(self) -> Any:
        """The loaded :class:`~.pipeline.VoidInpaintPipeline` (loading it if needed)."""
        return self.load().pipe

    def _build(self, base: Path, pass1: Path) -> _Runtime:

        from void_daemon.engines.void import devices
        from void_daemon.engines.void.loading import (
            load_schedulers,
            load_text_encoder,
            load_transformer,
            load_vae,
        )
        from void_daemon.engines.void.pipeline import VoidInpaintPipeline
        from void_daemon.engines.void.tokenizer import load_tokenizer

        device = devices.resolve_device(self.config.device)
        dtype = devices.resolve_dtype(self.config.dtype, device)
        log.info("loading VOID from %s on %s (%s)", base, device, str(dtype).removeprefix("torch."))
        vae = load_vae(base, dtype)
        transformer, info = load_transformer(base, pass1, vae.config.latent_channels, dtype)
        self._prepare_transformer(transformer, device, dtype)
        pass1_scheduler, pass2_scheduler = load_schedulers(base)
        pipe = VoidInpaintPipeline(
            tokenizer=load_tokenizer(base / "tokenizer"),
            text_encoder=load_text_encoder(base, dtype),
            vae=vae,
            transformer=transformer,
            scheduler=pass1_scheduler,
        )
        # components are on the CPU until _place: the mode is chosen from what they weigh
        mode = devices.choose_memory_mode(self.config.memory_mode, device, self._needs(pipe, dtype))
        log.info("VOID memory mode: %s", mode)
        # VAE tiling is decided per window from the decode's estimated peak (_choose_tiling)
        if self.defaults.vae_slicing:
            vae.enable_slicing()
        pipe.set_progress_bar_config(disable=True)
        runtime = _Runtime(
            device=device,
            dtype=dtype,
            memory_mode=mode,
            pipe=pipe,
            transformers={1: transformer},
            schedulers={1: pass1_scheduler, 2: pass2_scheduler},
            add_noise={1: info.add_noise_in_inpaint_model},
        )
        self._place(runtime)
        return runtime

    def _needs(self, pipe: Any, dtype: Any) -> Any:
        """What the largest window this daemon runs needs on the accelerator (devices.MemoryNeeds):
        the model size, the internal window (one transformer call; batch 2 for pass 2's
        guidance) and the longest window's decode."""
        from void_client.windows import MAX_WINDOW
        from void_daemon.engines.void import devices

        h, w = self.model_size or (384, 672)
        cfg = pipe.transformer.config
        tokens = devices.transformer_tokens(
            h, w, self.defaults.temporal_window, cfg.patch_size, cfg.patch_size_t or 1
        )
        inner = cfg.num_attention_heads * cfg.attention_head_dim
        return devices.MemoryNeeds(
            weights={
                name: devices.component_bytes(getattr(pipe, name))
                for name in ("text_encoder", "transformer", "vae")
            },
            transformer_peak=devices.transformer_peak_bytes(tokens, inner, 2, dtype.itemsize),
            vae_peak=devices.vae_decode_peak_bytes(h, w, MAX_WINDOW, dtype.itemsize),
        )

    def _prepare_transformer(self, transformer: Any, device: Any, dtype: Any) -> None:
        """Daemon-wide, at load: fp8 weight storage and torch.compile, when asked.

        fp8 storage (``transformer_fp8``) is honoured where asked, but the fast mode does not
        turn it on: it halves the transformer's weight memory and adds a cast per layer, so it
        is a memory setting, not a speed one (fast.fp8_supported: CUDA only).
        """
        import torch

        from void_daemon.engines.void import fast

        if self.defaults.transformer_fp8:
            if not fast.fp8_supported(device):
                log.info(
                    "transformer_fp8 on %s: weights stored in fp8 as asked, but this only saves "
                    "memory and costs a cast per layer here (meant for CUDA GPUs)",
                    device.type,
                )
            transformer.enable_layerwise_casting(
                storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype
            )
        if self.defaults.torch_compile:
            fast.compile_blocks(transformer)

    @staticmethod
    def _place(rt: _Runtime) -> None:
        """Apply the memory mode to the pipeline's current components."""
        if rt.memory_mode == "model_offload":
            rt.pipe.enable_model_cpu_offload(device=rt.device)
        elif rt.memory_mode == "sequential_offload":
            rt.pipe.enable_sequential_cpu_offload(device=rt.device)
        else:
            rt.pipe.to(rt.device)

    def _use_pass(self, rt: _Runtime, n: int) -> None:
        """Make pass ``n``'s transformer and scheduler the pipeline's (loading pass 2 once)."""
        if n not in rt.transformers:
            from void_daemon.engines.void.loading import load_transformer

            base, _ = self.layout.require()
            transformer, info = load_transformer(
                base, self.layout.require_pass2(), rt.pipe.vae.config.latent_channels, rt.dtype
            )
            self._prepare_transformer(transformer, rt.device, rt.dtype)
            rt.transformers[n] = transformer
            rt.add_noise[n] = info.add_noise_in_inpaint_model
        rt.pipe.register_modules(scheduler=rt.schedulers[n])
        if rt.active == n:
            return
        if rt.memory_mode != "full":
            rt.pipe.remove_all_hooks()
        elif rt.device.type != "cpu":
            rt.pipe.transformer.to("cpu")
        rt.pipe.register_modules(transformer=rt.transformers[n])
        rt.active = n
        self._place(rt)

    def close(self) -> None:
        """Drop every model and give the accelerator's memory back."""
        with self._lock:
            rt, self._runtime = self._runtime, None
            if rt is None:
                return
            from void_daemon.engines.void import devices

            device = rt.device
            try:
                rt.pipe.remove_all_hooks()
            except Exception:  # freeing memory must not fail the caller
                log.debug("remove_all_hooks failed", exc_info=True)
            del rt
            gc.collect()
            devices.empty_cache(device)

    # -- running -----------------------------------------------------------------------------

    @staticmethod
    def _check_window(window: WindowInput) -> tuple[np.ndarray, np.ndarray]:
        frames = np.asarray(window.frames)
        quadmask = np.asarray(window.quadmask)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"frames must be (T, H, W, 3), got {frames.shape}",
                "frames",
            )
        t, h, w, _ = frames.shape
        if quadmask.shape != (t, h, w):
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"quadmask must be {(t, h, w)}, got {quadmask.shape}",
                "quadmask",
            )
        if not is_valid_length(t):
            raise VoidError(
                ErrorCode.FRAME_COUNT_MISMATCH,
                f"{t} frames is not a valid VOID window (8m+5: 5, 13, ..., 197)",
                "frames",
            )
        if h % 16 or w % 16:
            raise VoidError(
                ErrorCode.RESOLUTION_MISMATCH,
                f"{w}x{h} is not a multiple of 16 on both sides",
                "frames",
            )
        frames = frames.astype(np.float32, copy=False)
        if not np.isfinite(frames).all():
            raise VoidError(ErrorCode.NAN_IN_INPUT, "frames contain NaN or Inf", "frames")
        frames = np.clip(frames, 0.0, 1.0)  # display space: the VAE reads [0, 1] as [-1, 1]
        if quadmask.dtype != np.uint8:
            quadmask = np.clip(np.rint(quadmask.astype(np.float64)), 0, 255).astype(np.uint8)
        return frames, quadmask

    def _prompt_embeds(
        self, rt: _Runtime, prompt: str, negative: str, do_cfg: bool, length: int
    ) -> tuple[Any, Any]:
        key = (prompt, negative if do_cfg else None, length)
        if key not in rt.prompts:
            rt.prompts[key] = rt.pipe.encode_prompt(prompt, negative, do_cfg, length)
            while len(rt.prompts) > PROMPT_CACHE_SIZE:
                rt.prompts.popitem(last=False)
        rt.prompts.move_to_end(key)
        return rt.prompts[key]

    def _run_pass(
        self,
        rt: _Runtime,
        n: int,
        video: Any,
        mask_video: Any,
        window: WindowInput,
        opts: VoidOptions,
        latents: Any,
        step0: int,
        total: int,
    ) -> np.ndarray:
        from void_daemon.engines.void import devices, fast

        self._use_pass(rt, n)
        steps = opts.steps if n == 1 else opts.pass2_steps
        negative = opts.negative_prompt if n == 1 else opts.pass2_negative_prompt
        guidance = opts.guidance if n == 1 else pass2_guidance(opts, window.prompt)
        do_cfg = guidance > 1.0
        positive, negative_embeds = self._prompt_embeds(
            rt, window.prompt, negative, do_cfg, opts.max_sequence_length
        )
        stage = f"void pass {n}"
        # fast mode: a step cache for this call only; none (the default) leaves the call as it was
        kind = fast.step_cache_kind(opts.fast, opts.step_cache)
        cache = fast.cache_config(kind, opts.step_cache_threshold, opts.step_cache_interval, steps)
        with fast.step_cache(rt.pipe.transformer, cache) as stats:
            result = rt.pipe(
                video=video,
                mask_video=mask_video,
                prompt=window.prompt,
                negative_prompt=negative,
                mask_mode="trimask" if n == 1 else "binary",
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=devices.make_generator(window.seed, rt.device),
                latents=latents,
                prompt_embeds=positive,
                negative_prompt_embeds=negative_embeds,
                temporal_window=opts.temporal_window,
                temporal_overlap=opts.temporal_overlap,
                noise_aug_strength=opts.noise_aug_strength if rt.add_noise[n] else 0.0,
                max_sequence_length=opts.max_sequence_length,
                callback=lambda i, _n: window.progress(step0 + i, total, stage),
                cancelled=window.cancelled,
            )
        self.cache_stats[n] = stats  # what the bench and tests read: calls that skipped blocks
        return result.frames[0]

    @staticmethod
    def _choose_tiling(
        rt: _Runtime, opts: VoidOptions, height: int, width: int, frames: int
    ) -> None:
        """Tile the VAE decode only when this window's untiled decode would not fit."""
        from void_daemon.engines.void import devices

        vae = rt.pipe.vae
        tiled = devices.choose_vae_tiling(
            opts.vae_tiling,
            devices.activation_free_gib(rt.device),
            height,
            width,
            frames,
            rt.dtype.itemsize,
        )
        if tiled != bool(vae.use_tiling):
            log.info(
                "VAE tiling %s for %dx%d (decode needs ~%.1f GiB untiled)",
                "on" if tiled else "off",
                width,
                height,
                devices.vae_decode_peak_bytes(height, width, frames, rt.dtype.itemsize)
                / devices.GIB,
            )
            if tiled:
                vae.enable_tiling()
            else:
                vae.disable_tiling()

    def pass2_noise(
        self, frames: np.ndarray, seed: int, opts: VoidOptions, cancelled: Any = None
    ) -> Any:
        """Warped noise for pass 2 from the pass-1 frames ``(T, H, W, 3)``: ``(1, latents, c, h, w)``."""
        import torch

        from void_daemon.engines.void.noise_warp import select_flow, warped_noise

        rt = self.load()
        pipe = rt.pipe
        t, h, w, _ = frames.shape
        shape = pipe.latent_shape(1, t, h, w)
        warp_device = rt.device if rt.device.type == "cuda" else torch.device("cpu")
        flow, why = select_flow(opts.pass2_noise, opts.flow_scale, opts.raft_weights, warp_device)
        std = pass2_noise_std(opts)
        log.info("void engine: pass-2 noise %s: %s, noise std %.2f", opts.pass2_noise, why, std)
        noise = warped_noise(
            frames,
            latent_frames=shape[1],
            latent_size=(shape[3], shape[4]),
            channels=shape[2],
            warp_scale=opts.noise_warp_scale,
            flow_scale=opts.flow_scale,
            degradation=opts.noise_degradation,
            temporal_compression=pipe.vae_scale_factor_temporal,
            generator=torch.Generator(device=warp_device).manual_seed(
                int(seed) + NOISE_WARP_SEED_OFFSET
            ),
            device=warp_device,
            cancelled=cancelled,
            flow=flow,
        )
        # 1.0 ("unit") keeps the warped noise unit-variance and untouched; 0.66 ("reference") is
        # the reference's effective std
        return noise * std if std != 1.0 else noise

    def fill(self, window: WindowInput) -> np.ndarray:
        frames, quadmask = self._check_window(window)
        opts = VoidOptions.merge(self.config.options, window.options)
        if window.pass2:
            self.layout.require(pass2=True)
        if window.context is not None:
            context = np.asarray(window.context, bool)
            if context.shape != (frames.shape[0],):
                raise VoidError(
                    ErrorCode.SHAPE_MISMATCH,
                    f"context must flag each of the {frames.shape[0]} frames, got shape {context.shape}",
                    "context",
                )
            quadmask = quadmask.copy()
            quadmask[context] = KEEP
        with self._lock:
            return self._fill_locked(self.load(), frames, quadmask, window, opts)

    def _fill_locked(
        self,
        rt: _Runtime,
        frames: np.ndarray,
        quadmask: np.ndarray,
        window: WindowInput,
        opts: VoidOptions,
    ) -> np.ndarray:
        import torch

        from void_daemon.engines.void import devices

        t = frames.shape[0]
        length = max(t, opts.min_frames) if opts.min_frames else t
        frames_in = temporal_pad(frames, length)
        mask_in = temporal_pad(mask_video_from_quadmask(quadmask), length)
        video = torch.from_numpy(np.ascontiguousarray(frames_in.transpose(3, 0, 1, 2)))[None]
        mask_video = torch.from_numpy(np.ascontiguousarray(mask_in))[None, None]
        total = opts.steps + (opts.pass2_steps if window.pass2 else 0)
        self.cache_stats = {}
        self._choose_tiling(rt, opts, frames_in.shape[1], frames_in.shape[2], length)
        try:
            out = self._run_pass(rt, 1, video, mask_video, window, opts, None, 0, total)
            if window.pass2:
                window.progress(opts.steps, total, "void pass 2 noise")
                noise = self.pass2_noise(out, window.seed, opts, window.cancelled)
                out = self._run_pass(
                    rt, 2, video, mask_video, window, opts, noise, opts.steps, total
                )
        finally:
            devices.empty_cache(rt.device)
        return np.ascontiguousarray(out[:t], dtype=np.float32)
