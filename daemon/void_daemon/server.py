"""The daemon: a ZeroMQ ROUTER service that receives frames, runs windows and streams results.

Threads (the engine never waits on I/O):

* **I/O loop** — owns the ROUTER socket; decodes and validates headers, answers small
  requests, forwards outgoing messages that other threads queue on an inproc PULL socket.
* **receivers** (pool) — build and check quadmasks, store inputs atomically, grant credit.
* **scheduler** — one compute thread: picks the next ready window round-robin across jobs
  (fair queue), runs the engine.
* **finisher** — seam-blends and composites finished frames, stores them, streams results
  within the client's result credit.

Robustness (see ``docs/reliability.md``): every size a client declares is checked against
:class:`Limits` before anything is allocated or stored; an exception in one request or job
never reaches the threads; results go out only within the client's result credit (capped in
bytes), and a client that stops reading gets its must-deliver messages held in a bounded
per-client backlog while its progress messages are dropped, so a slow reader cannot make the
daemon buffer without bound. Security (``docs/security.md``): optional CurveZMQ with a ZAP
handler, jobs owned by the authenticated key, path mode confined to ``--allow-root`` folders.
"""

from __future__ import annotations

import errno
import importlib.util
import logging
import os
import shutil
import signal
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zmq

from void_client import protocol as P
from void_client.curvezmq import CurveKeys, apply_server
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.quadmask import build_quadmask
from void_client.sequence import (
    SequencePattern,
    open_image,
    read_image,
    read_matte,
    split_channel,
    write_image,
)
from void_client.sequence_job import check_writable_folder
from void_client.windows import plan_windows
from void_daemon import __version__, timings
from void_daemon.cache import WindowCache
from void_daemon.engines import Engine, EngineConfig, capabilities, engine_class, load_engine
from void_daemon.jobs import FINAL_STATES, Job, JobStore
from void_daemon.runner import JobRunner, check_job_has_hole

log = logging.getLogger(__name__)

OUTBOX = "inproc://void-daemon-outbox"
#: Input frames a client may have in flight per job (bounds daemon memory).
INPUT_CREDIT = 8
MAX_RESULT_CREDIT = 64
PROGRESS_INTERVAL_S = 0.25
#: First frame of every message queued for the I/O loop: may it be dropped for a slow reader?
DROPPABLE, MUST_DELIVER = b"p", b"m"
#: How often the I/O loop retries the backlog of a client that stopped reading.
BACKLOG_RETRY_S = 0.05


@dataclass
class Limits:
    """What one request may commit the daemon to; checked before anything is allocated or stored."""

    #: Frames in one job (a one-hour shot at 24 fps is 86,400).
    max_job_frames: int = 100_000
    #: The job's inputs and outputs on disk, estimated from its declared size at 4 bytes a channel.
    max_job_bytes: int = 256 << 30
    #: Jobs queued or running at once, all clients together.
    max_active_jobs: int = 64
    #: frames x windows: the finisher's per-window bookkeeping grows with this product, so a
    #: tiny window over a huge range is refused instead of stalling the daemon.
    max_plan_cost: int = 20_000_000
    #: Results sent but not yet acknowledged, per job, in bytes (at least one frame is allowed).
    max_inflight_result_bytes: int = 256 << 20
    #: Must-deliver messages held for one client that is not reading; beyond it the client is
    #: treated as gone (its results are resent when it re-attaches).
    max_backlog_messages: int = 10_000
    #: Messages ZeroMQ queues per client before a send would block (ZMQ_SNDHWM); past it the
    #: daemon holds must-deliver messages in its backlog and drops progress.
    send_hwm: int = 1000


class Daemon:
    def __init__(
        self,
        endpoint: str = P.DEFAULT_ENDPOINT,
        jobs_dir: str | os.PathLike = "~/.cache/void-remove/jobs",
        engine_config: EngineConfig | None = None,
        allowed_roots: list[str] | None = None,
        extra_endpoints: list[str] | None = None,
        limits: Limits | None = None,
        curve: CurveKeys | None = None,
        authorized_keys: str | os.PathLike | None = None,
    ) -> None:
        """``curve``: the daemon's key pair; with it every endpoint requires CurveZMQ and only
        client keys found in the ``authorized_keys`` folder are served (ZAP handler)."""
        self.endpoints = [endpoint, *(extra_endpoints or [])]
        self.store = JobStore(jobs_dir)
        self.cache = WindowCache(self.store.cache_dir)
        self.engine_config = engine_config or EngineConfig()
        self.allowed_roots = [
            os.path.realpath(os.path.expanduser(r)) for r in (allowed_roots or [])
        ]
        self.limits = limits or Limits()
        self.curve = curve
        self.authorized_keys = authorized_keys
        if curve is not None and not authorized_keys:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                "CurveZMQ needs a folder of authorized client public keys",
                "curve",
            )
        # A context of its own: the ZAP handler and the inproc outbox are per context.
        self.ctx = zmq.Context()
        self.queue: list[str] = []
        self.runners: dict[str, JobRunner] = {}
        self.engines: dict[str, Engine] = {}
        self.running: dict[str, int] = {}
        self.resumed_finish: set[str] = set()  # job id -> window index in the engine now
        self.window_times: dict[str, list[float]] = {}
        self.last_progress: dict[str, float] = {}
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.receivers = ThreadPoolExecutor(2, thread_name_prefix="void-recv")
        self.finisher = ThreadPoolExecutor(1, thread_name_prefix="void-finish")
        self._local = threading.local()
        self._gpu: dict[str, Any] = {"gpu": "", "vram_free": 0}
        #: Fair queue: the turn at which each job last had a window run (least recent goes next).
        self._turn: dict[str, int] = {}
        self._turns = 0
        #: Per client identity: must-deliver messages waiting for a client that is not reading.
        self._backlog: dict[bytes, deque] = {}

    # ------------------------------------------------------------------ lifecycle
    def serve_forever(self) -> None:
        auth = None
        router = self.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_BYTES)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a re-attaching client may reuse its identity
        # Sends to a vanished client raise instead of vanishing, and with NOBLOCK a full pipe
        # (SNDHWM: the client is not reading) raises too: see _forward.
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.SNDHWM, self.limits.send_hwm)
        # ZMTP heartbeats: a client whose machine vanished (no FIN, no RST) is disconnected after
        # 30 s, so its messages stop queueing and its results wait for a re-attach instead.
        router.setsockopt(zmq.HEARTBEAT_IVL, 5_000)
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 30_000)
        if self.curve is not None:
            from zmq.auth.thread import ThreadAuthenticator

            auth = ThreadAuthenticator(self.ctx, log=logging.getLogger("void_daemon.zap"))
            auth.start()
            auth.configure_curve(domain="*", location=str(self.authorized_keys))
            apply_server(router, self.curve)
        for ep in self.endpoints:
            _bind(router, ep)
        pull = self.ctx.socket(zmq.PULL)
        pull.bind(OUTBOX)
        for job in sorted(
            self.store.load_unfinished(), key=lambda j: j.created
        ):  # the queue's order survives a restart
            log.info(
                "resuming job %s (%d/%d frames received, %d windows done)",
                job.id,
                len(job.received),
                job.n,
                len(job.windows_done),
            )
            self.queue.append(job.id)
        threading.Thread(target=self._detect_gpu, daemon=True).start()
        scheduler = threading.Thread(target=self._schedule_loop, name="void-scheduler", daemon=True)
        scheduler.start()
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        log.info(
            "void-daemon %s serving on %s, jobs in %s",
            __version__,
            ", ".join(self.endpoints),
            self.store.root,
        )
        self.ready.set()
        try:
            while not self.stopping.is_set():
                events = dict(poller.poll(int(BACKLOG_RETRY_S * 1000) if self._backlog else 100))
                if self._backlog:
                    self._retry_backlog(router)
                if pull in events:
                    for _ in range(64):
                        try:
                            self._forward(router, pull.recv_multipart(zmq.NOBLOCK, copy=False))
                        except zmq.Again:
                            break
                if router in events:
                    for _ in range(16):
                        try:
                            parts = router.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._dispatch(parts[0].bytes, parts[1:])
        finally:
            self.stopping.set()
            with self.cond:
                self.cond.notify_all()
            self.receivers.shutdown(wait=True, cancel_futures=True)
            self.finisher.shutdown(wait=True, cancel_futures=True)
            scheduler.join(timeout=10)
            router.close(0)
            pull.close(0)
            if auth is not None:
                auth.stop()
            for engine in self.engines.values():
                engine.close()
            self.ctx.destroy(0)  # the pool threads' outbox sockets

    def stop(self) -> None:
        self.stopping.set()

    def _detect_gpu(self) -> None:
        if importlib.util.find_spec("torch") is None:
            return
        try:
            import torch

            if torch.cuda.is_available():
                free, _ = torch.cuda.mem_get_info()
                self._gpu = {"gpu": torch.cuda.get_device_name(0), "vram_free": int(free)}
            elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
                self._gpu = {"gpu": "Apple MPS", "vram_free": 0}
        except Exception:
            log.exception("GPU detection failed")

    # ------------------------------------------------------------------ sending
    def send(self, ident: bytes, msg: P.Message) -> None:
        """Thread-safe: every thread gets its own PUSH socket into the I/O loop."""
        if not ident:
            return
        sock = getattr(self._local, "push", None)
        if sock is None:
            sock = self.ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(OUTBOX)
            self._local.push = sock
        # Progress is superseded by the next one; everything else (results, credit, errors,
        # replies) must reach the client or be resent.
        kind = DROPPABLE if isinstance(msg, P.Progress) else MUST_DELIVER
        sock.send_multipart([ident, kind, *P.encode(msg)], copy=False)

    # The three methods below run on the I/O thread only (they own the ROUTER socket).
    def _forward(self, router: zmq.Socket, parts: list) -> None:
        ident, kind, frames = parts[0].bytes, parts[1].bytes, [parts[0], *parts[2:]]
        if ident in self._backlog:  # keep order behind what already waits for this client
            self._hold(ident, kind, frames)
            return
        try:
            router.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:  # the client's pipe is at SNDHWM: it is not reading
            self._hold(ident, kind, frames)
        except zmq.ZMQError as exc:
            if exc.errno != errno.EHOSTUNREACH:
                raise
            self._drop(ident, [frames])  # the client went away; attach resends its results

    def _hold(self, ident: bytes, kind: bytes, frames: list) -> None:
        if kind == DROPPABLE:
            return
        backlog = self._backlog.setdefault(ident, deque())
        backlog.append(frames)
        if len(backlog) > self.limits.max_backlog_messages:
            log.warning(
                "client %s reads nothing and has %d messages waiting; treating it as gone",
                ident.hex(),
                len(backlog),
            )
            self._drop(ident, list(self._backlog.pop(ident)))

    def _retry_backlog(self, router: zmq.Socket) -> None:
        for ident in list(self._backlog):
            backlog = self._backlog[ident]
            while backlog:
                try:
                    router.send_multipart(backlog[0], flags=zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                except zmq.ZMQError as exc:
                    if exc.errno != errno.EHOSTUNREACH:
                        raise
                    self._drop(ident, list(backlog))
                    backlog.clear()
                    break
                backlog.popleft()
            if not backlog:
                del self._backlog[ident]

    def _drop(self, ident: bytes, messages: list[list]) -> None:
        """Results that never left are no longer in flight: a later pump or attach resends them."""
        for frames in messages:
            try:
                head = msgpack.unpackb(
                    frames[1].bytes if hasattr(frames[1], "bytes") else bytes(frames[1]), raw=False
                )
                if head.get("type") != "result" or not head.get("images"):
                    continue
                job = self.store.jobs.get(head.get("job", ""))
                if job is None:
                    continue
                with job.lock:
                    job.inflight.difference_update(
                        job.position(int(d["frame"])) for d in head["images"]
                    )
            except Exception:  # bookkeeping only: never let it stop the I/O loop
                log.exception("could not account for an undelivered message")

    def _error(self, ident: bytes, exc: VoidError, job: str = "", req: int = 0) -> None:
        log.info("refused: %s", exc)
        self.send(ident, P.Error.from_exception(exc, job=job, id=req))

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, ident: bytes, parts: list) -> None:
        try:
            msg = P.decode(parts)
        except VoidError as exc:
            self._error(ident, exc, *_request_of(parts))  # so the client's pending request gets it
            return
        except (
            Exception
        ) as exc:  # decode is meant to raise VoidError only; never die of a bug in it
            log.exception("internal error decoding a message")
            self._error(
                ident,
                VoidError(
                    ErrorCode.INTERNAL,
                    f"internal error decoding the message: {exc.__class__.__name__}",
                ),
            )
            return
        handler = getattr(self, f"_on_{msg.TYPE}", None)
        try:
            if handler is None:
                raise VoidError(
                    ErrorCode.UNKNOWN_TYPE,
                    f"a daemon does not accept {msg.TYPE!r} messages",
                    "type",
                )
            handler(ident, msg, _peer_user(parts[0]))
        except VoidError as exc:
            self._error(ident, exc, msg.job, msg.id)
        except Exception as exc:  # the daemon keeps serving whatever one request does
            log.exception("internal error handling %s", msg.TYPE)
            self._error(
                ident,
                VoidError(ErrorCode.INTERNAL, f"internal error: {exc.__class__.__name__}: {exc}"),
                msg.job,
                msg.id,
            )

    def _job(self, job_id: str, user: str) -> Job:
        """The job, if ``user`` may touch it: with CurveZMQ, jobs belong to the submitting key.
        Another key is told the job does not exist, which leaks nothing about other clients."""
        job = self.store.get(job_id)
        if job.user != user:
            raise VoidError(
                ErrorCode.UNKNOWN_JOB,
                f"no job {job_id!r} on this daemon for this client key",
                "job",
            )
        return job

    def _on_hello(self, ident: bytes, msg: P.Hello, user: str) -> None:
        self.send(
            ident,
            P.Hello(
                id=msg.id,
                daemon_version=__version__,
                engines=capabilities(self.engine_config),
                gpu=self._gpu["gpu"],
                vram_free=self._gpu["vram_free"],
                queue_length=len(self._active()),
            ),
        )

    def _on_submit(self, ident: bytes, msg: P.Submit, user: str) -> None:
        spec = JobSpec.from_dict(msg.spec)
        self._check_limits(spec)
        ok, reason = engine_class(spec.engine).availability(self.engine_config)
        if not ok:
            code = (
                ErrorCode.WEIGHTS_MISSING
                if "weights" in reason.lower()
                else ErrorCode.ENGINE_UNAVAILABLE
            )
            raise VoidError(
                code, f"engine {spec.engine!r} cannot run on this daemon: {reason}", "engine"
            )
        if spec.transfer == "paths":
            out = SequencePattern.parse(spec.out_pattern)
            folder = self._check_path(
                os.path.dirname(out.path(spec.frames[0])) or ".", "out_pattern"
            )
            check_writable_folder(folder)  # refuse now, not after the GPU time
        job = self.store.create(spec, user)
        job.owner = ident
        job.result_credit = max(1, min(msg.result_credit, MAX_RESULT_CREDIT))
        job.input_credit = job.n if spec.transfer == "paths" else min(INPUT_CREDIT, job.n)
        with self.cond:
            self.queue.append(job.id)
            self.cond.notify_all()
        log.info(
            "job %s: %d frames %dx%d, engine %s, %d windows",
            job.id,
            job.n,
            spec.width,
            spec.height,
            spec.engine,
            self._runner_windows(job),
        )
        self.send(
            ident,
            P.Ack(
                job=job.id,
                id=msg.id,
                credit=job.input_credit,
                queue_position=self._position(job.id),
            ),
        )

    def _check_limits(self, spec: JobSpec) -> None:
        """Refuse what this daemon cannot hold, from the declared sizes alone."""
        lim = self.limits
        n, c = len(spec.frames), len(spec.channels)
        if n > lim.max_job_frames:
            raise VoidError(
                ErrorCode.TOO_LARGE,
                f"{n} frames in one job; this daemon takes at most {lim.max_job_frames} (split the range)",
                "frames",
            )
        if c > P.MAX_CHANNELS or any(
            not isinstance(ch, str) or len(ch) > 256 for ch in spec.channels
        ):
            raise VoidError(
                ErrorCode.TOO_LARGE,
                f"a plate has at most {P.MAX_CHANNELS} channels named by short strings",
                "channels",
            )
        windows = len(plan_windows(n, spec.window, spec.overlap))
        if n * windows > lim.max_plan_cost:
            raise VoidError(
                ErrorCode.TOO_LARGE,
                f"{n} frames in {windows} windows is too fine a plan; use a longer window or a shorter range",
                "window",
            )
        # Worst case on disk: float plate in, float frame out, one quadmask byte.
        need = n * spec.width * spec.height * (2 * 4 * c + 1)
        if need > lim.max_job_bytes:
            raise VoidError(
                ErrorCode.TOO_LARGE,
                f"the job would store about {need / 2**30:.1f} GiB; this daemon takes at most {lim.max_job_bytes / 2**30:.1f} GiB per job (split the range)",
                "frames",
            )
        active = len(self._active())  # no lock: the I/O thread must not wait on the scheduler
        if active >= lim.max_active_jobs:
            raise VoidError(
                ErrorCode.QUEUE_FULL,
                f"the daemon already holds {active} active jobs (its limit); retry when one finishes",
                "job",
            )
        # Half-float plates are the least a job stores: refuse now what cannot fit at all.
        least = n * spec.width * spec.height * (2 * 2 * c + 1)
        free = shutil.disk_usage(self.store.root).free
        if least > free:
            raise VoidError(
                ErrorCode.IO_ERROR,
                f"the job needs at least {least / 2**20:.0f} MiB in {self.store.root} but only {free / 2**20:.0f} MiB are free",
                "jobs_dir",
            )

    def _runner_windows(self, job: Job) -> int:
        return len(plan_windows(job.n, job.spec.window, job.spec.overlap))

    def _on_frames(self, ident: bytes, msg: P.Frames, user: str) -> None:
        arrived = time.monotonic()
        job = self._job(msg.job, user)
        if job.state == "failed" and job.error:
            # The client may not have heard why yet (the failure is sent from another thread):
            # answer with the reason, not with "it takes no more frames".
            raise VoidError(
                ErrorCode(job.error["code"]), job.error["message"], job.error.get("field"), job.id
            )
        if job.state in FINAL_STATES:
            raise VoidError(
                ErrorCode.CANCELLED if job.state == "cancelled" else ErrorCode.BAD_MESSAGE,
                f"job {job.id} is {job.state}; it takes no more frames",
                "job",
            )
        if (
            msg.images
            and job.spec.transfer != "pixels"
            or msg.paths
            and job.spec.transfer != "paths"
        ):
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                f"job {job.id} was submitted for {job.spec.transfer} transfer",
                "transfer",
            )
        job.owner = ident
        entries = (
            self._group_images(job, msg.images) if msg.images else self._group_paths(job, msg.paths)
        )
        with job.lock:
            if len(entries) > job.input_credit:
                raise VoidError(
                    ErrorCode.NO_CREDIT,
                    f"{len(entries)} frames sent with {job.input_credit} credit; wait for acks",
                    "frames",
                )
            job.input_credit -= len(entries)
        for entry in entries:
            timings.record(job.id, "receive", entry["pos"], arrived)
            self.receivers.submit(self._receive, job, entry)

    def _group_images(self, job: Job, images: list) -> list[dict]:
        spec = job.spec
        by_frame: dict[int, dict[str, Any]] = {}
        for desc, arr in images:
            pos = job.position(desc.frame)
            h, w, c = desc.shape
            if (w, h) != (spec.width, spec.height):
                raise VoidError(
                    ErrorCode.RESOLUTION_MISMATCH,
                    f"frame {desc.frame} {desc.role} is {w}x{h} but the job is {spec.width}x{spec.height}",
                    "images.shape",
                )
            if desc.role == "plate" and c != len(spec.channels):
                raise VoidError(
                    ErrorCode.SHAPE_MISMATCH,
                    f"frame {desc.frame} plate has {c} channels, the job declared {len(spec.channels)}",
                    "images.channels",
                )
            if desc.role in ("remove", "affected") and c != 1:
                raise VoidError(
                    ErrorCode.SHAPE_MISMATCH,
                    f"frame {desc.frame} {desc.role} matte must have one channel, got {c}",
                    "images.shape",
                )
            if desc.role == "result":
                raise VoidError(
                    ErrorCode.BAD_MESSAGE,
                    "clients send plate/remove/affected images, not results",
                    "images.role",
                )
            entry = by_frame.setdefault(desc.frame, {"pos": pos, "frame": desc.frame})
            if desc.role in entry:
                raise VoidError(
                    ErrorCode.BAD_MESSAGE,
                    f"frame {desc.frame} has two {desc.role} images",
                    "images.role",
                )
            entry[desc.role] = arr
        for frame, entry in by_frame.items():
            if "plate" not in entry or "remove" not in entry:
                raise VoidError(
                    ErrorCode.BAD_MESSAGE,
                    f"frame {frame} needs a plate and a remove matte",
                    "images",
                )
        return list(by_frame.values())

    def _group_paths(self, job: Job, paths: list) -> list[dict]:
        if len(paths) > P.MAX_IMAGES_PER_MESSAGE:
            raise VoidError(
                ErrorCode.TOO_LARGE,
                f"at most {P.MAX_IMAGES_PER_MESSAGE} path entries per message",
                "paths",
            )
        entries = []
        for item in paths:
            if (
                not isinstance(item, dict)
                or type(item.get("frame")) is not int
                or not isinstance(item.get("plate"), str)
                or not item["plate"]
                or not isinstance(item.get("remove"), str)
                or not item["remove"]
                or not isinstance(item.get("affected") or "", str)
            ):
                raise VoidError(
                    ErrorCode.BAD_MESSAGE,
                    "each path entry needs frame (int), plate and remove (str), optionally affected (str)",
                    "paths",
                )
            resolved = {"frame": item["frame"]}
            for key in ("plate", "remove", "affected"):
                if item.get(key):
                    path, channel = split_channel(item[key])
                    if channel and key == "plate":
                        raise VoidError(
                            ErrorCode.BAD_MESSAGE,
                            "the plate is a whole image file; channel selectors are for mattes",
                            "paths.plate",
                        )
                    # From here on the daemon uses the resolved path, never the name it was given.
                    real = self._check_path(path, f"paths.{key}")
                    resolved[key] = f"{real}:{channel}" if channel else real
            entries.append(
                {"pos": job.position(item["frame"]), "frame": item["frame"], "paths": resolved}
            )
        return entries

    def _check_path(self, path: str, field_name: str = "paths") -> str:
        """The real path (symlinks and ``..`` resolved) if it lies under an allowed root."""
        if not self.allowed_roots:
            raise VoidError(
                ErrorCode.PATH_NOT_ALLOWED,
                "path mode is off on this daemon; start it with --allow-root DIR for the folders it may read and write",
                field_name,
            )
        if not path or "\0" in path:
            raise VoidError(
                ErrorCode.PATH_NOT_ALLOWED, f"{path!r} is not a usable path", field_name
            )
        real = os.path.realpath(os.path.expanduser(path))
        if not any(
            real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self.allowed_roots
        ):
            raise VoidError(
                ErrorCode.PATH_NOT_ALLOWED,
                f"{path} is outside the daemon's allowed roots {self.allowed_roots}",
                field_name,
            )
        return real

    # ------------------------------------------------------------------ receiving (pool)
    def _receive(self, job: Job, entry: dict) -> None:
        pos, frame, t0 = entry["pos"], entry["frame"], time.monotonic()
        try:
            if "paths" in entry:
                paths = entry["paths"]
                # Check the files' declared size before reading: a header must not make us allocate.
                _probe(paths["plate"], frame, job.spec, len(job.spec.channels))
                for key in ("remove", "affected"):
                    if paths.get(key):
                        _probe(split_channel(paths[key])[0], frame, job.spec, None)
                plate = read_image(paths["plate"], frame).pixels
                remove = read_matte(*_matte(paths["remove"], frame))
                affected = (
                    read_matte(*_matte(paths["affected"], frame)) if paths.get("affected") else None
                )
            else:
                plate = entry["plate"]
                remove = entry["remove"][:, :, 0]
                affected = entry["affected"][:, :, 0] if "affected" in entry else None
            qm = build_quadmask(remove, affected, job.spec.dilation, frame=frame)
            job.store_input(pos, np.ascontiguousarray(plate), qm)
            if "paths" in entry:
                job.sources[pos] = entry["paths"]["plate"]
                job.log("source", pos=pos, plate=entry["paths"]["plate"])
        except VoidError as exc:
            exc.job = job.id
            self._fail(job, exc)
            return
        except OSError as exc:
            self._fail(
                job,
                VoidError(
                    ErrorCode.IO_ERROR,
                    f"cannot store frame {frame} in {job.dir}: {exc}",
                    "jobs_dir",
                    job.id,
                ),
            )
            return
        except (
            Exception
        ) as exc:  # a bug must fail this job, not leave it waiting for credit forever
            log.exception("receiving frame %s of job %s failed", frame, job.id)
            self._fail(
                job,
                VoidError(
                    ErrorCode.INTERNAL,
                    f"receiving frame {frame} failed: {exc.__class__.__name__}: {exc}",
                    "frames",
                    job.id,
                ),
            )
            return
        timings.record(job.id, "decode", pos, t0)
        with job.lock:
            if job.state == "queued":
                job.state = "receiving"
            job.input_credit += 1
            complete = len(job.received) == job.n
        if job.spec.transfer == "pixels":
            self.send(job.owner, P.Ack(job=job.id, credit=1, queue_position=self._position(job.id)))
        self._progress(job, "receiving", force=complete)
        if complete:
            try:
                check_job_has_hole(job)
            except VoidError as exc:
                exc.job = job.id
                self._fail(job, exc)
                return
        with self.cond:
            self.cond.notify_all()

    def _fail(self, job: Job, exc: VoidError) -> None:
        if job.state in FINAL_STATES:
            return
        try:
            job.set_state("failed", exc.to_dict())
        except OSError:  # disk full: the journal cannot say it, but the client must still hear it
            log.exception("job %s: cannot journal its failure", job.id)
        self.send(job.owner, P.Error.from_exception(exc, job=job.id))
        with self.cond:
            self.cond.notify_all()

    # ------------------------------------------------------------------ other requests
    def _on_ack(self, ident: bytes, msg: P.Ack, user: str) -> None:
        job = self._job(msg.job, user)
        frames = [f for f in msg.frames[: job.n] if isinstance(f, int) and not isinstance(f, bool)]
        with job.lock:
            # Only finished frames can be acknowledged: an early or bogus ack must not make the
            # job look delivered (``done``) before its frames exist.
            positions = [p for p in (job.position(f) for f in frames) if p in job.final]
            job.acked.update(positions)
            job.inflight.difference_update(positions)
            if msg.credit > 0:
                job.result_credit = min(msg.credit, MAX_RESULT_CREDIT)
        if positions:
            job.log("acked", pos=positions)
        self.finisher.submit(self._pump, job)

    def _on_cancel(self, ident: bytes, msg: P.Cancel, user: str) -> None:
        job = self._job(msg.job, user)
        with job.lock:
            job.cancel_requested = True
        if job.state not in FINAL_STATES:
            job.set_state("cancelled")
        with self.cond:
            self.cond.notify_all()
        self.send(
            ident,
            P.Progress(
                job=job.id,
                id=msg.id,
                stage="cancelled",
                frames_total=job.n,
                frames_done=len(job.final),
            ),
        )

    def _on_attach(self, ident: bytes, msg: P.Attach, user: str) -> None:
        job = self._job(msg.job, user)
        with job.lock:
            job.owner = ident
            job.inflight.clear()  # everything not acknowledged is sent again
            job.result_credit = max(1, min(msg.result_credit, MAX_RESULT_CREDIT))
            missing = job.missing_frames()
            if job.spec.transfer == "pixels":
                job.input_credit = min(INPUT_CREDIT, len(missing))
        self.send(
            ident,
            P.Ack(
                job=job.id,
                id=msg.id,
                credit=job.input_credit if missing else 0,
                missing=missing,
                queue_position=self._position(job.id),
            ),
        )
        if job.state in ("failed", "cancelled") and job.error:
            self.send(ident, P.Error(job=job.id, **job.error))
        self._progress(job, job.state, force=True)
        self.finisher.submit(self._pump, job)

    def _on_status(self, ident: bytes, msg: P.Status, user: str) -> None:
        if msg.job:
            jobs = [self._job(msg.job, user)]
        else:  # the newest jobs of this client key, enough for any panel
            jobs = sorted(
                (j for j in list(self.store.jobs.values()) if j.user == user),
                key=lambda j: j.created,
            )[-STATUS_MAX_JOBS:]
        out = []
        for j in jobs:
            s = j.summary()
            s["queue_position"] = self._position(j.id)
            s["attached"] = j.owner == ident  # results go to the asker (else it should attach)
            out.append(s)
        self.send(ident, P.Status(id=msg.id, job=msg.job, jobs=out))

    # ------------------------------------------------------------------ scheduling
    def _active(self) -> list[str]:
        return [j for j in list(self.queue) if self.store.jobs[j].state not in FINAL_STATES]

    def _position(self, job_id: str) -> int:
        active = self._active()
        return active.index(job_id) if job_id in active else -1

    def _next(self) -> tuple[Job, JobRunner, int] | None:
        """Called with ``cond`` held (as is every change to ``queue``)."""
        active = self._active()
        self.queue[:] = (
            active  # finished jobs leave, so the queue does not grow with the daemon's age
        )
        for gone in set(self._turn) - set(active):
            del self._turn[gone]
        if not active:
            return None
        # Round robin at window granularity: the ready job served least recently goes next
        # (a new job counts as never served), ties in submission order. Unlike an index into
        # the list, this stays fair while jobs arrive and finish.
        for job_id in sorted(active, key=lambda j: self._turn.get(j, -1)):
            job = self.store.jobs[job_id]
            if job.cancel_requested:
                continue
            runner = self.runners.get(job.id)
            if runner is None:
                try:
                    runner = self.runners[job.id] = JobRunner(
                        job, self._engine(job.spec.engine), self.cache
                    )
                except VoidError as exc:
                    exc.job = job.id
                    self._fail(job, exc)
                    continue
                except Exception as exc:
                    log.exception("cannot plan job %s", job.id)
                    self._fail(
                        job,
                        VoidError(
                            ErrorCode.INTERNAL,
                            f"cannot plan the job: {exc.__class__.__name__}: {exc}",
                            None,
                            job.id,
                        ),
                    )
                    continue
            pending = [w.index for w in runner.windows if w.index not in job.windows_done]
            if not pending:
                # Resumed after a crash between the last window and its frames: finish them.
                if job.id not in self.resumed_finish and runner.ready_positions():
                    self.resumed_finish.add(job.id)
                    self.finisher.submit(self._finish, job, runner)
                continue
            if runner.window_ready(pending[0]):
                self._turns += 1
                self._turn[job.id] = self._turns
                return job, runner, pending[0]
        return None

    def _engine(self, name: str) -> Engine:
        if name not in self.engines:
            self.engines[name] = load_engine(name, self.engine_config)
        return self.engines[name]

    def _schedule_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                with self.cond:
                    pick = self._next()
                    if pick is None:
                        self.cond.wait(0.5)
                        continue
                job, runner, k = pick
                self._run_window(job, runner, k)
            except Exception:  # the one compute thread must outlive any job's bug
                log.exception("scheduler error; carrying on")
                time.sleep(0.1)

    def _run_window(self, job: Job, runner: JobRunner, k: int) -> None:
        if job.state in ("queued", "receiving"):
            job.set_state("running")
        self.running[job.id] = k
        n_windows = len(runner.windows)

        def step(i: int, n: int, stage: str) -> None:
            self._progress(job, "running", window=k, message=f"{stage} {i}/{n}")

        def cancelled() -> bool:
            return job.cancel_requested or self.stopping.is_set()

        self._progress(job, "running", window=k, force=True)
        t0 = time.monotonic()
        try:
            outcome = runner.run_window(k, step, cancelled)
        except VoidError as exc:
            if exc.code == ErrorCode.CANCELLED:
                log.info("job %s cancelled in window %d", job.id, k)
                runner.engine.close()
            else:
                exc.job = job.id
                self._fail(job, exc)
            return
        except OSError as exc:  # the window cache or the journal: disk full, folder gone
            log.exception("I/O failed on job %s window %d", job.id, k)
            self._fail(
                job,
                VoidError(
                    ErrorCode.IO_ERROR,
                    f"window {k + 1}/{n_windows}: cannot store its result in {self.store.root}: {exc}",
                    "jobs_dir",
                    job.id,
                ),
            )
            return
        except Exception as exc:
            log.exception("engine failed on job %s window %d", job.id, k)
            self._fail(
                job,
                VoidError(
                    ErrorCode.ENGINE_FAILED,
                    f"engine {job.spec.engine} failed on window {k + 1}/{n_windows}: {exc}",
                    "engine",
                    job.id,
                ),
            )
            return
        finally:
            self.running.pop(job.id, None)
        timings.record(job.id, "engine", k, t0)
        self.window_times.setdefault(job.id, []).append(outcome.seconds)
        self._progress(job, "running", window=k + 1, cached=outcome.cached, force=True)
        self.finisher.submit(self._finish, job, runner)

    # ------------------------------------------------------------------ finishing (single thread)
    def _finish(self, job: Job, runner: JobRunner) -> None:
        try:
            for pos in runner.ready_positions():
                if pos in job.final or job.cancel_requested:
                    continue
                t0 = time.monotonic()
                pixels = runner.finish_frame(pos)
                job.store_output(pos, pixels)
                if job.spec.transfer == "paths":
                    self._write_path_result(job, pos, pixels)
                timings.record(job.id, "encode", pos, t0)
                self._progress(job, "running")
                self._pump(job)
        except VoidError as exc:
            exc.job = job.id
            self._fail(job, exc)
        except OSError as exc:
            log.exception("storing finished frames of job %s failed", job.id)
            self._fail(
                job,
                VoidError(
                    ErrorCode.IO_ERROR,
                    f"cannot store a finished frame in {job.dir}: {exc}",
                    "jobs_dir",
                    job.id,
                ),
            )
        except Exception as exc:
            log.exception("finishing frames of job %s failed", job.id)
            self._fail(
                job, VoidError(ErrorCode.INTERNAL, f"finishing frames failed: {exc}", None, job.id)
            )
        with self.cond:
            self.cond.notify_all()  # chain seams: the next window may be ready now

    def _write_path_result(self, job: Job, pos: int, pixels: np.ndarray) -> None:
        frame = job.frame(pos)
        src = job.sources.get(pos)
        like = read_image(src, frame).spec if src else None
        out = SequencePattern.parse(job.spec.out_pattern).path(frame)
        # Checked again at write time: the folder may have been swapped for a link since submit.
        folder = self._check_path(os.path.dirname(out) or ".", "out_pattern")
        out = os.path.join(folder, os.path.basename(out))
        try:
            write_image(out, pixels, like)
        except OSError as exc:
            raise VoidError(
                ErrorCode.IO_ERROR, f"cannot write {out}: {exc}", "out_pattern", job.id
            ) from exc
        with job.lock:
            job.acked.add(pos)
        job.log("acked", pos=[pos])
        self.send(job.owner, P.Result(job=job.id, paths=[{"frame": frame, "path": out}]))
        self._maybe_done(job)

    def _pump(self, job: Job) -> None:
        """Send finished, unacknowledged frames while the client has result credit."""
        if job.spec.transfer == "paths":
            self._maybe_done(job)
            return
        # Result credit is counted in frames by the client and capped in bytes by the daemon, so
        # that results in flight to a slow reader stay bounded whatever the frame size.
        frame_bytes = max(1, job.spec.width * job.spec.height * len(job.spec.channels) * 4)
        cap = max(1, self.limits.max_inflight_result_bytes // frame_bytes)
        with job.lock:
            waiting = sorted(job.final - job.acked - job.inflight)
            room = min(job.result_credit, cap) - len(job.inflight)
            batch = waiting[: max(0, room)]
            job.inflight.update(batch)
            owner = job.owner
        for pos in batch:
            t0 = time.monotonic()
            arr = job.load_out(pos)
            desc = P.ImageDesc.for_array(job.frame(pos), "result", arr, job.spec.channels)
            self.send(owner, P.Result(job=job.id, images=[(desc, arr)]))
            timings.record(job.id, "send", pos, t0)
        self._maybe_done(job)

    def _maybe_done(self, job: Job) -> None:
        with job.lock:
            finished = len(job.acked) == job.n and job.state not in FINAL_STATES
        if finished:
            job.set_state("done")
            self._progress(job, "done", force=True)
            self.runners.pop(job.id, None)
            with self.cond:
                self.cond.notify_all()

    # ------------------------------------------------------------------ progress
    def _progress(
        self,
        job: Job,
        stage: str,
        window: int | None = None,
        cached: bool = False,
        message: str = "",
        force: bool = False,
    ) -> None:
        now = time.monotonic()
        if not force and now - self.last_progress.get(job.id, 0.0) < PROGRESS_INTERVAL_S:
            return
        self.last_progress[job.id] = now
        runner = self.runners.get(job.id)
        n_windows = len(runner.windows) if runner else self._runner_windows(job)
        times = self.window_times.get(job.id, [])
        remaining = n_windows - len(job.windows_done)
        eta = (sum(times) / len(times)) * remaining if times else -1.0
        self.send(
            job.owner,
            P.Progress(
                job=job.id,
                stage=stage,
                window=len(job.windows_done) if window is None else window,
                windows=n_windows,
                frames_done=len(job.final),
                frames_total=job.n,
                frames_received=len(job.received),
                eta_s=float(eta),
                queue_position=self._position(job.id),
                cached=cached,
                message=message,
            ),
        )


def _matte(text: str, frame: int) -> tuple[str, int, str]:
    path, channel = split_channel(text)
    return path, frame, channel


#: Jobs listed by a ``status`` request for all jobs.
STATUS_MAX_JOBS = 500


def _request_of(parts: list) -> tuple[str, int]:
    """Best effort: the job and request id of a message that failed to decode."""
    try:
        h = (
            msgpack.unpackb(parts[0].buffer, raw=False, max_bin_len=P.MAX_HEADER_BYTES)
            if len(parts[0]) <= P.MAX_HEADER_BYTES
            else None
        )
    except Exception:  # whatever it was, it was not a readable header
        return "", 0
    if not isinstance(h, dict):
        return "", 0
    job, req = h.get("job"), h.get("id")
    return (job if isinstance(job, str) and len(job) <= 64 else ""), (
        req if type(req) is int and 0 <= req < 2**63 else 0
    )


def _peer_user(frame: Any) -> str:
    """The CurveZMQ key the ZAP handler authenticated the sender with; "" without Curve."""
    try:
        return frame.get("User-Id") or ""
    except (zmq.ZMQError, AttributeError, UnicodeDecodeError):
        return ""


def _probe(path: str, frame: int, spec: JobSpec, channels: int | None) -> None:
    """Refuse a file whose header disagrees with the job before its pixels are read."""
    inp = open_image(path, frame, "paths")
    try:
        s = inp.spec()
        w, h, c = s.width, s.height, s.nchannels
    finally:
        inp.close()
    if (w, h) != (spec.width, spec.height):
        raise VoidError(
            ErrorCode.RESOLUTION_MISMATCH,
            f"frame {frame} ({path}) is {w}x{h} but the job is {spec.width}x{spec.height}",
            "paths",
        )
    if channels is not None and c != channels:
        raise VoidError(
            ErrorCode.SHAPE_MISMATCH,
            f"frame {frame} ({path}) has {c} channels, the job declared {channels}",
            "paths",
        )


def _bind(sock: zmq.Socket, endpoint: str) -> None:
    """Bind; an ``ipc://`` socket file is created owner-only (0600): other users cannot connect."""
    path = endpoint[len("ipc://") :] if endpoint.startswith("ipc://") else ""
    if not path or path.startswith("@") or os.name != "posix":  # abstract sockets have no file
        sock.bind(endpoint)
        return
    old = os.umask(0o177)  # no window between bind and chmod where others could connect
    try:
        sock.bind(endpoint)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)


def install_signal_handlers(daemon: Daemon) -> None:
    def handler(signum: int, frame: Any) -> None:
        daemon.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve(
    endpoint: str,
    jobs_dir: str,
    config: EngineConfig | None = None,
    allowed_roots: list[str] | None = None,
    extra_endpoints: list[str] | None = None,
    limits: Limits | None = None,
    curve: CurveKeys | None = None,
    authorized_keys: str | None = None,
) -> None:
    daemon = Daemon(
        endpoint, jobs_dir, config, allowed_roots, extra_endpoints, limits, curve, authorized_keys
    )
    if threading.current_thread() is threading.main_thread():
        install_signal_handlers(daemon)
    daemon.serve_forever()


__all__ = ["Daemon", "Limits", "serve", "Path"]
