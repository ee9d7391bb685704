"""The daemon: a ZeroMQ ROUTER service that receives frames, runs windows and streams results.

Threads (the engine never waits on I/O):

* **I/O loop** — owns the ROUTER socket; decodes and validates headers, answers small
  requests, forwards outgoing messages that other threads queue on an inproc PULL socket.
* **receivers** (pool) — build and check quadmasks, store inputs atomically, grant credit.
* **scheduler** — one compute thread: picks the next ready window round-robin across jobs
  (fair queue), runs the engine.
* **finisher** — seam-blends and composites finished frames, stores them, streams results
  within the client's result credit.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.quadmask import build_quadmask
from void_client.sequence import SequencePattern, read_image, read_matte, split_channel, write_image
from void_client.spec import JobSpec

from . import __version__
from .cache import WindowCache
from .engines import Engine, EngineConfig, capabilities, engine_class, load_engine
from .jobs import FINAL_STATES, Job, JobStore
from .runner import JobRunner, check_job_has_hole

log = logging.getLogger(__name__)

OUTBOX = "inproc://void-daemon-outbox"
#: Input frames a client may have in flight per job (bounds daemon memory).
INPUT_CREDIT = 8
MAX_RESULT_CREDIT = 64
PROGRESS_INTERVAL_S = 0.25


class Daemon:
    def __init__(
        self,
        endpoint: str = P.DEFAULT_ENDPOINT,
        jobs_dir: str | os.PathLike = "~/.cache/void-remove/jobs",
        engine_config: EngineConfig | None = None,
        allowed_roots: list[str] | None = None,
        extra_endpoints: list[str] | None = None,
    ) -> None:
        self.endpoints = [endpoint, *(extra_endpoints or [])]
        self.store = JobStore(jobs_dir)
        self.cache = WindowCache(self.store.cache_dir)
        self.engine_config = engine_config or EngineConfig()
        self.allowed_roots = [os.path.realpath(os.path.expanduser(r)) for r in (allowed_roots or [])]
        self.ctx = zmq.Context.instance()
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
        self._rr = 0

    # ------------------------------------------------------------------ lifecycle
    def serve_forever(self) -> None:
        router = self.ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_BYTES)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a re-attaching client may reuse its identity
        for ep in self.endpoints:
            router.bind(ep)
        pull = self.ctx.socket(zmq.PULL)
        pull.bind(OUTBOX)
        for job in self.store.load_unfinished():
            log.info("resuming job %s (%d/%d frames received, %d windows done)", job.id, len(job.received), job.n, len(job.windows_done))
            self.queue.append(job.id)
        threading.Thread(target=self._detect_gpu, daemon=True).start()
        scheduler = threading.Thread(target=self._schedule_loop, name="void-scheduler", daemon=True)
        scheduler.start()
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        log.info("void-daemon %s serving on %s, jobs in %s", __version__, ", ".join(self.endpoints), self.store.root)
        self.ready.set()
        try:
            while not self.stopping.is_set():
                events = dict(poller.poll(100))
                if pull in events:
                    for _ in range(64):
                        try:
                            router.send_multipart(pull.recv_multipart(zmq.NOBLOCK, copy=False), copy=False)
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
            for engine in self.engines.values():
                engine.close()

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
        sock.send_multipart([ident, *P.encode(msg)], copy=False)

    def _error(self, ident: bytes, exc: VoidError, job: str = "", req: int = 0) -> None:
        log.info("refused: %s", exc)
        self.send(ident, P.Error.from_exception(exc, job=job, id=req))

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, ident: bytes, parts: list) -> None:
        try:
            msg = P.decode(parts)
        except VoidError as exc:
            self._error(ident, exc)
            return
        handler = getattr(self, f"_on_{msg.TYPE}", None)
        try:
            if handler is None:
                raise VoidError(ErrorCode.UNKNOWN_TYPE, f"a daemon does not accept {msg.TYPE!r} messages", "type")
            handler(ident, msg)
        except VoidError as exc:
            self._error(ident, exc, msg.job, msg.id)
        except Exception as exc:  # the daemon keeps serving whatever one request does
            log.exception("internal error handling %s", msg.TYPE)
            self._error(ident, VoidError(ErrorCode.INTERNAL, f"internal error: {exc.__class__.__name__}: {exc}"), msg.job, msg.id)

    def _on_hello(self, ident: bytes, msg: P.Hello) -> None:
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

    def _on_submit(self, ident: bytes, msg: P.Submit) -> None:
        spec = JobSpec.from_dict(msg.spec)
        ok, reason = engine_class(spec.engine).availability(self.engine_config)
        if not ok:
            code = ErrorCode.WEIGHTS_MISSING if "weights" in reason.lower() else ErrorCode.ENGINE_UNAVAILABLE
            raise VoidError(code, f"engine {spec.engine!r} cannot run on this daemon: {reason}", "engine")
        if spec.transfer == "paths":
            self._check_path(spec.out_pattern)
        job = self.store.create(spec)
        job.owner = ident
        job.result_credit = max(1, min(msg.result_credit, MAX_RESULT_CREDIT))
        job.input_credit = job.n if spec.transfer == "paths" else min(INPUT_CREDIT, job.n)
        with self.cond:
            self.queue.append(job.id)
            self.cond.notify_all()
        log.info("job %s: %d frames %dx%d, engine %s, %d windows", job.id, job.n, spec.width, spec.height, spec.engine, self._runner_windows(job))
        self.send(ident, P.Ack(job=job.id, id=msg.id, credit=job.input_credit, queue_position=self._position(job.id)))

    def _runner_windows(self, job: Job) -> int:
        from void_client.windows import plan_windows

        return len(plan_windows(job.n, job.spec.window, job.spec.overlap))

    def _on_frames(self, ident: bytes, msg: P.Frames) -> None:
        job = self.store.get(msg.job)
        if job.state in FINAL_STATES:
            raise VoidError(ErrorCode.BAD_MESSAGE, f"job {job.id} is {job.state}; it takes no more frames", "job")
        if msg.images and job.spec.transfer != "pixels" or msg.paths and job.spec.transfer != "paths":
            raise VoidError(ErrorCode.BAD_MESSAGE, f"job {job.id} was submitted for {job.spec.transfer} transfer", "transfer")
        job.owner = ident
        entries = self._group_images(job, msg.images) if msg.images else self._group_paths(job, msg.paths)
        with job.lock:
            if len(entries) > job.input_credit:
                raise VoidError(ErrorCode.NO_CREDIT, f"{len(entries)} frames sent with {job.input_credit} credit; wait for acks", "frames")
            job.input_credit -= len(entries)
        for entry in entries:
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
                raise VoidError(ErrorCode.SHAPE_MISMATCH, f"frame {desc.frame} plate has {c} channels, the job declared {len(spec.channels)}", "images.channels")
            if desc.role in ("remove", "affected") and c != 1:
                raise VoidError(ErrorCode.SHAPE_MISMATCH, f"frame {desc.frame} {desc.role} matte must have one channel, got {c}", "images.shape")
            if desc.role == "result":
                raise VoidError(ErrorCode.BAD_MESSAGE, "clients send plate/remove/affected images, not results", "images.role")
            entry = by_frame.setdefault(desc.frame, {"pos": pos, "frame": desc.frame})
            if desc.role in entry:
                raise VoidError(ErrorCode.BAD_MESSAGE, f"frame {desc.frame} has two {desc.role} images", "images.role")
            entry[desc.role] = arr
        for frame, entry in by_frame.items():
            if "plate" not in entry or "remove" not in entry:
                raise VoidError(ErrorCode.BAD_MESSAGE, f"frame {frame} needs a plate and a remove matte", "images")
        return list(by_frame.values())

    def _group_paths(self, job: Job, paths: list) -> list[dict]:
        entries = []
        for item in paths:
            if not isinstance(item, dict) or not isinstance(item.get("frame"), int) or not isinstance(item.get("plate"), str) or not isinstance(item.get("remove"), str):
                raise VoidError(ErrorCode.BAD_MESSAGE, "each path entry needs frame (int), plate and remove (str)", "paths")
            for key in ("plate", "remove", "affected"):
                if item.get(key):
                    self._check_path(split_channel(item[key])[0])
            entries.append({"pos": job.position(item["frame"]), "frame": item["frame"], "paths": item})
        return entries

    def _check_path(self, path: str) -> None:
        if not self.allowed_roots:
            return
        real = os.path.realpath(os.path.expanduser(path))
        if not any(real == r or real.startswith(r + os.sep) for r in self.allowed_roots):
            raise VoidError(ErrorCode.PATH_NOT_ALLOWED, f"{path} is outside the daemon's allowed roots {self.allowed_roots}", "paths")

    # ------------------------------------------------------------------ receiving (pool)
    def _receive(self, job: Job, entry: dict) -> None:
        pos, frame = entry["pos"], entry["frame"]
        try:
            if "paths" in entry:
                paths = entry["paths"]
                plate = read_image(paths["plate"], frame).pixels
                remove = read_matte(*_matte(paths["remove"], frame))
                affected = read_matte(*_matte(paths["affected"], frame)) if paths.get("affected") else None
                if plate.shape[:2] != (job.spec.height, job.spec.width) or remove.shape != plate.shape[:2]:
                    raise VoidError(ErrorCode.RESOLUTION_MISMATCH, f"frame {frame}: plate or matte size differs from the job's {job.spec.width}x{job.spec.height}", "paths")
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
            self._fail(job, VoidError(ErrorCode.IO_ERROR, f"cannot store frame {frame}: {exc}", "frames", job.id))
            return
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
        job.set_state("failed", exc.to_dict())
        self.send(job.owner, P.Error.from_exception(exc, job=job.id))
        with self.cond:
            self.cond.notify_all()

    # ------------------------------------------------------------------ other requests
    def _on_ack(self, ident: bytes, msg: P.Ack) -> None:
        job = self.store.get(msg.job)
        frames = [f for f in msg.frames if isinstance(f, int)]
        with job.lock:
            positions = [job.position(f) for f in frames]
            job.acked.update(positions)
            job.inflight.difference_update(positions)
            if msg.credit > 0:
                job.result_credit = min(msg.credit, MAX_RESULT_CREDIT)
        if positions:
            job.log("acked", pos=positions)
        self.finisher.submit(self._pump, job)

    def _on_cancel(self, ident: bytes, msg: P.Cancel) -> None:
        job = self.store.get(msg.job)
        with job.lock:
            job.cancel_requested = True
        if job.state not in FINAL_STATES:
            job.set_state("cancelled")
        with self.cond:
            self.cond.notify_all()
        self.send(ident, P.Progress(job=job.id, id=msg.id, stage="cancelled", frames_total=job.n, frames_done=len(job.final)))

    def _on_attach(self, ident: bytes, msg: P.Attach) -> None:
        job = self.store.get(msg.job)
        with job.lock:
            job.owner = ident
            job.inflight.clear()  # everything not acknowledged is sent again
            job.result_credit = max(1, min(msg.result_credit, MAX_RESULT_CREDIT))
            missing = job.missing_frames()
            if job.spec.transfer == "pixels":
                job.input_credit = min(INPUT_CREDIT, len(missing))
        self.send(ident, P.Ack(job=job.id, id=msg.id, credit=job.input_credit if missing else 0, missing=missing, queue_position=self._position(job.id)))
        if job.state in ("failed", "cancelled") and job.error:
            self.send(ident, P.Error(job=job.id, **job.error))
        self._progress(job, job.state, force=True)
        self.finisher.submit(self._pump, job)

    def _on_status(self, ident: bytes, msg: P.Status) -> None:
        jobs = [self.store.get(msg.job)] if msg.job else list(self.store.jobs.values())
        out = []
        for j in jobs:
            s = j.summary()
            s["queue_position"] = self._position(j.id)
            out.append(s)
        self.send(ident, P.Status(id=msg.id, job=msg.job, jobs=out))

    # ------------------------------------------------------------------ scheduling
    def _active(self) -> list[str]:
        return [j for j in self.queue if self.store.jobs[j].state not in FINAL_STATES]

    def _position(self, job_id: str) -> int:
        active = self._active()
        return active.index(job_id) if job_id in active else -1

    def _next(self) -> tuple[Job, JobRunner, int] | None:
        active = self._active()
        if not active:
            return None
        for i in range(len(active)):
            job = self.store.jobs[active[(self._rr + i) % len(active)]]
            if job.cancel_requested:
                continue
            runner = self.runners.get(job.id)
            if runner is None:
                try:
                    runner = self.runners[job.id] = JobRunner(job, self._engine(job.spec.engine), self.cache)
                except VoidError as exc:
                    exc.job = job.id
                    self._fail(job, exc)
                    continue
            pending = [w.index for w in runner.windows if w.index not in job.windows_done]
            if not pending:
                # Resumed after a crash between the last window and its frames: finish them.
                if job.id not in self.resumed_finish and runner.ready_positions():
                    self.resumed_finish.add(job.id)
                    self.finisher.submit(self._finish, job, runner)
                continue
            if runner.window_ready(pending[0]):
                self._rr = (self._rr + i + 1) % max(1, len(active))
                return job, runner, pending[0]
        return None

    def _engine(self, name: str) -> Engine:
        if name not in self.engines:
            self.engines[name] = load_engine(name, self.engine_config)
        return self.engines[name]

    def _schedule_loop(self) -> None:
        while not self.stopping.is_set():
            with self.cond:
                pick = self._next()
                if pick is None:
                    self.cond.wait(0.5)
                    continue
            job, runner, k = pick
            self._run_window(job, runner, k)

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
        except Exception as exc:
            log.exception("engine failed on job %s window %d", job.id, k)
            self._fail(job, VoidError(ErrorCode.ENGINE_FAILED, f"engine {job.spec.engine} failed on window {k + 1}/{n_windows}: {exc}", "engine", job.id))
            return
        finally:
            self.running.pop(job.id, None)
        self.window_times.setdefault(job.id, []).append(outcome.seconds)
        self._progress(job, "running", window=k + 1, cached=outcome.cached, force=True)
        self.finisher.submit(self._finish, job, runner)

    # ------------------------------------------------------------------ finishing (single thread)
    def _finish(self, job: Job, runner: JobRunner) -> None:
        try:
            for pos in runner.ready_positions():
                if pos in job.final or job.cancel_requested:
                    continue
                pixels = runner.finish_frame(pos)
                job.store_output(pos, pixels)
                if job.spec.transfer == "paths":
                    self._write_path_result(job, pos, pixels)
                self._progress(job, "running")
                self._pump(job)
        except VoidError as exc:
            exc.job = job.id
            self._fail(job, exc)
        except Exception as exc:
            log.exception("finishing frames of job %s failed", job.id)
            self._fail(job, VoidError(ErrorCode.INTERNAL, f"finishing frames failed: {exc}", None, job.id))
        with self.cond:
            self.cond.notify_all()  # chain seams: the next window may be ready now

    def _write_path_result(self, job: Job, pos: int, pixels: np.ndarray) -> None:
        frame = job.frame(pos)
        src = job.sources.get(pos)
        like = read_image(src, frame).spec if src else None
        out = SequencePattern.parse(job.spec.out_pattern).path(frame)
        write_image(out, pixels, like)
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
        with job.lock:
            waiting = sorted(job.final - job.acked - job.inflight)
            room = job.result_credit - len(job.inflight)
            batch = waiting[: max(0, room)]
            job.inflight.update(batch)
            owner = job.owner
        for pos in batch:
            arr = job.load_out(pos)
            desc = P.ImageDesc.for_array(job.frame(pos), "result", arr, job.spec.channels)
            self.send(owner, P.Result(job=job.id, images=[(desc, arr)]))
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
    def _progress(self, job: Job, stage: str, window: int | None = None, cached: bool = False, message: str = "", force: bool = False) -> None:
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


def install_signal_handlers(daemon: Daemon) -> None:
    def handler(signum: int, frame: Any) -> None:
        daemon.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve(endpoint: str, jobs_dir: str, config: EngineConfig | None = None, allowed_roots: list[str] | None = None, extra_endpoints: list[str] | None = None) -> None:
    daemon = Daemon(endpoint, jobs_dir, config, allowed_roots, extra_endpoints)
    if threading.current_thread() is threading.main_thread():
        install_signal_handlers(daemon)
    daemon.serve_forever()


__all__ = ["Daemon", "serve", "Path"]
