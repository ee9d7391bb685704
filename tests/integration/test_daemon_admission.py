"""Admission, memory, connections and errors of a real daemon subprocess (issue 15, findings 5-10).

Each test reproduces one observation of the adversarial review on a real ``void-daemon``
process over loopback ZeroMQ, with raw DEALER sockets where a hostile client is needed:

* a FIFO named as ``ocio_config`` must not freeze the daemon (it still answers ``hello`` and
  stops on SIGTERM);
* tiny messages must not cost memory: a pattern's padding width is validated before anything
  is expanded, names and ids have length limits, ``status`` replies are bounded, and replies a
  client never reads are capped (RSS measured with psutil before and after);
* a job is refused when the engine's estimated peak memory exceeds ``--memory-budget-gib``;
* ``--max-clients`` gives new peers a ``busy`` error and keeps file descriptors for real jobs,
  even under a small ``RLIMIT_NOFILE``;
* ``hello`` is answered from cached capabilities: 300 pipelined hellos take well under a second;
* what a client can send never yields ``internal``.

See ``docs/reliability.md`` ("Admission, memory and connections") for the guarantees.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import psutil
import pytest
import zmq

from tests.support.daemons import DaemonProcess, PeakRSS, try_mount, umount
from tests.support.reporting import say
from void_client import protocol as P
from void_client.autostart import wait_for_daemon
from void_client.client import DaemonClient
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.sequence import SequencePattern
from void_daemon.demo_shot import make_shot, write_shot

#: RSS a daemon may gain from one hostile request (allocator slack, lazily imported modules).
RSS_BOUND = 64 << 20

_request: pytest.FixtureRequest | None = None


@pytest.fixture(autouse=True)
def _remember_request(request: pytest.FixtureRequest) -> None:
    global _request
    _request = request


def note(text: str) -> None:
    """Measured figures go to the run's output (tests/support/reporting.say)."""
    assert _request is not None
    say(_request, text)


# ----------------------------------------------------------------------------- raw client


class Raw:
    """A raw DEALER socket: sends any header, reads replies without interpreting them."""

    def __init__(self, endpoint: str, ctx: zmq.Context | None = None, rcvhwm: int = 0) -> None:
        self.sock = (ctx or zmq.Context.instance()).socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if rcvhwm:
            self.sock.setsockopt(zmq.RCVHWM, rcvhwm)
            self.sock.setsockopt(zmq.RCVBUF, 4096)
        self.sock.connect(endpoint)
        self.next_id = 1

    def close(self) -> None:
        self.sock.close(0)

    def send_header(self, header: dict[str, Any]) -> int:
        req = self.next_id
        self.next_id += 1
        self.sock.send_multipart([msgpack.packb({"v": P.PROTOCOL_VERSION, "id": req, **header})])
        return req

    def reply(self, req: int, timeout: float = 10.0) -> tuple[P.Message, int]:
        """The reply to ``req`` and the size of its header in bytes."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not self.sock.poll(int(left * 1000) + 1):
                break
            parts = self.sock.recv_multipart()
            msg = P.decode(parts)
            if msg.id == req:
                return msg, len(parts[0])
        raise AssertionError(f"no reply to request {req} within {timeout} s")

    def request(self, header: dict[str, Any], timeout: float = 10.0) -> P.Message:
        return self.reply(self.send_header(header), timeout)[0]


def submit_header(**spec: Any) -> dict[str, Any]:
    base = {"frames": [1], "width": 64, "height": 48}
    return {"type": "submit", "spec": {**base, **spec}, "result_credit": 1}


def assert_typed(msg: P.Message, *codes: ErrorCode) -> P.Error:
    assert isinstance(msg, P.Error), msg
    assert msg.code != ErrorCode.INTERNAL.value, msg.message
    if codes:
        assert msg.code in {c.value for c in codes}, (msg.code, msg.message)
    assert msg.message and "\n" not in msg.message, msg.message
    return msg


def rss(d: DaemonProcess) -> int:
    assert d.proc is not None
    return psutil.Process(d.proc.pid).memory_info().rss


def settled_rss(d: DaemonProcess, timeout: float = 20.0) -> int:
    """The daemon's RSS once its start-up imports (GPU detection imports torch in a thread) are
    over: two samples half a second apart within 2 MiB."""
    last = rss(d)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss(d)
        if abs(now - last) < 2 << 20:
            return now
        last = now
    return last


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("admission")


@pytest.fixture(scope="module")
def pathd(root: Path):  # type: ignore[no-untyped-def]
    """A daemon with path mode on (``--allow-root``), shared by the cheap tests of this module."""
    allowed = root / "allowed"
    allowed.mkdir()
    d = DaemonProcess(root / "jobs", extra=["--allow-root", str(allowed)]).start()
    d.allowed = allowed  # type: ignore[attr-defined]
    yield d
    d.stop()


@pytest.fixture
def raw(pathd: DaemonProcess):  # type: ignore[no-untyped-def]
    r = Raw(pathd.endpoint)
    assert isinstance(r.request({"type": "hello"}), P.Hello)  # warm: engines imported
    yield r
    r.close()


# ----------------------------------------------------------------------------- finding 6: memory


@pytest.mark.parametrize(
    "pattern",
    [
        "x.%0900000000d.exr",  # 900 MB of zeros per path under today's code
        "x.%099999999999999999999d.exr",  # a 20-digit width: Python refuses to format it
        "x.$F900000000.exr",
        "x." + "#" * 100 + ".exr",
    ],
    ids=["printf-9-digit", "printf-20-digit", "houdini", "hashes"],
)
def test_wide_padding_is_bad_spec_before_anything_is_expanded(
    pathd: DaemonProcess, raw: Raw, pattern: str
) -> None:
    out = str(pathd.allowed / pattern)  # type: ignore[attr-defined]
    before = settled_rss(pathd)
    assert pathd.proc is not None
    peak = PeakRSS(pathd.proc.pid, interval=0.005)
    reply = raw.request(submit_header(transfer="paths", out_pattern=out), timeout=60)
    grew = peak.stop() - before
    note(
        f"padding {pattern[:24]!r}: {reply.code if isinstance(reply, P.Error) else reply}, "
        f"RSS +{grew / 2**20:.1f} MiB"
    )
    err = assert_typed(reply, ErrorCode.BAD_SPEC)
    assert "padding" in err.message, err.message
    assert grew < RSS_BOUND, f"RSS grew by {grew / 2**20:.0f} MiB"


def test_long_names_and_ids_are_refused_before_any_work(raw: Raw) -> None:
    err = assert_typed(raw.request(submit_header(name="n" * 900_000)), ErrorCode.BAD_SPEC)
    assert err.field == "name", err
    err = assert_typed(raw.request(submit_header(job_id="j" * 65)), ErrorCode.BAD_SPEC)
    assert err.field == "job_id", err
    req = raw.send_header({"type": "status", "job": "j" * 100_000})
    assert_typed(raw.reply(req)[0], ErrorCode.BAD_MESSAGE, ErrorCode.TOO_LARGE)


def test_status_reply_is_bounded_even_with_long_job_names(pathd: DaemonProcess) -> None:
    """A 60-byte ``status`` once returned 34 MiB. Long names are refused at submit now; jobs
    journalled before that (names up to the header limit) are truncated in the reply."""
    r = Raw(pathd.endpoint)
    try:
        for i in range(4):
            r.request(submit_header(name=f"{i}" + "n" * 200_000))  # refused or accepted
        req = r.send_header({"type": "status"})
        msg, size = r.reply(req)
        assert isinstance(msg, P.Status), msg
        note(f"status reply: {size} bytes for {len(msg.jobs)} jobs")
        assert size <= 256 << 10, f"a status reply of {size} bytes"
    finally:
        r.close()


def test_replies_a_client_never_reads_are_capped_in_bytes(root: Path) -> None:
    """400 requests whose replies are never read: the daemon's RSS stays within a bound."""
    d = DaemonProcess(root / "jobs-unread").start()
    # A client whose ZeroMQ buffers almost nothing: what it does not read stays in the daemon.
    r = Raw(d.endpoint, rcvhwm=1)
    try:
        for i in range(10):  # queued jobs with the longest names the daemon accepts
            r.request(submit_header(name=f"{i}" + "n" * 50_000))
        r.request({"type": "hello"})
        before = settled_rss(d)
        assert d.proc is not None
        peak = PeakRSS(d.proc.pid)
        for _ in range(400):
            r.send_header({"type": "status"})
        time.sleep(3.0)  # the daemon answers into a client that reads nothing
        grew = peak.stop() - before
        note(f"400 unread status replies: daemon RSS +{grew / 2**20:.1f} MiB")
        with DaemonClient(d.endpoint, timeout=10) as other:  # still serving others
            assert other.hello().daemon_version
        assert grew < RSS_BOUND, f"RSS grew by {grew / 2**20:.0f} MiB"
    finally:
        r.close()
        d.stop()


def test_a_job_over_the_memory_budget_is_refused_with_the_size_that_fits(root: Path) -> None:
    """A 1-frame 2048x2048 propagate job peaks near 2 GiB; a 0.5 GiB budget refuses it."""
    d = DaemonProcess(root / "jobs-budget", extra=["--memory-budget-gib", "0.5"]).start()
    try:
        with DaemonClient(d.endpoint) as c:
            with pytest.raises(VoidError) as exc:
                c.submit(JobSpec(frames=[1], width=2048, height=2048, engine="propagate"))
            err = exc.value
            note(f"2048x2048 under 0.5 GiB: [{err.code.value}] {err.message}")
            assert err.code == ErrorCode.TOO_LARGE and err.field == "width", err
            assert "GiB" in err.message and "--memory-budget-gib" in err.message
            # The message names the largest size that fits (same aspect): it must be accepted.
            m = re.search(r"(\d+)x(\d+) fits", err.message)
            assert m, err.message
            w, h = int(m.group(1)), int(m.group(2))
            assert 256 <= w < 2048 and w == h
            ack = c.submit(JobSpec(frames=[1], width=w, height=h, engine="propagate"))
            c.cancel(ack.job)
    finally:
        d.stop()


# ----------------------------------------------------------------------------- finding 10: errors


def test_engine_options_nested_500_deep_is_a_typed_error(raw: Raw) -> None:
    deep: Any = {}
    for _ in range(500):
        deep = {"k": deep}
    assert_typed(
        raw.request(submit_header(engine_options=deep)), ErrorCode.BAD_MESSAGE, ErrorCode.BAD_SPEC
    )


def test_job_id_naming_a_file_in_the_jobs_folder_is_bad_spec(
    pathd: DaemonProcess, raw: Raw
) -> None:
    (pathd.jobs_dir / "taken").write_text("not a job")
    err = assert_typed(raw.request(submit_header(job_id="taken")), ErrorCode.BAD_SPEC)
    assert err.field == "job_id"
    err = assert_typed(raw.request(submit_header(job_id="cache")), ErrorCode.BAD_SPEC)
    assert err.field == "job_id"
    assert (pathd.jobs_dir / "taken").read_text() == "not a job"


@pytest.fixture
def tmpfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if not try_mount(["-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)]):
        pytest.skip("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
    yield mnt
    umount(mnt)


def fill_disk(folder: Path, leave: int = 0) -> None:
    """Fill the file system of ``folder`` until about ``leave`` bytes are free."""
    todo = max(0, psutil.disk_usage(str(folder)).free - leave)
    try:
        with open(folder / f"filler-{time.monotonic_ns()}.bin", "wb", buffering=0) as f:
            while todo > 0:
                todo -= f.write(b"\0" * min(todo, 4096))
    except OSError:  # full: that was the point
        pass


def test_submit_on_a_full_jobs_disk_is_typed_and_leaves_no_zombie_job(tmpfs: Path) -> None:
    d = DaemonProcess(tmpfs / "jobs").start()
    try:
        with DaemonClient(d.endpoint) as c:
            c.hello()
            # Room for the daemon's free-space estimate (1 KiB of plate) but not for the job's
            # spec and journal: the submit fails half-way through creating the job.
            fill_disk(tmpfs, leave=6000)
            with pytest.raises(VoidError) as exc:
                c.submit(JobSpec(frames=[1], width=8, height=8, job_id="late"))
            err = exc.value
            note(f"submit on a full disk: [{err.code.value}] {err.message}")
            assert err.code == ErrorCode.IO_ERROR, err
            assert str(tmpfs / "jobs") in err.message and "free" in err.message
            assert " 0 MiB" not in err.message
            assert [j["job"] for j in c.status()] == []  # no zombie queued job
        d.stop()
        d.start()  # nor after a restart
        with DaemonClient(d.endpoint) as c:
            assert [j["job"] for j in c.status()] == []
    finally:
        d.stop()


def test_free_space_is_stated_in_readable_units(tmpfs: Path) -> None:
    """A job a little too big for a nearly full disk must not read "needs 0 MiB, 0 MiB free"."""
    d = DaemonProcess(tmpfs / "jobs").start()
    try:
        with DaemonClient(d.endpoint) as c:
            c.hello()
            fill_disk(tmpfs, leave=200_000)
            with pytest.raises(VoidError) as exc:  # ~600 KB of half-float plates
                c.submit(JobSpec(frames=list(range(1, 9)), width=128, height=64))
            msg = exc.value.message
            note(f"too big for the disk: {msg}")
            assert exc.value.code == ErrorCode.IO_ERROR
            assert " 0 MiB" not in msg and "KiB" in msg, msg
    finally:
        d.stop()


# ----------------------------------------------------------------------------- finding 1 (daemon)


def test_path_mode_refuses_an_out_pattern_equal_to_a_plate_pattern(pathd: DaemonProcess) -> None:
    allowed: Path = pathd.allowed  # type: ignore[attr-defined]
    paths = write_shot(make_shot(frames=3, width=64, height=48, seed=5), str(allowed / "shot"))
    plate = SequencePattern.parse(paths["plate"])
    frames = [1001, 1002, 1003]
    if not os.path.exists(plate.path(frames[0])):
        frames = [f for f in range(0, 2000) if os.path.exists(plate.path(f))][:3]
    before = {f: Path(plate.path(f)).read_bytes() for f in frames}
    r = Raw(pathd.endpoint)
    try:
        spec = {
            "frames": frames,
            "width": 64,
            "height": 48,
            "transfer": "paths",
            "out_pattern": paths["plate"],
            "window": 13,
            "overlap": 4,
        }
        reply = r.request({"type": "submit", "spec": spec, "result_credit": 4})
        if isinstance(reply, P.Ack):  # refused per frame if not at submit
            entries = [
                {
                    "frame": f,
                    "plate": plate.path(f),
                    "remove": SequencePattern.parse(paths["remove"]).path(f),
                }
                for f in frames
            ]
            req = r.send_header({"type": "frames", "job": reply.job, "paths": entries})
            deadline = time.monotonic() + 30
            reply = None
            while time.monotonic() < deadline and not isinstance(reply, P.Error):
                if r.sock.poll(1000):
                    reply = P.decode(r.sock.recv_multipart())
                    if isinstance(reply, P.Progress) and reply.stage == "done":
                        break  # the daemon wrote its results over the plate
            assert req
        err = assert_typed(reply)  # type: ignore[arg-type]
        note(f"out_pattern = plate pattern: [{err.code}] {err.message}")
        assert err.field in ("out", "out_pattern", "paths.plate", "paths"), err
    finally:
        r.close()
    time.sleep(0.5)
    assert {f: Path(plate.path(f)).read_bytes() for f in frames} == before


# ----------------------------------------------------------------------------- finding 8


def test_300_pipelined_hellos_are_answered_from_cached_capabilities(
    pathd: DaemonProcess, raw: Raw
) -> None:
    reqs = [raw.send_header({"type": "hello", "client": "flood"}) for _ in range(300)]
    t0 = time.perf_counter()
    last = reqs[-1]
    raw.reply(last, timeout=60)
    wall = time.perf_counter() - t0
    note(f"300 pipelined hellos: {wall:.3f} s wall ({wall / 300 * 1000:.2f} ms each)")
    assert wall < 1.5, f"300 hellos took {wall:.1f} s"


class LimitedDaemon(DaemonProcess):
    """A daemon started under ``prlimit --nofile=N:N`` (soft and hard descriptor limits)."""

    def __init__(self, jobs_dir: Path, nofile: str, extra: list[str] | None = None) -> None:
        super().__init__(jobs_dir, extra=extra)
        self.nofile = nofile  # "SOFT:HARD"

    def start(self, timeout: float = 60.0) -> LimitedDaemon:  # type: ignore[override]
        cmd = [
            "prlimit",
            f"--nofile={self.nofile}",
            "--",
            sys.executable,
            "-m",
            "void_daemon",
            "serve",
            "--endpoint",
            self.endpoint,
            "--jobs-dir",
            str(self.jobs_dir),
            *self.extra,
        ]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_for_daemon(self.endpoint, self.proc, timeout)
        return self


def run_small_job(client: DaemonClient, shot: dict[str, str], out: Path) -> dict[int, np.ndarray]:
    from void_client.sequence_job import RemoveRequest, SequenceJob
    from void_client.session import JobSession

    job = SequenceJob(
        RemoveRequest(
            shot["plate"],
            shot["remove"],
            str(out / "o.####.exr"),
            shot["affected"],
            settings={"window": 13, "overlap": 4},
        )
    )
    got: dict[int, np.ndarray] = {}
    JobSession(client, job.job_spec(), job.read_frame, got.__setitem__).run()
    return got


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux prlimit")
@pytest.mark.parametrize(
    "nofile, peers",
    [
        ("256:4096", 300),
        ("256:256", 150),
        pytest.param("1024:4096", 1000, marks=pytest.mark.slow),  # the review's own figures
    ],
    ids=["soft-limit-below-hard", "hard-limit", "review-scale"],
)
def test_idle_connections_do_not_starve_a_real_job_of_descriptors(
    root: Path, nofile: str, peers: int
) -> None:
    """1000 idle connections under a 1024-descriptor soft limit once made a real job fail with
    "Too many open files" (scaled here: 300 peers under a 256 soft limit). The daemon lifts its
    soft limit to the hard one, and shuts down connections beyond --max-clients (+ grace), so a
    job still gets its descriptors even where the hard limit is 256 too."""
    d = LimitedDaemon(root / f"jobs-nofile-{peers}", nofile=nofile).start()
    assert d.proc is not None
    shot = write_shot(
        make_shot(frames=6, width=64, height=48, seed=9), str(root / f"nofile-shot-{peers}")
    )
    worker = DaemonClient(d.endpoint, timeout=30)
    worker.hello()  # a client that was there before the flood
    ctx = zmq.Context()
    idle = []
    try:
        for _ in range(peers):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(d.endpoint)
            idle.append(s)
        time.sleep(3.0)
        pid = d.proc.pid
        fds = psutil.Process(pid).num_fds() if psutil.pid_exists(pid) else -1
        note(f"daemon holds {fds} descriptors (nofile {nofile}) with {peers} idle peers")
        got = run_small_job(worker, shot, root / f"nofile-out-{peers}")
        assert sorted(got) == list(range(1001, 1007))
        assert worker.hello().daemon_version
    finally:
        for s in idle:
            s.close(0)
        ctx.term()
        worker.close()
        d.stop()


def test_a_client_beyond_max_clients_hears_busy(root: Path) -> None:
    d = DaemonProcess(root / "jobs-busy", extra=["--max-clients", "8"]).start()
    peers = []
    try:
        peers = [DaemonClient(d.endpoint, timeout=10) for _ in range(8)]
        for p in peers:
            p.hello()
        with DaemonClient(d.endpoint, timeout=10) as late:
            with pytest.raises(VoidError) as exc:
                late.hello()
        note(f"the 9th client: [{exc.value.code.value}] {exc.value.message}")
        assert exc.value.code.value == "busy"
        assert "--max-clients" in exc.value.message
        assert peers[0].hello().daemon_version  # the admitted ones are still served
        peers.pop().close()
        time.sleep(0.5)
        with DaemonClient(d.endpoint, timeout=10) as next_one:  # a slot freed up
            assert next_one.hello().daemon_version
    finally:
        for p in peers:
            p.close()
        d.stop()


# ----------------------------------------------------------------------------- finding 5 (FIFO)


def test_a_fifo_ocio_config_is_refused_and_the_daemon_answers_and_stops(
    pathd: DaemonProcess, raw: Raw, root: Path
) -> None:
    fifo = root / "config.ocio"
    os.mkfifo(fifo)
    err = assert_typed(
        raw.request(submit_header(ocio_config=str(fifo), colourspace="ACEScg")),
        ErrorCode.BAD_SPEC,
    )
    assert err.field == "ocio_config" and "regular file" in err.message
    assert isinstance(raw.request({"type": "hello"}, timeout=5), P.Hello)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("diffusers")
    from tests.support.void_tiny import write_tiny_weights

    return write_tiny_weights(tmp_path_factory.mktemp("void_weights"))


def test_a_fifo_ocio_config_on_a_void_job_does_not_freeze_the_daemon(
    root: Path, tiny_weights: Path
) -> None:
    """The observed freeze: the void engine loads the job's OCIO config; a FIFO blocked it with
    the GIL held, so the daemon answered nothing and ignored SIGTERM."""
    fifo = root / "later.ocio"
    d = DaemonProcess(
        root / "jobs-fifo", extra=["--weights-dir", str(tiny_weights), "--device", "cpu"]
    ).start()
    r = Raw(d.endpoint)
    try:
        os.mkfifo(fifo)
        reply = r.request(
            submit_header(engine="void", ocio_config=str(fifo), colourspace="ACEScg"), timeout=30
        )
        if isinstance(reply, P.Error):
            assert_typed(reply, ErrorCode.BAD_SPEC)
        t0 = time.monotonic()
        assert isinstance(r.request({"type": "hello"}, timeout=30), P.Hello)
        note(f"hello after a FIFO ocio_config: {time.monotonic() - t0:.2f} s")
    finally:
        r.close()
        assert d.proc is not None
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(20)
        except subprocess.TimeoutExpired:
            d.kill()
            rc = None
    assert rc is not None, "the daemon ignored SIGTERM for 20 s"


def test_a_resumed_job_whose_ocio_config_became_a_fifo_fails_typed(
    root: Path, tiny_weights: Path
) -> None:
    """After a restart the journal resumed the frozen job and froze the daemon again. Here the
    config is a regular file at submit and a FIFO when the restarted daemon resumes the job: the
    job fails with a typed error, the daemon answers and stops on SIGTERM."""
    ocio = pytest.importorskip("PyOpenColorIO")
    config = root / "resume.ocio"
    config.write_text(ocio.Config.CreateFromFile("ocio://default").serialize())
    extra = ["--weights-dir", str(tiny_weights), "--device", "cpu"]
    d = DaemonProcess(root / "jobs-resume-fifo", extra=extra).start()
    try:
        with DaemonClient(d.endpoint, timeout=30) as c:
            spec = JobSpec(
                frames=[1],
                width=64,
                height=48,
                engine="void",
                ocio_config=str(config),
                colourspace="ACEScg",
                job_id="fifo_later",
            )
            c.submit(spec)
        d.stop()
        config.unlink()
        os.mkfifo(config)
        d.start()
        with DaemonClient(d.endpoint, timeout=30) as c:
            deadline = time.monotonic() + 30
            state: dict = {}
            while time.monotonic() < deadline:
                state = c.status("fifo_later")[0]
                if state["state"] == "failed":
                    break
                time.sleep(0.2)
            note(f"resumed job with a FIFO config: {state['state']}: {state.get('error')}")
            assert state["state"] == "failed", state
            assert state["error"]["code"] == "bad_spec"
            assert "FIFO" in state["error"]["message"]
            assert c.hello().daemon_version
    finally:
        assert d.proc is not None
        if d.proc.poll() is None:
            d.proc.send_signal(signal.SIGTERM)
            try:
                d.proc.wait(20)
            except subprocess.TimeoutExpired:
                d.kill()
                pytest.fail("the daemon ignored SIGTERM for 20 s")


def test_the_backlog_of_a_client_that_reads_nothing_is_capped_in_bytes() -> None:
    """The per-client backlog once counted messages (10,000 of any size); it is capped in bytes
    now: replies beyond ``max_backlog_bytes`` make the client count as gone."""
    from void_daemon.transport import Outbox, configure_router

    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    configure_router(router, send_hwm=2)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    pull = ctx.socket(zmq.PULL)
    pull.bind("inproc://void-daemon-outbox")
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVHWM, 1)
    dealer.setsockopt(zmq.RCVBUF, 4096)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    try:
        dealer.send(b"hi")
        ident = router.recv_multipart()[0]
        outbox = Outbox(ctx, 10_000, lambda job, frames: None, max_backlog_bytes=1 << 20)
        reply = P.Status(jobs=[{"job": "x", "name": "n" * 200}] * 100)  # ~25 KB each
        most = 0
        for _ in range(400):
            outbox.send(ident, reply)
            outbox.forward(router, pull.recv_multipart(copy=False))
            most = max(most, outbox.backlog_bytes.get(ident, 0))
        note(f"backlog of a client that reads nothing: at most {most / 2**20:.2f} MiB held")
        assert most <= (1 << 20) + (64 << 10)  # the cap, plus the one reply that crossed it
        assert ident not in outbox.backlog or outbox.backlog_bytes[ident] <= 1 << 20
    finally:
        ctx.destroy(0)  # the outbox's per-thread PUSH socket too


def test_image_library_stderr_lines_go_into_the_error_not_the_log(pathd: DaemonProcess) -> None:
    """libpng (inside OpenImageIO) prints "libpng error: ..." straight to stderr: in the daemon
    that line went to the log with nothing to say which job or file it was about."""
    allowed: Path = pathd.allowed  # type: ignore[attr-defined]
    bad = allowed / "bad"
    bad.mkdir()
    (bad / "p.0001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    r = Raw(pathd.endpoint)
    try:
        spec = {
            "frames": [1],
            "width": 64,
            "height": 48,
            "transfer": "paths",
            "out_pattern": str(bad / "out.####.exr"),
        }
        ack = r.request({"type": "submit", "spec": spec, "result_credit": 1})
        assert isinstance(ack, P.Ack), ack
        png = str(bad / "p.0001.png")
        r.send_header(
            {
                "type": "frames",
                "job": ack.job,
                "paths": [{"frame": 1, "plate": png, "remove": png}],
            }
        )
        deadline = time.monotonic() + 20
        err = None
        while time.monotonic() < deadline and err is None:
            if r.sock.poll(500):
                msg = P.decode(r.sock.recv_multipart())
                err = msg if isinstance(msg, P.Error) else None
        assert err is not None, "no error for a corrupt PNG plate"
        note(f"corrupt PNG plate: [{err.code}] {err.message}")
        assert err.code == ErrorCode.CORRUPT_FRAME.value
        assert "libpng error" in err.message and "\n" not in err.message
    finally:
        r.close()
    time.sleep(0.3)
    raw_lines = [ln for ln in pathd.log.read_text().splitlines() if ln.startswith("libpng")]
    assert raw_lines == []
