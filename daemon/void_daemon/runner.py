"""Run one window of a job: ROI crop → colour → engine (cached) → and finish frames: seam
blend → colour back → composite into the original plate.

This is the job logic shared by the daemon, the farm task commands and the benchmarks; it
knows nothing about sockets.

Resizing follows one rule: *averaging happens in linear light, interpolation in the model's
space.* A crop shrinking to the model size is area-averaged in scene-linear (light adds
linearly) and then converted; a model result growing back to a large crop is Lanczos-
interpolated in the model's bounded, perceptual space (no ringing around 16.0 highlights) and
then converted back, for just the pixels the composite will use.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from void_client import protocol as P
from void_client.job_spec import JobSpec
from void_client.quadmask import KEEP, hole, require_nonempty, snap
from void_client.windows import Window, plan_windows, seam_weights, window_margins
from void_daemon import colour
from void_daemon.cache import WindowCache, window_key
from void_daemon.detail import restore_detail
from void_daemon.engines import Engine, WindowInput
from void_daemon.jobs import Job
from void_daemon.roi import (
    Box,
    alpha_region,
    choose_model_size,
    composite,
    compute_roi,
    crop,
    fill_and_matte,
    fit_aspect,
    layer_channels,
    mask_bbox,
    model_sizes,
    resize,
    resize_region,
    rgb_channel_indices,
)

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to trim
        return None


def release_freed_memory() -> None:
    """Hand the pages a finished window freed back to the system (glibc's ``malloc_trim``).

    A window's crops and masks are freed when it ends, but glibc keeps freed heap pages in its
    per-thread arenas, fragmented by the many mid-sized arrays of each window; over a long shot
    the daemon's resident memory then creeps up window after window although no more is in use
    (about 80 MiB over a 600-frame 540p shot). Trimming once per window (well under a
    millisecond) removes most of it: docs/benchmarks.md, "Long shots: memory bounded by the
    window"."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def reference_path(job: Job, pos: int) -> Path:
    """Where the clean reference frame the artist painted for ``pos`` is stored (RGB float32)."""
    return job.dir / "in" / f"{pos:06d}.ref.npy"


@dataclass
class FinishedFrame:
    """One composited frame and what it was made from: the fill (linear RGB) and the composite
    matte over ``region`` (all None when the frame has nothing to fill)."""

    pixels: np.ndarray
    region: Box | None = None
    fill: np.ndarray | None = None
    alpha: np.ndarray | None = None

    def layers(self, colours: int) -> dict[str, np.ndarray]:
        """``fill`` (premultiplied RGBA) and ``matte``, whole frame: :func:`roi.fill_and_matte`."""
        fill, matte = fill_and_matte(
            self.pixels.shape[:2], self.fill, self.alpha, colours, self.region
        )
        return {"fill": fill, "matte": matte[..., None]}


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
        self.pixel_aspect = float(spec.pixel_aspect)
        self.colour_settings = colour.ColourSettings.from_spec(spec)
        if engine.colour == "display":
            colour.transform(self.colour_settings)  # a bad config or colour space fails the job now

    # ------------------------------------------------------------------ readiness
    def window_ready(self, k: int) -> bool:
        """Inputs present and, for ``chain``, the earlier windows done (their results are all the
        context needs: :meth:`run_window` finishes any context frame not stored yet, so the engine
        does not wait for the finisher)."""
        with self.job.lock:
            # Margin frames too (``Engine.margin``): the client sends every frame whatever the
            # windows do (input credit comes back as each frame is stored), so they arrive.
            if not all(p in self.job.received for p in self.engine_positions(k)):
                return False
            # Every reference frame is a source for every window (propagate: the nearest one
            # outside the window too), and it arrives with its frame's inputs.
            if not all(p in self.job.received for p in self._reference_positions()):
                return False
            if self.job.spec.seam == "chain" and k > 0:
                return all(i in self.job.windows_done for i in range(k))
        return True

    def margins(self, k: int) -> tuple[int, int]:
        """Frames before and after window ``k`` its engine reads as sources (``Engine.margin``)."""
        return window_margins(self.windows, k, self.engine.margin, self.job.spec.seam)

    def engine_positions(self, k: int) -> tuple[int, ...]:
        """What the engine is given for window ``k``: its positions with the margins around."""
        w = self.windows[k]
        before, after = self.margins(k)
        if not before and not after:
            return w.positions
        return (*range(w.start - before, w.start), *w.positions, *range(w.stop, w.stop + after))

    def context_positions(self, k: int) -> list[int]:
        """Positions of window ``k`` that are context only (chain seams: the previous window's
        finished result, marked keep); the farm's window task fetches them before it runs."""
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
            owners = [
                w.index
                for w in self.windows
                if w.covers(p) and self.weights[w.index][p - w.start] > 0
            ]
            if all(i in done for i in owners):
                out.append(p)
        return out

    # ------------------------------------------------------------------ one window
    @property
    def colour_transform(self) -> colour.ColourTransform | None:
        """The plate ↔ model transform, for ``display`` engines only (``propagate`` works in linear)."""
        return colour.transform(self.colour_settings) if self.engine.colour == "display" else None

    def crop_for(self, holes: np.ndarray) -> tuple[Box, tuple[int, int] | None]:
        """The window's crop box and the engine size it is resized to (None: kept as is).

        The model size (landscape, portrait, or the nearest of the engine's ``model_sizes``)
        is chosen from the masks' displayed shape; the crop is at least that size in plate
        pixels where the frame allows, so small objects are seen at full resolution.
        """
        _, h, w = holes.shape
        pa = self.pixel_aspect
        sizes = model_sizes(self.engine.model_size, self.engine.model_sizes)
        if not sizes:
            return compute_roi(holes, self.margin, pixel_aspect=pa), None
        full = Box(0, 0, w, h)
        bbox = mask_bbox(holes) or full
        mx = int(math.ceil(self.margin / pa)) + (pa != 1.0)
        grown = Box(
            bbox.x0 - mx, bbox.y0 - self.margin, bbox.x1 + mx, bbox.y1 + self.margin
        ).intersect(full)
        size = choose_model_size(grown, sizes, pa, full)
        assert size is not None
        mh, mw = size
        box = compute_roi(
            holes,
            self.margin,
            (mw / mh) / pa,
            min_size=(mh, int(math.ceil(mw / pa))),
            pixel_aspect=pa,
        )
        if box.contains(full):  # fell back to the full frame: its own shape decides the orientation
            size = choose_model_size(full, sizes, pa, full)
            assert size is not None
            mh, mw = size
            box = fit_aspect(full, (mw / mh) / pa, w, h)
        return box, (int(mh), int(mw))

    def run_window(
        self, k: int, progress: Callable[[int, int, str], None], cancelled: Callable[[], bool]
    ) -> WindowOutcome:
        """Run window ``k`` (from the cache when its inputs were seen before). Only its own
        frames and its margins are loaded, and only while it runs (``Job.frames_held``)."""
        try:
            with self.job.holding(len(self.engine_positions(k))):
                return self._run_window(k, progress, cancelled)
        finally:
            release_freed_memory()

    def _run_window(
        self, k: int, progress: Callable[[int, int, str], None], cancelled: Callable[[], bool]
    ) -> WindowOutcome:
        t0 = time.perf_counter()
        job, spec, w = self.job, self.job.spec, self.windows[k]
        # The engine's frames: ``before`` margin frames, the window's own, then ``after`` more.
        before, after = self.margins(k)
        positions = self.engine_positions(k)
        own = slice(before, before + len(w.positions))
        qms = np.stack([job.load_quadmask(p) for p in positions])
        context = np.zeros(len(positions), bool)
        ctx = set(self.context_positions(k))
        for i, p in enumerate(positions):
            if p in ctx:
                context[i] = True
                qms[i] = KEEP
        holes = hole(qms)
        # The crop is the window's own (the margins' holes need no fill): with or without
        # margins the window's frames are cropped alike.
        box, size = self.crop_for(holes[own])
        settings = {
            "engine": self.engine.name,
            "engine_version": self.engine.version,
            "prompt": spec.prompt,
            "seed": spec.seed,
            "pass2": spec.pass2,
            "options": spec.engine_options,
        }
        if not holes[own].any():
            # Nothing to fill in this window (the object is out of frame): its result is never
            # read, so no frames are cropped, converted or sent to the engine.
            key = window_key(
                [np.asarray(box.width), np.asarray(box.height)],
                {**settings, "empty": len(w.positions)},
            )
            seen = self.cache.get(key, mmap=True) is not None
            if not seen:
                self.cache.put(
                    key, np.zeros((0, *(size or (box.height, box.width)), 3), np.float32)
                )
            return self._done(k, key, box, None, seen, t0)
        # Straight into one float32 array: a large crop of a long window is hundreds of MB.
        frames = np.empty((len(positions), box.height, box.width, 3), np.float32)
        peak = np.full(3, -np.inf, np.float32)  # the brightest input per channel (caps the fill)
        for i, p in enumerate(positions):
            src = (
                (job.load_out(p) if p in job.final else self.finish_frame(p))
                if context[i]
                else job.load_plate(p)
            )
            c = crop(src, box)
            # Single-channel plates go through the engine as grey RGB.
            frames[i] = c[:, :, list(self.rgb)] if len(self.rgb) == 3 else c[:, :, self.rgb[:1]]
            bad = ~np.isfinite(frames[i])
            if bad.any():  # NaN/Inf in a plate (not in the matte: that is refused) become black
                frames[i][bad] = 0.0
            np.maximum(peak, frames[i].max(axis=(0, 1)), out=peak)
        frames = self._to_engine(frames, size)
        qcrop = np.stack([crop(q, box, fill=KEEP) for q in qms])
        # VOID's loader: area-resample the mask, then snap back to the four levels.
        if size is not None and size != qcrop.shape[1:]:
            qcrop = snap(resize(qcrop.astype(np.float32), size))
        references = self._references(w.start - before, box, size)
        # Without references or margins the key is the one it always was: cached windows stay
        # valid. The margin frames are in ``frames``/``qcrop``; their counts say where the
        # window's own frames are.
        if references:
            settings["references"] = [o for o, _ in references]
        if before or after:
            settings["margins"] = [before, after]
        key = window_key([frames, qcrop, context, *(r for _, r in references)], settings)
        result = self.cache.get(key)
        cached = result is not None
        if result is None:
            result = self.engine.fill(
                WindowInput(
                    frames=frames,
                    quadmask=qcrop,
                    index=k,
                    positions=positions,
                    context=context,
                    prompt=spec.prompt,
                    seed=spec.seed,
                    pass2=spec.pass2,
                    options=dict(spec.engine_options),
                    references=references,
                    progress=progress,
                    cancelled=cancelled,
                    # The key is made and the frames are not read after the fill: the engine
                    # may fill them in place (a window-sized array less at the peak).
                    in_place=True,
                    margins=(before, after),
                )
            )
            result = np.asarray(result, np.float32)
            if result.shape != frames.shape:
                raise RuntimeError(
                    f"engine {self.engine.name} returned {result.shape}, expected {frames.shape}"
                )
            # Only the window's own frames are kept: the margins' fill is discarded.
            result = result[own]
            self.cache.put(key, result)
        return self._done(k, key, box, peak, cached, t0)

    def _reference_positions(self) -> list[int]:
        return [self.job.position(f) for f in self.job.spec.references]

    def _references(
        self, first: int, box: Box, size: tuple[int, int] | None
    ) -> list[tuple[int, np.ndarray]]:
        """Every reference frame as ``(offset, RGB crop in the engine's size and colour)``,
        cropped like the window's frames; ``offset`` counts from position ``first``, the
        engine's first frame (the window's start less its margin before it)."""
        out = []
        for p in self._reference_positions():
            c = crop(np.load(reference_path(self.job, p), mmap_mode="r"), box)
            rgb = np.empty((1, box.height, box.width, 3), np.float32)
            rgb[0] = c[:, :, :3] if len(self.rgb) == 3 and c.shape[2] >= 3 else c[:, :, :1]
            out.append((p - first, self._to_engine(rgb, size)[0]))
        return out

    def _done(
        self, k: int, key: str, box: Box, peak: np.ndarray | None, cached: bool, t0: float
    ) -> WindowOutcome:
        record = {"index": k, "key": key, "box": [box.x0, box.y0, box.x1, box.y1]}
        if peak is not None:
            record["peak"] = [float(v) for v in peak]
        self.job.windows_done[k] = record
        self.job.log("window", **{**record, "cached": cached})
        return WindowOutcome(k, cached, time.perf_counter() - t0, box)

    def _to_engine(self, frames: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        """Linear crops ``(T, h, w, 3)`` → the engine's size and colour space."""
        convert = (
            self.colour_transform.to_model if self.colour_transform is not None else (lambda x: x)
        )
        if size is None or tuple(size) == frames.shape[1:3]:
            return convert(frames)
        if size[0] * size[1] <= frames.shape[1] * frames.shape[2]:
            return convert(resize(frames, size))  # average in linear light
        return resize(convert(frames), size)  # interpolate in model space

    def _from_engine(
        self, f: np.ndarray, box: Box, region: Box, peak: list[float] | None
    ) -> np.ndarray:
        """One window's result frame → linear RGB over ``region`` (frame coordinates, inside ``box``)."""
        part = region.shifted(-box.x0, -box.y0)
        size = (box.height, box.width)
        transform = self.colour_transform
        if transform is None:
            return np.asarray(resize_region(f, size, part), np.float32)
        cap = None if peak is None else np.asarray(peak, np.float32)
        if box.height * box.width >= f.shape[0] * f.shape[1]:
            return transform.from_model(resize_region(f, size, part), cap)
        return np.asarray(resize_region(transform.from_model(f, cap), size, part), np.float32)

    # ------------------------------------------------------------------ finishing frames
    def finish_frame(self, pos: int) -> np.ndarray:
        """Blend every window's fill for ``pos`` and composite it into the plate."""
        return self.finish(pos).pixels

    def finish_with_layers(self, pos: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The finished frame and the layers its job's spec asks for (``JobSpec.outputs``)."""
        if not self.job.spec.outputs:
            return self.finish_frame(pos), {}
        done = self.finish(pos)
        layers = done.layers(len(self.rgb))
        return done.pixels, {name: layers[name] for name in self.job.spec.outputs}

    def finish(self, pos: int) -> FinishedFrame:
        """:meth:`finish_frame`, keeping the fill and matte the composite used."""
        job, spec = self.job, self.job.spec
        # Mapped, not read: the composite's one copy of the plate is its only full pass over it.
        plate = job.load_plate(pos)
        holes = hole(job.load_quadmask(pos))
        found = alpha_region(holes, spec.feather, self.pixel_aspect)
        if found is None:
            return FinishedFrame(np.array(plate))
        region, alpha = found
        fill = np.zeros((region.height, region.width, 3), np.float32)
        for win in self.windows:
            if not win.covers(pos):
                continue
            weight = self.weights[win.index][pos - win.start]
            if weight == 0.0:
                continue
            info = job.windows_done[win.index]
            box = Box(*info["box"])
            if not box.contains(region):
                raise RuntimeError(
                    f"window {win.index} crop {info['box']} does not cover frame {job.frame(pos)}'s matte {region}"
                )
            result = self.cache.get(info["key"], mmap=True)
            if result is None or len(result) <= pos - win.start:
                raise RuntimeError(f"window {win.index} result vanished from the cache")
            # The window's frames start with its real positions, in order.
            fill += weight * self._from_engine(
                np.asarray(result[pos - win.start]), box, region, info.get("peak")
            )
        if spec.restore_detail:
            fill = restore_detail(fill, plate, holes, region, self.rgb, spec.seed, job.frame(pos))
        return FinishedFrame(composite(plate, fill, alpha, self.rgb, region), region, fill, alpha)


def result_images(job: Job, pos: int) -> list[tuple[P.ImageDesc, np.ndarray]]:
    """A stored finished frame as the ``result`` message's images: the composite, then the
    layers the spec asks for (docs/protocol.md)."""
    frame, spec = job.frame(pos), job.spec
    arr = job.load_out(pos)
    images = [(P.ImageDesc.for_array(frame, "result", arr, spec.channels), arr)]
    names = layer_channels(spec.channels)
    for layer in spec.outputs:
        extra = job.load_layer(pos, layer)
        images.append((P.ImageDesc.for_array(frame, layer, extra, names[layer]), extra))
    return images


def result_frame_bytes(spec: JobSpec) -> int:
    """Bytes of one frame's ``result`` images at most (float32), layers included."""
    channels = len(spec.channels) + sum(
        len(layer_channels(spec.channels)[layer]) for layer in spec.outputs
    )
    return max(1, spec.width * spec.height * channels * 4)


def check_job_has_hole(job: Job) -> None:
    """Refuse a job whose remove matte is empty everywhere (once all frames are in).

    One quadmask at a time, mapped, stopping at the first frame with a hole: loading them all
    at once took a 600-frame 1080p shot's masks (1.2 GB) into memory together."""
    for p in range(job.n):
        with job.holding(1):
            if hole(np.load(job.quadmask_path(p), mmap_mode="r")).any():
                return
    require_nonempty([])
