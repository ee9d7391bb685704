"""Pass-2 noise modes (issue 18 item 3): ``reference`` (default: RAFT via torchvision when its
weights are on disk, else DIS, and the reference's noise std 0.66) and ``unit`` (DIS, std 1.0: the
engine's behaviour before the modes, bit for bit). torchvision is not installed here, so the RAFT
branch is exercised only up to its selection: the fallback to DIS and the reason in the log."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("sentencepiece")

from tests.support.void_tiny import write_tiny_weights  # noqa: E402
from void_client.errors import ErrorCode, VoidError  # noqa: E402
from void_daemon.engines.base import EngineConfig  # noqa: E402
from void_daemon.engines.void import VoidEngine  # noqa: E402
from void_daemon.engines.void import noise_warp as NW  # noqa: E402
from void_daemon.engines.void.engine import NOISE_WARP_SEED_OFFSET  # noqa: E402
from void_daemon.engines.void.options import (  # noqa: E402
    REFERENCE_NOISE_STD,
    VoidOptions,
    pass2_noise_std,
)

H, W = 32, 48
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    weights = write_tiny_weights(tmp_path_factory.mktemp("void_pass2_noise"), pass2=False)
    eng = VoidEngine(
        EngineConfig(weights_dir=str(weights), device="cpu", options={"min_frames": 0})
    )
    eng.load()
    yield eng
    eng.close()


def frames(t: int = 13) -> np.ndarray:
    return np.random.default_rng(5).random((t, H, W, 3), dtype=np.float32)


def test_the_reference_mode_is_the_default_with_the_reference_noise_scale():
    assert VoidOptions().pass2_noise == "reference"
    assert pass2_noise_std(VoidOptions()) == REFERENCE_NOISE_STD == 0.66
    assert pass2_noise_std(VoidOptions.merge({"pass2_noise": "unit"})) == 1.0
    # a number forces the std in either mode
    assert (
        pass2_noise_std(VoidOptions.merge({"pass2_noise": "unit", "pass2_noise_std": 0.8})) == 0.8
    )
    with pytest.raises(VoidError) as err:
        VoidOptions.merge({"pass2_noise": "raft"})
    assert err.value.code == ErrorCode.BAD_SPEC and err.value.field == "options.pass2_noise"


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision is installed here")
def test_without_torchvision_the_reference_mode_uses_dis_and_says_why():
    flow, why = NW.select_flow("reference", 0.5)
    assert isinstance(flow, NW.FlowEstimator)
    assert "DIS" in why and "torchvision is not installed" in why


def test_without_raft_weights_on_disk_the_reference_mode_uses_dis_and_names_where_it_looked(
    monkeypatch, tmp_path
):
    # torchvision "installed" but no checkpoint: the selection must not try to load or fetch one
    real = importlib.util.find_spec
    monkeypatch.setattr(
        NW.importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "torchvision" else real(name, *a),
    )
    missing = tmp_path / "raft_large.pth"
    flow, why = NW.select_flow("reference", 0.5, str(missing))
    assert isinstance(flow, NW.FlowEstimator)
    assert f"no RAFT weights at {missing}" in why and "never downloaded" in why
    # no path given: torchvision's cache is searched, and an empty one is named
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    flow, why = NW.select_flow("reference", 0.5)
    assert isinstance(flow, NW.FlowEstimator)
    assert str(Path(tmp_path / "hub" / "checkpoints" / NW.RAFT_WEIGHTS_GLOB)) in why


def test_unit_mode_never_looks_for_raft():
    flow, why = NW.select_flow("unit", 0.5, "/nonexistent/raft.pth")
    assert isinstance(flow, NW.FlowEstimator) and why == "DIS flow (pass2_noise=unit)"


def test_unit_mode_reproduces_the_previous_noise_bit_for_bit(engine):
    video = frames()
    unit = engine.pass2_noise(video, 1, VoidOptions(pass2_noise="unit"))
    # the code path before the modes existed: warped_noise with its own DIS, std left at 1.0
    shape = engine.load().pipe.latent_shape(1, video.shape[0], H, W)
    before = NW.warped_noise(
        video,
        latent_frames=shape[1],
        latent_size=(shape[3], shape[4]),
        channels=shape[2],
        warp_scale=VoidOptions().noise_warp_scale,
        flow_scale=VoidOptions().flow_scale,
        temporal_compression=engine.load().pipe.vae_scale_factor_temporal,
        generator=torch.Generator().manual_seed(1 + NOISE_WARP_SEED_OFFSET),
    )
    assert torch.equal(unit, before)
    assert abs(float(unit.std()) - 1.0) < 0.15


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision is installed here")
def test_the_default_mode_here_is_the_same_flow_at_the_reference_scale_and_logs_why(engine, caplog):
    video = frames()
    unit = engine.pass2_noise(video, 1, VoidOptions(pass2_noise="unit"))
    with caplog.at_level(logging.INFO, logger="void_daemon.engines.void.engine"):
        reference = engine.pass2_noise(video, 1, VoidOptions())
    assert torch.equal(reference, unit * 0.66)
    assert abs(float(reference.std()) - 0.66) < 0.1
    [line] = [r.getMessage() for r in caplog.records if "pass-2 noise" in r.getMessage()]
    assert "reference" in line and "torchvision is not installed" in line and "0.66" in line
