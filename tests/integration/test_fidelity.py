"""Plate fidelity: 4K plates through the ROI, HDR values, AOVs, metadata and odd inputs.

Everything outside the composite matte must be the input's, bit for bit, in every channel;
what goes through the model must come back in the plate's own colour and format.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from void_client.job_spec import JobSpec
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image, write_image
from void_client.sequence_job import RemoveRequest, remove_sequence
from void_daemon import engines
from void_daemon.cache import WindowCache
from void_daemon.detail import high_pass
from void_daemon.engines import Engine, EngineConfig, WindowInput, load_engine
from void_daemon.jobs import JobStore
from void_daemon.roi import Box, alpha_region, composite_alpha, mask_bbox
from void_daemon.runner import JobRunner

UHD = (2160, 3840)


# ------------------------------------------------------------------ engines made for these tests
class IdentityDisplayEngine(Engine):
    """A display-space engine at VOID's model size that returns its input: whatever comes back
    differs from the plate only by what the colour/ROI path itself does."""

    name = "test-identity-display"
    colour = "display"
    model_size = (384, 672)

    def fill(self, window: WindowInput) -> np.ndarray:
        return window.frames.copy()


class WhiteDisplayEngine(IdentityDisplayEngine):
    """Fills the hole with model-space white, the worst case for the inverse highlight curve."""

    name = "test-white-display"

    def fill(self, window: WindowInput) -> np.ndarray:
        out = window.frames.copy()
        out[hole(window.quadmask)] = 1.0
        return out


class SoftEngine(Engine):
    """A linear engine whose fill is right but soft, as a 384×672 fill scaled up to 4K is: the
    surroundings' colours, blurred into the hole (normalised convolution)."""

    name = "test-soft"
    colour = "linear"

    def fill(self, window: WindowInput) -> np.ndarray:
        out = []
        for f, q in zip(window.frames, window.quadmask):
            keep = (~hole(q)).astype(np.float32)
            blur = cv2.GaussianBlur(f * keep[..., None], (0, 0), 6.0)
            weight = cv2.GaussianBlur(keep, (0, 0), 6.0)[..., None]
            out.append(np.where(keep[..., None] > 0, f, blur / np.maximum(weight, 1e-6)))
        return np.stack(out).astype(np.float32)


@pytest.fixture
def test_engines(monkeypatch: pytest.MonkeyPatch):
    """Register the engines above through the engine registry, in this process."""
    for cls in (IdentityDisplayEngine, WhiteDisplayEngine, SoftEngine):
        monkeypatch.setitem(engines.BUILTIN_ENGINES, cls.name, f"{__name__}:{cls.__name__}")

    def load(name: str) -> Engine:
        return load_engine(name, EngineConfig(device="cpu"))

    return load


# ------------------------------------------------------------------ helpers
def disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    cv2.circle(m, (round(cx), round(cy)), round(r), 1.0, thickness=-1)
    return m


def smooth_plate(h: int, w: int, seed: int, channels: int = 4, scale: float = 1.0) -> np.ndarray:
    """A smooth picture (upscaled noise), values 0.05..2.05 × ``scale``, plus extra channels of
    noise (AOVs, tiled from one block so a 4K plate is cheap to make), float32."""
    rng = np.random.default_rng(seed)
    small = rng.random((max(2, h // 64), max(2, w // 64), 3)).astype(np.float32)
    out = np.empty((h, w, channels), np.float32)
    out[..., :3] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) * 2.0 * scale + 0.05
    if channels > 3:
        block = (
            rng.standard_normal((min(h, 256), min(w, 256), channels - 3)).astype(np.float32) * 3.0
        )
        reps = (math.ceil(h / block.shape[0]), math.ceil(w / block.shape[1]), 1)
        out[..., 3:] = np.tile(block, reps)[:h, :w]
    return out


def run_in_process(
    tmp_path: Path, engine: Engine, plates: list[np.ndarray], mattes: list[np.ndarray], **settings
) -> tuple[JobRunner, list[np.ndarray], list[np.ndarray]]:
    """The daemon's job path without the socket: store inputs, run every window, finish every frame."""
    h, w, c = plates[0].shape
    store = JobStore(tmp_path / "jobs")
    spec = JobSpec(
        frames=list(range(1001, 1001 + len(plates))),
        width=w,
        height=h,
        channels=settings.pop("channels", ["R", "G", "B", "A", "Z"][:c]),
        engine=engine.name,
        **settings,
    )
    job = store.create(spec.validate())
    qms = []
    for p, (plate, matte) in enumerate(zip(plates, mattes)):
        qm = build_quadmask(matte, None, spec.dilation)
        job.store_input(p, plate, qm)
        qms.append(qm)
    runner = JobRunner(job, engine, WindowCache(store.cache_dir))
    for win in runner.windows:
        runner.run_window(win.index, lambda *a: None, lambda: False)
    return runner, [runner.finish_frame(p) for p in range(len(plates))], qms


def outside(qm: np.ndarray, feather: int, pixel_aspect: float = 1.0) -> np.ndarray:
    return composite_alpha(hole(qm), feather, pixel_aspect) == 0


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(H, W, C)``: where a channel differs in any bit (a NaN equal to itself is unchanged)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    bits = np.dtype(f"u{a.dtype.itemsize}")
    return a.view(bits) != b.view(bits)


def spec_facts(spec: oiio.ImageSpec) -> dict:
    """Everything about an image's spec a compositor would notice changing."""
    return {
        "data": (spec.x, spec.y, spec.width, spec.height),
        "display": (spec.full_x, spec.full_y, spec.full_width, spec.full_height),
        "channels": tuple(spec.channelnames),
        "formats": tuple(str(f) for f in (spec.channelformats or [spec.format] * spec.nchannels)),
        "attributes": {a.name: spec.getattribute(a.name) for a in spec.extra_attribs},
    }


# ------------------------------------------------------------------ 4K through the daemon
# slow: ~16 s idle, minutes on a shared machine; a 4K crop and composite and metadata through the
# daemon stay in the default run (test_4k_display_engine_..., test_data_window_and_metadata_...)
@pytest.mark.slow
def test_4k_plate_small_moving_object_through_the_daemon(daemon, tmp_path: Path) -> None:
    """3840×2160 half RGBA + two AOVs with timecode and studio metadata, a 90-px object moving
    across 5 frames: bit-exact outside the matte, crop boxes hold the mask, metadata kept.
    About 16 s on an otherwise idle 2-core machine (4K EXR I/O, 2 × 415 MB over the wire)."""
    h, w = UHD
    n = 5
    base = smooth_plate(h, w, seed=11, channels=6)
    plate_pat = SequencePattern.parse(str(tmp_path / "in" / "plate.####.exr"))
    matte_pat = SequencePattern.parse(str(tmp_path / "in" / "remove.####.exr"))
    mattes = []
    for i in range(n):
        f = 1001 + i
        matte = disc(h, w, 1800 + 40 * i, 1100 - 10 * i, 45)
        px = base.copy()
        px[matte > 0, :3] = (0.9, 0.1, 12.0)  # a bright HDR object
        spec = oiio.ImageSpec(w, h, 6, "half")
        spec.channelnames = ("R", "G", "B", "A", "depth.Z", "motion.x")
        spec.attribute("compression", "none")
        spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, (0x01000000 + i, 0))
        spec.attribute("FramesPerSecond", oiio.TypeRational, (24, 1))
        spec.attribute("studio:shot", "sh010")
        write_image(plate_pat.path(f), px.astype(np.float16), spec)
        write_image(matte_pat.path(f), matte[..., None].astype(np.float16), channels=["A"])
        mattes.append(matte)
    out = str(tmp_path / "out" / "clean.####.exr")
    req = RemoveRequest(
        str(plate_pat),
        str(matte_pat),
        out,
        settings={"window": 5, "overlap": 0, "dilation": 4, "feather": 6},
        endpoint=daemon.endpoint,
        autostart=False,
    )
    report = remove_sequence(req)
    assert report.frames_written == list(range(1001, 1001 + n))

    qms = [build_quadmask(m, None, 4) for m in mattes]
    for i, qm in enumerate(qms):
        f = 1001 + i
        src, res = read_image(plate_pat.path(f)), read_image(SequencePattern.parse(out).path(f))
        assert res.pixels.dtype == np.float16
        keep = outside(qm, 6)
        assert res.pixels[keep].tobytes() == src.pixels[keep].tobytes()
        assert res.pixels[..., 3:].tobytes() == src.pixels[..., 3:].tobytes()  # alpha and AOVs
        assert res.pixels[hole(qm), 2].max() < 4.0  # the 12.0 object is gone
        assert spec_facts(res.spec) == spec_facts(src.spec)

    # The crop box the daemon journalled holds every frame's hole with the feather around it.
    journal = daemon.jobs_dir / report.job / "journal.jsonl"
    boxes = [
        Box(*e["box"])
        for e in map(json.loads, journal.read_text().splitlines())
        if e.get("event") == "window"
    ]
    assert boxes
    union = mask_bbox(np.stack([hole(q) for q in qms]))
    assert union is not None
    for box in boxes:
        assert (
            box.x0 <= union.x0 - 10
            and box.y0 <= union.y0 - 10
            and box.x1 >= union.x1 + 10
            and box.y1 >= union.y1 + 10
        )
        assert box.area < 0.05 * h * w  # a small object gets a small crop, not the whole 4K frame


# ------------------------------------------------------------------ 4K through the model path
def test_4k_display_engine_gets_a_native_resolution_crop_and_an_exact_composite(
    tmp_path: Path, test_engines
) -> None:
    h, w = UHD
    n = 5
    engine = test_engines("test-identity-display")
    base = smooth_plate(h, w, seed=12, channels=5, scale=4.0).astype(np.float16)
    plates, mattes = [], []
    for i in range(n):
        m = disc(h, w, 2900 + 25 * i, 500 + 8 * i, 40)
        px = base.copy()
        px[m > 0, :3] = (6.0, 0.2, 0.1)
        plates.append(px)
        mattes.append(m)
    runner, outs, qms = run_in_process(
        tmp_path, engine, plates, mattes, window=5, overlap=0, feather=6
    )
    box = Box(*runner.job.windows_done[0]["box"])
    # Small object in 4K: the crop is the model size itself (no resampling), inside the frame,
    # and holds the hole on every frame of the window.
    assert (box.height, box.width) == (384, 672)
    assert 0 <= box.x0 and box.x1 <= w and 0 <= box.y0 and box.y1 <= h
    for plate, out, qm in zip(plates, outs, qms):
        assert box.contains(mask_bbox(hole(qm)))
        assert out.dtype == np.float16
        bits = changed(out, plate)
        diff = bits.any(axis=-1)
        assert not (diff & outside(qm, 6)).any()  # every channel, bit for bit
        assert not bits[..., 3:].any()  # alpha and the AOV, everywhere
        # An identity engine at native scale gives the plate back through the colour round trip:
        # the crop, the model space and the composite line up to the pixel.
        got, want = out[diff, :3].astype(np.float32), plate[diff, :3].astype(np.float32)
        assert (np.abs(got - want) <= 2e-3 * np.abs(want) + 1e-4).all()


def test_matte_covering_most_of_the_frame_falls_back_to_the_full_frame(
    tmp_path: Path, test_engines
) -> None:
    h, w = 540, 960
    engine = test_engines("test-identity-display")
    plate = smooth_plate(h, w, seed=13, channels=4)
    matte = np.zeros((h, w), np.float32)
    matte[40:500, 60:900] = 1.0
    runner, outs, qms = run_in_process(
        tmp_path, engine, [plate] * 5, [matte] * 5, window=5, overlap=0
    )
    box = Box(*runner.job.windows_done[0]["box"])
    assert box.contains(Box(0, 0, w, h))
    assert (
        abs(box.width / box.height - 672 / 384) < 0.01
    )  # padded to the model's shape, not squeezed
    out = outs[0]
    keep = outside(qms[0], 6)
    assert out[keep].tobytes() == plate[keep].tobytes()
    # Down to 384×672 and back up: a smooth plate (values 0.05..2.05) survives it closely,
    # which it would not with the fill shifted or squeezed.
    err = np.abs(out[hole(qms[0]), :3] - plate[hole(qms[0]), :3])
    assert np.median(err) < 2e-3 and err.max() < 0.03


def test_crop_orientation_follows_the_object_and_stays_in_square_pixels(
    tmp_path: Path, test_engines
) -> None:
    engine = test_engines("test-identity-display")
    store = JobStore(tmp_path / "jobs")

    def runner(pixel_aspect: float) -> JobRunner:
        spec = JobSpec(
            frames=[1], width=3840, height=2160, engine=engine.name, pixel_aspect=pixel_aspect
        )
        return JobRunner(store.create(spec), engine, WindowCache(store.cache_dir))

    tall = np.zeros((1, 2160, 3840), bool)
    tall[0, 300:1800, 2000:2200] = True  # a standing person
    box, size = runner(1.0).crop_for(tall)
    assert size == (672, 384) and box.height > box.width
    assert box.contains(Box(2000 - 48, 300 - 48, 2200 + 48, 1800 + 48))
    assert abs(box.width / box.height - 384 / 672) < 0.01

    wide = np.zeros((1, 2160, 3840), bool)
    wide[0, 1000:1100, 1000:1200] = True  # 400 square pixels wide once de-squeezed
    # 2x anamorphic: the crop is fitted so that, de-squeezed, it has the model's aspect.
    box, size = runner(2.0).crop_for(wide)
    assert size == (384, 672)
    assert abs(box.width * 2.0 / box.height - 672 / 384) < 0.01
    assert box.height == 384  # native vertical resolution; 336 plate columns = 672 square pixels


@pytest.mark.parametrize("pixel_aspect", [0.5, 1.0, 2.0, 10.0])
@pytest.mark.parametrize("engine_name", ["propagate", "test-identity-display"])
def test_every_crop_holds_its_feathered_matte(
    tmp_path: Path, test_engines, pixel_aspect: float, engine_name: str
) -> None:
    """Whatever the object, frame, feather and squeeze: the composite never reads past the crop."""
    engine = test_engines(engine_name)
    store = JobStore(tmp_path / "jobs")
    rng = np.random.default_rng(int(pixel_aspect * 10))
    for trial in range(12):
        h, w = int(rng.integers(40, 900)), int(rng.integers(40, 1600))
        feather = int(rng.integers(0, 20))
        spec = JobSpec(
            frames=[1, 2],
            width=w,
            height=h,
            engine=engine.name,
            pixel_aspect=pixel_aspect,
            feather=feather,
            roi_margin=int(rng.integers(0, 60)),
            job_id=f"t{trial}",
        )
        runner = JobRunner(store.create(spec), engine, WindowCache(store.cache_dir))
        holes = np.zeros((2, h, w), bool)
        for t in range(2):
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            holes[t, y : y + int(rng.integers(1, h)), x : x + int(rng.integers(1, w))] = True
        box, _ = runner.crop_for(holes)
        for t in range(2):
            region, _ = alpha_region(holes[t], feather, pixel_aspect)
            assert box.contains(region), (h, w, feather, box, region)


def test_anamorphic_feather_is_round_once_desqueezed() -> None:
    hole_ = np.zeros((80, 80), bool)
    hole_[38:42, 38:42] = True
    alpha = composite_alpha(hole_, 12, pixel_aspect=2.0)
    ys, xs = np.nonzero(alpha > 0)
    # 12 square pixels: 12 rows up/down, 6 columns left/right.
    assert ys.min() == 38 - 11 and ys.max() == 41 + 11
    assert xs.min() == 38 - 5 and xs.max() == 41 + 5


def test_anamorphic_plate_is_exact_outside_the_matte(tmp_path: Path, test_engines) -> None:
    h, w = 400, 1200
    plate = smooth_plate(h, w, seed=14, channels=4)
    mattes = [disc(h, w, 500 + 10 * i, 200, 30) for i in range(5)]
    runner, outs, qms = run_in_process(
        tmp_path,
        test_engines("test-identity-display"),
        [plate] * 5,
        mattes,
        window=5,
        overlap=0,
        pixel_aspect=2.0,
    )
    for out, qm in zip(outs, qms):
        keep = outside(qm, 6, 2.0)
        assert out[keep].tobytes() == plate[keep].tobytes()


# ------------------------------------------------------------------ HDR
def test_hdr_values_come_back_through_the_model_space(tmp_path: Path, test_engines) -> None:
    # Bigger than the model size, so the crop is seen 1:1 and the identity engine's output is
    # exactly what the colour path makes of the plate.
    h, w = 720, 1280
    rng = np.random.default_rng(15)
    plate = np.concatenate(
        [rng.random((h, w, 3)) * 16.0, rng.standard_normal((h, w, 2)) * 100.0], -1
    ).astype(np.float32)
    matte = disc(h, w, 620, 330, 60)
    runner, outs, qms = run_in_process(
        tmp_path,
        test_engines("test-identity-display"),
        [plate] * 5,
        [matte] * 5,
        window=5,
        overlap=0,
        channels=["R", "G", "B", "depth.Z", "motion.x"],
    )
    out, qm = outs[0], qms[0]
    assert out.dtype == np.float32
    keep = outside(qm, 6)
    assert out[keep].tobytes() == plate[keep].tobytes()
    assert out[..., 3:].tobytes() == plate[..., 3:].tobytes()
    inside = hole(qm)
    rel = np.abs(out[inside, :3] - plate[inside, :3]).max(-1) / np.maximum(
        plate[inside, :3].max(-1), 1e-3
    )
    assert rel.max() < 1e-3  # values up to 16 through model space and back, unclipped
    assert out[inside, :3].max() > 15.0


def test_model_white_is_capped_at_the_windows_brightest_input(tmp_path: Path, test_engines) -> None:
    h, w = 200, 320
    plate = smooth_plate(h, w, seed=16, channels=4)  # peaks near 2.05
    matte = disc(h, w, 160, 100, 40)
    runner, outs, qms = run_in_process(
        tmp_path, test_engines("test-white-display"), [plate] * 5, [matte] * 5, window=5, overlap=0
    )
    box = Box(*runner.job.windows_done[0]["box"]).intersect(Box(0, 0, w, h))
    peak = np.asarray(runner.job.windows_done[0]["peak"])
    assert np.allclose(peak, plate[box.slices][..., :3].max(axis=(0, 1)), rtol=1e-6)
    filled = outs[0][hole(qms[0]), :3]
    assert np.isfinite(filled).all() and (filled <= peak + 1e-6).all()


def test_nan_and_inf_in_the_plate_stay_outside_and_are_filled_inside(
    tmp_path: Path, test_engines
) -> None:
    h, w = 120, 200
    plate = smooth_plate(h, w, seed=22, channels=4).astype(np.float16)
    plate[5, 5, :3] = (np.nan, np.inf, -np.inf)  # far from the object
    plate[60, 100, 0] = np.nan  # under the object
    mattes = [disc(h, w, 90 + 4 * i, 60, 14) for i in range(5)]
    for name in ("propagate", "test-identity-display"):
        _, outs, qms = run_in_process(
            tmp_path / name, test_engines(name), [plate] * 5, mattes, window=5, overlap=0
        )
        for out, qm in zip(outs, qms):
            assert not (
                changed(out, plate).any(axis=-1) & outside(qm, 6)
            ).any()  # NaN bits included
            assert np.isfinite(out[hole(qm), :3].astype(np.float32)).all()


# ------------------------------------------------------------------ odd inputs
@pytest.mark.parametrize("channels", [["Y"], ["Y", "A"]])
def test_odd_size_single_channel_plate(tmp_path: Path, test_engines, channels: list[str]) -> None:
    h, w = 199, 333
    rng = np.random.default_rng(17)
    plates, mattes = [], []
    for i in range(5):
        px = smooth_plate(h, w, seed=18, channels=4)[..., : len(channels)].copy()
        m = disc(h, w, 100 + 20 * i, 90, 18)
        px[m > 0, 0] = 5.0
        if len(channels) == 2:
            px[..., 1] = rng.random((h, w))
        plates.append(px.astype(np.float16))
        mattes.append(m)
    for name in ("propagate", "test-identity-display"):
        engine = test_engines(name)
        runner, outs, qms = run_in_process(
            tmp_path / name, engine, plates, mattes, window=5, overlap=0, channels=channels
        )
        for plate, out, qm in zip(plates, outs, qms):
            assert out.shape == plate.shape and out.dtype == np.float16
            keep = outside(qm, 6)
            assert out[keep].tobytes() == plate[keep].tobytes()
            if len(channels) == 2:
                assert out[..., 1].tobytes() == plate[..., 1].tobytes()  # alpha is not a colour
        if name == "propagate":
            assert all(out[hole(qm), 0].max() < 4.0 for out, qm in zip(outs, qms))


@pytest.mark.parametrize("windows", ["overscan", "inset"])
def test_data_window_and_metadata_survive_the_daemon(daemon, tmp_path: Path, windows: str) -> None:
    """Data window larger than the display window (overscan) or smaller and offset (a crop)."""
    n, dw, dh = 8, 112, 72
    plate_pat = SequencePattern.parse(str(tmp_path / "in" / "p.####.exr"))
    matte_pat = SequencePattern.parse(str(tmp_path / "in" / "m.####.exr"))
    base = smooth_plate(dh, dw, seed=19, channels=4)
    mattes = []
    for i in range(n):
        f = 1001 + i
        spec = oiio.ImageSpec(dw, dh, 4, "float")
        spec.channelnames = ("R", "G", "B", "A")
        if windows == "overscan":
            spec.x, spec.y, spec.full_x, spec.full_y, spec.full_width, spec.full_height = (
                -8,
                -4,
                0,
                0,
                96,
                64,
            )
        else:
            spec.x, spec.y, spec.full_x, spec.full_y, spec.full_width, spec.full_height = (
                20,
                30,
                0,
                0,
                1920,
                1080,
            )
        spec.attribute("PixelAspectRatio", 1.0)
        spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, (0x10203000 + i, 0))
        spec.attribute("owner", "fidelity test")
        m = disc(dh, dw, 30 + 6 * i, 36, 9)
        px = base.copy()
        px[m > 0, :3] = 3.0
        write_image(plate_pat.path(f), px, spec)
        mspec = oiio.ImageSpec(spec)
        mspec.nchannels, mspec.channelnames = 1, ("A",)
        write_image(matte_pat.path(f), m[..., None], mspec)
        mattes.append(m)
    out = SequencePattern.parse(str(tmp_path / "out" / "o.####.exr"))
    remove_sequence(
        RemoveRequest(
            str(plate_pat),
            str(matte_pat),
            str(out),
            settings={"window": 13, "overlap": 0, "dilation": 2},
            endpoint=daemon.endpoint,
            autostart=False,
        )
    )
    for i, m in enumerate(mattes):
        src, res = read_image(plate_pat.path(1001 + i)), read_image(out.path(1001 + i))
        assert spec_facts(res.spec) == spec_facts(src.spec)
        assert res.pixels.dtype == np.float32
        keep = outside(build_quadmask(m, None, 2), 6)
        assert res.pixels[keep].tobytes() == src.pixels[keep].tobytes()


@pytest.mark.parametrize(
    ("ext", "fmt", "bits"), [("png", "uint8", 8), ("tif", "uint16", 16), ("dpx", "uint16", 10)]
)
def test_integer_plates_come_back_in_their_own_format(
    daemon, tmp_path: Path, caplog: pytest.LogCaptureFixture, ext: str, fmt: str, bits: int
) -> None:
    n, h, w = 8, 64, 96
    plate_pat = SequencePattern.parse(str(tmp_path / "in" / f"p.####.{ext}"))
    matte_pat = SequencePattern.parse(str(tmp_path / "in" / "m.####.exr"))
    base = np.clip(smooth_plate(h, w, seed=20, channels=4)[..., :3] / 2.2, 0, 1)
    levels = (1 << bits) - 1
    mattes = []
    for i in range(n):
        m = disc(h, w, 25 + 6 * i, 30, 8)
        px = base.copy()
        px[m > 0] = (1.0, 0.0, 0.0)
        spec = oiio.ImageSpec(w, h, 3, fmt)
        if ext == "dpx":
            spec.attribute("oiio:BitsPerSample", bits)
        # Exact code values, so what the file holds is known.
        write_image(
            plate_pat.path(1001 + i), (np.round(px * levels) / levels).astype(np.float32), spec
        )
        write_image(matte_pat.path(1001 + i), m[..., None].astype(np.float16), channels=["A"])
        mattes.append(m)
    out = SequencePattern.parse(str(tmp_path / "out" / f"o.####.{ext}"))
    with caplog.at_level(logging.WARNING, logger="void_client.sequence"):
        remove_sequence(
            RemoveRequest(
                str(plate_pat),
                str(matte_pat),
                str(out),
                settings={"window": 13, "overlap": 0, "dilation": 2},
                endpoint=daemon.endpoint,
                autostart=False,
            )
        )
    assert (
        sum(f"{bits}-bit integer image" in r.getMessage() for r in caplog.records) == 1
    )  # once, not per frame

    def raw(path: str) -> tuple[np.ndarray, oiio.ImageSpec]:
        inp = oiio.ImageInput.open(path)
        spec = inp.spec()
        px = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, spec.format))
        inp.close()
        return px, spec

    for i, m in enumerate(mattes):
        (src, sspec), (res, rspec) = raw(plate_pat.path(1001 + i)), raw(out.path(1001 + i))
        assert res.dtype == src.dtype == np.dtype(fmt)
        assert rspec.get_int_attribute("oiio:BitsPerSample", bits) == sspec.get_int_attribute(
            "oiio:BitsPerSample", bits
        )
        keep = outside(build_quadmask(m, None, 2), 6)
        assert res[keep].tobytes() == src[keep].tobytes()
        assert (
            res[hole(build_quadmask(m, None, 2)), 1].astype(np.float64).mean() > 0.05 * levels
        )  # the red object is gone


# ------------------------------------------------------------------ detail restoration
def grainy_shot(n: int, h: int, w: int, grain: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(21)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    clean = np.stack([0.2 + 0.1 * xs / w, 0.25 + 0.05 * ys / h, 0.3 * np.ones_like(xs)], -1)
    plates, mattes = [], []
    for i in range(n):
        m = disc(h, w, 70 + 8 * i, 64, 22)
        px = clean + rng.standard_normal((h, w, 3)).astype(np.float32) * grain
        px[m > 0] = (2.0, 0.1, 0.1)
        plates.append(np.concatenate([px, np.ones((h, w, 1), np.float32)], -1).astype(np.float16))
        mattes.append(m)
    return plates, mattes


def hf_ratio(out: np.ndarray, qm: np.ndarray) -> float:
    """High-frequency energy inside the hole relative to a ring of genuine plate around it."""
    hp = high_pass(out[..., :3].astype(np.float32))
    inside = cv2.erode(hole(qm).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    ring = cv2.dilate(hole(qm).astype(np.uint8), np.ones((41, 41), np.uint8)).astype(
        bool
    ) & outside(qm, 10)
    return float(hp[inside].std() / hp[ring].std())


def test_detail_restoration_gives_the_fill_the_plates_grain(tmp_path: Path, test_engines) -> None:
    plates, mattes = grainy_shot(5, 128, 192, grain=0.02)
    engine = test_engines("test-soft")
    _, soft, qms = run_in_process(tmp_path / "off", engine, plates, mattes, window=5, overlap=0)
    _, grainy, _ = run_in_process(
        tmp_path / "on", engine, plates, mattes, window=5, overlap=0, restore_detail=True
    )
    _, again, _ = run_in_process(
        tmp_path / "again", engine, plates, mattes, window=5, overlap=0, restore_detail=True
    )
    off = [hf_ratio(o, q) for o, q in zip(soft, qms)]
    on = [hf_ratio(o, q) for o, q in zip(grainy, qms)]
    assert max(off) < 0.3  # the soft fill is visibly smoother than its surroundings
    assert all(0.8 < r < 1.25 for r in on), on
    for plate, out, qm in zip(plates, grainy, qms):
        keep = outside(qm, 6)
        assert out[keep].tobytes() == plate[keep].tobytes()
    # Deterministic (seeded per job and frame), and different from frame to frame like real grain.
    assert all(a.tobytes() == b.tobytes() for a, b in zip(grainy, again))
    inside = hole(qms[0]) & hole(qms[1])
    assert not np.array_equal(
        grainy[0][inside] - soft[0][inside], grainy[1][inside] - soft[1][inside]
    )
    # The grain is the plate's: close to the 0.02 that was put in.
    hp = high_pass(grainy[2][..., :3].astype(np.float32))[
        cv2.erode(hole(qms[2]).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    ]
    assert math.isclose(
        float(hp.std()),
        float(high_pass(plates[2][..., :3].astype(np.float32))[outside(qms[2], 10)].std()),
        rel_tol=0.25,
    )


def test_the_plate_file_tells_the_job_its_pixel_aspect_and_an_integer_files_colour(
    tmp_path: Path,
) -> None:
    from void_client.sequence_job import SequenceJob

    exr = SequencePattern.parse(str(tmp_path / "ana.####.exr"))
    spec = oiio.ImageSpec(64, 32, 3, "half")
    spec.attribute("PixelAspectRatio", 2.0)
    png = SequencePattern.parse(str(tmp_path / "p.####.png"))
    matte = SequencePattern.parse(str(tmp_path / "m.####.exr"))
    for f in (1, 2):
        write_image(exr.path(f), np.zeros((32, 64, 3), np.float16), spec)
        write_image(png.path(f), np.zeros((32, 64, 3), np.uint8))
        write_image(
            matte.path(f), disc(32, 64, 30, 16, 5)[..., None].astype(np.float16), channels=["A"]
        )
    ana = SequenceJob(RemoveRequest(str(exr), str(matte), str(tmp_path / "o.####.exr"))).job_spec()
    assert ana.pixel_aspect == 2.0 and ana.colourspace == ""
    pic = SequenceJob(RemoveRequest(str(png), str(matte), str(tmp_path / "o.####.png"))).job_spec()
    assert (
        pic.pixel_aspect == 1.0 and pic.colourspace == "srgb_rec709_scene"
    )  # OIIO's name; an alias in OCIO's built-in config
    # Settings the artist gives win over what the file says.
    mine = SequenceJob(
        RemoveRequest(
            str(exr), str(matte), str(tmp_path / "o.####.exr"), settings={"pixel_aspect": 1.5}
        )
    ).job_spec()
    assert mine.pixel_aspect == 1.5
    # JSON writes 2.0 as 2: an integer is accepted for a float field.
    assert JobSpec.from_dict({**ana.to_dict(), "pixel_aspect": 2}).pixel_aspect == 2.0
