"""Run one window of a job: ROI crop → colour → engine (cached) → and finish frames: seam
blend → composite into the original plate.

This is the job logic shared by the daemon, the farm task commands and the benchmarks; it
knows nothing about sockets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from void_client.quadmask import KEEP, hole, require_nonempty, snap
from void_client.windows import Window, plan_windows, seam_weights

from . import colour
from .cache import WindowCache, window_key
from .engines import Engine, WindowInput
from .jobs import Job
from .roi import Box, composite, composite_alpha, compute_roi, resize, rgb_channel_indices

log = logging.getLogger(__name__)


@dataclass
class WindowOutcome:
    index: int
    cached: bool
    seconds: float
    box: Box


class JobRunner:
    """Windows and seams of one job. Methods are called by the scheduler, one window at a time."""

    def __init__(self, job: Job, engine: Engine, cache: WindowCache) -> None:
        self.job = job
        self.engine = engine
        self.cache = cache
        spec = job.spec
        self.windows: list[Window] = plan_windows(job.n, spec.window, spec.overlap)
        self.weights = seam_weights(self.windows, spec.seam)
        self.rgb = rgb_channel_indices(spec.channels)
        # The feathered edge must stay inside every crop, whatever margin the artist asked for.
        self.margin = max(spec.roi_margin, spec.feather + 4)

    # ------------------------------------------------------------------ readiness
    def window_ready(self, k: int) -> bool:
        """Inputs present and, for ``chain``, the previous window's overlap frames final."""
        w = self.windows[k]
        with self.job.lock:
            if not all(p in self.job.received for p in range(w.start, w.stop)):
                return False
            if self.job.spec.seam == "chain" and k > 0:
                return all(p in self.job.final for p in self._context_positions(k))
        return True

    def _context_positions(self, k: int) -> list[int]:
        w = self.windows[k]
        if self.job.spec.seam != "chain" or k == 0:
            return []
        return [p for p in range(w.start, w.stop) if self.weights[k][p - w.start] == 0.0]

    def ready_positions(self) -> list[int]:
        """Positions not yet final whose contributing windows are all done."""
        done = set(self.job.windows_done)
        with self.job.lock:
            final = set(self.job.final)
        out = []
        for p in range(self.job.n):
            if p in final:
                continue
            owners = [w.index for w in self.windows if w.covers(p) and self.weights[w.index][p - w.start] > 0]
            if all(i in done for i in owners):
                out.append(p)
        return out

    # ------------------------------------------------------------------ one window
    def run_window(self, k: int, progress: Callable[[int, int, str], None], cancelled: Callable[[], bool]) -> WindowOutcome:
        t0 = time.perf_counter()
        job, spec, w = self.job, self.job.spec, self.windows[k]
        qms = np.stack([job.load_quadmask(p) for p in w.positions])
        context = np.zeros(len(w.positions), bool)
        ctx = set(self._context_positions(k))
        for i, p in enumerate(w.positions):
            if p in ctx:
                context[i] = True
                qms[i] = KEEP
        holes = hole(qms)
        box = compute_roi(holes, self.margin, self._aspect(holes))
        ys, xs = box.slices
        crops = []
        for i, p in enumerate(w.positions):
            src = job.load_out(p) if context[i] else job.load_plate(p)
            crops.append(np.asarray(src[ys, xs][:, :, list(self.rgb)], np.float32))
        frames = np.nan_to_num(np.stack(crops), nan=0.0, posinf=0.0, neginf=0.0)
        if len(self.rgb) < 3:  # single-channel plates go through the engine as grey RGB
            frames = np.repeat(frames[..., :1], 3, axis=-1)
        qcrop = qms[:, ys, xs]
        if self.engine.colour == "display":
            frames = colour.to_model(frames)
        size = self._engine_size(box)
        frames = resize(frames, size)
        # VOID's loader: area-resample the mask, then snap back to the four levels.
        qcrop = snap(resize(qcrop.astype(np.float32), size)) if size != qcrop.shape[1:] else qcrop
        settings = {
            "engine": self.engine.name,
            "engine_version": self.engine.version,
            "prompt": spec.prompt,
            "seed": spec.seed,
            "pass2": spec.pass2,
            "options": spec.engine_options,
        }
        key = window_key([frames, qcrop, context], settings)
        result = self.cache.get(key)
        cached = result is not None
        if result is None:
            if not holes.any():
                result = frames.copy()
            else:
                result = self.engine.prepare(
                    WindowInput(
                        frames=frames,
                        quadmask=qcrop,
                        index=k,
                        positions=w.positions,
                        context=context,
                        prompt=spec.prompt,
                        seed=spec.seed,
                        pass2=spec.pass2,
                        options=dict(spec.engine_options),
                        progress=progress,
                        cancelled=cancelled,
                    )
                )
            result = np.asarray(result, np.float32)
            if result.shape != frames.shape:
                raise RuntimeError(f"engine {self.engine.name} returned {result.shape}, expected {frames.shape}")
            self.cache.put(key, result)
        job.windows_done[k] = {"index": k, "key": key, "box": [box.x0, box.y0, box.x1, box.y1]}
        job.log("window", index=k, key=key, box=[box.x0, box.y0, box.x1, box.y1], cached=cached)
        return WindowOutcome(k, cached, time.perf_counter() - t0, box)

    def _aspect(self, holes: np.ndarray) -> float | None:
        if self.engine.model_size is None:
            return None
        mh, mw = self.engine.model_size
        ys = np.flatnonzero(holes.any(axis=(0, 2)))
        xs = np.flatnonzero(holes.any(axis=(0, 1)))
        portrait = ys.size and xs.size and (ys[-1] - ys[0]) > (xs[-1] - xs[0])
        return (min(mh, mw) / max(mh, mw)) if portrait else (max(mh, mw) / min(mh, mw))

    def _engine_size(self, box: Box) -> tuple[int, int]:
        if self.engine.model_size is None:
            return (box.height, box.width)
        mh, mw = self.engine.model_size
        return (max(mh, mw), min(mh, mw)) if box.height > box.width else (min(mh, mw), max(mh, mw))

    # ------------------------------------------------------------------ finishing frames
    def finish_frame(self, pos: int) -> np.ndarray:
        """Blend every window's fill for ``pos`` and composite it into the plate."""
        job = self.job
        plate = np.asarray(job.load_plate(pos, mmap=False))
        qm = job.load_quadmask(pos)
        alpha = composite_alpha(hole(qm), job.spec.feather)
        if not (alpha > 0).any():
            return plate
        h, w = qm.shape
        fill = np.zeros((h, w, 3), np.float32)
        for win in self.windows:
            if not win.covers(pos):
                continue
            weight = self.weights[win.index][pos - win.start]
            if weight == 0.0:
                continue
            info = job.windows_done[win.index]
            x0, y0, x1, y1 = info["box"]
            box = Box(x0, y0, x1, y1)
            result = self.cache.get(info["key"], mmap=True)
            if result is None:
                raise RuntimeError(f"window {win.index} result vanished from the cache")
            # The window's frames start with its real positions, in order.
            f = np.asarray(result[pos - win.start])
            if self.engine.colour == "display":
                f = colour.from_model(f)
            f = resize(f[None], (box.height, box.width))[0]
            fill[box.slices] += weight * f
        return composite(plate, fill, alpha, self.rgb)


def check_job_has_hole(job: Job) -> None:
    """Refuse a job whose remove matte is empty everywhere (once all frames are in)."""
    require_nonempty([job.load_quadmask(p) for p in range(job.n)])
