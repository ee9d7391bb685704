"""Load: many clients at once, a client that stops reading, bounded memory, a fair queue.

The figures come from ``bench/load.py`` (the same code prints the table in docs/benchmarks.md),
run here at the quick size; the slow variant runs the benchmark's full size.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from tests.support.bench_modules import bench_module
from tests.support.daemons import free_port
from tests.support.reporting import say
from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.job_spec import JobSpec
from void_daemon.demo_shot import make_shot
from void_daemon.server import Daemon, Limits


@pytest.mark.parametrize(
    "size",
    [pytest.param("quick", id="quick"), pytest.param("full", id="full", marks=pytest.mark.slow)],
)
def test_eight_clients_and_one_that_never_reads_all_complete_fairly_in_bounded_memory(
    tmp_path: Path, request: pytest.FixtureRequest, size: str
) -> None:
    load = bench_module("load")
    cfg = (
        load.LoadConfig()
        if size == "full"
        else load.LoadConfig(
            frames=16, width=96, height=64, window=13, overlap=4, slow_frames=13, slow_size=256
        )
    )
    r = load.run_load(cfg, tmp_path)
    say(request, "\n" + load.table(r))
    assert not r.errors and r.jobs_ok == cfg.clients  # every frame of every job, once, correct
    # Flow control: the client that stopped reading holds at most its credit; the rest waits on disk.
    assert r.slow_frames_done == cfg.slow_frames
    assert 1 <= r.slow_inflight_max <= cfg.slow_credit
    # Fair queue: positions reported in submission order (the slow job is first), round robin by window.
    assert sorted(r.queue_positions) == list(range(1, cfg.clients + 1))
    assert r.interleaved_jobs == cfg.clients
    assert r.max_overtakes <= 1
    assert r.rss_peak - r.rss_idle < 400 << 20


def test_a_client_that_stops_reading_gets_every_result_once_it_reads_again(tmp_path: Path) -> None:
    """The daemon's pipe to the client fills (SNDHWM 4 here): progress is dropped, results and
    credit are held in a bounded backlog and delivered, in order, once the client reads."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    daemon = Daemon(
        endpoint, tmp_path / "jobs", limits=Limits(send_hwm=4, max_backlog_messages=1000)
    )
    server = threading.Thread(target=daemon.serve_forever, daemon=True)
    server.start()
    assert daemon.ready.wait(30)
    # 1.25 MiB results, 8 in flight: more than the loopback socket buffers hold, so the pipe fills.
    shot = make_shot(frames=13, width=512, height=320, seed=21)
    spec = JobSpec(frames=shot.frames, width=512, height=320, window=13, overlap=4)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 1)
    sock.setsockopt(zmq.RCVBUF, 4096)
    sock.connect(endpoint)
    backlog_peak = 0
    try:
        sock.send_multipart(P.encode(P.Submit(id=1, spec=spec.to_dict(), result_credit=8)))
        job, credit, todo = "", 0, list(shot.frames)
        while todo:  # send every frame, reading only what credit needs
            msg = P.decode(sock.recv_multipart())
            if isinstance(msg, P.Ack):
                job, credit = job or msg.job, credit + msg.credit
            while credit and todo:
                f = todo.pop(0)
                i = f - shot.first
                img = [
                    (
                        P.ImageDesc.for_array(f, "plate", shot.plate[i].astype(np.float16)),
                        shot.plate[i].astype(np.float16),
                    ),
                    (
                        P.ImageDesc.for_array(f, "remove", shot.remove[i][..., None]),
                        shot.remove[i][..., None],
                    ),
                ]
                sock.send_multipart(P.encode(P.Frames(job=job, images=img)))
                credit -= 1
        # Now the client reads nothing until the job has finished every frame.
        with DaemonClient(endpoint) as watcher:
            deadline = time.monotonic() + 60
            while (
                watcher.status(job)[0]["frames_done"] < len(shot.frames)
                and time.monotonic() < deadline
            ):
                backlog_peak = max(
                    backlog_peak, sum(len(b) for b in list(daemon.outbox.backlog.values()))
                )
                time.sleep(0.01)
            assert watcher.status(job)[0]["frames_inflight"] <= 8
        assert backlog_peak > 0  # the pipe really filled and the backlog really held messages
        got: dict[int, int] = {}
        deadline = time.monotonic() + 60
        done = False
        while not done and time.monotonic() < deadline:
            if not sock.poll(10_000):
                break
            msg = P.decode(sock.recv_multipart())
            if isinstance(msg, P.Result):
                frames = [d.frame for d, _ in msg.images]
                for f in frames:
                    got[f] = got.get(f, 0) + 1
                sock.send_multipart(P.encode(P.Ack(job=job, frames=frames)))
            elif isinstance(msg, P.Progress) and msg.stage == "done":
                done = True
            assert not isinstance(msg, P.Error), msg
        assert done and sorted(got) == shot.frames and set(got.values()) == {1}
        assert not daemon.outbox.backlog  # all delivered
    finally:
        sock.close(0)
        daemon.stop()
        server.join(30)
