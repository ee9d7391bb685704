"""The ``void`` engine's fast mode (``fast: true``, ``void-remove run --fast``).

What it changes, and what it leaves alone (``docs/void-engine.md``, "Fast mode"):

* **Step caching** (per call, so the default path never sees it): ``step_cache="taylorseer"``,
  the fast mode's choice, is diffusers' TaylorSeer in its lite form: the transformer runs fully
  on the first 3 steps, then every ``step_cache_interval``-th step and the last; in between, its
  output is predicted by a first-order Taylor expansion from the last two full steps.
  ``step_cache="fbc"`` is diffusers' FirstBlockCache: the first block runs at every step and,
  while its residual changes by less than ``step_cache_threshold`` (relative mean absolute
  difference) from the last fully computed step, the other blocks' cached residual is reused
  instead of running them. The hooks are installed for one pipeline call and removed after it;
  every temporal window of the multi-diffusion loop keeps its own cache (a ``cache_context``
  per window), since neighbouring windows are different inputs at the same step.
* **Batched CFG**: already the pipeline's only path (one batch-2 transformer call per step under
  guidance), in the default mode too.
* **Attention**: diffusers' CogVideoX processor already calls PyTorch's
  ``scaled_dot_product_attention``, which picks flash / memory-efficient kernels on CUDA by itself;
  nothing to switch.
* **torch.compile** (``torch_compile``, read at load, off by default): each transformer block is
  compiled on its own (regional compilation). Not measured on a GPU yet; slow to compile on a CPU.
* **fp8 weight storage** stays the separate ``transformer_fp8`` option (memory, not speed), and
  is skipped on the CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from void_daemon.engines.void.defaults import STEP_CACHES

log = logging.getLogger(__name__)

#: Full steps before TaylorSeer starts predicting (it needs two to take a difference).
TAYLORSEER_WARMUP = 3


def step_cache_kind(fast: bool, step_cache: str) -> str:
    """The cache a call uses: ``step_cache`` when set, else ``taylorseer`` in fast mode, else none.

    TaylorSeer (lite) is the fast mode's choice because its saving is fixed by its schedule
    (13 of 30 and 19 of 50 steps run the transformer); FirstBlockCache skips only while the
    first block's residual changes less than its threshold, which depends on the weights (on
    random ones it never skips), so its saving is unknown until measured with the real model.
    """
    if step_cache:
        return step_cache
    return "taylorseer" if fast else "none"


def cache_config(kind: str, threshold: float, interval: int, steps: int) -> Any:
    """The diffusers cache config for ``kind`` (None for ``none``)."""
    from diffusers.hooks import FirstBlockCacheConfig, TaylorSeerCacheConfig

    if kind == "none":
        return None
    if kind == "fbc":
        return FirstBlockCacheConfig(threshold=threshold)
    if kind == "taylorseer":
        return TaylorSeerCacheConfig(
            cache_interval=interval,
            disable_cache_before_step=TAYLORSEER_WARMUP,
            # the last step computes fully: it sets the final latents
            disable_cache_after_step=max(TAYLORSEER_WARMUP, steps - 1),
            max_order=1,
            taylor_factors_dtype=torch.float32,
            use_lite_mode=True,
        )
    raise ValueError(f"unknown step cache {kind!r} ({', '.join(STEP_CACHES)})")


@dataclass
class CacheStats:
    """Transformer calls in one pipeline call, and how many ran every block."""

    calls: int = 0
    full: int = 0

    @property
    def skipped(self) -> int:
        return self.calls - self.full


def _counting(module: torch.nn.Module | None, stats: CacheStats, attr: str) -> Any:
    """A forward hook on a small submodule that only runs when its block really runs."""
    if module is None:
        return None

    def count(*_args: Any) -> None:
        setattr(stats, attr, getattr(stats, attr) + 1)

    return module.register_forward_hook(count)


@contextmanager
def step_cache(transformer: Any, config: Any) -> Iterator[CacheStats]:
    """Install ``config``'s hooks on ``transformer`` for the duration of one pipeline call.

    Removed afterwards whatever happens, so the next call (another job, the default mode) runs
    the transformer exactly as loaded. Yields the call's :class:`CacheStats` (filled in when a
    cache is on: the patch embedding runs on every call, the last block's norm only when the
    blocks are computed).
    """
    stats = CacheStats()
    if config is None:
        yield stats
        return
    if transformer.is_cache_enabled:  # left over from a call that died mid-way: start clean
        transformer.disable_cache()
    blocks = list(getattr(transformer, "transformer_blocks", []))
    if len(blocks) < 2 and type(config).__name__ == "FirstBlockCacheConfig":
        log.warning("FirstBlockCache needs two transformer blocks or more; running uncached")
        yield stats
        return
    handles = []
    if len(blocks) > 1:
        handles = [
            _counting(getattr(transformer, "patch_embed", None), stats, "calls"),
            _counting(getattr(blocks[-1], "norm1", None), stats, "full"),
        ]
    transformer.enable_cache(config)
    try:
        yield stats
    finally:
        transformer.disable_cache()
        for handle in handles:
            if handle is not None:
                handle.remove()
        if stats.calls:
            log.info(
                "step cache %s: %d of %d transformer calls reused the cached blocks",
                type(config).__name__,
                stats.skipped,
                stats.calls,
            )


@contextmanager
def window_context(transformer: Any, name: str) -> Iterator[None]:
    """The cache context of one temporal window (nothing when no cache is on)."""
    if getattr(transformer, "is_cache_enabled", False):
        with transformer.cache_context(name):
            yield
    else:
        yield


def compile_blocks(transformer: Any) -> int:
    """Compile every transformer block on its own (regional compilation); returns how many."""
    blocks = list(getattr(transformer, "transformer_blocks", []))
    for block in blocks:
        block.compile()
    log.info("torch.compile: %d transformer blocks (compiled on first use)", len(blocks))
    return len(blocks)


def fp8_supported(device: torch.device) -> bool:
    """fp8 weight storage: CUDA only (on the CPU the per-layer casts cost more than they save)."""
    return device.type == "cuda" and hasattr(torch, "float8_e4m3fn")
