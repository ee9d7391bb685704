"""Load on one daemon: N clients submitting at once plus a slow client that stops reading.

Prints a table for docs/benchmarks.md: throughput with N clients against one client alone (a
ratio measured in the same run, since these machines are noisy), the daemon's peak resident
memory against its idle baseline, how many results the slow client had in flight (bounded by
its credit), the queue positions the jobs were given, and whether the window order
interleaved the jobs (fair round robin) — and it checks every frame of every job.

    python bench/load.py                 # 8 clients x 40 frames at 160x96, slow client 512x512
    python bench/load.py --quick --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psutil
import zmq

# Bench scripts run as `python bench/<name>.py` from the dev venv (pip install -e '.[dev]'); the
# repository root goes on sys.path for the helpers they share with the tests (tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from tests.support.daemons import DaemonProcess, PeakRSS  # noqa: E402
from void_client import protocol as P  # noqa: E402
from void_client.client import DaemonClient  # noqa: E402
from void_client.job_spec import JobSpec  # noqa: E402
from void_client.quadmask import build_quadmask, hole  # noqa: E402
from void_client.session import FrameInput, JobSession  # noqa: E402
from void_daemon.demo_shot import Shot, make_shot  # noqa: E402
from void_daemon.metrics import psnr  # noqa: E402
from void_daemon.roi import composite_alpha  # noqa: E402


@dataclass
class LoadConfig:
    clients: int = 8
    frames: int = 40
    width: int = 160
    height: int = 96
    window: int = 21
    overlap: int = 6
    slow_frames: int = 13
    slow_size: int = 512
    slow_credit: int = 2


@dataclass
class LoadResult:
    config: LoadConfig
    single_seconds: float = 0.0
    load_seconds: float = 0.0
    frames_total: int = 0
    windows_total: int = 0
    rss_idle: int = 0
    rss_peak: int = 0
    slow_result_bytes: int = 0
    slow_inflight_max: int = 0
    slow_frames_done: int = 0
    queue_positions: list[int] = field(default_factory=list)
    #: Jobs whose first window finished before any job's last window did (all of them = fair).
    interleaved_jobs: int = 0
    #: While a job's window was ready and waiting, the most windows any *one* other job ran.
    #: Round robin at window granularity makes this 1.
    max_overtakes: int = 0
    jobs_ok: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def single_fps(self) -> float:
        return self.config.frames / self.single_seconds if self.single_seconds else 0.0

    @property
    def load_fps(self) -> float:
        return self.frames_total / self.load_seconds if self.load_seconds else 0.0


def spec_for(cfg: LoadConfig, shot: Shot, name: str) -> JobSpec:
    return JobSpec(
        frames=shot.frames,
        width=shot.plate.shape[2],
        height=shot.plate.shape[1],
        channels=["R", "G", "B", "A"],
        name=name,
        window=cfg.window,
        overlap=cfg.overlap,
        dilation=3,
        feather=6,
    )


def reader(shot: Shot):  # type: ignore[no-untyped-def]
    def read(frame: int) -> FrameInput:
        i = frame - shot.first
        return FrameInput(
            frame,
            shot.plate[i].astype(np.float16),
            shot.remove[i],
            shot.affected[i],
            ["R", "G", "B", "A"],
        )

    return read


def check_job(shot: Shot, got: dict[int, np.ndarray]) -> str:
    """'' when every frame came, the plate is bit-identical outside the composite and the fill is good."""
    if sorted(got) != shot.frames:
        return f"frames {sorted(set(shot.frames) - set(got))} missing"
    qms = np.stack([build_quadmask(r, a, 3) for r, a in zip(shot.remove, shot.affected)])
    plate = shot.plate.astype(np.float16)
    for i, f in enumerate(shot.frames):
        outside = composite_alpha(hole(qms[i]), 6) == 0
        if (
            got[f][outside].tobytes() != plate[i][outside].tobytes()
            or got[f][..., 3].tobytes() != plate[i][..., 3].tobytes()
        ):
            return f"frame {f}: pixels outside the fill changed"
    result = np.stack([got[f] for f in shot.frames]).astype(np.float32)
    score = psnr(result[..., :3], shot.truth, hole(qms))
    before = psnr(shot.plate[..., :3], shot.truth, hole(qms))
    return (
        "" if score > before + 6.0 else f"fill PSNR {score:.1f} dB, the plate was {before:.1f} dB"
    )


class RecordingClient(DaemonClient):
    """Remembers the queue position the daemon gave each submitted job."""

    positions: list[int] = []
    lock = threading.Lock()

    def submit(self, spec: JobSpec, result_credit: int = 8) -> P.Ack:
        ack = super().submit(spec, result_credit)
        with self.lock:
            self.positions.append(ack.queue_position)
        return ack


def run_session(
    endpoint: str, spec: JobSpec, shot: Shot, out: dict, start: threading.Event
) -> None:
    got: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}

    def write(frame: int, px: np.ndarray) -> None:
        counts[frame] = counts.get(frame, 0) + 1
        got[frame] = px

    with RecordingClient(endpoint, timeout=60) as c:
        session = JobSession(c, spec, reader(shot), write)
        start.wait()
        try:
            report = session.run()
            out["job"] = report.job
        except Exception as exc:  # reported in the table
            out["error"] = f"{exc.__class__.__name__}: {exc}"
    out["got"] = got
    out["dupes"] = [f for f, n in counts.items() if n > 1]


class SlowClient(threading.Thread):
    """Submits, sends every frame (reading only what it must for credit), then never reads again."""

    def __init__(self, endpoint: str, spec: JobSpec, shot: Shot, credit: int) -> None:
        super().__init__(daemon=True)
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 2)  # the socket itself holds almost nothing for us
        self.sock.setsockopt(zmq.RCVBUF, 16384)
        self.sock.connect(endpoint)
        self.spec, self.shot, self.credit = spec, shot, credit
        self.job = ""
        self.sent = threading.Event()
        self.start()

    def run(self) -> None:
        self.sock.send_multipart(
            P.encode(P.Submit(id=1, spec=self.spec.to_dict(), result_credit=self.credit))
        )
        todo = list(self.shot.frames)
        credit = 0
        read = reader(self.shot)
        while todo:
            msg = P.decode(self.sock.recv_multipart())
            if isinstance(msg, P.Ack):
                self.job = self.job or msg.job
                credit += msg.credit
            while credit and todo:
                self.sock.send_multipart(
                    P.encode(P.Frames(job=self.job, images=read(todo.pop(0)).images()))
                )
                credit -= 1
        self.sent.set()  # and from here on it reads nothing

    def close(self) -> None:
        self.sock.close(0)


def window_order(
    jobs_dir: Path, job_ids: list[str], spec: JobSpec
) -> tuple[list[tuple[float, str, int]], dict[tuple[str, int], float]]:
    """Windows in the order the engine finished them, and when each became ready (its frames in)."""
    from void_client.windows import plan_windows

    plan = plan_windows(len(spec.frames), spec.window, spec.overlap)
    events, ready = [], {}
    for job in job_ids:
        received: dict[int, float] = {}
        for line in (jobs_dir / job / "journal.jsonl").read_text().splitlines():
            e = json.loads(line)
            if e.get("event") == "window":
                events.append((e["t"], job, e["index"]))
            elif e.get("event") == "received":
                received[e["pos"]] = e["t"]
        for w in plan:
            ready[(job, w.index)] = max(received[p] for p in range(w.start, w.stop))
    return sorted(events), ready


def overtakes(order: list[tuple[float, str, int]], ready: dict[tuple[str, int], float]) -> int:
    """The most windows one other job ran while some job's window was ready and waiting.

    A job's windows run in order, so its window waits from when its frames are in *and* its
    previous window is done."""
    finished = {(job, k): t for t, job, k in order}
    worst = 0
    for r, (_, job, k) in enumerate(order):
        waiting_since = max(ready[(job, k)], finished.get((job, k - 1), 0.0))
        counts: dict[str, int] = {}
        for q in range(r):
            started = (
                order[q - 1][0] if q else 0.0
            )  # one compute thread: a window starts when the previous one ends
            if started >= waiting_since and order[q][1] != job:
                counts[order[q][1]] = counts.get(order[q][1], 0) + 1
        worst = max(worst, *counts.values(), 0)
    return worst


def run_load(cfg: LoadConfig, workdir: Path | None = None) -> LoadResult:
    res = LoadResult(cfg)
    tmp = Path(workdir or tempfile.mkdtemp(prefix="void-load-"))
    daemon = DaemonProcess(tmp / "jobs").start()
    endpoint = daemon.endpoint
    RecordingClient.positions = res.queue_positions
    try:
        pid = daemon.pid
        shots = [
            make_shot(frames=cfg.frames, width=cfg.width, height=cfg.height, seed=100 + i)
            for i in range(cfg.clients + 1)
        ]
        # Warm-up and the single-client baseline (its own content: nothing comes from the cache).
        warm = make_shot(frames=5, width=32, height=24, seed=99)
        with DaemonClient(endpoint, timeout=60) as c:
            JobSession(c, spec_for(cfg, warm, "warm"), reader(warm), lambda f, px: None).run()
            res.rss_idle = psutil.Process(pid).memory_info().rss
            t0 = time.perf_counter()
            JobSession(
                c, spec_for(cfg, shots[0], "single"), reader(shots[0]), lambda f, px: None
            ).run()
            res.single_seconds = time.perf_counter() - t0
        rss = PeakRSS(pid, interval=0.01)
        slow_shot = make_shot(
            frames=cfg.slow_frames, width=cfg.slow_size, height=cfg.slow_size, seed=7
        )
        slow = SlowClient(endpoint, spec_for(cfg, slow_shot, "slow"), slow_shot, cfg.slow_credit)
        slow.sent.wait(120)
        res.slow_result_bytes = cfg.slow_frames * cfg.slow_size * cfg.slow_size * 4 * 2
        start = threading.Event()
        outs: list[dict] = [dict() for _ in range(cfg.clients)]
        threads = [
            threading.Thread(
                target=run_session,
                args=(
                    endpoint,
                    spec_for(cfg, shots[i + 1], f"load{i}"),
                    shots[i + 1],
                    outs[i],
                    start,
                ),
            )
            for i in range(cfg.clients)
        ]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        start.set()
        inflight = 0
        with DaemonClient(endpoint) as watcher:
            while any(t.is_alive() for t in threads):
                if slow.job:
                    s = watcher.status(slow.job)[0]
                    inflight = max(inflight, s["frames_inflight"])
                    res.slow_frames_done = s["frames_done"]
                time.sleep(0.05)
            res.load_seconds = time.perf_counter() - t0
            # Let the slow job finish computing: all its frames wait on disk, only credit's worth in flight.
            deadline = time.monotonic() + 120
            while slow.job and time.monotonic() < deadline:
                s = watcher.status(slow.job)[0]
                inflight = max(inflight, s["frames_inflight"])
                res.slow_frames_done = s["frames_done"]
                if s["frames_done"] == cfg.slow_frames:
                    break
                time.sleep(0.05)
        res.rss_peak = rss.stop()
        res.slow_inflight_max = inflight
        slow.close()
        res.frames_total = cfg.clients * cfg.frames
        ids = []
        for i, out in enumerate(outs):
            if "error" in out:
                res.errors.append(f"client {i}: {out['error']}")
                continue
            problem = check_job(shots[i + 1], out["got"]) or (
                f"frames {out['dupes']} twice" if out["dupes"] else ""
            )
            if problem:
                res.errors.append(f"client {i}: {problem}")
            else:
                res.jobs_ok += 1
            ids.append(out["job"])
        order, ready = window_order(tmp / "jobs", ids, spec_for(cfg, shots[1], "plan"))
        res.windows_total = len(order)
        res.max_overtakes = overtakes(order, ready)
        rank = {(job, k): r for r, (_, job, k) in enumerate(order)}
        last_windows = {job: max(k for (j, k) in rank if j == job) for job in ids}
        first_of_last = min(rank[(job, last_windows[job])] for job in ids) if ids else 0
        res.interleaved_jobs = sum(1 for job in ids if rank[(job, 0)] < first_of_last)
    finally:
        daemon.stop()
    return res


def table(r: LoadResult) -> str:
    c = r.config
    mib = 1 << 20
    rows = [
        ("clients (+1 slow, not reading)", f"{c.clients}"),
        ("frames per client", f"{c.frames} at {c.width}x{c.height}, window {c.window}/{c.overlap}"),
        ("one client alone", f"{r.single_seconds:.2f} s, {r.single_fps:.1f} frames/s"),
        (
            f"{c.clients} clients at once",
            f"{r.load_seconds:.2f} s, {r.load_fps:.1f} frames/s ({r.windows_total} windows, {r.windows_total / max(r.load_seconds, 1e-9):.1f}/s)",
        ),
        ("throughput ratio (N clients / one)", f"{r.load_fps / max(r.single_fps, 1e-9):.2f}x"),
        (
            "daemon RSS idle -> peak",
            f"{r.rss_idle / mib:.0f} -> {r.rss_peak / mib:.0f} MiB (+{(r.rss_peak - r.rss_idle) / mib:.0f} MiB)",
        ),
        (
            "slow client: results it never read",
            f"{r.slow_frames_done} frames, {r.slow_result_bytes / mib:.0f} MiB as float32",
        ),
        ("slow client: results in flight (max)", f"{r.slow_inflight_max} (credit {c.slow_credit})"),
        ("queue positions at submit", " ".join(map(str, sorted(r.queue_positions)))),
        ("jobs started before any finished", f"{r.interleaved_jobs}/{c.clients}"),
        ("most windows one job ran past a waiting one", f"{r.max_overtakes} (round robin: 1)"),
        ("jobs with every frame correct, once", f"{r.jobs_ok}/{c.clients}"),
    ]
    w = max(len(k) for k, _ in rows)
    lines = [f"| {'measure'.ljust(w)} | value |", f"|{'-' * (w + 2)}|-------|"]
    lines += [f"| {k.ljust(w)} | {v} |" for k, v in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="small frames (the test suite's size)")
    ap.add_argument("--json", default="", help="also write the figures to this file")
    args = ap.parse_args(argv)
    cfg = LoadConfig(clients=args.clients)
    if args.quick:
        cfg = LoadConfig(
            clients=args.clients,
            frames=16,
            width=96,
            height=64,
            window=13,
            overlap=4,
            slow_frames=13,
            slow_size=256,
        )
    r = run_load(cfg)
    print(table(r))
    for e in r.errors:
        print("ERROR", e, file=sys.stderr)
    if args.json:
        Path(args.json).write_text(
            json.dumps({**asdict(r), "single_fps": r.single_fps, "load_fps": r.load_fps}, indent=2)
        )
    return 0 if not r.errors else 1


if __name__ == "__main__":
    sys.exit(main())
