"""Output manifests: which job wrote which frames of an output sequence, so nothing is mixed.

Beside every output sequence ``<folder>/clean.####.exr`` the client keeps
``<folder>/.clean.####.exr.void-remove.json``: the job id, a hash of the settings that decide the
pixels, the frame range, the frames written, the writer (pid, host) and a state (``writing``,
``complete``, ``cancelled``, ``failed``, ``detached``). Its ``jobs`` list says, for every frame
on disk, which job wrote it. Before a run writes anything it checks that list (see
:func:`claim_output`): frames from another job or other settings are refused unless the user
passes ``--overwrite`` (then the old frames of the range are removed first) or ``--version-up``
(:func:`next_version`). A second writer is stopped by an exclusive ``flock`` on
``.clean.####.exr.void-remove.lock`` held for the whole run. See docs/reliability.md, "Sources and
outputs", and docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.sequence import (
    SequencePattern,
    format_ranges,
    has_view_token,
    scan_views,
    split_at_view,
    split_channel,
    view_glob,
)

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

FORMAT = "void-remove-output/1"
MANIFEST_SUFFIX = ".void-remove.json"
LOCK_SUFFIX = ".void-remove.lock"
#: The manifest is rewritten at most this often while frames land (and always at the end); a
#: writer killed in between is covered by its ``writing`` state (see :func:`_attribution`).
SAVE_INTERVAL_S = 0.5

#: JobSpec fields that do not change a single output pixel (names, ids, how frames travel).
_NOT_PIXELS = {"name", "job_id", "transfer", "out_pattern", "layer_patterns", "frames"}


def _pattern(pattern: str | SequencePattern) -> SequencePattern:
    return pattern if isinstance(pattern, SequencePattern) else SequencePattern.parse(pattern)


def _real_pattern(pattern: str | SequencePattern) -> SequencePattern:
    """The pattern with its folder resolved (symlinks), spelled with ``#``."""
    pat = _pattern(pattern)
    folder, base = os.path.split(os.path.abspath(pat.prefix + "0"))
    return SequencePattern(
        os.path.join(os.path.realpath(folder), base[:-1]), pat.padding, pat.suffix
    )


def _sidecar(pattern: str | SequencePattern, suffix: str) -> Path:
    pat = _real_pattern(pattern)
    folder = os.path.dirname(pat.prefix)
    return Path(folder) / f".{os.path.basename(str(pat))}{suffix}"


def manifest_path(pattern: str | SequencePattern) -> Path:
    """``/shots/out/clean.####.exr`` → ``/shots/out/.clean.####.exr.void-remove.json``."""
    return _sidecar(pattern, MANIFEST_SUFFIX)


def lock_path(pattern: str | SequencePattern) -> Path:
    return _sidecar(pattern, LOCK_SUFFIX)


def read_manifest(pattern: str | SequencePattern) -> dict | None:
    """The manifest, or None when there is none or it cannot be parsed (then frames are unknown)."""
    try:
        data = json.loads(manifest_path(pattern).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def settings_hash(spec: JobSpec, inputs: Sequence[str]) -> str:
    """A short hash of what decides the output pixels: the settings, the frame range (windows
    are planned over it) and the input sequences (real folder, pattern, channel)."""
    fields = {k: v for k, v in dataclasses.asdict(spec).items() if k not in _NOT_PIXELS}
    frames = list(spec.frames)
    fields["frame_range"] = [frames[0], frames[-1], len(frames)] if frames else []
    refs = []
    for text in inputs:
        if not text:
            refs.append("")
            continue
        path, channel = split_channel(text)
        refs.append(f"{_real_pattern(path)}:{channel}")
    fields["inputs"] = refs
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_VERSION = re.compile(r"([._-]?)v(\d+)(?=[._-]*$)", re.IGNORECASE)


def _is_taken(pattern: SequencePattern) -> bool:
    text = str(pattern)
    if has_view_token(text):  # one sequence per view (%V): taken when any view has frames
        # or a manifest (a run that has not written a frame yet), whichever views they are.
        return bool(scan_views(text)) or bool(glob.glob(view_glob(str(manifest_path(text)))))
    return bool(pattern.scan()) or manifest_path(pattern).exists()


def next_version(pattern: str) -> str:
    """The first free ``_v###`` version of ``pattern``, from the version it has (or ``_v001``).

    ``clean_v001.####.exr`` → ``clean_v002.####.exr`` when v001 holds frames;
    ``clean.####.exr`` → ``clean_v001.####.exr``. Spelled with ``#`` whatever the input spelling.
    With a view token: ``clean.%V.####.exr`` → ``clean_v001.%V.####.exr``, taken when any view
    of it is.
    """
    pat = _pattern(pattern)
    folder, base = os.path.split(pat.prefix)
    # A view token (%V) in the name: the version goes on the name before it, so every view's
    # file has it (clean.%V. → clean_v001.%V.); one the artist put after it stays there.
    name, view_part = split_at_view(base)
    m = _VERSION.search(name)
    if not m and view_part and _VERSION.search(base):
        name, view_part, m = base, "", _VERSION.search(base)
    if m:
        head, tail = name[: m.start()] + m.group(1), name[m.end() :] + view_part
        number, width = int(m.group(2)), max(3, len(m.group(2)))
    else:
        stem = name.rstrip("._-")
        head, tail = (stem + "_" if stem else ""), name[len(stem) :] + view_part
        number, width = 1, 3
    while True:
        cand = SequencePattern(
            os.path.join(folder, f"{head}v{number:0{width}d}{tail}"), pat.padding, pat.suffix
        )
        if not _is_taken(cand):
            return str(cand)
        number += 1


def _attribution(manifest: dict | None) -> dict[int, dict]:
    """frame → the manifest's entry for the job that wrote it (newest entry wins)."""
    owner: dict[int, dict] = {}
    if not manifest:
        return owner
    for entry in manifest.get("jobs", []):
        for f in entry.get("frames", []):
            owner[int(f)] = entry
    # A writer killed between writing a frame and saving the manifest: while its state is still
    # `writing`, frames of its range nobody else claims are its own.
    if manifest.get("state") == "writing" and manifest.get("frame_range"):
        first, last = manifest["frame_range"]
        current = next(
            (e for e in manifest.get("jobs", []) if e.get("job") == manifest.get("job")), None
        )
        if current is not None:
            for f in range(int(first), int(last) + 1):
                owner.setdefault(f, current)
    return owner


class OutputClaim:
    """One run's hold on an output sequence: the lock, the manifest, the frames it wrote."""

    def __init__(
        self, pattern: SequencePattern, frames: Sequence[int], digest: str, job: str = ""
    ) -> None:
        self.pattern = pattern
        self.frames = list(frames)
        self.settings_hash = digest
        self.job = job
        self.state = "writing"
        self.written: set[int] = set()
        self.manifest: dict = {}
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        self._last_save = 0.0
        self._dirty = False

    # ------------------------------------------------------------------ lock
    def acquire(self) -> None:
        path = lock_path(self.pattern)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                _lock_exclusive(fd)
            except BlockingIOError:
                break
            # The holder before us unlinks the file as it lets go: if we locked that orphaned
            # inode, the name now points elsewhere (or nowhere). Lock the file that is there.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                self._write_holder()
                self._sweep_stale_temps()
                return
            os.close(fd)
        holder = _read_holder(fd)
        os.close(fd)
        who = ", ".join(
            x
            for x in (
                f"job {holder['job']}" if holder.get("job") else "",
                f"pid {holder['pid']} on {holder['host']}" if holder.get("pid") else "",
            )
            if x
        )
        hint = f"'void-remove cancel {holder['job']}'" if holder.get("job") else "Ctrl-C there"
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"another void-remove ({who or 'unknown writer'}) is writing {self.pattern}; "
            f"wait for it, stop it ({hint}) or choose another --out",
            "out",
        ) from None

    def _sweep_stale_temps(self) -> None:
        """Only the lock holder writes the manifest, so once we hold the lock any temp file of it
        is what a killed writer left mid-write (write_text_atomic names them ``.<manifest>.*.tmp``)."""
        manifest = manifest_path(self.pattern)
        for stale in manifest.parent.glob(f".{glob.escape(manifest.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()

    def release(self) -> None:
        """Unlink the lock file while holding it (so no stale file stays beside the frames),
        then close it, which drops the lock; :meth:`acquire` copes with the unlink."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(lock_path(self.pattern))
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def _write_holder(self) -> None:
        if self._lock_fd is None:
            return
        data = json.dumps(
            {
                "job": self.job,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "out": str(self.pattern),
            }
        ).encode()
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, data, 0)

    # ------------------------------------------------------------------ manifest
    def check(self, overwrite: bool) -> None:
        """Refuse frames on disk from another job or other settings; with ``overwrite`` remove
        the old frames of this run's range first. Called with the lock held."""
        old = read_manifest(self.pattern)
        owner = _attribution(old)
        for e in (old or {}).get("jobs", []):
            if self.job and e.get("job") == self.job and e.get("settings_hash"):
                # Re-attaching: the job's own settings, not the ones this command was given.
                self.settings_hash = e["settings_hash"]
        on_disk = self.pattern.scan()
        foreign: dict[str, list[int]] = {}
        for f in on_disk:
            entry = owner.get(f)
            if entry is not None and (
                entry.get("job") == self.job
                and self.job
                or entry.get("settings_hash") == self.settings_hash
            ):
                continue
            label = (
                f"job {entry.get('job') or '?'} (other settings, {entry.get('state', old.get('state') if old else '?')})"
                if entry is not None
                else "no void-remove job on record"
            )
            foreign.setdefault(label, []).append(f)
        in_range = set(self.frames)
        if foreign and not overwrite:
            parts = "; ".join(
                f"frames {format_ranges(fs)} from {who}" for who, fs in foreign.items()
            )
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"{self.pattern} already holds {parts}; writing this job there would mix two "
                "results. Pass --overwrite to replace them, --version-up to write the next "
                "version, or choose another --out",
                "out",
            )
        jobs = [dict(e) for e in (old or {}).get("jobs", [])]
        if overwrite:
            mine = {f for f in on_disk if owner.get(f, {}).get("job") == self.job and self.job}
            doomed = [f for f in on_disk if f in in_range and f not in mine]
            for f in doomed:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.pattern.path(f))
            if doomed:
                log.warning(
                    "--overwrite: removed %d old frames %s of %s",
                    len(doomed),
                    format_ranges(doomed),
                    self.pattern,
                )
            kept = [f for fs in foreign.values() for f in fs if f not in in_range]
            if kept:
                log.warning(
                    "frames %s of %s are outside this run's range and stay from their old job",
                    format_ranges(kept),
                    self.pattern,
                )
            for e in jobs:
                e["frames"] = [f for f in e.get("frames", []) if f not in in_range or f in mine]
        if (
            old
            and old.get("state") in ("writing", "cancelled", "failed", "detached")
            and not foreign
        ):
            log.warning(
                "%s was left %s by job %s; this run (same settings) completes it",
                self.pattern,
                old.get("state"),
                old.get("job"),
            )
        # Frames of an earlier run of the same job stay attributed to it.
        self.manifest = {
            "format": FORMAT,
            "pattern": str(_real_pattern(self.pattern)),
            "jobs": [e for e in jobs if e.get("frames")],
        }
        if self.job:
            self.written |= {
                f for e in self.manifest["jobs"] if e.get("job") == self.job for f in e["frames"]
            }
        self.save(force=True)

    def set_job(self, job: str) -> None:
        with self._lock:
            self.job = job
        self._write_holder()
        self.save(force=True)

    def frame_written(self, frame: int) -> None:
        with self._lock:
            self.written.add(frame)
            self._dirty = True
        self.save()

    def frame_writing(self, frame: int) -> None:
        """Record ``frame`` as this job's before its file lands, and save at once: a writer killed
        between the frame's rename and a throttled save would otherwise leave a frame of this job
        that the manifest does not know, which a re-attach would report as collected elsewhere.
        :meth:`frames_on_record` counts a recorded frame only once its file exists."""
        with self._lock:
            self.written.add(frame)
            self._dirty = True
        self.save(force=True)

    def frames_on_record(self) -> set[int]:
        """Frames of this sequence written by this job (this run or an earlier one of the same
        job, e.g. before a re-attach) and still on disk."""
        return {f for f in self.written if os.path.exists(self.pattern.path(f))}

    def finish(self, state: str) -> None:
        self.state = state
        self.save(force=True)
        if not any(e.get("frames") for e in self.manifest.get("jobs", [])):
            # Nothing of any job is in this sequence (a run that failed before its first
            # frame): leave the folder as it was, without a manifest.
            with contextlib.suppress(OSError):
                manifest_path(self.pattern).unlink()

    def save(self, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_save < SAVE_INTERVAL_S:
                return
            self._last_save, self._dirty = now, False
            written = sorted(self.written)
            jobs = []
            for e in self.manifest.get("jobs", []):
                if e.get("job") == self.job and self.job:
                    continue
                e = dict(e, frames=[f for f in e.get("frames", []) if f not in self.written])
                if e["frames"]:
                    jobs.append(e)
            jobs.append(
                {
                    "job": self.job,
                    "settings_hash": self.settings_hash,
                    "frames": written,
                    "state": self.state,
                }
            )
            self.manifest["jobs"] = jobs
            self.manifest.update(
                job=self.job,
                settings_hash=self.settings_hash,
                frame_range=[self.frames[0], self.frames[-1]] if self.frames else [],
                frames_written=written,
                state=self.state,
                writer={"pid": os.getpid(), "host": socket.gethostname()},
                updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            )
            text = json.dumps(self.manifest, indent=1) + "\n"
        write_text_atomic(manifest_path(self.pattern), text)


def _lock_exclusive(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # pragma: no cover - Windows: lock the first byte
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            raise BlockingIOError(str(exc)) from exc


def _read_holder(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def claim_output(
    pattern: SequencePattern,
    frames: Sequence[int],
    spec: JobSpec,
    inputs: Sequence[str],
    overwrite: bool = False,
    job: str = "",
) -> Iterator[OutputClaim]:
    """Hold ``pattern`` for one run: lock it, check what is there, keep the manifest current.

    ``job``: the job being re-attached (its earlier frames are its own). On leaving without
    :meth:`OutputClaim.finish` the state says how the run ended.
    """
    claim = OutputClaim(pattern, frames, settings_hash(spec, inputs), job)
    claim.acquire()
    try:
        claim.check(overwrite)
        try:
            yield claim
        except BaseException as exc:
            if claim.state == "writing":
                cancelled = isinstance(exc, KeyboardInterrupt) or (
                    isinstance(exc, VoidError) and exc.code == ErrorCode.CANCELLED
                )
                claim.finish("cancelled" if cancelled else "failed")
            raise
        if claim.state == "writing":
            done = set(claim.frames) <= claim.written
            claim.finish("complete" if done else "failed")
    finally:
        claim.release()
