"""Device, dtype and memory-mode choices for the ``void`` engine (torch imported by callers).

CUDA first, Apple Silicon (MPS) second, CPU last. Nothing CUDA-specific runs outside the CUDA
branch. Half precision (float16) is refused on MPS, where CogVideoX produces NaNs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from void_client.errors import ErrorCode, VoidError

log = logging.getLogger(__name__)

MEMORY_MODES = ("full", "model_offload", "sequential_offload")
_DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
}
GIB = 1024**3


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def gpu_summary() -> dict[str, Any]:
    """What ``hello`` reports about the GPU: the first CUDA device's name and free memory in
    bytes, else Apple MPS (shared memory, so no free figure), else no GPU (``""``, 0)."""
    if torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info()
        return {"gpu": torch.cuda.get_device_name(0), "vram_free": int(free)}
    if mps_available():
        return {"gpu": "Apple MPS", "vram_free": 0}
    return {"gpu": "", "vram_free": 0}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; explicit names are checked."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VoidError(
            ErrorCode.ENGINE_UNAVAILABLE,
            f"device {name!r} requested but CUDA is not available",
            "device",
        )
    if device.type == "mps" and not mps_available():
        raise VoidError(
            ErrorCode.ENGINE_UNAVAILABLE,
            f"device {name!r} requested but MPS is not available",
            "device",
        )
    if device.type not in ("cuda", "mps", "cpu"):
        raise VoidError(
            ErrorCode.ENGINE_UNAVAILABLE,
            f"unsupported device {name!r} (cuda, mps or cpu)",
            "device",
        )
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 on CUDA, float32 on MPS and CPU. float16 is refused on MPS."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in _DTYPES:
        raise VoidError(
            ErrorCode.BAD_SPEC, f"unknown dtype {name!r} (bfloat16, float16, float32)", "dtype"
        )
    dtype = _DTYPES[name]
    if dtype == torch.float16:
        if device.type == "mps":
            raise VoidError(
                ErrorCode.BAD_SPEC,
                "float16 gives NaNs with CogVideoX on Apple Silicon; use bfloat16 or float32",
                "dtype",
            )
        log.warning("CogVideoX was trained in bfloat16; float16 may overflow (black or NaN frames)")
    return dtype


def free_memory_gib(device: torch.device) -> float | None:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free / GIB
    return None


@dataclass(frozen=True)
class MemoryNeeds:
    """Accelerator bytes a window needs, per component: resident weights and working peaks.

    ``weights`` are the loaded components' parameter and buffer bytes (``component_bytes``);
    ``transformer_peak`` and ``vae_peak`` the activations of one transformer call and of the VAE
    decode for the largest window this daemon runs (``transformer_peak_bytes``,
    ``vae_decode_peak_bytes``).
    """

    weights: dict[str, int]
    transformer_peak: int
    vae_peak: int

    def full(self) -> int:
        """Everything resident, plus the larger of the two working peaks (they never overlap)."""
        return sum(self.weights.values()) + max(self.transformer_peak, self.vae_peak)

    def model_offload(self) -> int:
        """One component resident at a time, with its own working peak."""
        return max(
            self.weights.get("transformer", 0) + self.transformer_peak,
            self.weights.get("vae", 0) + self.vae_peak,
            self.weights.get("text_encoder", 0),
        )


#: Share of the free memory an estimate may use (the allocator's fragmentation, the CUDA context's
#: kernels, and what the estimates leave out).
MEMORY_HEADROOM = 0.8


def memory_mode_for(free_bytes: int, needs: MemoryNeeds, headroom: float = MEMORY_HEADROOM) -> str:
    """The first mode that fits: ``full`` (the reference's: everything on the GPU) when the whole
    pipeline plus its larger working peak fits, ``model_offload`` when the largest component
    with its own peak does, else ``sequential_offload``. None changes the output."""
    budget = free_bytes * headroom
    if needs.full() <= budget:
        return "full"
    if needs.model_offload() <= budget:
        return "model_offload"
    return "sequential_offload"


def choose_memory_mode(name: str, device: torch.device, needs: MemoryNeeds | None = None) -> str:
    """``auto``: on CUDA from the estimated peak (``memory_mode_for``) against the free memory;
    MPS and CPU share memory with the host, so offloading buys nothing there."""
    name = (name or "auto").strip().lower()
    if name not in ("auto", *MEMORY_MODES):
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"unknown memory_mode {name!r} ({', '.join(MEMORY_MODES)}, auto)",
            "memory_mode",
        )
    if device.type != "cuda":
        if name not in ("auto", "full"):
            log.info("memory_mode %s has no effect on %s; loading fully", name, device.type)
        return "full"
    if name != "auto":
        return name
    if needs is None:  # nothing to estimate from: the reference's full load
        return "full"
    free = int((free_memory_gib(device) or 0.0) * GIB)
    mode = memory_mode_for(free, needs)
    log.info(
        "memory mode %s: %.1f GiB free; full needs ~%.1f GiB, model offload ~%.1f GiB",
        mode,
        free / GIB,
        needs.full() / GIB,
        needs.model_offload() / GIB,
    )
    return mode


def component_bytes(module: torch.nn.Module) -> int:
    """Bytes of a component's parameters and buffers (as stored: fp8 storage counts 1 byte)."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


#: Values per token and per hidden unit live at a transformer block's peak: the residual stream,
#: the norm output, the 4× feed-forward intermediate and its activation (8), the output, and slack
#: for q/k/v and the attention output, which peak earlier. With SDPA's flash / memory-efficient
#: kernels no tokens² matrix is held. An estimate from the block's structure, rounded up.
TRANSFORMER_PEAK_VALUES = 16


def transformer_tokens(
    height: int, width: int, frames: int, patch: int = 2, patch_t: int = 2, text: int = 226
) -> int:
    """Tokens of one CogVideoX 1.5 transformer call: video patches plus the T5 text tokens."""
    latents = (frames - 1) // 4 + 1
    return -(-latents // patch_t) * (height // (8 * patch)) * (width // (8 * patch)) + text


def transformer_peak_bytes(tokens: int, inner_dim: int, batch: int, dtype_bytes: int) -> int:
    """Estimated activations of one transformer call (``batch`` 2 under classifier-free guidance)."""
    return int(TRANSFORMER_PEAK_VALUES * tokens * inner_dim * batch * dtype_bytes)


#: The VAE decoder's peak, in tensors of ``256 channels × 10 frames × H × W``: a pair of latent
#: frames decodes to 8 frames (10 with the causal convolution's 2 cached frames), and the peak is
#: where the last 256-channel block is upsampled to full resolution and enters the 128-channel one
#: (interpolated input, convolution output, its permuted copy, the residual and a norm output
#: live at once). An estimate from the decoder's structure, rounded up; not measured on a GPU yet.
DECODE_PEAK_TENSORS = 5.0
DECODE_PEAK_CHANNELS = 256
DECODE_PEAK_FRAMES = 10
#: The VAE's default tile in pixels (diffusers: half the 480×720 sample size) and overlap.
VAE_TILE = (240, 360)
#: Share of the free memory the estimate may use before tiling turns on (headroom for the
#: allocator's fragmentation and for what the estimate leaves out).
DECODE_HEADROOM = 0.8


def vae_decode_peak_bytes(
    height: int, width: int, frames: int, dtype_bytes: int, tile: tuple[int, int] | None = None
) -> int:
    """Estimated accelerator memory the VAE decode of one window needs beyond the loaded weights.

    The decode runs latent frame 0, then pairs (``pipeline.decode_in_reference_order``), so its
    working set depends on the picture size, not the window length; the decoded video
    (``3 × frames × H × W``, kept in the VAE's dtype, then concatenated and made float32) is added.
    With ``tile=(h, w)`` the working set is one tile's and the decoded tiles are held until blended.
    """
    h, w = (min(height, tile[0]), min(width, tile[1])) if tile else (height, width)
    working = DECODE_PEAK_TENSORS * DECODE_PEAK_CHANNELS * DECODE_PEAK_FRAMES * h * w * dtype_bytes
    video = 3 * frames * height * width * (2 * dtype_bytes + 4)
    if tile:
        video += 3 * frames * height * width * dtype_bytes  # tiles awaiting their blend
    return int(working + video)


def choose_vae_tiling(
    setting: bool | None,
    free_gib: float | None,
    height: int,
    width: int,
    frames: int,
    dtype_bytes: int = 2,
) -> bool:
    """Tile the VAE decode only when the untiled decode would not fit (the reference never tiles).

    ``setting`` (the ``vae_tiling`` option) wins when given. ``free_gib`` is what the accelerator
    has free for activations now (None on CPU and MPS, where memory is the host's: no tiling).
    """
    if setting is not None:
        return setting
    if free_gib is None:
        return False
    need = vae_decode_peak_bytes(height, width, frames, dtype_bytes) / GIB
    return need > free_gib * DECODE_HEADROOM


def activation_free_gib(device: torch.device) -> float | None:
    """Memory free for activations on CUDA: the driver's free plus what torch holds unused."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return (free + max(0, cached)) / GIB


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A seeded generator: on the GPU for CUDA (the reference's noise), on the CPU otherwise."""
    gen_device = device if device.type == "cuda" else torch.device("cpu")
    return torch.Generator(device=gen_device).manual_seed(int(seed))


def empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / GIB
    if device.type == "mps":
        return torch.mps.driver_allocated_memory() / GIB
    return None
