"""The ``void`` engine's fast mode and memory-mode estimate (issue 18, items 3 and 4).

The default path must stay the reference's computation bit for bit: the fast mode installs its
step cache for one call and removes it, so a default run after a fast one (or after a fast one
that failed) gives exactly the frames of a default run before it. The fast path's deviation on
the tiny random model is measured and bounded here; its quality needs the real weights
(``bench/void_engine.py --ab fast``, docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("sentencepiece")

from tests.support.void_tiny import write_tiny_weights  # noqa: E402
from void_client.errors import ErrorCode, VoidError  # noqa: E402
from void_daemon.engines.base import EngineConfig, WindowInput  # noqa: E402
from void_daemon.engines.void import VoidEngine, devices, fast  # noqa: E402
from void_daemon.engines.void.options import VoidOptions  # noqa: E402

H, W = 32, 48
GIB = devices.GIB
#: Worst |Δ| of the fast mode against the default on the tiny model (10 steps, 4 of them
#: predicted by TaylorSeer); measured: see docs/benchmarks.md, "Fast mode".
FAST_MAX_DELTA = 0.08


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    weights = write_tiny_weights(tmp_path_factory.mktemp("void_fast"))
    eng = VoidEngine(
        EngineConfig(weights_dir=str(weights), device="cpu", options={"min_frames": 0})
    )
    eng.load()
    yield eng
    eng.close()


def window(t: int = 13, prompt: str = "a table with a cup on it", **options) -> WindowInput:
    rng = np.random.default_rng(3)
    frames = rng.random((t, H, W, 3), dtype=np.float32)
    q = np.full((t, H, W), 255, np.uint8)
    q[:, 8:16, 12:24] = 0
    q[:, 16:24, 12:36] = 127
    return WindowInput(
        frames=frames, quadmask=q, seed=5, prompt=prompt, options={"steps": 10, **options}
    )


def test_default_output_is_unchanged_by_a_fast_run_and_fast_deviation_is_bounded(engine):
    before = engine.fill(window())
    fast_out = engine.fill(window(fast=True))
    stats = engine.cache_stats[1]
    after = engine.fill(window())
    assert np.array_equal(before, after)  # bit-identical: no hook left behind
    assert engine.cache_stats[1].calls == 0  # the default run had no cache
    assert not engine.pipeline.transformer.is_cache_enabled
    # TaylorSeer lite over 10 steps: full on 0, 1, 2, 4, 7 and the last; predicted on 3, 5, 6, 8
    assert (stats.calls, stats.skipped) == (10, 4)
    delta = float(np.abs(fast_out - before).max())
    assert 0 < delta < FAST_MAX_DELTA


def test_fast_mode_keeps_one_cache_per_internal_window(engine):
    opts = {"temporal_window": 13, "temporal_overlap": 8}  # 6 latents in windows (0,4), (2,6)
    default = engine.fill(window(21, **opts))
    fast_out = engine.fill(window(21, fast=True, **opts))
    stats = engine.cache_stats[1]
    assert (stats.calls, stats.skipped) == (20, 8)  # each window on its own schedule
    assert 0 < float(np.abs(fast_out - default).max()) < FAST_MAX_DELTA
    assert np.array_equal(default, engine.fill(window(21, **opts)))


def test_fast_pass2_runs_guidance_as_one_batch_and_caches_it(engine, monkeypatch):
    rt = engine.load()
    engine._use_pass(rt, 2)  # load the pass-2 transformer, to count its calls too
    calls: list[tuple[int, int]] = []
    hooks = [
        rt.transformers[n].patch_embed.register_forward_hook(
            lambda _m, args, _o, n=n: calls.append((n, args[1].shape[0]))  # (batch, f, c, h, w)
        )
        for n in (1, 2)
    ]
    noises = []
    warp = engine.pass2_noise
    monkeypatch.setattr(
        engine, "pass2_noise", lambda *a, **k: noises.append(warp(*a, **k)) or noises[-1]
    )
    try:
        default = engine.fill(_pass2_window())
    finally:
        for hook in hooks:
            hook.remove()
    # pass 1: 10 calls of batch 1; pass 2 (guidance 6 with a prompt): 6 calls of batch 2, not 12
    assert calls == [(1, 1)] * 10 + [(2, 2)] * 6
    # Pass 2 starts from noise warped along pass 1's output, so a fast pass 1 changes pass 2's
    # noise too (on random weights the whole video: max |Δ| 0.54, docs/benchmarks.md). To bound
    # the cache's own effect on pass 2, the fast run starts pass 2 from the default run's noise.
    monkeypatch.setattr(engine, "pass2_noise", lambda *a, **k: noises[0])
    fast_out = engine.fill(_pass2_window(fast=True))
    # 6 steps: full on 0, 1, 2, 4 and the last; predicted on 3
    assert (engine.cache_stats[2].calls, engine.cache_stats[2].skipped) == (6, 1)
    assert 0 < float(np.abs(fast_out - default).max()) < FAST_MAX_DELTA


def _pass2_window(**options) -> WindowInput:
    w = window(pass2_steps=6, **options)
    return WindowInput(
        frames=w.frames,
        quadmask=w.quadmask,
        seed=w.seed,
        prompt=w.prompt,
        pass2=True,
        options=w.options,
    )


def test_a_failed_fast_run_leaves_the_default_path_intact(engine):
    before = engine.fill(window())
    steps = []

    def cancelled() -> bool:
        return len(steps) > 5

    w = window(fast=True)
    w = WindowInput(
        frames=w.frames,
        quadmask=w.quadmask,
        seed=w.seed,
        prompt=w.prompt,
        options=w.options,
        progress=lambda *a: steps.append(a),
        cancelled=cancelled,
    )
    with pytest.raises(VoidError) as err:
        engine.fill(w)
    assert err.value.code == ErrorCode.CANCELLED
    assert not engine.pipeline.transformer.is_cache_enabled
    assert np.array_equal(before, engine.fill(window()))


def test_first_block_cache_option_runs_and_is_removed(engine):
    default = engine.fill(window())
    out = engine.fill(window(step_cache="fbc", step_cache_threshold=1.0))
    stats = engine.cache_stats[1]
    # the first step always runs fully; at threshold 1.0 later ones reuse the cached blocks
    assert stats.calls == 10 and 1 <= stats.skipped < 10
    assert 0 < float(np.abs(out - default).max()) < 0.3
    assert not engine.pipeline.transformer.is_cache_enabled


def test_fast_options_are_checked():
    assert VoidOptions.merge({"fast": "true"}).fast is True
    assert fast.step_cache_kind(False, "") == "none"
    assert fast.step_cache_kind(True, "") == "taylorseer"
    assert fast.step_cache_kind(True, "fbc") == "fbc"
    for bad in ({"step_cache": "magic"}, {"step_cache_threshold": 0}, {"pass2_noise_std": 5}):
        with pytest.raises(VoidError) as err:
            VoidOptions.merge(bad)
        assert err.value.code == ErrorCode.BAD_SPEC
        assert err.value.field == f"options.{next(iter(bad))}"


def test_pass2_noise_std_scales_the_warped_noise(engine):
    frames = np.random.default_rng(0).random((13, H, W, 3), dtype=np.float32)
    unit = engine.pass2_noise(frames, 1, VoidOptions(pass2_noise="unit"))
    scaled = engine.pass2_noise(frames, 1, VoidOptions(pass2_noise_std=0.66))
    assert torch.allclose(scaled, unit * 0.66)
    assert abs(float(unit.std()) - 1.0) < 0.15


# -- memory mode from the estimated peak ----------------------------------------------------------

#: The 5B release in bfloat16: transformer 5.57e9 parameters, T5-XXL encoder 4.76e9, VAE 0.216e9.
REAL_WEIGHTS = {"transformer": 11_140_000_000, "text_encoder": 9_520_000_000, "vae": 432_000_000}


def real_needs(frames: int = 85) -> devices.MemoryNeeds:
    tokens = devices.transformer_tokens(384, 672, frames)
    return devices.MemoryNeeds(
        weights=REAL_WEIGHTS,
        transformer_peak=devices.transformer_peak_bytes(tokens, 3072, 2, 2),
        vae_peak=devices.vae_decode_peak_bytes(384, 672, 197, 2),
    )


def test_transformer_tokens_match_the_model():
    # 85 frames: 22 latents, 11 latent patches in time, 24x42 in space, plus 226 text tokens
    assert devices.transformer_tokens(384, 672, 85) == 11 * 24 * 42 + 226


def test_memory_mode_is_chosen_from_the_estimated_peak():
    needs = real_needs()
    assert 26 * GIB < needs.full() < 32 * GIB  # all weights (~19.6 GiB) + the decode's peak
    assert 12 * GIB < needs.model_offload() < 14 * GIB  # transformer + its activations
    choose = devices.memory_mode_for
    # the reference's full load wherever it fits: an 80 GB and a 40 GB A100 (the old fixed
    # 40 GiB threshold offloaded the latter), a 48 GB card
    for free_gib in (79, 44, 39.4):
        assert choose(int(free_gib * GIB), needs) == "full"
    for free_gib in (23, 17):  # a 24 GB card, a 20 GB one
        assert choose(int(free_gib * GIB), needs) == "model_offload"
    assert choose(int(11 * GIB), needs) == "sequential_offload"
    # a lighter component set fits where the 5B does not
    small = devices.MemoryNeeds({"transformer": GIB, "vae": GIB // 4}, GIB, GIB)
    assert choose(int(4 * GIB), small) == "full"


def test_choose_memory_mode_uses_the_estimate_on_cuda(monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    needs = real_needs()
    for free, mode in (
        (80, "full"),
        (39.4, "full"),
        (24, "model_offload"),
        (8, "sequential_offload"),
    ):
        monkeypatch.setattr(devices, "free_memory_gib", lambda d, f=free: float(f))
        assert devices.choose_memory_mode("auto", cuda, needs) == mode
    assert devices.choose_memory_mode("auto", cuda, None) == "full"
    assert devices.choose_memory_mode("model_offload", cuda, needs) == "model_offload"
    assert devices.choose_memory_mode("auto", cpu, needs) == "full"


def test_engine_estimates_its_needs_from_the_loaded_components(engine):
    rt = engine.load()
    needs = engine._needs(rt.pipe, rt.dtype)
    assert needs.weights["transformer"] == sum(
        p.numel() * 4 for p in rt.pipe.transformer.parameters()
    ) + sum(b.numel() * b.element_size() for b in rt.pipe.transformer.buffers())
    assert set(needs.weights) == {"text_encoder", "transformer", "vae"}
    assert needs.transformer_peak > 0 and needs.vae_peak > 0


def test_listing_fast_helpers_needs_no_gpu():
    assert fast.fp8_supported(torch.device("cpu")) is False
    assert Path(fast.__file__).name == "fast.py"
