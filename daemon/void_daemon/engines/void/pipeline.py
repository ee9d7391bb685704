"""VOID's inpainting pipeline: CogVideoX-Fun-V1.5-5b-InP driven by a quadmask.

diffusers has no CogVideoX-Fun inpaint pipeline, so this file is ours. It follows the reference
(``netflix/void-model``: ``videox_fun/pipeline/pipeline_cogvideox_fun_inpaint.py`` as called by
``inference/cogvideox_fun/predict_v2v.py`` and ``inference_with_pass1_warped_noise.py``) step by
step, with the reference's configuration baked in (``use_vae_mask=True``, ``stack_mask=False``,
``zero_out_mask_region=False``, ``strength=1.0``):

1. check inputs;
2. encode the prompt with T5 (226 tokens; negative prompt only under classifier-free guidance);
3. prepare the initial latents (Gaussian noise, or the caller's warped noise in pass 2);
4. prepare the conditioning: the mask goes *through the VAE* (``1 - mask`` tiled to three
   channels, in [0, 1]) and so does the unmasked video (with the model's noise augmentation),
   giving ``[mask latents | masked-video latents]``;
5. denoise: the transformer reads 48 channels ``[noisy latents | mask latents | video latents]``;
   videos longer than the internal temporal window are denoised window by window at every step
   and averaged over the overlapping latent frames;
6. decode with the VAE in the reference's order (latent frame 0 alone, then pairs), which gives
   exactly ``4·(latents−1)+1`` frames.

Window planning, colour and compositing live outside; so do weights loading and devices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.models.upsampling import CogVideoXUpsample3D
from diffusers.pipelines.pipeline_utils import DiffusionPipeline
from diffusers.schedulers import CogVideoXDDIMScheduler, DDIMScheduler
from diffusers.utils.accelerate_utils import apply_forward_hook
from diffusers.utils.torch_utils import randn_tensor

from void_client.errors import ErrorCode, VoidError
from void_daemon.engines.void.defaults import MAX_SEQUENCE_LENGTH, NEGATIVE_PROMPT
from void_daemon.engines.void.fast import window_context

log = logging.getLogger(__name__)

#: Value the reference's trimask gives the "affected" band (not 0.5: ``127 / 255``).
TRIMASK_AFFECTED = 127.0 / 255.0

MaskMode = Literal["trimask", "binary"]


@dataclass
class VoidPipelineOutput:
    """``frames``: float32 ``(batch, frames, height, width, 3)`` in [0, 1], on the CPU."""

    frames: np.ndarray


def temporal_windows(num_latents: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Latent-frame ranges ``[begin, end)`` the reference's temporal multi-diffusion visits.

    Windows of ``window`` latent frames start every ``window - overlap`` frames; the last one is
    clipped at the end of the video. One window when the video fits.
    """
    if num_latents <= window:
        return [(0, num_latents)]
    if not 0 <= overlap < window:
        raise ValueError(f"temporal overlap ({overlap}) must be in [0, window={window})")
    spans = []
    begin = 0
    while begin < num_latents:
        end = min(begin + window, num_latents)
        spans.append((begin, end))
        if end >= num_latents:
            break
        begin = end - overlap
    return spans


def window_weights(
    begin: int, end: int, total: int, overlap: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Blend weights ``(1, end-begin, 1, 1, 1)``: linear ramps over the overlapping latent frames.

    The reference's ramp: ``linspace(0, 1, overlap + 2)[1:-1]`` into a window that does not start
    the video and the mirror out of one that does not end it (0.2 0.4 0.6 0.8 for 4 frames).
    """
    weights = torch.ones(1, end - begin, 1, 1, 1, dtype=dtype, device=device)
    if overlap > 0 and begin > 0:
        ramp = torch.linspace(0.0, 1.0, overlap + 2)[1:-1]
        weights[:, :overlap] = ramp.to(device, dtype).reshape(1, overlap, 1, 1, 1)
    if overlap > 0 and end < total:
        ramp = torch.linspace(1.0, 0.0, overlap + 2)[1:-1]
        weights[:, -overlap:] = ramp.to(device, dtype).reshape(1, overlap, 1, 1, 1)
    return weights


def _double_a_single_frame(
    module: torch.nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor
) -> torch.Tensor | None:
    """Forward hook: a one-frame input to a time-compressing upsampler comes out as two frames.

    diffusers' ``CogVideoXUpsample3D`` treats a lone frame as the video's first frame (space
    only). The reference's, outside the first frame, interpolates it in time too (nearest, ×2),
    and its convolution is per frame, so its output is diffusers' frame twice.
    """
    return output.repeat_interleave(2, dim=2) if args[0].shape[2] == 1 else None


@contextmanager
def _time_upsampling_of_single_frames(decoder: torch.nn.Module, active: bool) -> Iterator[None]:
    handles = []
    if active:
        handles = [
            m.register_forward_hook(_double_a_single_frame)
            for m in decoder.modules()
            if isinstance(m, CogVideoXUpsample3D) and m.compress_time
        ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _decode_clip(vae: Any, z: torch.Tensor) -> torch.Tensor:
    """Latent frame 0 alone (one frame), then pairs (8 frames each), one cache carried through."""
    num = z.shape[2]
    chunks = [z[:, :, :1]] + [z[:, :, i : i + 2] for i in range(1, num, 2)]
    conv_cache = None
    out = []
    for k, chunk in enumerate(chunks):
        if vae.post_quant_conv is not None:
            chunk = vae.post_quant_conv(chunk)
        # a lone latent after frame 0 (the last one when the count is even) stands for 4 frames
        with _time_upsampling_of_single_frames(vae.decoder, k > 0 and chunk.shape[2] == 1):
            frames, conv_cache = vae.decoder(chunk, conv_cache=conv_cache)
        out.append(frames)
    return torch.cat(out, dim=2)


def _decode_tiled(vae: Any, z: torch.Tensor) -> torch.Tensor:
    """The VAE's spatial tiling and blending (as in diffusers and the reference), per-tile order ours."""
    height, width = z.shape[-2:]
    tile_h, tile_w = vae.tile_latent_min_height, vae.tile_latent_min_width
    step_h = int(tile_h * (1 - vae.tile_overlap_factor_height))
    step_w = int(tile_w * (1 - vae.tile_overlap_factor_width))
    blend_h = int(vae.tile_sample_min_height * vae.tile_overlap_factor_height)
    blend_w = int(vae.tile_sample_min_width * vae.tile_overlap_factor_width)
    keep_h = vae.tile_sample_min_height - blend_h
    keep_w = vae.tile_sample_min_width - blend_w
    rows = [
        [
            _decode_clip(vae, z[:, :, :, i : i + tile_h, j : j + tile_w])
            for j in range(0, width, step_w)
        ]
        for i in range(0, height, step_h)
    ]
    out_rows = []
    for i, row in enumerate(rows):
        kept = []
        for j, tile in enumerate(row):
            if i > 0:
                tile = vae.blend_v(rows[i - 1][j], tile, blend_h)
            if j > 0:
                tile = vae.blend_h(row[j - 1], tile, blend_w)
            kept.append(tile[:, :, :, :keep_h, :keep_w])
        out_rows.append(torch.cat(kept, dim=4))
    return torch.cat(out_rows, dim=3)


# vae: Any, an AutoencoderKLCogVideoX — whose decoder, tiling and slicing attributes are set in
# __init__ without annotations that mypy can see.
def decode_in_reference_order(vae: Any, z: torch.Tensor) -> torch.Tensor:
    """Pixels ``(b, 3, 4·(f−1)+1, H, W)`` in [-1, 1] from scaled-back latents ``(b, c, f, h, w)``.

    The reference's VAE (``videox_fun/models/cogvideox_vae.py``, ``_decode`` and
    ``tiled_decode`` with its default ``auto_split_process=False``) decodes latent frame 0 alone
    and then latent frames in pairs (1, 2), (3, 4), …, carrying the causal convolutions' cache:
    exactly ``4·(f−1)+1`` frames. diffusers' ``vae.decode`` pairs from frame 0 ((0, 1), (2, 3), …:
    88 frames for 22 latents), and dropping 3 of those is not the same video (43–45 dB apart on
    a random VAE). This is diffusers' own decoder run in the reference's order.
    """
    if vae.use_slicing and z.shape[0] > 1:
        return torch.cat([decode_in_reference_order(vae, clip) for clip in z.split(1)])
    height, width = z.shape[-2:]
    if vae.use_tiling and (
        width > vae.tile_latent_min_width or height > vae.tile_latent_min_height
    ):
        return _decode_tiled(vae, z)
    return _decode_clip(vae, z)


class VoidInpaintPipeline(DiffusionPipeline):
    """CogVideoX-Fun inpainting with VOID's quadmask conditioning (pass 1 and pass 2).

    Components: ``tokenizer`` (T5), ``text_encoder`` (``T5EncoderModel``), ``vae``
    (``AutoencoderKLCogVideoX``), ``transformer`` (``CogVideoXTransformer3DModel`` with
    ``in_channels = 3 × latent channels``) and ``scheduler`` (a stateless DDIM:
    ``CogVideoXDDIMScheduler`` or ``DDIMScheduler``).
    """

    # diffusers annotates the base attribute as None; every pipeline sets this string
    model_cpu_offload_seq = "text_encoder->transformer->vae"  # type: ignore[assignment]
    _optional_components: list[str] = []

    def __init__(
        self,
        tokenizer,
        text_encoder,
        vae: AutoencoderKLCogVideoX,
        transformer: CogVideoXTransformer3DModel,
        scheduler: CogVideoXDDIMScheduler | DDIMScheduler,
    ) -> None:
        super().__init__()
        self.register_modules(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=vae,
            transformer=transformer,
            scheduler=scheduler,
        )
        self.vae_scale_factor_spatial = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.vae_scale_factor_temporal = self.vae.config.temporal_compression_ratio

    # -- sizes -----------------------------------------------------------------------------

    def latent_frames(self, num_frames: int) -> int:
        """Latent frames the VAE makes of ``num_frames`` (``(n-1)/4 + 1``)."""
        return (num_frames - 1) // self.vae_scale_factor_temporal + 1

    def decoded_frames(self, num_latents: int) -> int:
        """Frames a clip of ``num_latents`` latent frames stands for: ``4·(latents−1)+1``."""
        return self.vae_scale_factor_temporal * (num_latents - 1) + 1

    def latent_shape(self, batch: int, num_frames: int, height: int, width: int) -> tuple[int, ...]:
        """Shape of the denoised latents, in the transformer's ``(b, f, c, h, w)`` order."""
        return (
            batch,
            self.latent_frames(num_frames),
            self.vae.config.latent_channels,
            height // self.vae_scale_factor_spatial,
            width // self.vae_scale_factor_spatial,
        )

    # -- 1. inputs ---------------------------------------------------------------------------

    def check_inputs(
        self,
        video: torch.Tensor,
        mask_video: torch.Tensor,
        mask_mode: str,
        temporal_window: int,
        temporal_overlap: int,
        latents: torch.Tensor | None,
    ) -> None:
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(
                f"video must be (batch, 3, frames, height, width), got {tuple(video.shape)}"
            )
        b, _, f, h, w = video.shape
        if tuple(mask_video.shape) != (b, 1, f, h, w):
            raise ValueError(f"mask_video must be {(b, 1, f, h, w)}, got {tuple(mask_video.shape)}")
        if mask_mode not in ("trimask", "binary"):
            raise ValueError(f"mask_mode must be 'trimask' or 'binary', not {mask_mode!r}")
        grid = self.vae_scale_factor_spatial * self.transformer.config.patch_size
        if h % grid or w % grid:
            raise ValueError(f"height and width must be multiples of {grid}, got {h}x{w}")
        p_t = self.transformer.config.patch_size_t or 1
        if (f - 1) % self.vae_scale_factor_temporal or self.latent_frames(f) % p_t:
            raise ValueError(
                f"{f} frames is not a valid length: it must be 4k+1 with an even number of latent frames "
                "(8m+5: 5, 13, ..., 85, ..., 197)"
            )
        if (temporal_window - 1) % self.vae_scale_factor_temporal or self.latent_frames(
            temporal_window
        ) % p_t:
            raise ValueError(f"temporal_window={temporal_window} is not a valid length (8m+5)")
        if temporal_overlap % (self.vae_scale_factor_temporal * p_t):
            raise ValueError(
                f"temporal_overlap={temporal_overlap} frames must be a multiple of "
                f"{self.vae_scale_factor_temporal * p_t} (whole latent patches)"
            )
        if temporal_overlap // self.vae_scale_factor_temporal >= self.latent_frames(
            temporal_window
        ):
            raise ValueError(
                f"temporal_overlap={temporal_overlap} must be shorter than temporal_window={temporal_window}"
            )
        if latents is not None:
            expected = self.latent_shape(b, f, h, w)
            if tuple(latents.shape) != expected:
                # The reference resized pass-2 noise to the 85-frame window (22 latent frames)
                # whatever the video length, which fails past 85 frames. Refuse it clearly here.
                raise ValueError(
                    f"latents must have shape {expected} for {f} frames, got {tuple(latents.shape)}"
                )
        if self.latent_frames(f) > self.latent_frames(temporal_window) and not isinstance(
            self.scheduler, (CogVideoXDDIMScheduler, DDIMScheduler)
        ):
            raise ValueError("temporal multi-window denoising needs a stateless DDIM scheduler")

    # -- 2. prompt ---------------------------------------------------------------------------

    def _get_t5_prompt_embeds(
        self, prompt: list[str], max_sequence_length: int, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        text_inputs = self.tokenizer(
            prompt,
            padding="max_length",
            max_length=max_sequence_length,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        ids = text_inputs.input_ids
        untruncated = self.tokenizer(prompt, padding="longest", return_tensors="pt").input_ids
        if untruncated.shape[-1] >= ids.shape[-1] and not torch.equal(
            ids, untruncated[:, : ids.shape[-1]]
        ):
            log.warning("prompt truncated to %d T5 tokens", max_sequence_length)
        embeds = self.text_encoder(ids.to(device))[0]
        return embeds.to(dtype=dtype, device=device)

    @torch.no_grad()
    def encode_prompt(
        self,
        prompt: str,
        negative_prompt: str,
        do_classifier_free_guidance: bool,
        max_sequence_length: int = MAX_SEQUENCE_LENGTH,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(prompt_embeds, negative_prompt_embeds)``; the negative one only under guidance."""
        device = device or self._execution_device
        dtype = dtype or self.text_encoder.dtype
        positive = self._get_t5_prompt_embeds([prompt], max_sequence_length, device, dtype)
        negative = None
        if do_classifier_free_guidance:
            negative = self._get_t5_prompt_embeds(
                [negative_prompt], max_sequence_length, device, dtype
            )
        return positive, negative

    # -- 3. latents --------------------------------------------------------------------------

    def prepare_latents(
        self,
        shape: tuple[int, ...],
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Initial latents ``(b, f, c, h, w)``: fresh Gaussian noise, or the given noise."""
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        else:
            latents = latents.to(device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma

    # -- 4. conditioning ---------------------------------------------------------------------

    @staticmethod
    def prepare_mask_condition(mask_video: torch.Tensor, mode: MaskMode) -> torch.Tensor:
        """The reference's collapse of ``(255 − quadmask)/255``: pass 1 ``trimask``, pass 2 ``binary``.

        ``trimask``: > 0.75 → 1, [0.25, 0.75] → 127/255, < 0.25 → 0 (overlap, 192/255, counts
        as remove). ``binary``: > 0.5 → 1 else 0 (affected, 128/255, is regenerated too).
        """
        m = mask_video.float()
        if mode == "trimask":
            m = torch.where(m > 0.75, torch.ones_like(m), m)
            m = torch.where((m <= 0.75) & (m >= 0.25), torch.full_like(m, TRIMASK_AFFECTED), m)
            m = torch.where(m < 0.25, torch.zeros_like(m), m)
            return m
        return torch.where(m > 0.5, torch.ones_like(m), torch.zeros_like(m))

    def _vae_encode(self, pixels: torch.Tensor, device: torch.device) -> torch.Tensor:
        """VAE posterior mode × scaling factor, one clip at a time, as ``(b, f, c, h, w)``."""
        out = []
        for clip in pixels.split(1):
            clip = clip.to(device=device, dtype=self.vae.dtype)
            out.append(self.vae.encode(clip)[0].mode())
        latents = torch.cat(out) * self.vae.config.scaling_factor
        return latents.permute(0, 2, 1, 3, 4)

    def prepare_mask_latents(
        self,
        mask_condition: torch.Tensor,
        video: torch.Tensor,
        generator: torch.Generator | None,
        noise_aug_strength: float,
        device: torch.device,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """``[mask latents | masked-video latents]`` ``(b, f, 2c, h, w)``, both through the VAE.

        As the reference: the VAE sees ``1 − mask`` tiled to RGB in [0, 1] (not normalised to
        [-1, 1]) and the *whole* video in [-1, 1] (the masked region is not blanked), plus
        ``noise_aug_strength`` Gaussian noise on every pixel that is not exactly −1.
        """
        mask_rgb = (1.0 - mask_condition).repeat(1, 3, 1, 1, 1)
        mask_latents = self._vae_encode(mask_rgb, device)
        masked_video = video
        if noise_aug_strength > 0:
            noise_device = generator.device if generator is not None else video.device
            noise = randn_tensor(
                tuple(video.shape), generator=generator, device=noise_device, dtype=video.dtype
            )
            noise = noise.to(video.device)
            masked_video = video + torch.where(
                video == -1, torch.zeros_like(noise), noise * noise_aug_strength
            )
        video_latents = self._vae_encode(masked_video, device)
        return torch.cat([mask_latents, video_latents], dim=2).to(dtype)

    # -- 5. denoising ------------------------------------------------------------------------

    def _rotary_embeddings(
        self, height: int, width: int, num_latents: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """CogVideoX 1.5 3D RoPE for a clip of ``num_latents`` latent frames (``"slice"`` grid)."""
        cfg = self.transformer.config
        if not cfg.use_rotary_positional_embeddings:
            return None
        p, p_t = cfg.patch_size, cfg.patch_size_t
        grid_h = height // (self.vae_scale_factor_spatial * p)
        grid_w = width // (self.vae_scale_factor_spatial * p)
        if p_t is None:
            raise ValueError("VOID needs a CogVideoX 1.5 transformer (patch_size_t set)")
        # "slice" takes the first grid_h/grid_w rows of a table max_size long; the values do not
        # depend on max_size, so widening it only avoids a crash on sizes past the config's.
        max_size = (max(cfg.sample_height // p, grid_h), max(cfg.sample_width // p, grid_w))
        cos_sin = get_3d_rotary_pos_embed(
            embed_dim=cfg.attention_head_dim,
            crops_coords=None,
            grid_size=(grid_h, grid_w),
            temporal_size=(num_latents + p_t - 1) // p_t,
            grid_type="slice",
            max_size=max_size,
            device=device,
        )
        # annotated Tensor | tuple; with use_real=True, the only mode diffusers supports, it is (cos, sin)
        assert isinstance(cos_sin, tuple)
        return cos_sin

    def denoise_window(
        self,
        latents: torch.Tensor,
        inpaint_latents: torch.Tensor,
        t: torch.Tensor,
        prompt_embeds: torch.Tensor,
        guidance_scale: float,
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
        window_name: str = "window",
    ) -> torch.Tensor:
        """One scheduler step on one temporal window: one transformer call (batch 2 under CFG).

        ``window_name`` names the window's step cache (fast mode, :mod:`.fast`); without a cache
        it is unused and the call is the default path's.
        """
        do_cfg = guidance_scale > 1.0
        model_input = torch.cat([latents] * 2) if do_cfg else latents
        model_input = self.scheduler.scale_model_input(model_input, t)
        inpaint = torch.cat([inpaint_latents] * 2) if do_cfg else inpaint_latents
        hidden_states = torch.cat([model_input, inpaint], dim=2)  # [noisy | mask | video]
        with window_context(self.transformer, window_name):
            noise_pred = self.transformer(
                hidden_states=hidden_states,
                encoder_hidden_states=prompt_embeds,
                timestep=t.expand(hidden_states.shape[0]),
                image_rotary_emb=rotary,
                return_dict=False,
            )[0].float()
        if do_cfg:
            uncond, text = noise_pred.chunk(2)
            noise_pred = uncond + guidance_scale * (text - uncond)
        latents = self.scheduler.step(noise_pred, t, latents, return_dict=False)[0]
        return latents.to(prompt_embeds.dtype)

    # -- 6. decoding -------------------------------------------------------------------------

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Frames ``(b, c, 4·(f−1)+1, h, w)`` in [0, 1] from latents ``(b, f, c, h, w)``.

        Decoded in the reference's order (``decode_in_reference_order``), which yields exactly
        ``4·(f−1)+1`` frames, frame *i* on input frame *i*, with nothing to trim.
        """
        z = latents.permute(0, 2, 1, 3, 4) / self.vae.config.scaling_factor
        # apply_forward_hook: what vae.decode does first, so model CPU offload moves the VAE in
        frames = apply_forward_hook(decode_in_reference_order)(self.vae, z.to(self.vae.dtype))
        expected = self.decoded_frames(latents.shape[1])
        if frames.shape[2] != expected:
            raise RuntimeError(
                f"VAE decoded {frames.shape[2]} frames from {latents.shape[1]} latents, expected {expected}"
            )
        return (frames.float() / 2 + 0.5).clamp(0, 1)

    # -- the algorithm -----------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        video: torch.Tensor,
        mask_video: torch.Tensor,
        prompt: str = "",
        negative_prompt: str = NEGATIVE_PROMPT,
        mask_mode: MaskMode = "trimask",
        num_inference_steps: int = 30,
        guidance_scale: float = 1.0,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        temporal_window: int = 85,
        temporal_overlap: int = 16,
        noise_aug_strength: float = 0.0,
        max_sequence_length: int = MAX_SEQUENCE_LENGTH,
        callback: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> VoidPipelineOutput:
        """Remove what ``mask_video`` marks from ``video``.

        Args:
            video: ``(b, 3, f, h, w)`` in [0, 1], at the model size, ``f = 8m+5`` frames.
            mask_video: ``(b, 1, f, h, w)``: ``(255 − snapped quadmask) / 255`` (1 = remove).
            mask_mode: ``"trimask"`` (pass 1) or ``"binary"`` (pass 2).
            latents: initial noise ``(b, latent frames, c, h/8, w/8)`` (pass 2: warped noise).
            temporal_window / temporal_overlap: internal window and overlap, in frames.
            noise_aug_strength: conditioning-video noise (0.0563 when the transformer config
                says ``add_noise_in_inpaint_model``; the engine decides).
            callback: called ``(step, steps)`` after every denoising step.
            cancelled: polled before every step and window; True raises ``VoidError(CANCELLED)``.
        """
        # 1. Check inputs.
        self.check_inputs(video, mask_video, mask_mode, temporal_window, temporal_overlap, latents)
        batch, _, num_frames, height, width = video.shape
        device = self._execution_device
        dtype = self.transformer.dtype
        do_cfg = guidance_scale > 1.0

        def check_cancel() -> None:
            if cancelled is not None and cancelled():
                raise VoidError(ErrorCode.CANCELLED, "cancelled during VOID denoising")

        # 2. Encode the prompt (once per call; the engine passes cached embeddings).
        if prompt_embeds is None or (do_cfg and negative_prompt_embeds is None):
            prompt_embeds, negative_prompt_embeds = self.encode_prompt(
                prompt, negative_prompt, do_cfg, max_sequence_length, device
            )
        prompt_embeds = prompt_embeds.to(device=device, dtype=dtype).expand(batch, -1, -1)
        if do_cfg:
            assert negative_prompt_embeds is not None  # encode_prompt returns both when do_cfg
            negative_prompt_embeds = negative_prompt_embeds.to(device=device, dtype=dtype).expand(
                batch, -1, -1
            )
            prompt_embeds = torch.cat([negative_prompt_embeds, prompt_embeds])

        # 3. Timesteps and initial latents (noise is drawn before anything else uses the generator,
        #    so a seed gives the reference's starting noise).
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        shape = self.latent_shape(batch, num_frames, height, width)
        latents = self.prepare_latents(shape, dtype, device, generator, latents)

        # 4. Conditioning: mask latents and masked-video latents, through the VAE.
        check_cancel()
        init_video = video.float() * 2.0 - 1.0
        mask_condition = self.prepare_mask_condition(mask_video, mask_mode)
        inpaint_latents = self.prepare_mask_latents(
            mask_condition, init_video, generator, noise_aug_strength, device, dtype
        )

        # 5. Denoise, window by window when the video is longer than the internal window.
        num_latents = latents.shape[1]
        window = self.latent_frames(temporal_window)
        overlap = temporal_overlap // self.vae_scale_factor_temporal
        spans = temporal_windows(num_latents, window, overlap)
        if len(spans) > 1:
            log.info("temporal multi-window: %d latent frames in windows %s", num_latents, spans)
        rotary = {
            n: self._rotary_embeddings(height, width, n, device) for n in {e - b for b, e in spans}
        }
        if getattr(self.transformer, "is_cache_enabled", False):
            # a step cache (fast mode) starts empty: nothing carried over from another video
            self.transformer._reset_stateful_cache()

        for i, t in enumerate(timesteps):
            check_cancel()
            if len(spans) == 1:
                latents = self.denoise_window(
                    latents, inpaint_latents, t, prompt_embeds, guidance_scale, rotary[num_latents]
                )
            else:
                canvas = torch.zeros_like(latents, dtype=torch.float32)
                weights = torch.zeros(1, num_latents, 1, 1, 1, device=device, dtype=torch.float32)
                for begin, end in spans:
                    check_cancel()
                    denoised = self.denoise_window(
                        latents[:, begin:end],
                        inpaint_latents[:, begin:end],
                        t,
                        prompt_embeds,
                        guidance_scale,
                        rotary[end - begin],
                        window_name=f"window {begin}:{end}",
                    )
                    w = window_weights(begin, end, num_latents, overlap, latents.dtype, device)
                    canvas[:, begin:end] += denoised * w
                    weights[:, begin:end] += w
                latents = (canvas / weights).to(latents.dtype)
            if callback is not None:
                callback(i + 1, len(timesteps))

        # 6. Decode to 4·(latents−1)+1 frames.
        check_cancel()
        decoded = self.decode_latents(latents)
        self.maybe_free_model_hooks()
        frames = decoded.permute(0, 2, 3, 4, 1).cpu().numpy().astype(np.float32)
        return VoidPipelineOutput(frames=frames)
