"""Where the time goes in a real job: receive / decode / engine / encode / send, per window.

Starts a real daemon subprocess (``python -m void_daemon serve``) on loopback ZeroMQ with
``VOID_DAEMON_TIMINGS`` set, so it journals a monotonic timestamp pair for every stage of every
frame and window (see ``daemon/void_daemon/timings.py``). A real client session
(:class:`void_client.session.JobSession` on :class:`void_client.sequence_job.SequenceJob`: EXR files
in, EXR files out, exactly what ``void-remove run`` does) sends a generated shot and writes the
results. Then it draws, per window:

* **receive** — from the client putting a frame on the wire to the daemon's I/O loop handling it;
* **decode** — the receiver pool building the quadmask and storing the input;
* **engine** — the window in the engine (the one compute thread);
* **encode** — seam blend, composite and store of the frames that window finished;
* **send** — those frames queued for the client, and **write** — the client's EXR writes.

A frame belongs to the first window that needs it (receive/decode) and to the window whose end
made it final (encode/send/write). The engine's **idle share** is the time between its first
start and its last end during which it ran no window (waiting for inputs, or in ``chain`` mode
for the previous window's frames to be finished), over that span. Filling the pipe before the
first window (one window of frames must arrive) is reported apart.

    python bench/profile_bridge.py                 # crossfade and chain, 120 frames 480x288
    python bench/profile_bridge.py --hd            # + 60 frames at 1920x1080
    python bench/profile_bridge.py --frames 200 --seams crossfade --no-docs
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
# Bench scripts run as `python bench/<name>.py` from the dev venv (pip install -e '.[dev]'); the
# repository root goes on sys.path for the helpers they share with the tests (tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

import report  # noqa: E402
from scenes import build_scene  # noqa: E402

from tests.support.daemons import DaemonProcess  # noqa: E402
from void_client.client import DaemonClient  # noqa: E402
from void_client.sequence_job import RemoveRequest, SequenceJob  # noqa: E402
from void_client.session import JobSession  # noqa: E402
from void_client.windows import plan_windows, seam_weights  # noqa: E402
from void_daemon.demo_shot import write_shot  # noqa: E402

log = logging.getLogger("bench.profile")

SECTION = "## Bridge profile: where the time goes (issue 11)"
STAGES = ("receive", "decode", "engine", "encode", "send", "write")
#: The goal from the issue: the engine waits for data less than this share of its span.
IDLE_GOAL = 0.05
CHART_COLUMNS = 72


class TimedClient(DaemonClient):
    """The real client, noting when each frame goes on the wire (same monotonic clock)."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.sent: dict[int, float] = {}

    def send_frames(self, job, images=None, paths=None) -> None:
        t = time.monotonic()
        for desc, _ in images or []:
            self.sent.setdefault(desc.frame, t)
        super().send_frames(job, images, paths)


@dataclass
class Span:
    t0: float = float("inf")
    t1: float = float("-inf")
    busy: float = 0.0

    def add(self, t0: float, t1: float) -> None:
        self.t0, self.t1 = min(self.t0, t0), max(self.t1, t1)
        self.busy += t1 - t0

    @property
    def empty(self) -> bool:
        return self.t0 == float("inf")


@dataclass
class Profile:
    seam: str
    frames: int
    size: str
    windows: list[dict[str, Span]]
    submit: float
    done: float
    engine: list[tuple[float, float]]
    stage_busy: dict[str, float] = field(default_factory=dict)
    overlap_share: float = 0.0
    wall: float = 0.0
    overlap: int = 0

    @property
    def engine_span(self) -> float:
        return self.engine[-1][1] - self.engine[0][0]

    @property
    def engine_busy(self) -> float:
        return sum(b - a for a, b in self.engine)

    @property
    def idle(self) -> float:
        return self.engine_span - self.engine_busy

    @property
    def idle_share(self) -> float:
        return self.idle / self.engine_span if self.engine_span > 0 else 0.0

    @property
    def fill(self) -> float:
        return self.engine[0][0] - self.submit


def run_job(
    seam: str, frames: int, width: int, height: int, window: int, overlap: int, folder: Path
) -> Profile:
    scene = build_scene("pan", 0, frames=frames, width=width, height=height)
    paths = write_shot(scene.shot, str(folder / "in"))
    # the daemon writes its stage timings there (void_daemon.timings)
    timings = folder / "timings.jsonl"
    daemon = DaemonProcess(folder / "jobs", env={"VOID_DAEMON_TIMINGS": str(timings)}).start()
    try:
        settings = {
            "window": window,
            "overlap": overlap,
            "seam": seam,
            "dilation": scene.dilation,
            "feather": scene.feather,
        }
        seq = SequenceJob(
            RemoveRequest(
                paths["plate"],
                paths["remove"],
                str(folder / "out" / "clean.####.exr"),
                paths["affected"],
                settings=settings,
            )
        )
        written: dict[int, tuple[float, float]] = {}

        def write(frame: int, px: np.ndarray) -> None:
            t0 = time.monotonic()
            seq.write_result(frame, px)
            written[frame] = (t0, time.monotonic())

        with TimedClient(daemon.endpoint, timeout=30) as client:
            submit = time.monotonic()
            session = JobSession(client, seq.job_spec(), seq.read_frame, write)
            report_ = session.run()
            done = time.monotonic()
            sent = dict(client.sent)
        job = report_.job
    finally:
        daemon.stop()
    events = [e for e in map(json.loads, timings.read_text().splitlines()) if e["job"] == job]
    return build_profile(
        seam,
        scene.shot.frames,
        events,
        sent,
        written,
        submit,
        done,
        window,
        overlap,
        f"{width}x{height}",
    )


def build_profile(
    seam, frame_numbers, events, sent, written, submit, done, window, overlap, size
) -> Profile:
    n = len(frame_numbers)
    wins = plan_windows(n, window, overlap)
    weights = seam_weights(wins, seam)
    first_need = {p: min(w.index for w in wins if w.covers(p)) for p in range(n)}
    # The window whose end makes a frame final: the last one with weight on it.
    final_by = {
        p: max(w.index for w in wins if w.covers(p) and weights[w.index][p - w.start] > 0)
        for p in range(n)
    }
    per = [{s: Span() for s in STAGES} for _ in wins]
    engine = []
    busy: dict[str, list[tuple[float, float]]] = {s: [] for s in STAGES}
    by_stage: dict[str, dict[int, dict]] = {s: {} for s in STAGES}
    for e in events:
        by_stage[e["stage"]][e["index"]] = e
    for p in range(n):
        f = frame_numbers[p]
        if p in by_stage["receive"] and f in sent:
            per[first_need[p]]["receive"].add(sent[f], by_stage["receive"][p]["t1"])
        for stage, owner in (("decode", first_need), ("encode", final_by), ("send", final_by)):
            e = by_stage[stage].get(p)
            if e:
                per[owner[p]][stage].add(e["t0"], e["t1"])
                busy[stage].append((e["t0"], e["t1"]))
        if f in written:
            per[final_by[p]]["write"].add(*written[f])
            busy["write"].append(written[f])
    for k in range(len(wins)):
        e = by_stage["engine"][k]
        per[k]["engine"].add(e["t0"], e["t1"])
        engine.append((e["t0"], e["t1"]))
    engine.sort()
    prof = Profile(seam, n, size, per, submit, done, engine, wall=done - submit, overlap=overlap)
    # How much of the bridge's own work ran while the engine was busy (the overlap we want).
    total = inside = 0.0
    for stage in ("decode", "encode", "send", "write"):
        prof.stage_busy[stage] = sum(b - a for a, b in busy[stage])
        for a, b in busy[stage]:
            total += b - a
            inside += sum(max(0.0, min(b, e1) - max(a, e0)) for e0, e1 in engine)
    prof.overlap_share = inside / total if total else 0.0
    return prof


def chart(prof: Profile) -> str:
    """A text Gantt chart: one row per window and stage, time across."""
    t0, t1 = prof.submit, prof.done
    scale = CHART_COLUMNS / max(t1 - t0, 1e-9)
    marks = {"receive": "r", "decode": "d", "engine": "E", "encode": "c", "send": "s", "write": "w"}
    lines = [f"{'':10}0 s{'':{CHART_COLUMNS - 10}}{t1 - t0:6.1f} s"]
    for k, stages in enumerate(prof.windows):
        for stage in STAGES:
            sp = stages[stage]
            if sp.empty:
                continue
            a = int((sp.t0 - t0) * scale)
            b = max(a + 1, int(np.ceil((sp.t1 - t0) * scale)))
            row = [" "] * CHART_COLUMNS
            for i in range(max(0, a), min(CHART_COLUMNS, b)):
                row[i] = marks[stage]
            lines.append(f"w{k} {stage:<7}|{''.join(row)}|")
    return "\n".join(lines)


def window_table(prof: Profile) -> str:
    rows = []
    prev_end = None
    for k, st in enumerate(prof.windows):
        cells = [str(k)]
        for stage in STAGES:
            sp = st[stage]
            cells.append(
                "—" if sp.empty else f"{sp.t0 - prof.submit:.2f}–{sp.t1 - prof.submit:.2f}"
            )
        eng = st["engine"]
        wait = 0.0 if prev_end is None else max(0.0, eng.t0 - prev_end)
        ready = st["decode"].t1 - prof.submit if not st["decode"].empty else float("nan")
        cells += [
            f"{eng.t1 - eng.t0:.2f}",
            "—" if prev_end is None else f"{wait:.3f}",
            f"{ready:.2f}",
        ]
        prev_end = eng.t1
        rows.append(cells)
    header = [
        "window",
        *[f"{s} (s)" for s in STAGES],
        "engine s",
        "engine waited s",
        "inputs in at (s)",
    ]
    return report.markdown_table(header, rows, "r" * len(header))


def summary(profiles: list[Profile]) -> str:
    rows = []
    for p in profiles:
        ok = "✓" if p.idle_share < IDLE_GOAL else "✗"
        rows.append(
            [
                p.seam,
                f"{p.frames} × {p.size}",
                f"{len(p.windows)} × {p.overlap}",
                f"{p.wall:.1f}",
                f"{p.fill:.2f}",
                f"{p.engine_span:.2f}",
                f"{p.engine_busy:.2f}",
                f"{p.idle:.3f}",
                f"{100 * p.idle_share:.2f} % {ok}",
                f"{100 * p.overlap_share:.0f} %",
            ]
        )
    header = [
        "seam",
        "shot",
        "windows × overlap",
        "job wall s",
        "pipe fill s",
        "engine span s",
        "engine busy s",
        "engine idle s",
        f"idle share (< {100 * IDLE_GOAL:.0f} %)",
        "bridge work during engine",
    ]
    return report.markdown_table(header, rows, "ll" + "r" * 8)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=120)
    p.add_argument("--width", type=int, default=480)
    p.add_argument("--height", type=int, default=288)
    p.add_argument("--window", type=int, default=37)
    p.add_argument("--overlap", type=int, default=10)
    p.add_argument("--seams", nargs="*", default=["crossfade", "chain"])
    p.add_argument(
        "--hd",
        action="store_true",
        help="also run 60 frames at 1920x1080 (window 21, overlap 6): 8x the bytes per frame",
    )
    p.add_argument("--no-docs", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    configs = [(args.frames, args.width, args.height, args.window, args.overlap)]
    if args.hd:
        configs.append((60, 1920, 1080, 21, 6))
    profiles = []
    for frames, width, height, window, overlap in configs:
        for seam in args.seams:
            with tempfile.TemporaryDirectory(prefix="void-profile-") as tmp:
                log.info(
                    "%s: %d frames %dx%d through a daemon subprocess", seam, frames, width, height
                )
                profiles.append(run_job(seam, frames, width, height, window, overlap, Path(tmp)))
    parts = [
        f"`python bench/profile_bridge.py` — {report.stamp()}",
        "One real job per seam mode: the `pan` scene written as half-float EXRs, sent by `JobSession` "
        "(the code behind `void-remove run`) to a `void-daemon` subprocess over loopback ZeroMQ, `propagate` "
        "engine (windows and overlaps as in the table), results written back as EXRs. The daemon logs a "
        "monotonic timestamp pair per stage (`VOID_DAEMON_TIMINGS`). *Engine idle* is the time between its first "
        "start and last end in which it ran no window; *pipe fill* (one window of frames arriving before the first "
        "window can start) is apart. *Bridge work during engine* is the share of decode/encode/send/write time that "
        "ran while the engine was busy (all on the same 2 cores here, so they also compete with it). In `chain` "
        "mode a window starts from the previous window's last frames; the runner composites those it needs itself "
        "(a few ms each) instead of waiting for the finisher to store them, which had left the engine idle 16 % "
        "of the time before (measured with this script, 120 × 480x288).",
        summary(profiles),
    ]
    for prof in profiles:
        parts += [
            f"**{prof.seam}, {prof.frames} × {prof.size}** — per window, seconds since submit (r receive, d decode, E engine, c encode, s send, w write):",
            "```\n" + chart(prof) + "\n```",
            window_table(prof),
        ]
    body = "\n\n".join(parts)
    print(body)
    if not args.no_docs:
        report.update_section(SECTION, body)
        log.info("updated %s", report.DOCS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
