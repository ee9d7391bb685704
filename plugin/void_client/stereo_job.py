"""Stereo plates: one job per view, written back into the plate's own multi-view layout, or one
file sequence per view with Nuke's ``%V``/``%v`` patterns.

Two layouts (docs/user-guide.md, "Plates we accept"):

* **Views in the plate file** (a part per view, or ``multiView`` channels in one part). Each
  view is its own daemon job with its own mattes (the matte file's same view, a ``%V`` matte
  sequence, or ``--matte-view``'s). The views run one after another, their results kept beside
  the output in a hidden folder; once every view is done each output frame is written once,
  with every view and every other part or channel copied through
  (:func:`void_client.sequence.write_edits`), and ``--out-layer`` added per view.
* **One file per view** (``--plate shot.%V.####.exr``, Nuke's Write convention: ``%V`` the view
  name, ``%v`` its first letter). The views are the ones with files on disk; each view is an
  ordinary mono run on its own files (:func:`void_client.sequence_job.remove_sequence`) with
  every other pattern's ``%V`` filled in. ``--out`` must then say ``%V`` too: a plain output
  would have to merge several files' layouts into one, which we do not guess.

``--fill-out``/``--matte-out`` are per view, so with two views or more they need ``%V``.
One job per view is the simple choice: a view's windows share nothing with the other view's,
so sharing windows would save no engine time. A stereo run's job id is ``left=JOB,right=JOB``
(every view's job): ``--detach`` prints it, ``void-remove attach`` takes it and collects every
view. A second Ctrl-C during one view's job submits the views not sent yet (inputs uploaded,
results left on the daemon) so the printed id still names every view's job.
``%V`` in ``--out`` for a plate with its views in one file stays refused: a file per view would
drop or copy the parts of no view (depth, AOVs) the plate holds once; the message says where
each view lives and how to get the files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import re
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
    LayerAdd,
    SequencePattern,
    SequenceRef,
    channel_view,
    expand_view,
    file_views,
    has_view_token,
    part_name,
    read_image,
    read_specs,
    scan_views,
    split_channel,
    sweep_stale_temps,
    view_place,
    view_selector,
    write_edits,
)
from void_client.sequence_job import (
    RemoveRequest,
    SequenceJob,
    check_writable_folder,
    remove_sequence,
)
from void_client.session import JobReport, JobSession

log = logging.getLogger(__name__)

_OUTPUT_FLAGS = (("--out", "out"), ("--fill-out", "fill_out"), ("--matte-out", "matte_out"))


def format_view_jobs(jobs: dict[str, str]) -> str:
    """``{"left": "a1", "right": "b2"}`` → ``left=a1,right=b2`` (a stereo run's job id)."""
    return ",".join(f"{view}={job}" for view, job in jobs.items())


def parse_view_jobs(text: str, views: list[str], example: str = "") -> dict[str, str]:
    """``left=a1,right=b2`` → view → job; a plain job id is refused, saying the form."""
    form = ",".join(f"{v}=JOB" for v in views)
    if "=" not in text:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"the plate has views {', '.join(views)}, one job each; job {text} is one of them. "
            f"Attach to every view's job with 'void-remove attach {form} ...' (the id "
            "'void-remove run' printed; 'void-remove jobs' lists the jobs)",
            "job",
        )
    jobs: dict[str, str] = {}
    for item in text.split(","):
        view, _, job = item.strip().partition("=")
        if not view or not job:
            raise VoidError(ErrorCode.BAD_SPEC, f"{text!r}: give the jobs as {form}", "job")
        jobs[view] = job
    unknown = [v for v in jobs if v not in views]
    if unknown:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"{text!r} names view {', '.join(unknown)}; the plate has views {', '.join(views)}",
            "job",
        )
    return jobs


def pattern_views(req: RemoveRequest) -> list[str]:
    """The views a ``%V``/``%v`` plate's run processes: every view with files on disk, or
    ``--view``'s one (an error lists the views that exist)."""
    path, _ = split_channel(req.plate)
    views = scan_views(path)
    if not views:
        raise VoidError(
            ErrorCode.MISSING_FRAMES,
            f"no files match {path} for any view; Nuke's %V stands for the view name "
            "(shot.left.1001.exr), %v for its first letter (shot.l.1001.exr)",
            "plate",
        )
    view = req.view or "all"
    if view == "all":
        return views
    # A %v plate's ``l`` files are view ``left``; ``--view l`` names it too.
    view = next((v for v in views if v == view), None) or next(
        (v for v in views if len(view) == 1 and v[:1] == view), view
    )
    if view not in views:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--view {view}: the plate {path} has files for views {', '.join(views)}",
            "view",
        )
    return [view]


def _first_frame(pattern: str, req: RemoveRequest) -> int | None:
    if req.frame_range:
        return req.frame_range[0]
    found = SequenceRef.parse(pattern).pattern.scan()
    return found[0] if found else None


def _view_matte(
    req: RemoveRequest, key: str, text: str, view: str, frame: int | None, files: bool
) -> str:
    """A matte for one view: a ``%V`` sequence filled in (its files must exist), the view's
    selector in a stereo matte file (one file per view plate), or a mono matte as it is, which
    needs ``--matte-view`` when the plate has several views."""
    if not text:
        return ""
    wanted = req.matte_view or view
    if has_view_token(text):
        one = expand_view(text, wanted)
        if frame is not None and not os.path.exists(SequenceRef.parse(one).path(frame)):
            have = scan_views(text)
            if have:
                raise VoidError(
                    ErrorCode.BAD_SPEC,
                    f"the {key} matte {split_channel(text)[0]} has no files for view {wanted!r} "
                    f"(its views on disk: {', '.join(have)}); give that view's matte, or reuse "
                    f"one for every view with --matte-view {have[0]}",
                    key,
                )
        return one
    if frame is None:
        return text
    ref = SequenceRef.parse(text)
    if not os.path.exists(ref.path(frame)):
        return text  # SequenceJob names the missing frames
    specs = read_specs(ref.path(frame), frame, key)
    if file_views(specs):
        if not files:
            return text  # SequenceJob picks the view in the plate's own stereo layout
        sel = view_selector(specs, ref.channel or "A", wanted, f"{key} frame {frame}")
        return f"{split_channel(text)[0]}:{sel}"
    return text


def _check_mono_mattes(req: RemoveRequest, views: list[str], frame: int | None) -> None:
    """A mono matte (no views, no ``%V``) is one view's roto: reusing it for every view needs
    ``--matte-view``."""
    if req.matte_view or len(views) < 2 or frame is None:
        return
    for key, text in (("remove", req.remove), ("affected", req.affected)):
        if not text or has_view_token(text):
            continue
        ref = SequenceRef.parse(text)
        if os.path.exists(ref.path(frame)) and not file_views(read_specs(ref.path(frame), frame)):
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"the {key} matte {ref.pattern} has no views but the plate has "
                f"{', '.join(views)}; give a stereo matte (or a %V sequence), or reuse this one "
                f"for every view with --matte-view {views[0]}, or run one view with --view",
                key,
            )


def _check_outputs(req: RemoveRequest, views: list[str], files: bool) -> None:
    """Where each view goes must be said: refuse what would merge or split layouts."""
    for flag, attr in _OUTPUT_FLAGS:
        pattern = getattr(req, attr)
        if not pattern:
            continue
        tokened = has_view_token(pattern)
        if tokened and not files and attr == "out":
            raise _split_refused(req, pattern, views)
        if not tokened and len(views) > 1 and (files or attr != "out"):
            name = os.path.basename(pattern)
            stem, dot, rest = name.partition(".")
            hint = f"{stem}.%V.{rest}" if dot else f"{name}.%V"
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"{flag} {pattern} has no view variable but views {', '.join(views)} each write "
                f"their own {'files' if attr == 'out' else 'sequence'}; put %V (the view name) "
                f"or %v (its first letter) in {flag}, e.g. {hint}, or run one view with --view",
                attr,
            )


def _split_refused(req: RemoveRequest, pattern: str, views: list[str]) -> VoidError:
    """``--out`` with ``%V`` for a plate holding its views in one file: refused. One file per
    view would have to drop or duplicate what belongs to no view (a depth part, AOVs, the
    mattes), which the plate holds once for every view: a guess about the layout we do not
    make. The message names where each view lives and says how to get the files."""
    plain = re.sub(r"[._-]?%[Vv]", "", pattern).replace(os.sep * 2, os.sep)
    where = ""
    frame = _first_frame(req.plate, req)
    ref = SequenceRef.parse(req.plate)
    if frame is not None and os.path.exists(ref.path(frame)):
        specs = read_specs(ref.path(frame), frame)
        places = []
        for view in views:
            place = view_place(specs, view, "plate")
            if place.channels is None:
                places.append(f"{view}: part {part_name(specs[place.part], place.part)}")
            else:
                chans = [specs[0].channelnames[i] for i in place.channels]
                places.append(f"{view}: channels {', '.join(chans)}")
        if len(specs) > 1:
            none = [
                part_name(s, i) for i, s in enumerate(specs) if not s.get_string_attribute("view")
            ]
            places += [f"no view: part {', '.join(none)}"] if none else []
        else:
            none = [n for n in specs[0].channelnames if not channel_view(n, file_views(specs))]
            places += [f"no view: channels {', '.join(none)}"] if none else []
        where = f" ({'; '.join(places)})"
    return VoidError(
        ErrorCode.BAD_SPEC,
        f"--out {pattern} has a view variable (%V) but the plate {req.plate} holds its views "
        f"in one file{where}; a file per view would drop or copy what belongs to no view, so it "
        f"is not split here. Give a plain --out such as {plain} (every view in one file, the "
        "plate's layout kept), then write one file per view from it (Nuke: Read it, Write "
        f"with %V in the name); --view {views[0]} computes one view, written the same way",
        "out",
    )


def first_view_request(req: RemoveRequest) -> RemoveRequest:
    """For a ``%V``/``%v`` plate, its first view's request (``--view``'s, else the first with
    files): what its frame count and checks come from. Any other request as it is."""
    if not has_view_token(split_channel(req.plate)[0]):
        return req
    view = pattern_views(req)[0]
    return view_request(req, view, True, None)


def view_request(req: RemoveRequest, view: str, files: bool, frame: int | None) -> RemoveRequest:
    """The request of one view: every ``%V``/``%v`` filled in, mattes made that view's."""
    plate = expand_view(req.plate, view)
    first = _first_frame(plate, req) if files else frame
    return dataclasses.replace(
        req,
        plate=plate,
        remove=_view_matte(req, "remove", req.remove, view, first, files),
        affected=_view_matte(req, "affected", req.affected, view, first, files),
        out=expand_view(req.out, view),
        fill_out=expand_view(req.fill_out, view),
        matte_out=expand_view(req.matte_out, view),
        view="all" if files else view,
    )


def remove_stereo(
    req: RemoveRequest,
    views: list[str],
    on_event: Callable[[P.Message], None] | None = None,
    cancel: threading.Event | None = None,
    attach: str = "",
    on_submit: Callable[[str], None] | None = None,
    detach: bool = False,
) -> JobReport:
    """Every view of a stereo plate (``views``, from :func:`void_client.sequence_job.plate_views`),
    one job each; returns when every output frame is on disk (or, ``detach``, once the daemon
    holds every view's inputs). ``attach``: ``left=JOB,right=JOB``, the views' jobs."""
    files = has_view_token(req.plate)
    if not views:
        flag, pattern = next(
            (f, getattr(req, a))
            for f, a in (*_OUTPUT_FLAGS, ("--remove", "remove"), ("--affected", "affected"))
            if has_view_token(getattr(req, a))
        )
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"{flag} {pattern} has a view variable (%V/%v) but the plate {req.plate} has no "
            "views (mono); drop the variable",
            "view",
        )
    jobs = parse_view_jobs(attach, views) if attach else {}
    if jobs:  # in the plate's order: the id is the one the run recorded in the manifest
        views = [v for v in views if v in jobs]
        jobs = {v: jobs[v] for v in views}
    _check_outputs(req, views, files)
    if not files and getattr(req, "grade_layers", False):
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--grade-layers is not available for a plate with its views in one file (views: "
            f"{', '.join(views)}); write them per view with --fill-out fill.%V.####.exr "
            "--matte-out matte.%V.####.exr",
            "grade_layers",
        )
    frame = None if files else _first_frame(req.plate, req)
    _check_mono_mattes(req, views, _first_frame(expand_view(req.plate, views[0]), req))
    reqs = {v: view_request(req, v, files, frame) for v in views}
    run = _ViewRun(on_event, cancel, jobs, on_submit, detach)
    if files:
        return _remove_view_files(reqs, run)
    return _remove_views(req, reqs, run)


@dataclasses.dataclass
class _ViewRun:
    """How the caller follows a stereo run, for either way of running its views."""

    on_event: Callable[[P.Message], None] | None
    cancel: threading.Event | None
    jobs: dict[str, str]  # view -> job id, when attaching
    on_submit: Callable[[str], None] | None
    detach: bool


def _remove_view_files(
    reqs: dict[str, RemoveRequest],
    run: _ViewRun,
) -> JobReport:
    """One file sequence per view: each view an ordinary mono run on its own files."""
    on_event, cancel, jobs = run.on_event, run.cancel, run.jobs
    on_submit, detach = run.on_submit, run.detach
    # Every view's plate, mattes and outputs are checked before anything is sent.
    for r in reqs.values():
        seq = SequenceJob(r)
        if not jobs:
            seq.check_remove_not_empty()
    ids: dict[str, str] = {}
    report = JobReport(job="", frames_written=[], seconds=0.0, detached=detach)
    written: set[int] | None = None
    missing: set[int] = set()

    def submitted(view: str, job: str) -> None:
        ids[view] = job
        if on_submit is not None:
            on_submit(format_view_jobs(ids))

    def send_rest(rest: list[str]) -> None:
        for view in rest:
            if view in jobs:
                submitted(view, jobs[view])
            else:  # its inputs uploaded, its frames left on the daemon for attach
                remove_sequence(
                    reqs[view], on_submit=functools.partial(submitted, view), detach=True
                )

    for n, (view, r) in enumerate(reqs.items()):
        try:
            one = remove_sequence(
                r,
                on_event,
                cancel,
                attach=jobs.get(view, ""),
                on_submit=functools.partial(submitted, view),
                detach=detach,
            )
        except KeyboardInterrupt:
            _leave_running(r.endpoint, ids.get(view, ""), list(reqs)[n + 1 :], send_rest)
            raise
        ids[view] = one.job
        log.info("view %s: job %s, %d frames", view, one.job, len(one.frames_written))
        report.seconds += one.seconds
        report.windows += one.windows
        report.cached_windows += one.cached_windows
        report.detached = report.detached and one.detached
        written = set(one.frames_written) if written is None else written & set(one.frames_written)
        missing |= set(one.frames_missing)
    report.job = format_view_jobs(ids)
    report.frames_written = sorted(written or ())
    report.frames_missing = sorted(missing)
    return report


def _leave_running(
    endpoint: str, job: str, rest: list[str], send: Callable[[list[str]], None]
) -> None:
    """A second Ctrl-C in one view's job leaves the run going: unless that job was cancelled
    already (the first Ctrl-C's cancel got through), ``send`` submits the views ``rest`` not
    sent yet (inputs uploaded, nothing waited for), so the printed attach id names every
    view's job. A third Ctrl-C, or a daemon that refuses, stops there: the id names the views
    sent so far."""
    if not rest or not job:
        return
    try:
        client = connect(endpoint, autostart=False)
        try:
            if client.status(job)[0].get("state") == "cancelled":
                return
        finally:
            client.close()
        send(rest)
    except KeyboardInterrupt:
        log.warning("interrupted again: views %s were not submitted", ", ".join(rest))
    except VoidError as exc:
        log.warning("views %s were not submitted: %s", ", ".join(rest), exc.message)


def _send_detached(
    req: RemoveRequest,
    seqs: list[SequenceJob],
    jobs: dict[str, str],
    submitted: Callable[[SequenceJob, str], None],
    views: list[str],
) -> None:
    """Submit these views' jobs and upload their inputs, leaving every result on the daemon:
    a result that arrives meanwhile is refused (never acknowledged), so attach gets it."""

    def not_now(frame: int, px: object) -> None:
        raise _ResultNotWanted(frame)

    for seq in (s for s in seqs if s.view in views):
        if seq.view in jobs:
            submitted(seq, jobs[seq.view])
            continue
        spec = seq.job_spec()
        spec.name = f"{spec.name}.{seq.view}"
        client = connect(req.endpoint, autostart=False)
        try:
            JobSession(
                client,
                spec,
                seq.read_frame,
                not_now,
                on_submit=functools.partial(submitted, seq),
                detach_after_upload=True,
            ).run()
        except _ResultNotWanted:
            pass  # the job and its inputs are on the daemon: attach resends the inputs it lacks
        finally:
            client.close()


class _ResultNotWanted(Exception):
    """A result of a job submitted only to be attached to later."""


def _remove_views(
    req: RemoveRequest,
    reqs: dict[str, RemoveRequest],
    run: _ViewRun,
) -> JobReport:
    """Views in the plate file: a job per view, the output written once every view is done."""
    on_event, cancel, jobs = run.on_event, run.cancel, run.jobs
    on_submit, detach = run.on_submit, run.detach
    # Every view's plate and mattes are checked before anything is sent.
    seqs = [SequenceJob(r, view) for view, r in reqs.items()]
    if not jobs:
        for seq in seqs:
            seq.check_remove_not_empty()
    out = seqs[0].out
    folder = os.path.dirname(out.path(seqs[0].frames[0])) or "."
    check_writable_folder(folder)
    sweep_stale_temps(out)
    for seq in seqs:
        for extra in seq.layers.patterns.values():
            check_writable_folder(os.path.dirname(extra.path(seq.frames[0])) or ".")
            sweep_stale_temps(extra)
    wanted = [f for f in seqs[0].frames if f in req.keep] if req.keep else seqs[0].frames
    frames = list(wanted)
    inputs = [req.plate, req.remove, req.affected]
    ids: dict[str, str] = {}
    report = JobReport(job="", frames_written=[], seconds=0.0)
    spec0 = seqs[0].job_spec()
    combined = format_view_jobs(jobs)
    with (
        claim_output(out, wanted, spec0, inputs, req.overwrite, job=combined) as claim,
        contextlib.ExitStack() as layers,
    ):
        for seq in seqs:
            layers.enter_context(
                seq.layers.claimed(
                    wanted, seq.job_spec(), inputs, req.overwrite, job=jobs.get(seq.view, "")
                )
            )
        work = tempfile.mkdtemp(prefix=f".void-views.{os.path.basename(out.prefix)}", dir=folder)
        try:

            def submitted_view(seq: SequenceJob, job: str) -> None:
                ids[seq.view] = job
                claim.set_job(format_view_jobs(ids))
                seq.layers.set_job(job)
                if on_submit is not None:
                    on_submit(format_view_jobs(ids))

            for seq in seqs:
                name = os.path.basename(out.prefix) + seq.view + "."
                seq.stash = SequencePattern(os.path.join(work, name), out.padding, ".exr")

                def submitted(job: str, seq: SequenceJob = seq) -> None:
                    submitted_view(seq, job)

                spec = seq.job_spec()
                spec.name = f"{spec.name}.{seq.view}"  # `void-remove jobs` tells the views apart
                client = connect(req.endpoint, autostart=req.autostart)
                try:
                    one = JobSession(
                        client,
                        None if jobs else spec,
                        seq.read_frame,
                        seq.write_result,
                        on_event,
                        cancel,
                        attach=jobs.get(seq.view, ""),
                        on_submit=submitted,
                        detach_after_upload=detach,
                        write_layers=seq.write_layers,
                    ).run()
                except KeyboardInterrupt:
                    # A second Ctrl-C: the jobs run on and attach collects them; the views not
                    # sent yet get their jobs too, so the attach id can name every view's.
                    rest = seqs[seqs.index(seq) + 1 :]
                    _leave_running(
                        req.endpoint,
                        ids.get(seq.view, ""),
                        [s.view for s in rest],
                        functools.partial(_send_detached, req, rest, jobs, submitted_view),
                    )
                    claim.finish("detached")
                    raise
                finally:
                    client.close()
                ids[seq.view] = one.job
                log.info("view %s: job %s, %d frames", seq.view, one.job, len(one.frames_written))
                report.seconds += one.seconds
                report.windows += one.windows
                report.cached_windows += one.cached_windows
                done = set(one.frames_written)
                frames = [f for f in frames if f in done]
            report.job = format_view_jobs(ids)
            if detach:
                claim.finish("detached")
                for seq in seqs:
                    seq.layers.finish("detached")
                report.detached = True
                return report
            for f in frames:
                edits: list[Edit] = []
                adds: list[LayerAdd] = []
                for seq in seqs:
                    assert seq.stash is not None
                    px = read_image(seq.stash.path(f), f).pixels
                    if req.out_layer:
                        adds.append((seq.part, seq.view_channels, req.out_layer, px))
                    else:
                        edits.append((seq.part, seq.view_channels, px))
                claim.frame_writing(f)
                write_edits(out.path(f), seqs[0].plate.path(f), edits, adds)
                claim.frame_written(f)
                report.frames_written.append(f)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        have = claim.frames_on_record() | set(report.frames_written)
        report.frames_missing = [f for f in wanted if f not in have]
        if report.frames_missing:
            claim.finish("incomplete")
            for seq in seqs:
                seq.layers.finish("incomplete")
    return report
