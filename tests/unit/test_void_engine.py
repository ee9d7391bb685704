"""The ``void`` engine on a tiny random VOID saved in the real weights layout, run on the CPU.

Everything goes through the real code: ``VoidEngine`` loads ``tests/support/void_tiny.py``'s folder
with the same loader as the 5B release (33→48-channel transformer, SentencePiece tokenizer,
CogVideoX-Fun scheduler config) and runs the real pipeline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from tests.support.void_tiny import BASE, LATENT_CHANNELS, tiny_transformer, write_tiny_weights  # noqa: E402
from void_client.errors import ErrorCode, VoidError  # noqa: E402
from void_daemon.engines import load_engine  # noqa: E402
from void_daemon.engines.base import EngineConfig, WindowInput  # noqa: E402
from void_daemon.engines.void import VoidEngine  # noqa: E402
from void_daemon.engines.void.engine import mask_video_from_quadmask, temporal_pad  # noqa: E402
from void_daemon.engines.void.layout import PASS1_FILE, PASS2_FILE  # noqa: E402
from void_daemon.engines.void.loading import load_transformer, widen_patch_embed  # noqa: E402
from void_daemon.engines.void.noise_warp import warped_noise  # noqa: E402
from void_daemon.engines.void.pipeline import (  # noqa: E402
    TRIMASK_AFFECTED,
    VoidInpaintPipeline,
    temporal_windows,
    window_weights,
)
from void_daemon.engines.void.tokenizer import SentencePieceT5Tokenizer  # noqa: E402

H, W = 32, 48


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("void_weights"))


@pytest.fixture(scope="module")
def engine(weights):
    eng = VoidEngine(
        EngineConfig(weights_dir=str(weights), device="cpu", options={"min_frames": 0})
    )
    eng.load()
    yield eng
    eng.close()


def make_window(t: int = 13, h: int = H, w: int = W, seed: int = 42, **kw) -> WindowInput:
    rng = np.random.default_rng(7)
    frames = rng.random((t, h, w, 3), dtype=np.float32)
    q = np.full((t, h, w), 255, np.uint8)
    q[:, h // 4 : h // 2, w // 4 : w // 2] = 0  # remove
    q[:, h // 4 : h // 2, w // 2 : 3 * w // 4] = 63  # overlap
    q[:, h // 2 : 3 * h // 4, w // 4 : 3 * w // 4] = 127  # affected (a shadow)
    kw.setdefault("options", {"steps": 2})
    kw.setdefault("prompt", "a table with a cup on it")
    return WindowInput(frames=frames, quadmask=q, seed=seed, **kw)


# -- weights and availability -------------------------------------------------------------------


def test_listing_the_engine_does_not_import_torch():
    code = "import sys, void_daemon.engines.void; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_availability_names_every_missing_file_and_how_to_get_it(tmp_path):
    ok, message = VoidEngine.availability(EngineConfig(weights_dir=str(tmp_path)))
    assert not ok
    assert f"{tmp_path / BASE}/" in message
    assert str(tmp_path / PASS1_FILE) in message
    assert "huggingface-cli download alibaba-pai/CogVideoX-Fun-V1.5-5b-InP" in message
    assert f"huggingface-cli download netflix/void-model {PASS1_FILE}" in message


def test_availability_names_exactly_the_missing_files(weights, tmp_path):
    partial = write_tiny_weights(tmp_path / "w", pass2=False)
    (partial / BASE / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    (partial / PASS1_FILE).write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n"
    )
    ok, message = VoidEngine.availability(EngineConfig(weights_dir=str(partial)))
    assert not ok
    lines = message.splitlines()
    problems = [
        line.strip()
        for line in lines[1 : lines.index(next(x for x in lines if x.startswith("Get them")))]
    ]
    assert problems == [
        f"missing: {partial / BASE / 'vae' / 'diffusion_pytorch_model.safetensors'}",
        f"not downloaded (git-lfs pointer): {partial / PASS1_FILE}",
    ]
    ok, message = VoidEngine.availability(EngineConfig(weights_dir=str(weights)))
    assert ok and message == ""


def test_availability_without_a_folder_points_at_the_setting(monkeypatch):
    monkeypatch.delenv("VOID_WEIGHTS_DIR", raising=False)
    ok, message = VoidEngine.availability(EngineConfig())
    assert not ok and "VOID_WEIGHTS_DIR" in message
    with pytest.raises(VoidError) as err:
        load_engine("void", EngineConfig())
    assert err.value.code == ErrorCode.ENGINE_UNAVAILABLE


def test_pass2_without_its_weights_is_weights_missing_naming_the_file(tmp_path):
    root = write_tiny_weights(tmp_path, pass2=False)
    ok, message = VoidEngine.availability(EngineConfig(weights_dir=str(root)))
    assert ok and PASS2_FILE in message
    eng = VoidEngine(EngineConfig(weights_dir=str(root), options={"min_frames": 0}))
    with pytest.raises(VoidError) as err:
        eng.fill(make_window(5, pass2=True))
    assert err.value.code == ErrorCode.WEIGHTS_MISSING
    assert str(root / PASS2_FILE) in err.value.message
    assert "huggingface-cli download netflix/void-model" in err.value.message


def test_base_patch_embedding_is_widened_like_the_reference(weights, tmp_path):
    # A checkpoint without the patch embedding: it comes from the 33-channel base, widened.
    full = dict(tiny_transformer(3 * LATENT_CHANNELS).state_dict())
    from safetensors.torch import save_file

    partial = {k: v.contiguous() for k, v in full.items() if not k.startswith("patch_embed.proj")}
    save_file(partial, str(tmp_path / "partial.safetensors"))
    model, info = load_transformer(
        weights / BASE, tmp_path / "partial.safetensors", LATENT_CHANNELS, torch.float32
    )
    assert info.from_base == 2 and info.from_checkpoint == len(partial)
    from safetensors import safe_open

    with safe_open(
        str(weights / BASE / "transformer" / "diffusion_pytorch_model.safetensors"), "pt"
    ) as f:
        base = f.get_tensor("patch_embed.proj.weight")
    feat = LATENT_CHANNELS * 8  # channels × patch_t × patch × patch
    got = model.patch_embed.proj.weight.detach()
    assert base.shape[1] == 33 * 8 and got.shape[1] == 48 * 8
    assert torch.equal(got[:, :feat], base[:, :feat])
    assert torch.equal(got[:, -feat:], base[:, -feat:])
    for c in range(LATENT_CHANNELS):  # every mask-latent channel starts as the old mask channel
        assert torch.equal(got[:, feat + 8 * c : feat + 8 * (c + 1)], base[:, feat : feat + 8])
    # A 33-channel checkpoint laid over the widened base keeps the base's middle columns.
    narrow = torch.randn(4, 33 * 8)
    wide_base = torch.randn(4, 48 * 8)
    out = widen_patch_embed(narrow, 48 * 8, LATENT_CHANNELS, 8, base=wide_base)
    assert torch.equal(out[:, :feat], narrow[:, :feat]) and torch.equal(
        out[:, feat:-feat], wide_base[:, feat:-feat]
    )


# -- pass 1 ---------------------------------------------------------------------------------------


def test_fill_returns_the_window_shape_in_display_range(engine):
    window = make_window(13)
    out = engine.fill(window)
    assert out.shape == (13, H, W, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


def test_same_seed_same_frames_other_seed_other_frames(engine):
    a = engine.fill(make_window(5, seed=3))
    b = engine.fill(make_window(5, seed=3))
    c = engine.fill(make_window(5, seed=4))
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 1e-4


def test_quadmask_becomes_the_reference_trimask_and_binary_mask():
    q = np.array([0, 20, 63, 90, 127, 150, 191, 200, 255], np.uint8)
    m = torch.from_numpy(mask_video_from_quadmask(q))
    tri = VoidInpaintPipeline.prepare_mask_condition(m, "trimask").numpy()
    binary = VoidInpaintPipeline.prepare_mask_condition(m, "binary").numpy()
    a = np.float32(TRIMASK_AFFECTED)
    # snap: <=31 remove, <=95 overlap, <=191 affected, else keep; overlap counts as remove.
    np.testing.assert_array_equal(tri, np.array([1, 1, 1, 1, a, a, a, 0, 0], np.float32))
    # pass 2 binarises at 0.5: affected (128/255) is regenerated as well.
    np.testing.assert_array_equal(binary, np.array([1, 1, 1, 1, 1, 1, 1, 0, 0], np.float32))


def _record_vae_inputs(monkeypatch, engine) -> list:
    vae = engine.pipeline.vae
    seen = []
    encode = vae.encode

    def recording(x, *a, **k):
        seen.append(x.detach().float().clone())
        return encode(x, *a, **k)

    monkeypatch.setattr(vae, "encode", recording)
    return seen


def test_the_vae_sees_one_minus_the_trimask_then_the_video(engine, monkeypatch):
    seen = _record_vae_inputs(monkeypatch, engine)
    window = make_window(5)
    engine.fill(window)
    mask_rgb, video = seen
    assert mask_rgb.shape == (1, 3, 5, H, W)
    values = sorted({round(float(v), 6) for v in mask_rgb.unique()})
    assert values == [0.0, round(1 - TRIMASK_AFFECTED, 6), 1.0]
    q = window.quadmask
    assert torch.all(mask_rgb[0, :, torch.from_numpy(q == 0)] == 0)  # remove
    assert torch.all(mask_rgb[0, :, torch.from_numpy(q == 63)] == 0)  # overlap = remove
    assert torch.all(mask_rgb[0, :, torch.from_numpy(q == 255)] == 1)  # keep
    # The video is not blanked under the mask: [-1, 1] plus the model's small noise augmentation.
    expected = torch.from_numpy(window.frames).permute(3, 0, 1, 2)[None] * 2 - 1
    assert 0.03 < float((video - expected).std()) < 0.08


def test_context_frames_are_all_keep(engine, monkeypatch):
    seen = _record_vae_inputs(monkeypatch, engine)
    context = np.array([True, True, False, False, False])
    engine.fill(make_window(5, context=context))
    mask_rgb = seen[0]
    assert torch.all(mask_rgb[0, :, :2] == 1) and torch.any(mask_rgb[0, :, 2:] < 1)


def _count_transformer_calls(monkeypatch, engine) -> list:
    """Record ``(batch, latent frames, channels)`` of every transformer call, pass 1 or 2."""
    cls = type(engine.pipeline.transformer)
    calls = []
    forward = cls.forward

    def counting(self, *a, **k):
        hs = k["hidden_states"]
        calls.append((hs.shape[0], hs.shape[1], hs.shape[2]))
        return forward(self, *a, **k)

    monkeypatch.setattr(cls, "forward", counting)
    return calls


def test_pass1_makes_one_transformer_call_per_step_on_48_channels(engine, monkeypatch):
    calls = _count_transformer_calls(monkeypatch, engine)
    engine.fill(make_window(13, options={"steps": 3}))
    assert calls == [(1, 4, 48)] * 3  # batch 1 (no CFG at guidance 1.0), 4 latent frames
    calls.clear()
    engine.fill(make_window(13, options={"steps": 2, "guidance": 6.0}))
    assert calls == [(2, 4, 48)] * 2  # CFG doubles the batch, still one call per step


def test_long_windows_are_denoised_in_overlapping_internal_windows(engine, monkeypatch):
    calls = _count_transformer_calls(monkeypatch, engine)
    options = {"steps": 2, "temporal_window": 21, "temporal_overlap": 8}
    out = engine.fill(make_window(37, options=options))  # 10 latent frames, windows of 6
    assert out.shape == (37, H, W, 3)
    assert [c[1] for c in calls] == [6, 6] * 2


def test_temporal_windows_and_blend_weights_match_the_reference():
    assert temporal_windows(50, 22, 4) == [
        (0, 22),
        (18, 40),
        (36, 50),
    ]  # 197 frames, 85-frame window
    assert temporal_windows(22, 22, 4) == [(0, 22)]
    ramp = window_weights(18, 40, 50, 4, torch.float32, torch.device("cpu")).flatten()
    np.testing.assert_allclose(ramp[:4].numpy(), [0.2, 0.4, 0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(ramp[-4:].numpy(), [0.8, 0.6, 0.4, 0.2], rtol=1e-6)
    total = torch.zeros(50)
    for b, e in temporal_windows(50, 22, 4):
        total[b:e] += window_weights(b, e, 50, 4, torch.float32, torch.device("cpu")).flatten()
    np.testing.assert_allclose(total[18:22].numpy(), 1.0, rtol=1e-6)  # ramps cross-fade to 1


def test_decoded_frames_are_4_latents_minus_3_with_nothing_trimmed(engine):
    # The reference's order: latent 0 alone (1 frame), then pairs (8 frames), a last lone latent
    # 4 frames; the decoder's outputs add up to the clip, nothing decoded is thrown away.
    pipe = engine.pipeline
    chunks: list[int] = []
    hook = pipe.vae.decoder.register_forward_hook(lambda m, a, out: chunks.append(out[0].shape[2]))
    try:
        for latents, frames, pieces in (
            (2, 5, [1, 4]),
            (3, 9, [1, 8]),
            (4, 13, [1, 8, 4]),
            (6, 21, [1, 8, 8, 4]),
        ):
            chunks.clear()
            z = torch.zeros(1, latents, LATENT_CHANNELS, H // 8, W // 8)
            assert pipe.decode_latents(z).shape == (1, 3, frames, H, W)
            assert chunks == pieces
    finally:
        hook.remove()


def test_short_windows_are_padded_like_the_reference_and_cropped_back(weights):
    x = np.arange(5)
    np.testing.assert_array_equal(temporal_pad(x, 13), [0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 0, 1, 2])
    eng = VoidEngine(EngineConfig(weights_dir=str(weights), options={"min_frames": 13}))
    out = eng.fill(make_window(5))
    assert out.shape == (5, H, W, 3)
    eng.close()


def test_cancel_stops_at_the_next_step(engine):
    progress = []
    window = make_window(13, options={"steps": 5})
    window.progress = lambda step, steps, stage: progress.append((step, steps, stage))
    window.cancelled = lambda: len(progress) >= 1
    with pytest.raises(VoidError) as err:
        engine.fill(window)
    assert err.value.code == ErrorCode.CANCELLED
    assert progress == [(1, 5, "void pass 1")]


def test_bad_options_and_shapes_are_refused_with_the_field(engine):
    with pytest.raises(VoidError) as err:
        engine.fill(make_window(5, options={"steps": 0}))
    assert err.value.code == ErrorCode.BAD_SPEC and err.value.field == "options.steps"
    with pytest.raises(VoidError) as err:
        engine.fill(make_window(7))
    assert err.value.code == ErrorCode.FRAME_COUNT_MISMATCH
    with pytest.raises(VoidError) as err:
        engine.fill(make_window(5, h=24))
    assert err.value.code == ErrorCode.RESOLUTION_MISMATCH


# -- pass 2 ---------------------------------------------------------------------------------------


@pytest.mark.slow  # the 197-frame pass 2 also runs in test_pass2_runs_past_85_frames, at 16x32
def test_pass2_noise_has_one_latent_frame_per_4_frames_at_197(engine):
    frames = np.random.default_rng(0).random((197, 64, 128, 3), dtype=np.float32)
    from void_daemon.engines.void.options import VoidOptions

    noise = engine.pass2_noise(frames, seed=42, opts=VoidOptions(pass2_noise="unit"))
    assert noise.shape == (1, 50, LATENT_CHANNELS, 8, 16)  # the reference resized to 22 frames
    assert abs(float(noise.mean())) < 0.05 and 0.9 < float(noise.std()) < 1.1


def _texture_video(t: int, shift: int, h: int = 64, w: int = 128) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(1)
    tex = cv2.GaussianBlur(rng.random((h, w + shift * t)).astype(np.float32), (0, 0), 1.5)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    # content moves right by ``shift`` pixels per frame
    return np.stack(
        [np.repeat(tex[:, shift * (t - i) : shift * (t - i) + w, None], 3, 2) for i in range(t)]
    )


def test_warped_noise_moves_with_the_picture_and_stays_white():
    still = warped_noise(
        _texture_video(13, 0), 4, (8, 16), generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(still[0, 0], still[0, 3])  # no motion: the same noise every frame
    moving = warped_noise(
        _texture_video(13, 2), 4, (8, 16), generator=torch.Generator().manual_seed(0)
    )
    a, b = moving[0, 0], moving[0, 1]  # 4 frames × 2 px = one latent pixel to the right
    shifted = torch.corrcoef(torch.stack([a[:, :, :-1].flatten(), b[:, :, 1:].flatten()]))[0, 1]
    in_place = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]
    assert shifted > 0.95 and abs(in_place) < 0.1
    assert 0.9 < float(moving.std()) < 1.1


def test_pass2_runs_past_85_frames(engine, monkeypatch):
    # The reference's pass-2 noise had 22 latent frames whatever the length; 197 frames need 50.
    calls = _count_transformer_calls(monkeypatch, engine)
    progress = []
    window = make_window(197, h=16, w=32, pass2=True, options={"steps": 1, "pass2_steps": 1})
    window.progress = lambda step, steps, stage: progress.append((step, steps, stage))
    out = engine.fill(window)
    assert out.shape == (197, 16, 32, 3) and np.isfinite(out).all()
    # pass 1: three windows (22, 22, 14 latents), batch 1; pass 2: the same windows under CFG
    assert calls == [(1, 22, 48), (1, 22, 48), (1, 14, 48), (2, 22, 48), (2, 22, 48), (2, 14, 48)]
    assert progress == [(1, 2, "void pass 1"), (1, 2, "void pass 2 noise"), (2, 2, "void pass 2")]


def test_pass2_with_an_empty_prompt_runs_without_cfg_unless_forced(engine, monkeypatch, caplog):
    # Issue 18: with prompt and negative prompt both empty, CFG's two halves see the same text,
    # so guidance 6 cost a second batch row per step for the same result.
    calls = _count_transformer_calls(monkeypatch, engine)
    steps = {"steps": 1, "pass2_steps": 3}
    with caplog.at_level("INFO", logger="void_daemon.engines.void.engine"):
        auto = engine.fill(make_window(13, pass2=True, prompt="", options=steps))
    assert calls == [(1, 4, 48)] + [(1, 4, 48)] * 3  # pass 1, then pass 2: batch 1 per step
    assert "pass 2: no prompt, so no classifier-free guidance" in caplog.text
    calls.clear()
    forced = engine.fill(
        make_window(13, pass2=True, prompt="", options={**steps, "pass2_guidance": 6.0})
    )
    assert calls == [(1, 4, 48)] + [(2, 4, 48)] * 3  # forced: CFG doubles every pass-2 step
    np.testing.assert_allclose(auto, forced, atol=1e-5)  # and changes nothing
    calls.clear()
    engine.fill(make_window(13, pass2=True, options=steps))  # a prompt: the reference's CFG 6
    assert calls == [(1, 4, 48)] + [(2, 4, 48)] * 3


def test_vae_tiling_only_when_the_untiled_decode_would_not_fit():
    from void_daemon.engines.void import devices

    choose = devices.choose_vae_tiling
    need = devices.vae_decode_peak_bytes(384, 672, 197, 2) / devices.GIB
    assert 4 < need < 10  # a few GiB at the model size: far below the old 40 GiB threshold
    assert choose(None, 38.0, 384, 672, 197) is False  # an A100-40GB (was tiled before)
    assert choose(None, 70.0, 384, 672, 197) is False
    assert choose(None, 4.0, 384, 672, 197) is True
    assert choose(None, 20.0, 768, 1344, 197) is True  # 4x the pixels: 4x the working set
    assert choose(None, 60.0, 768, 1344, 197) is False
    assert choose(None, None, 2160, 3840, 197) is False  # CPU / MPS: host memory, the reference
    assert choose(True, 80.0, 384, 672, 197) is True and choose(False, 1.0, 384, 672, 197) is False
    # the decode's working set is per pair of latents: the window length adds only its video
    assert (
        devices.vae_decode_peak_bytes(384, 672, 13, 2)
        < devices.vae_decode_peak_bytes(384, 672, 197, 2)
        < 1.2 * devices.vae_decode_peak_bytes(384, 672, 13, 2)
    )
    assert (
        devices.vae_decode_peak_bytes(768, 1344, 85, 2, tile=devices.VAE_TILE)
        < devices.vae_decode_peak_bytes(768, 1344, 85, 2) / 3
    )


def test_engine_sets_vae_tiling_per_window_from_free_memory(engine, monkeypatch):
    from void_daemon.engines.void import devices

    vae = engine.pipeline.vae
    monkeypatch.setattr(devices, "activation_free_gib", lambda d: 1e-4)
    engine.fill(make_window(5, options={"steps": 1}))
    assert vae.use_tiling
    monkeypatch.setattr(devices, "activation_free_gib", lambda d: 100.0)
    engine.fill(make_window(5, options={"steps": 1}))
    assert not vae.use_tiling
    engine.fill(make_window(5, options={"steps": 1, "vae_tiling": True}))
    assert vae.use_tiling
    engine.fill(make_window(5, options={"steps": 1}))
    assert not vae.use_tiling


def test_pass2_is_deterministic(engine):
    options = {"steps": 1, "pass2_steps": 2}
    a = engine.fill(make_window(13, pass2=True, options=options))
    b = engine.fill(make_window(13, pass2=True, options=options))
    assert np.array_equal(a, b)


# -- pieces ---------------------------------------------------------------------------------------


def test_sentencepiece_tokenizer_pads_and_ends_like_t5(weights):
    tok = SentencePieceT5Tokenizer(weights / BASE / "tokenizer" / "spiece.model")
    ids = tok(
        ["a table with a cup on it"], padding="max_length", max_length=226, truncation=True
    ).input_ids
    n = int((ids[0] != 0).sum())
    assert ids.shape == (1, 226) and ids[0, n - 1] == 1 and torch.all(ids[0, n:] == 0)
    long = tok(["a table " * 200], padding="max_length", max_length=226, truncation=True).input_ids
    assert long.shape == (1, 226) and long[0, -1] == 1


def test_fp8_weight_storage_runs(weights):
    eng = VoidEngine(
        EngineConfig(weights_dir=str(weights), options={"min_frames": 0, "transformer_fp8": True})
    )
    out = eng.fill(make_window(5))
    assert out.shape == (5, H, W, 3) and np.isfinite(out).all()
    assert (
        eng.pipeline.transformer.transformer_blocks[0].attn1.to_q.weight.dtype
        == torch.float8_e4m3fn
    )
    eng.close()


def test_scheduler_config_is_read_from_the_base_folder(engine, weights):
    config = json.loads((weights / BASE / "scheduler" / "scheduler_config.json").read_text())
    sched = engine.pipeline.scheduler
    assert sched.config.prediction_type == config["prediction_type"] == "v_prediction"
    assert sched.config.timestep_spacing == "trailing"


def test_device_dtype_and_memory_choices(monkeypatch):
    from void_daemon.engines.void import devices

    cpu, mps, cuda = torch.device("cpu"), torch.device("mps"), torch.device("cuda")
    assert devices.resolve_dtype("auto", cpu) == torch.float32
    assert devices.resolve_dtype("auto", mps) == torch.float32
    assert devices.resolve_dtype("auto", cuda) == torch.bfloat16
    assert devices.resolve_dtype("bfloat16", mps) == torch.bfloat16
    with pytest.raises(VoidError) as err:
        devices.resolve_dtype("float16", mps)
    assert err.value.field == "dtype"
    assert devices.choose_memory_mode("sequential_offload", cpu) == "full"
    assert devices.choose_memory_mode("auto", mps) == "full"
    # auto on CUDA: from the estimated needs (tests/unit/test_void_fast.py has the 5B figures)
    needs = devices.MemoryNeeds(
        {"transformer": 11 * 2**30, "text_encoder": 9 * 2**30}, 2**31, 2**32
    )
    for free, mode in ((80, "full"), (24, "model_offload"), (8, "sequential_offload")):
        monkeypatch.setattr(devices, "free_memory_gib", lambda d, f=free: float(f))
        assert devices.choose_memory_mode("auto", cuda, needs) == mode
    assert devices.make_generator(1, mps).device.type == "cpu"
    with pytest.raises(VoidError):
        devices.choose_memory_mode("everything", cuda)
