"""The engine's VAE decode against the reference's own decoded frames (docs/void-engine.md).

``tests/data/void_decode_golden.npz`` holds latents and the frames the reference
(netflix/void-model at 66e9c0e, diffusers 0.33.1, its own VAE class and pipeline
``decode_latents``) decoded from them with the tiny random VAE of ``tests/support/void_tiny.py``;
``bench/void_parity.py --write-golden`` wrote it and the ``.json`` beside it records how. Any drift
of our decode from the reference's (order of latent frames, frame count, tiling) fails here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from tests.support.void_golden import GOLDEN, GOLDEN_META, vae_checksum  # noqa: E402
from tests.support.void_tiny import tiny_vae  # noqa: E402
from void_daemon.engines.void.pipeline import VoidInpaintPipeline  # noqa: E402

META = json.loads(GOLDEN_META.read_text())
CASES = {case["name"]: case for case in META["cases"]}


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def pipe():
    # The VAE write_tiny_weights(seed=0) saves: the first thing built after seeding.
    torch.manual_seed(0)
    vae = tiny_vae().eval()
    assert vae_checksum(vae) == META["vae_sha256"], (
        "the tiny VAE's weights changed (torch init or tests/support/void_tiny.py): "
        "rerun bench/void_parity.py --write-golden against the reference"
    )
    return VoidInpaintPipeline(
        tokenizer=None, text_encoder=None, vae=vae, transformer=None, scheduler=None
    )


@pytest.mark.parametrize("name, frames", [("f13", 13), ("f85", 85), ("f197", 197), ("tiled_f5", 5)])
def test_decode_matches_the_reference(pipe, golden, name, frames):
    case = CASES[name]
    latents = torch.from_numpy(golden[f"latents_{name}"])
    n = latents.shape[1]
    assert frames == 4 * (n - 1) + 1 == case["frames"]
    vae = pipe.vae
    if case["tile"]:
        vae.enable_tiling(
            tile_sample_min_height=case["tile"],
            tile_sample_min_width=case["tile"],
            tile_overlap_factor_height=case["overlap"],
            tile_overlap_factor_width=case["overlap"],
        )
    try:
        with torch.no_grad():
            out = pipe.decode_latents(latents).numpy()
    finally:
        vae.disable_tiling()
    assert out.shape == (1, 3, frames, case["height"], case["width"])  # no trimming, no extras
    ref = golden[f"frames_{name}"]
    ours = out[:, :, golden[f"index_{name}"]]
    assert np.abs(ours - ref).max() < 1e-5
