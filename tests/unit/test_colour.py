"""Plate ↔ model colour through OpenColorIO: checked against OCIO itself and against round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PyOpenColorIO as ocio
import pytest

from void_client.errors import ErrorCode, VoidError
from void_daemon import colour
from void_daemon.colour import ColourSettings, inverse_shoulder, shoulder, transform

BUILTIN = "ocio://default"

# A nuke-default style (OCIO v1) host config: no interchange roles, "linear" is Rec.709 linear.
V1_CONFIG = """ocio_profile_version: 1
strictparsing: true
roles: {default: linear, scene_linear: linear, data: raw}
displays:
  default:
    - !<View> {name: None, colorspace: raw}
colorspaces:
  - !<ColorSpace> {name: linear, bitdepth: 32f, isdata: false}
  - !<ColorSpace> {name: raw, bitdepth: 32f, isdata: true}
  - !<ColorSpace>
    name: wide
    bitdepth: 32f
    isdata: false
    to_reference: !<MatrixTransform> {matrix: [1.2, -0.1, -0.1, 0, -0.05, 1.1, -0.05, 0, 0, -0.2, 1.2, 0, 0, 0, 0, 1]}
"""
WIDE = np.array([[1.2, -0.1, -0.1], [-0.05, 1.1, -0.05], [0.0, -0.2, 1.2]])

# An ACES-style (OCIO v2) host config whose reference is ACES2065-1, with no Rec.709 space at
# all: reaching the model's primaries needs the aces_interchange role.
V2_CONFIG = """ocio_profile_version: 2
roles: {default: aces, scene_linear: aces, aces_interchange: aces, data: raw}
displays:
  default:
    - !<View> {name: None, colorspace: raw}
colorspaces:
  - !<ColorSpace> {name: aces, isdata: false}
  - !<ColorSpace> {name: raw, isdata: true}
  - !<ColorSpace>
    name: plate_ap1
    isdata: false
    to_scene_reference: !<BuiltinTransform> {style: ACEScg_to_ACES2065-1}
"""


def independent_shoulder(x: np.ndarray, knee: float) -> np.ndarray:
    """The documented curve, written out again: identity to the knee, then k + h·t/(1+t)."""
    x = x.astype(np.float64)
    h = 1.0 - knee
    out = x.copy()
    over = x > knee
    t = (x[over] - knee) / h
    out[over] = knee + h * t / (1.0 + t)
    return out


def ocio_apply(config: ocio.Config, src: str, dst: str, rgb: np.ndarray) -> np.ndarray:
    cpu = config.getProcessor(src, dst).getDefaultCPUProcessor()
    flat = np.ascontiguousarray(rgb, np.float32).reshape(-1, 3).copy()
    cpu.applyRGB(flat)
    return flat.reshape(rgb.shape)


def hdr_samples(n: int = 20000, seed: int = 0) -> np.ndarray:
    """Greys on [0, 16] (dense near black and around the knee) plus random colours on [0, 16]."""
    rng = np.random.default_rng(seed)
    grey = np.concatenate(
        [np.linspace(0, 16, n), np.geomspace(1e-5, 16, n), np.linspace(0.55, 0.65, 1000)]
    )
    colours = rng.random((n, 3)) * rng.choice([1.0, 4.0, 16.0], (n, 1))
    return np.concatenate([np.repeat(grey[:, None], 3, 1), colours]).astype(np.float32)


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """Per pixel, relative to the pixel's brightest channel (a dark channel next to a 16.0 one
    only has that channel's float precision), floored at 1e-3 for blacks."""
    err = np.abs(got.astype(np.float64) - want).max(axis=-1)
    scale = np.maximum(np.abs(want).max(axis=-1), 1e-3)
    return float((err / scale).max())


@pytest.fixture
def host_configs(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, text in (("v1", V1_CONFIG), ("v2", V2_CONFIG)):
        p = tmp_path / f"{name}.ocio"
        p.write_text(text)
        paths[name] = str(p)
    return paths


def test_default_model_space_is_ocio_srgb_encoding_of_the_shoulder() -> None:
    x = hdr_samples()
    got = transform().to_model(x)
    builtin = ocio.Config.CreateFromFile(BUILTIN)
    want = ocio_apply(
        builtin,
        "Linear Rec.709 (sRGB)",
        "sRGB Encoded Rec.709 (sRGB)",
        independent_shoulder(x, colour.DEFAULT_KNEE),
    )
    assert np.abs(got - want).max() < 2e-5
    # Below the knee the model sees the plain sRGB encoding (the formula, not OCIO).
    low = x[(x.max(axis=1) < 0.6)].astype(np.float64)
    srgb = np.where(low <= 0.0031308, 12.92 * low, 1.055 * np.power(low, 1 / 2.4) - 0.055)
    assert np.abs(transform().to_model(low.astype(np.float32)) - srgb).max() < 2e-5
    # Everything up to 16.0 fits in the model's [0, 1) and keeps its order.
    grey = got[:20000, 0]
    assert got.min() >= 0.0 and got.max() < 1.0
    assert np.all(np.diff(grey) > 0)


def test_acescg_input_matches_ocio_computed_separately() -> None:
    x = hdr_samples(seed=1)
    got = transform(ColourSettings(input="ACEScg")).to_model(x)
    builtin = ocio.Config.CreateFromFile(BUILTIN)
    lin709 = ocio_apply(builtin, "ACEScg", "Linear Rec.709 (sRGB)", x)
    want = ocio_apply(
        builtin,
        "Linear Rec.709 (sRGB)",
        "sRGB Encoded Rec.709 (sRGB)",
        independent_shoulder(lin709, colour.DEFAULT_KNEE),
    )
    assert np.abs(got - want).max() < 2e-5
    # A saturated ACEScg red is outside Rec.709: it arrives with negative channels instead of clipped.
    red = transform(ColourSettings(input="acescg")).to_model(np.float32([[4.0, 0.0, 0.0]]))
    assert red.min() < 0.0


@pytest.mark.parametrize(
    "space", ["", "ACEScg", "lin_ap1", "sRGB Encoded Rec.709 (sRGB)", "Linear P3-D65"]
)
def test_round_trip_is_within_1e3_relative_on_0_to_16(space: str) -> None:
    x = hdr_samples(seed=2)
    if space.startswith("sRGB"):
        x = np.clip(x, 0, 1)  # an encoded space's values are 0..1
    t = transform(ColourSettings(input=space))
    back = t.from_model(t.to_model(x))
    assert back.dtype == np.float32
    assert relative_error(back, x) < 1e-3
    # Highlights come back rather than clipping at 1.0.
    assert back[:20000].max() == pytest.approx(x[:20000].max(), rel=1e-3)


def test_host_config_by_name_from_ocio_env(
    host_configs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCIO", host_configs["v1"])
    t = transform(ColourSettings(input="wide"))
    assert host_configs["v1"] in t.description
    x = hdr_samples(4000, seed=3)
    builtin = ocio.Config.CreateFromFile(BUILTIN)
    # Independently: the config's matrix in numpy, then the curve, then OCIO's encoding.
    lin709 = (x.astype(np.float64) @ WIDE.T).astype(np.float32)
    want = ocio_apply(
        builtin,
        "Linear Rec.709 (sRGB)",
        "sRGB Encoded Rec.709 (sRGB)",
        independent_shoulder(lin709, colour.DEFAULT_KNEE),
    )
    assert np.abs(t.to_model(x) - want).max() < 2e-5
    assert relative_error(t.from_model(t.to_model(x)), x) < 1e-3


def test_host_config_without_rec709_goes_through_aces_interchange(
    host_configs: dict[str, str],
) -> None:
    x = hdr_samples(4000, seed=4)
    host = transform(ColourSettings(config=host_configs["v2"], input="plate_ap1"))
    builtin = transform(ColourSettings(config=BUILTIN, input="ACEScg"))
    assert np.abs(host.to_model(x) - builtin.to_model(x)).max() < 1e-4
    assert relative_error(host.from_model(host.to_model(x)), x) < 1e-3


def test_model_white_comes_back_capped_not_infinite() -> None:
    t = transform()
    white = np.ones((4, 3), np.float32)
    assert np.isfinite(t.from_model(white)).all()
    assert t.from_model(white).max() <= colour.MAX_LINEAR
    capped = t.from_model(white * 1.2, peak=np.float32([3.0, 5.0, 7.0]))
    assert np.allclose(capped, [[3.0, 5.0, 7.0]] * 4)


def test_shoulder_is_continuous_smooth_and_invertible() -> None:
    k = colour.DEFAULT_KNEE
    eps = 1e-7
    below, above = shoulder(np.float64(k - eps)), shoulder(np.float64(k + eps))
    assert abs(above - below) < 3e-7  # continuous
    assert (shoulder(np.float64(k + 1e-4)) - shoulder(np.float64(k))) / 1e-4 == pytest.approx(
        1.0, abs=1e-3
    )  # C1
    x = np.concatenate([-np.geomspace(1e-6, 1, 50), np.geomspace(1e-6, 1000, 500)])
    assert np.allclose(inverse_shoulder(shoulder(x)), x, rtol=1e-9, atol=1e-12)
    assert shoulder(np.float64(1e6)) < 1.0


def test_unknown_colour_space_and_unreadable_config_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(VoidError) as bad_space:
        transform(ColourSettings(input="Not A Space"))
    assert bad_space.value.code == ErrorCode.BAD_SPEC and bad_space.value.field == "colourspace"
    assert "ACEScg" in bad_space.value.message  # it lists what the config has
    with pytest.raises(VoidError) as bad_config:
        transform(ColourSettings(config=str(tmp_path / "missing.ocio"), input="ACEScg"))
    assert bad_config.value.field == "ocio_config" and "missing.ocio" in bad_config.value.message
