"""The library call behind ``void-remove run``: EXR sequences in, EXR sequence out, via the daemon.

Scripts, the Nuke node (in batch mode) and the farm use this directly. Before anything is sent,
:class:`SequenceJob` refuses an output that would write over any input frame
(:mod:`void_client.output_guard`), and :func:`remove_sequence` holds the output sequence for the
run (lock + manifest, :mod:`void_client.output_manifest`) so two results are never mixed. See
docs/reliability.md, "Sources and outputs".
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import OpenImageIO as oiio

from void_client import protocol as P
from void_client.client import connect
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.layer_outputs import (
    GRADE_LAYERS,
    LayerOutputs,
    Layers,
    check_grade_room,
    write_graded,
)
from void_client.output_guard import check_job_paths, check_outputs_disjoint
from void_client.output_manifest import claim_output
from void_client.pattern_hint import pattern_hint
from void_client.quadmask import check_matte
from void_client.reference import check_references, read_reference
from void_client.sequence import (
    Image,
    SequencePattern,
    SequenceRef,
    check_flat,
    file_views,
    format_ranges,
    has_view_token,
    plate_part,
    read_image,
    read_matte,
    read_specs,
    require_frames,
    sweep_stale_temps,
    view_place,
    view_selector,
    write_image,
    write_layout,
)
from void_client.session import FrameInput, JobReport, JobSession

log = logging.getLogger(__name__)

#: A remove matte covering at least this fraction of the frame is almost surely not a roto
#: (a plate's alpha, an inverted matte): warned about before anything is sent.
FULL_FRAME_COVERAGE = 0.99


@dataclass
class RemoveRequest:
    """What to remove, from where, to where. Settings map 1:1 onto :class:`JobSpec`."""

    plate: str
    remove: str
    out: str
    affected: str = ""
    frame_range: tuple[int, int] | None = None
    settings: dict = field(default_factory=dict)
    endpoint: str = P.DEFAULT_ENDPOINT
    autostart: bool = True
    #: Replace frames another job (or other settings) left in the output sequence; without it
    #: such a sequence is refused (see :mod:`void_client.output_manifest`).
    overwrite: bool = False
    #: Frames to write (a ``--preview``); empty: every frame. The others are computed only as
    #: the windows' context, and their results are dropped.
    keep: tuple[int, ...] = ()
    #: Stereo plates: ``all`` (every view the plate has, one job each) or one view's name.
    view: str = "all"
    #: Take every view's mattes from this view of the matte files (a matte drawn for one view).
    matte_view: str = ""
    #: Also write the premultiplied fill RGBA / the composite's matte here (void_client.layer_outputs).
    fill_out: str = ""
    matte_out: str = ""
    #: ``--grade-layers``: fill and matte also as layers of the ``out`` EXRs themselves.
    grade_layers: bool = False
    #: Clean frames the artist painted, by frame (``--reference FRAME=PATH``; void_client.reference).
    references: dict[int, str] = field(default_factory=dict)
    #: Keep the plate's own channels and add the clean plate beside them as this layer.
    out_layer: str = ""


class SequenceJob:
    """Reads plate and mattes per frame and writes results with the plate's own spec."""

    def __init__(self, req: RemoveRequest, view: str = "") -> None:
        """``view``: process that view of a stereo plate (its part, or its channels of a
        multi-view part); "": the plate part as named (the first by default)."""
        self.req = req
        self.view = view
        self.plate = SequenceRef.parse(req.plate)
        if self.plate.channel and not self.plate.channel.endswith("/"):
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"--plate {req.plate}: the plate is used with all its channels, so it takes no "
                f"channel selector; drop ':{self.plate.channel}' (selectors are for --remove "
                "and --affected; a multi-part plate may name its part: PATTERN:rgba/)",
                "plate",
            )
        self.remove = SequenceRef.parse(req.remove)
        self.affected = SequenceRef.parse(req.affected) if req.affected else None
        self.out = SequencePattern.parse(req.out)
        if req.out_layer and (
            not self.out.suffix.lower().endswith(".exr")
            or not req.out_layer.replace("_", "").isalnum()
        ):
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"--out-layer {req.out_layer!r}: give a plain layer name (letters, digits, _) "
                "and an .exr --out; only EXR holds layers",
                "out_layer",
            )
        if req.frame_range:
            start, end = req.frame_range
            self.frames = list(range(start, end + 1))
        else:
            self.frames = self.plate.pattern.scan()
            if not self.frames:
                pat = self.plate.pattern
                raise VoidError(
                    ErrorCode.MISSING_FRAMES,
                    f"no frames match {pat}; {pattern_hint(pat.prefix, pat.padding, pat.suffix)}",
                    "plate",
                )
        require_frames(self.plate, self.frames, "plate")
        require_frames(self.remove, self.frames, "remove")
        if self.affected:
            require_frames(self.affected, self.frames, "affected")
        # Sources are sacred: no output frame may be an input frame, however it is spelled.
        inputs = [("plate", self.plate.pattern), ("remove matte", self.remove.pattern)]
        if self.affected:
            inputs.append(("affected matte", self.affected.pattern))
        check_job_paths(inputs, self.out, self.frames)
        self.layers = LayerOutputs(
            {"fill": req.fill_out, "matte": req.matte_out}, inputs, self.out, self.frames
        )
        if req.grade_layers and not self.out.suffix.lower().endswith(".exr"):
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"--grade-layers writes fill and matte as layers of the output, and only EXR "
                f"holds layers; give an .exr --out (not {self.out}), or write them as their "
                "own sequences with --fill-out/--matte-out",
                "grade_layers",
            )
        #: ``--grade-layers``: each frame's layers, from the result until its composite is written.
        self._graded: dict[int, Layers] = {}
        check_outputs_disjoint(
            list(req.references.values()), [self.out.path(f) for f in self.frames]
        )
        #: Called with each frame once its result is on disk (the output manifest).
        self.on_written: Callable[[int], None] | None = None
        #: Called with each frame just before its result is written (the manifest's record).
        self.on_writing: Callable[[int], None] | None = None
        self.specs: dict[int, oiio.ImageSpec] = {}
        #: Where results go instead of the output (one view's job of a stereo run).
        self.stash: SequencePattern | None = None
        self._lock = threading.Lock()
        # Deep files anywhere are refused here, by their headers, before anything is sent.
        self.part = plate_part(self.plate.path(self.frames[0]), self.plate.channel, self.frames[0])
        #: The view's channels in its part (a multi-view part); None: every channel of the part.
        self.view_channels: tuple[int, ...] | None = None
        self.remove_sel = self.remove.channel
        self.affected_sel = self.affected.channel if self.affected else ""
        if view:
            self._place_view(view)
        if req.grade_layers:  # a plate with its own fill/matte layer: refused before any work
            f0 = self.frames[0]
            check_grade_room(read_specs(self.plate.path(f0), f0, "plate"), f"plate frame {f0}")
        first = self._read_plate(self.frames[0])
        self.width, self.height = first.pixels.shape[1], first.pixels.shape[0]
        self.channels = first.channels
        check_references(req.references, self.frames, self.width, self.height)
        # What the plate says about itself (anamorphic squeeze, an 8-bit file's sRGB); settings win.
        self.plate_settings: dict = {"pixel_aspect": first.pixel_aspect}
        if first.is_integer and first.colourspace:
            self.plate_settings["colourspace"] = first.colourspace
        # A wrong matte selector fails now, not after the upload: read the first frame's mattes.
        if self.affected:
            read_matte(self.affected.path(self.frames[0]), self.frames[0], self.affected_sel)
        check_flat(self.remove.path(self.frames[0]), self.frames[0], "remove")

    def _place_view(self, view: str) -> None:
        """Where ``view`` is in the plate and in each matte file (the matte's own view, or
        ``--matte-view``'s; a mono matte serves as it is)."""
        f0 = self.frames[0]
        place = view_place(read_specs(self.plate.path(f0), f0), view, f"plate frame {f0}")
        self.part, self.view_channels = place.part, place.channels
        for ref, key in ((self.remove, "remove"), (self.affected, "affected")):
            if ref is None:
                continue
            specs = read_specs(ref.path(f0), f0, key)
            if file_views(specs):
                sel = view_selector(
                    specs, ref.channel or "A", self.req.matte_view or view, f"{key} frame {f0}"
                )
                setattr(self, f"{key}_sel", sel)

    def _read_plate(self, frame: int) -> Image:
        img = read_image(self.plate.path(frame), frame, part=self.part)
        if self.view_channels is None:
            return img
        idx = list(self.view_channels)
        return Image(img.pixels[:, :, idx], [img.channels[i] for i in idx], img.spec, img.part)

    def job_spec(self) -> JobSpec:
        name = self.plate.pattern.prefix.rstrip("._/").rsplit("/", 1)[-1] or "shot"
        settings = {**self.plate_settings, **self.req.settings}
        return JobSpec(
            frames=self.frames,
            width=self.width,
            height=self.height,
            channels=self.channels,
            name=name,
            **settings,
            references=sorted(self.req.references),
            outputs=self.outputs,
            layers_in_out=self.req.grade_layers,
        ).validate()

    @property
    def outputs(self) -> list[str]:
        """The layers the daemon sends with each result: for ``--fill-out``/``--matte-out``,
        and both for ``--grade-layers``."""
        wanted = set(self.layers.layers) | (set(GRADE_LAYERS) if self.req.grade_layers else set())
        return [layer for layer in GRADE_LAYERS if layer in wanted]

    def check_remove_not_empty(self) -> None:
        """Find a frame with something to remove before any work is sent (stops at the first);
        warn when that frame's matte covers (nearly) the whole frame: a plate's alpha given as
        the remove matte, which would repaint every pixel."""
        for f in self.frames:
            m = check_matte(read_matte(self.remove.path(f), f, self.remove_sel), "remove", f)
            if (m > 0.5).any():
                coverage = float((m > 0.5).mean())
                if coverage >= FULL_FRAME_COVERAGE:
                    log.warning(
                        "the remove matte %s covers %.0f%% of frame %d: is it the plate's alpha? "
                        "Every pixel would be repainted. Give the matte's own file or channel "
                        "(e.g. --remove PATTERN:remove.a)",
                        self.req.remove,
                        100 * coverage,
                        f,
                    )
                return
        raise VoidError(
            ErrorCode.EMPTY_MATTE,
            f"the remove matte {self.remove.pattern} is empty on every frame {format_ranges(self.frames)}; check the channel or the roto",
            "remove",
        )

    def read_frame(self, frame: int) -> FrameInput:
        img = self._read_plate(frame)
        if img.pixels.shape[:2] != (self.height, self.width):
            raise VoidError(
                ErrorCode.RESOLUTION_MISMATCH,
                f"plate frame {frame} is {img.pixels.shape[1]}x{img.pixels.shape[0]}, the first frame is {self.width}x{self.height}",
                "plate",
            )
        remove = read_matte(self.remove.path(frame), frame, self.remove_sel)
        affected = (
            read_matte(self.affected.path(frame), frame, self.affected_sel)
            if self.affected
            else None
        )
        for name, m in (("remove", remove), ("affected", affected)):
            if m is not None and m.shape != (self.height, self.width):
                raise VoidError(
                    ErrorCode.RESOLUTION_MISMATCH,
                    f"{name} matte frame {frame} is {m.shape[1]}x{m.shape[0]} but the plate is {self.width}x{self.height}",
                    name,
                )
        with self._lock:
            self.specs[frame] = img.spec
        ref = self.req.references.get(frame)
        return FrameInput(
            frame,
            img.pixels,
            remove,
            affected,
            img.channels,
            img.data_window,
            img.display_window,
            reference=read_reference(ref, frame, self.width, self.height) if ref else None,
        )

    def _plate_spec(self, frame: int) -> oiio.ImageSpec:
        with self._lock:
            like = self.specs.get(frame)
        if like is None:  # re-attached session: take the spec from the plate on disk
            like = read_image(self.plate.path(frame), frame, part=self.part).spec
        return like

    def write_layers(self, frame: int, layers: Layers) -> None:
        """``--fill-out``/``--matte-out`` frames, written before the composite; ``--grade-layers``
        keeps them for :meth:`write_result`, which writes them into the frame."""
        if self.req.keep and frame not in self.req.keep:
            return
        if self.layers.layers:
            self.layers.write(frame, layers, self._plate_spec(frame))
        if self.req.grade_layers:
            with self._lock:
                self._graded[frame] = layers

    def write_result(self, frame: int, pixels: np.ndarray) -> None:
        try:
            self._write_result(frame, pixels)
        finally:
            # The frame's plate spec is not needed once its result is written (a resend after a
            # re-attach reads it again): a long shot does not keep one per frame.
            with self._lock:
                self.specs.pop(frame, None)

    def _write_result(self, frame: int, pixels: np.ndarray) -> None:
        if self.req.keep and frame not in self.req.keep:
            return  # a preview's context frame: computed, not written
        if self.on_writing is not None:
            self.on_writing(frame)
        like = self._plate_spec(frame)
        pixels = pixels.astype(np.float16 if _is_half(like) else np.float32, copy=False)
        if self.stash is not None:  # one view of several: assembled once every view is done
            write_image(self.stash.path(frame), pixels)
        else:
            # The plate file's layout: other parts (AOVs, mattes, depth) are copied as they are.
            def write(path: str) -> None:
                write_layout(
                    path,
                    pixels,
                    self.plate.path(frame),
                    self.part,
                    self.view_channels,
                    self.req.out_layer,
                )

            if self.req.grade_layers:
                with self._lock:
                    layers = self._graded.pop(frame, {})
                write_graded(self.out.path(frame), layers, self.part, write)
            else:
                write(self.out.path(frame))
        if self.on_written is not None:
            self.on_written(frame)


def plate_views(req: RemoveRequest) -> list[str]:
    """The views a run processes: ``[]`` for a mono plate (or a part named with ``PATTERN:part/``), else
    ``--view``'s one view or every view of the plate's first frame; for a ``%V``/``%v`` plate
    (one file per view) the views with files on disk."""
    if has_view_token(req.plate):
        from void_client.stereo_job import pattern_views

        return pattern_views(req)
    plate = SequenceRef.parse(req.plate)
    frames = [req.frame_range[0]] if req.frame_range else plate.pattern.scan()[:1]
    if not frames or not os.path.exists(plate.path(frames[0])):
        return []  # SequenceJob says what is missing
    views = file_views(read_specs(plate.path(frames[0]), frames[0], "plate"))
    view = req.view or "all"
    if not views:
        if view != "all":
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"--view {view}: the plate {plate.pattern} is mono (no views); drop --view",
                "view",
            )
        return []
    if plate.channel:
        if view != "all":
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"--plate {req.plate} names a part and --view {view} a view; give one of them",
                "view",
            )
        return []  # the named part alone, as a mono plate
    if view == "all":
        return views
    if view not in views:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--view {view}: the plate has views {', '.join(views)}",
            "view",
        )
    return [view]


def _is_half(spec: oiio.ImageSpec) -> bool:
    fmts = list(spec.channelformats) or [spec.format]
    return all(str(f) == "half" for f in fmts)


def check_writable_folder(folder: str) -> None:
    """Fail before any GPU time is spent when results could not be written (a file in the
    way, a read-only mount, no permission). Probes by creating a file: ``os.access`` is wrong
    for root and for read-only mounts alike."""
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".void-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise VoidError(
            ErrorCode.IO_ERROR, f"cannot write results to {folder}: {exc.strerror or exc}", "out"
        ) from exc


def remove_sequence(
    req: RemoveRequest,
    on_event: Callable[[P.Message], None] | None = None,
    cancel: threading.Event | None = None,
    attach: str = "",
    on_submit: Callable[[str], None] | None = None,
    detach: bool = False,
) -> JobReport:
    """Run a removal job end to end; returns when every output frame is on disk.

    ``on_submit`` gets the job id as soon as the daemon accepted it; ``detach``: return once the
    daemon holds every input frame (the job keeps running; ``void-remove attach`` collects it).
    ``JobReport.frames_missing`` lists requested frames this call did not put in the output.
    """
    views = plate_views(req)
    tokens = (req.remove, req.affected, req.out, req.fill_out, req.matte_out)
    if views or any(has_view_token(t) for t in tokens):
        # One job per view: written back into the plate's layout, or one file per view.
        from void_client.stereo_job import remove_stereo

        return remove_stereo(req, views, on_event, cancel, attach, on_submit, detach)
    seq = SequenceJob(req)
    if not attach:
        seq.check_remove_not_empty()
    check_writable_folder(os.path.dirname(seq.out.path(seq.frames[0])) or ".")
    sweep_stale_temps(seq.out)  # a previous client killed mid-write
    for extra in seq.layers.patterns.values():
        check_writable_folder(os.path.dirname(extra.path(seq.frames[0])) or ".")
        sweep_stale_temps(extra)
    spec = seq.job_spec()
    inputs = [req.plate, req.remove, req.affected]
    wanted = [f for f in seq.frames if f in req.keep] if req.keep else seq.frames
    with (
        claim_output(seq.out, wanted, spec, inputs, req.overwrite, job=attach) as claim,
        seq.layers.claimed(wanted, spec, inputs, req.overwrite, job=attach),
    ):
        seq.on_writing = claim.frame_writing
        seq.on_written = claim.frame_written

        def submitted(job: str) -> None:
            claim.set_job(job)
            seq.layers.set_job(job)
            if on_submit is not None:
                on_submit(job)

        client = connect(req.endpoint, autostart=req.autostart)
        try:
            session = JobSession(
                client,
                None if attach else spec,
                seq.read_frame,
                seq.write_result,
                on_event,
                cancel,
                attach=attach,
                on_submit=submitted,
                detach_after_upload=detach,
                write_layers=seq.write_layers,
            )
            report = session.run()
        except KeyboardInterrupt:
            claim.finish("detached")  # a second Ctrl-C: the job runs on, attach collects it
            seq.layers.finish("detached")
            raise
        finally:
            client.close()
        if report.detached:
            claim.finish("detached")
            seq.layers.finish("detached")
            return report
        have = claim.frames_on_record() | set(report.frames_written)
        report.frames_missing = [f for f in wanted if f not in have]
        if report.frames_missing:
            claim.finish("incomplete")
            seq.layers.finish("incomplete")
    return report
