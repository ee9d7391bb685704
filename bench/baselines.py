"""The removers the quality benchmark compares, each filling one scene's edited region.

* ``telea`` / ``ns`` — per-frame ``cv2.inpaint``: what an artist tries first.
* ``median`` — the classic clean-plate trick: align the neighbouring frames to this one with a
  homography (ORB features + RANSAC on the background), take the per-pixel median of what they
  see in the hole, spatial inpaint where none sees it.
* ``job`` — a real job: :class:`void_daemon.jobs.JobStore` + :class:`void_daemon.runner.JobRunner`
  (ROI crop, engine, window cache, seam blend, composite), in this process and scheduled like
  the daemon schedules it: windows in order, frames finished as soon as their windows are done
  (``chain`` needs that before the next window can start).

Every method writes linear RGB frames into ``out`` (``(T, H, W, 3)`` float32), and leaves the
plate untouched outside the region (the job path: outside its feathered composite matte).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Bench scripts run as `python bench/<name>.py` from the dev venv (pip install -e '.[dev]'); the
# repository root goes on sys.path for the helpers they share with the tests (tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from scenes import Scene  # noqa: E402

from void_client.job_spec import JobSpec  # noqa: E402
from void_client.quadmask import build_quadmask  # noqa: E402
from void_client.srgb import linear_to_srgb, srgb_to_linear  # noqa: E402
from void_daemon.metrics import cv2_inpaint_baseline  # noqa: E402

#: Neighbours the median baseline looks at: every ``MEDIAN_STEP``-th frame within ±``MEDIAN_REACH``.
MEDIAN_REACH = 24
MEDIAN_STEP = 2
#: ORB runs on frames scaled to this long side.
FEATURE_SIDE = 640


def quadmasks(scene: Scene) -> np.ndarray:
    """The quadmasks a job builds from the scene's mattes (the daemon's own function)."""
    s = scene.shot
    return np.stack(
        [
            build_quadmask(r, a, scene.dilation, frame=f)
            for r, a, f in zip(s.remove, s.affected, s.frames)
        ]
    )


def inpaint(scene: Scene, region: np.ndarray, out: np.ndarray, method: str) -> None:
    plate = scene.shot.plate
    for t in range(len(plate)):
        rgb = np.asarray(plate[t, ..., :3], np.float32)
        filled = cv2_inpaint_baseline(rgb[None], region[t][None], method)[0]
        out[t] = np.where(region[t][..., None], filled, rgb)


# ---------------------------------------------------------------------------- aligned median
@dataclass
class _Features:
    keypoints: np.ndarray  # (n, 2) in full-resolution pixels
    descriptors: np.ndarray | None


def _features(rgb: np.ndarray, hole: np.ndarray) -> _Features:
    import cv2

    h, w = hole.shape
    s = min(1.0, FEATURE_SIDE / max(h, w))
    grey = (np.clip(linear_to_srgb(rgb).mean(-1), 0, 1) * 255).astype(np.uint8)
    keep = (~hole).astype(np.uint8) * 255
    if s < 1.0:
        size = (round(w * s), round(h * s))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        keep = cv2.resize(keep, size, interpolation=cv2.INTER_NEAREST)
    keep = cv2.erode(keep, np.ones((9, 9), np.uint8))  # object edges are not background
    orb = cv2.ORB_create(1500)
    kps, desc = orb.detectAndCompute(grey, keep)
    pts = np.array([k.pt for k in kps], np.float32).reshape(-1, 2) / s
    return _Features(pts, desc)


def _homography(a: _Features, b: _Features) -> np.ndarray | None:
    """Homography taking frame ``b``'s pixels to frame ``a``'s, or None."""
    import cv2

    if (
        a.descriptors is None
        or b.descriptors is None
        or len(a.keypoints) < 8
        or len(b.keypoints) < 8
    ):
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(b.descriptors, a.descriptors)
    if len(matches) < 12:
        return None
    src = np.float32([b.keypoints[m.queryIdx] for m in matches])
    dst = np.float32([a.keypoints[m.trainIdx] for m in matches])
    hmat, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if hmat is None or inliers is None or int(inliers.sum()) < 10:
        return None
    return hmat


def median(scene: Scene, region: np.ndarray, out: np.ndarray) -> None:
    import cv2

    plate = scene.shot.plate
    t_count, h, w = region.shape
    feats = [
        _features(np.asarray(plate[t, ..., :3], np.float32), region[t]) for t in range(t_count)
    ]
    for t in range(t_count):
        rgb = np.asarray(plate[t, ..., :3], np.float32)
        out[t] = rgb
        if not region[t].any():
            continue
        ys = np.flatnonzero(region[t].any(1))
        xs = np.flatnonzero(region[t].any(0))
        y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
        hole = region[t, y0:y1, x0:x1]
        shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
        samples = []
        for s in range(max(0, t - MEDIAN_REACH), min(t_count, t + MEDIAN_REACH + 1), MEDIAN_STEP):
            if s == t:
                continue
            hmat = _homography(feats[t], feats[s])
            if hmat is None:
                continue
            m = shift @ hmat
            size = (x1 - x0, y1 - y0)
            src = np.asarray(plate[s, ..., :3], np.float32)
            warped = cv2.warpPerspective(
                src, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
            seen = cv2.warpPerspective(
                (~region[s]).astype(np.uint8),
                m,
                size,
                flags=cv2.INTER_NEAREST,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            samples.append(np.where(seen[..., None] > 0, warped, np.nan))
        fill = np.full(hole.shape + (3,), np.nan, np.float32)
        if samples:
            stack = np.stack(samples)
            seen_any = np.isfinite(stack[..., 0]).any(0)
            if seen_any.any():
                fill[seen_any] = np.nanmedian(stack[:, seen_any], axis=0)
        unknown = hole & ~np.isfinite(fill[..., 0])
        crop = out[t, y0:y1, x0:x1]
        crop[hole & ~unknown] = fill[hole & ~unknown]
        if unknown.any():
            disp = (linear_to_srgb(crop) * 255).round().astype(np.uint8)
            crop[unknown] = srgb_to_linear(
                cv2.inpaint(disp, unknown.astype(np.uint8), 5, cv2.INPAINT_TELEA).astype(np.float32)
                / 255.0
            )[unknown]


# ---------------------------------------------------------------------------- the real job path
def job_spec(scene: Scene, engine: str, seam: str, window: int | None = None) -> JobSpec:
    s = scene.shot
    return JobSpec(
        frames=s.frames,
        width=s.plate.shape[2],
        height=s.plate.shape[1],
        channels=["R", "G", "B", "A"],
        name=scene.name,
        engine=engine,
        window=window or scene.window,
        overlap=scene.overlap,
        seam=seam,
        dilation=scene.dilation,
        feather=scene.feather,
    ).validate()


class JobPath:
    """A job in a temporary job store: inputs stored up front (the daemon's receive stage), then
    :meth:`run` (timed by the caller) and :meth:`collect`."""

    def __init__(
        self,
        scene: Scene,
        engine_name: str,
        seam: str,
        qms: np.ndarray,
        config=None,
        window: int | None = None,
    ) -> None:
        from void_daemon.cache import WindowCache
        from void_daemon.engines import load_engine
        from void_daemon.jobs import JobStore
        from void_daemon.runner import JobRunner

        self.tmp = tempfile.TemporaryDirectory(prefix=f"void-bench-{scene.name}-")
        store = JobStore(Path(self.tmp.name) / "jobs")
        self.job = store.create(job_spec(scene, engine_name, seam, window))
        for pos in range(self.job.n):
            # The plate as a client sends it (half-float EXRs come over as f16, here we keep the
            # scene's own type), the quadmask the receiver builds.
            self.job.store_input(pos, np.ascontiguousarray(scene.shot.plate[pos]), qms[pos])
        self.runner = JobRunner(
            self.job, load_engine(engine_name, config), WindowCache(store.cache_dir)
        )

    @property
    def windows(self) -> int:
        return len(self.runner.windows)

    def run(self) -> None:
        job, runner = self.job, self.runner
        for w in runner.windows:
            runner.run_window(w.index, lambda i, n, stage: None, lambda: False)
            for pos in runner.ready_positions():
                job.store_output(pos, runner.finish_frame(pos))
        if len(job.final) != job.n:
            raise RuntimeError(f"job finished {len(job.final)} of {job.n} frames")

    def collect(self, out: np.ndarray) -> None:
        for pos in range(self.job.n):
            out[pos] = self.job.load_out(pos)[..., :3]

    def close(self) -> None:
        self.runner.engine.close()
        self.tmp.cleanup()
