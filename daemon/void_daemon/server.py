"""The daemon: a ZeroMQ ROUTER service that receives frames, runs windows and streams results.

This module is the composition root: it builds the collaborators and runs the I/O loop. Threads,
and what each may block on (see ``docs/architecture.md``; the engine never waits on I/O):

* **I/O loop** (``serve_forever``) — owns the ROUTER socket; decodes and validates messages and
  answers small requests (:mod:`void_daemon.handlers`, :mod:`void_daemon.admission`); forwards
  what other threads queue on the outbox (:mod:`void_daemon.transport`). Blocks only on
  ``poll``; it never takes the scheduler's lock and never waits for a client.
* **receivers** (pool of two, :class:`void_daemon.stages.Receiver`) — build and check quadmasks,
  store inputs atomically, grant credit. May block on disk and on reading path-mode files.
* **scheduler** (one compute thread, :mod:`void_daemon.scheduler`) — picks the next ready window
  round-robin across jobs (fair queue), runs the engine. Blocks on the engine and on ``cond``.
* **finisher** (one thread, :class:`void_daemon.stages.Finisher`) — seam-blends and composites
  finished frames, stores them, streams results within the client's result credit. Blocks on
  disk only.

Robustness (see ``docs/reliability.md``): every size a client declares is checked against
:class:`Limits` before anything is allocated or stored; an exception in one request or job
never reaches the threads (one failure guard, :meth:`void_daemon.stages.Failures.guard`);
results go out only within the client's result credit (capped in bytes), and a client that
stops reading gets its must-deliver messages held in a bounded per-client backlog while its
progress messages are dropped. Security (``docs/security.md``): optional CurveZMQ with a ZAP
handler, jobs owned by the authenticated key, path mode confined to ``--allow-root`` folders.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import zmq

from void_client import protocol as P
from void_client.curvezmq import CurveKeys, apply_server
from void_client.errors import ErrorCode, VoidError
from void_daemon import __version__, shutdown
from void_daemon.admission import Limits, PathPolicy
from void_daemon.cache import WindowCache
from void_daemon.connections import MONITOR_EVENTS, drain_monitor
from void_daemon.engines import EngineConfig, detect_gpu
from void_daemon.folder_lock import FolderLock, claim_ipc_endpoint
from void_daemon.handlers import Handlers
from void_daemon.housekeeping import DEFAULT_LEASE_S, Housekeeper
from void_daemon.jobs import JobStore
from void_daemon.progress import ProgressReporter
from void_daemon.retention import RetentionPolicy
from void_daemon.scheduler import Scheduler
from void_daemon.stages import Failures, Finisher, Receiver, forget_inflight
from void_daemon.transport import OUTBOX, Outbox, bind, configure_router

log = logging.getLogger(__name__)


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
        retention: RetentionPolicy | None = None,
        job_lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        """``curve``: the daemon's key pair; with it every endpoint requires CurveZMQ and only
        client keys found in the ``authorized_keys`` folder are served (ZAP handler).
        ``retention`` and ``job_lease_s``: see :mod:`void_daemon.housekeeping`."""
        self.endpoints = [endpoint, *(extra_endpoints or [])]
        self.store = JobStore(jobs_dir)  # refuses a folder others own or may write
        self.folder_lock = FolderLock(self.store.root)
        self.engine_config = engine_config or EngineConfig()
        self.paths = PathPolicy(allowed_roots)
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
        #: Guards the queue; waited on by the scheduler, notified by every stage.
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self._gpu: dict[str, Any] = {"gpu": "", "vram_free": 0}

        store = self.store
        self.outbox = Outbox(
            self.ctx,
            self.limits.max_backlog_messages,
            on_undelivered=lambda job_id, frames: forget_inflight(store, job_id, frames),
            max_backlog_bytes=self.limits.max_backlog_bytes,
        )
        send = self.outbox.send
        self.scheduler = Scheduler(
            store, WindowCache(store.cache_dir), self.engine_config, self.cond, self.stopping
        )
        self.progress = ProgressReporter(send, self.scheduler.position, self.scheduler.windows_of)
        self.failures = Failures(send, self.cond)
        self.finisher = Finisher(
            send,
            self.progress,
            self.failures,
            self.cond,
            self.paths,
            self.limits.max_inflight_result_bytes,
            self.scheduler.forget_runner,
        )
        self.scheduler.progress = self.progress
        self.scheduler.failures = self.failures
        self.scheduler.finisher = self.finisher
        self.receiver = Receiver(
            send, self.progress, self.failures, self.cond, self.scheduler.position
        )
        self.handlers = Handlers(
            self.outbox,
            store,
            self.scheduler,
            self.receiver,
            self.finisher,
            self.progress,
            self.limits,
            self.paths,
            self.engine_config,
            gpu=lambda: self._gpu,
        )
        self.housekeeper = Housekeeper(
            store,
            retention or RetentionPolicy(),
            job_lease_s,
            self.failures.fail,
            self.scheduler.forget_runner,
        )
        store.on_job_ended = self.housekeeper.job_ended
        self.handlers.housekeeper = self.housekeeper

    # ------------------------------------------------------------------ lifecycle
    def serve_forever(self) -> None:
        # One daemon per jobs folder, and never someone else's socket: checked before anything
        # is resumed or bound (docs/reliability.md, "One daemon per jobs folder").
        self.folder_lock.acquire(self.endpoints)
        for ep in self.endpoints:
            claim_ipc_endpoint(ep)
        auth = None
        router = self.ctx.socket(zmq.ROUTER)
        configure_router(router, self.limits.send_hwm)
        # Connections counted as libzmq accepts them, from before the first bind: beyond
        # --max-clients they are shut down (docs/reliability.md, "Admission, memory and
        # connections").
        monitor = router.get_monitor_socket(MONITOR_EVENTS)
        if self.curve is not None:
            from zmq.auth.thread import ThreadAuthenticator

            auth = ThreadAuthenticator(self.ctx, log=logging.getLogger("void_daemon.zap"))
            auth.start()
            auth.configure_curve(domain="*", location=str(self.authorized_keys))
            apply_server(router, self.curve)
        for ep in self.endpoints:
            bind(router, ep)
        pull = self.ctx.socket(zmq.PULL)
        pull.bind(OUTBOX)
        # The queue's order survives a restart.
        for job in sorted(self.store.load_unfinished(), key=lambda j: j.created):
            log.info(
                "resuming job %s (%d/%d frames received, %d windows done)",
                job.id,
                len(job.received),
                job.n,
                len(job.windows_done),
            )
            self.scheduler.queue.append(job.id)
        self.housekeeper.start()
        threading.Thread(target=self._detect_gpu, daemon=True).start()
        scheduler = threading.Thread(target=self.scheduler.loop, name="void-scheduler", daemon=True)
        scheduler.start()
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        log.info(
            "void-daemon %s serving on %s, jobs in %s",
            __version__,
            ", ".join(self.endpoints),
            self.store.root,
        )
        self.ready.set()
        try:
            while not self.stopping.is_set():
                events = dict(poller.poll(self.outbox.poll_ms(100)))
                if self.outbox.backlog:
                    self.outbox.retry_backlog(router)
                if pull in events:
                    for _ in range(64):
                        try:
                            self.outbox.forward(
                                router, pull.recv_multipart(zmq.NOBLOCK, copy=False)
                            )
                        except zmq.Again:
                            break
                if monitor in events:
                    drain_monitor(monitor, self.handlers.clients)
                if router in events:
                    for _ in range(16):
                        try:
                            parts = router.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self.handlers.dispatch(parts[0].bytes, parts[1:])
        finally:
            router.disable_monitor()
            monitor.close(0)
            # Closed before the stages wind down: a client's request must not land on a socket
            # nobody reads; once it is closed the client reconnects to the next daemon.
            router.close(0)
            self._stop_bounded(scheduler)
            pull.close(0)
            if auth is not None:
                auth.stop()
            self.scheduler.close_engines()
            self.ctx.destroy(0)  # the pool threads' outbox sockets
            self.folder_lock.release()

    def _stop_bounded(self, scheduler: threading.Thread) -> None:
        """Stop the stages within ``shutdown.STOP_GRACE_S``: active jobs are journalled as
        interrupted first (a restart resumes them); a thread stuck in a call that never returns
        (a FIFO, a hung mount, an engine ignoring cancellation) is abandoned with the process."""
        t0 = time.monotonic()
        self.stopping.set()
        with self.cond:
            self.cond.notify_all()
        self.housekeeper.stop()
        interrupted = shutdown.journal_interrupted(
            list(self.store.jobs.values()), dict(self.scheduler.running)
        )

        def drain() -> None:
            self.receiver.pool.shutdown(wait=True, cancel_futures=True)
            self.finisher.pool.shutdown(wait=True, cancel_futures=True)

        drainer = threading.Thread(target=drain, name="void-stop", daemon=True)
        drainer.start()
        drainer.join(shutdown.STOP_GRACE_S)
        scheduler.join(max(0.1, shutdown.STOP_GRACE_S - (time.monotonic() - t0)))
        stuck = [t.name for t in (drainer, scheduler) if t.is_alive()]
        log.info(
            "stopped in %.2f s; %d active jobs journalled as interrupted (resumed on restart)",
            time.monotonic() - t0,
            len(interrupted),
        )
        if stuck:
            self.folder_lock.release()
            shutdown.hard_exit(
                0, f"threads stuck in a call that never returns ({', '.join(stuck)})"
            )

    def stop(self) -> None:
        self.stopping.set()

    def _detect_gpu(self) -> None:
        try:
            self._gpu = detect_gpu()  # torch is imported only in the engines layer
        except Exception:
            log.exception("GPU detection failed")


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGTERM/SIGINT stop the daemon within seconds whatever it is doing (a watchdog bounds a
    stop that a stuck thread would delay); a second signal exits at once."""
    shutdown.install(
        daemon.stop,
        lambda: shutdown.journal_interrupted(
            list(daemon.store.jobs.values()), dict(daemon.scheduler.running)
        ),
    )


def serve(
    endpoint: str,
    jobs_dir: str,
    config: EngineConfig | None = None,
    allowed_roots: list[str] | None = None,
    extra_endpoints: list[str] | None = None,
    limits: Limits | None = None,
    curve: CurveKeys | None = None,
    authorized_keys: str | None = None,
    retention: RetentionPolicy | None = None,
    job_lease_s: float = DEFAULT_LEASE_S,
) -> None:
    daemon = Daemon(
        endpoint,
        jobs_dir,
        config,
        allowed_roots,
        extra_endpoints,
        limits,
        curve,
        authorized_keys,
        retention,
        job_lease_s,
    )
    if threading.current_thread() is threading.main_thread():
        install_signal_handlers(daemon)
    daemon.serve_forever()


__all__ = ["Daemon", "Limits", "serve", "install_signal_handlers"]
