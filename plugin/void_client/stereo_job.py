"""Stereo plates: one job per view, written back into the plate's own multi-view layout.

Each view is its own daemon job (its part of a one-part-per-view file, or its channels of a
multi-view part) with its own mattes: the matte file's same view, or ``--matte-view``'s. The
views run one after another, their results kept beside the output in a hidden folder; once
every view is done each output frame is written once, with every view and every other part or
channel of the plate copied through (:func:`void_client.sequence.write_edits`). One job per view
is the simple choice: a view's windows share nothing with the other view's, so sharing windows
would save no engine time. See docs/user-guide.md, "Plates we accept".
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable

from void_client import protocol as P
from void_client.client import connect
from void_client.errors import ErrorCode, VoidError
from void_client.output_manifest import claim_output
from void_client.sequence import (
    Edit,
    SequencePattern,
    file_views,
    read_image,
    read_specs,
    sweep_stale_temps,
    write_edits,
)
from void_client.sequence_job import RemoveRequest, SequenceJob, check_writable_folder
from void_client.session import JobReport, JobSession

log = logging.getLogger(__name__)


def _check_mattes_cover_views(seqs: list[SequenceJob], req: RemoveRequest) -> None:
    """A mono matte (no views) is one view's roto: reusing it for every view needs
    ``--matte-view``."""
    if req.matte_view:
        return
    first = seqs[0]
    f0 = first.frames[0]
    for ref, key in ((first.remove, "remove"), (first.affected, "affected")):
        if ref is not None and not file_views(read_specs(ref.path(f0), f0, key)):
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"the {key} matte {ref.pattern} has no views but the plate has "
                f"{', '.join(s.view for s in seqs)}; give a stereo matte, or reuse this one for "
                f"every view with --matte-view {seqs[0].view}, or run one view with --view",
                key,
            )


def remove_views(
    req: RemoveRequest,
    views: list[str],
    on_event: Callable[[P.Message], None] | None = None,
    cancel: threading.Event | None = None,
    on_submit: Callable[[str], None] | None = None,
) -> JobReport:
    """Every view of a stereo plate, one job each; returns when every output frame is on disk."""
    # Every view's plate and mattes are checked before anything is sent.
    seqs = [SequenceJob(req, view) for view in views]
    _check_mattes_cover_views(seqs, req)
    for seq in seqs:
        seq.check_remove_not_empty()
    out = seqs[0].out
    folder = os.path.dirname(out.path(seqs[0].frames[0])) or "."
    check_writable_folder(folder)
    sweep_stale_temps(out)
    frames = [f for f in seqs[0].frames if f in req.keep] if req.keep else seqs[0].frames
    inputs = [req.plate, req.remove, req.affected]
    report = JobReport(job="", frames_written=[], seconds=0.0)
    with claim_output(out, frames, seqs[0].job_spec(), inputs, req.overwrite) as claim:
        work = tempfile.mkdtemp(prefix=f".void-views.{os.path.basename(out.prefix)}", dir=folder)
        try:
            for seq in seqs:
                name = os.path.basename(out.prefix) + seq.view + "."
                seq.stash = SequencePattern(os.path.join(work, name), out.padding, ".exr")

                def submitted(job: str) -> None:
                    claim.set_job(job)
                    if on_submit is not None:
                        on_submit(job)

                client = connect(req.endpoint, autostart=req.autostart)
                try:
                    one = JobSession(
                        client,
                        seq.job_spec(),
                        seq.read_frame,
                        seq.write_result,
                        on_event,
                        cancel,
                        on_submit=submitted,
                    ).run()
                finally:
                    client.close()
                log.info("view %s: job %s, %d frames", seq.view, one.job, len(one.frames_written))
                report.job = one.job
                report.seconds += one.seconds
                report.windows += one.windows
                report.cached_windows += one.cached_windows
                done = set(one.frames_written)
                frames = [f for f in frames if f in done]
            for f in frames:
                edits: list[Edit] = []
                for seq in seqs:
                    assert seq.stash is not None
                    px = read_image(seq.stash.path(f), f).pixels
                    edits.append((seq.part, seq.view_channels, px))
                write_edits(out.path(f), seqs[0].plate.path(f), edits)
                claim.frame_written(f)
                report.frames_written.append(f)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        wanted = [f for f in seqs[0].frames if not req.keep or f in req.keep]
        report.frames_missing = [f for f in wanted if f not in set(report.frames_written)]
        if report.frames_missing:
            claim.finish("incomplete")
    return report
