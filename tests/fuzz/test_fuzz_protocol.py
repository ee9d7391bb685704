"""Fuzz the wire: every message type, against a real daemon subprocess, with hypothesis.

Each case is one multipart message sent on a raw DEALER socket, followed by a ``hello`` probe.
A case passes when the daemon (1) answers the probe — it neither crashed nor stalled — (2)
refused bad input with a *specific* error code (never ``internal``), the exact code where the
case has a single, known fault, and (3) kept serving a second client whose ``hello`` is timed
all through the run. The daemon's resident memory is checked too: declared shapes of up to
64 GiB must not be allocated. The default budget runs in about half a minute; the ``slow``
variant tries ten times as many cases. Counts per category are printed at the end of the module.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import psutil
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.daemons import DaemonProcess
from tests.support.reporting import say
from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_daemon.demo_shot import make_shot, write_shot

#: Examples per category: (default run, slow run).
BUDGET = {
    "decode": (400, 5000),
    "random_bytes": (60, 600),
    "headers": (120, 1200),
    "submit": (60, 600),
    "frames_fault": (90, 900),
    "frames_random": (40, 400),
    "paths": (40, 400),
}
CODES = {c.value for c in ErrorCode} - {ErrorCode.INTERNAL.value}
#: Daemon RSS may grow by this much over the whole run (caches, allocator); a 64 GiB declared
#: shape allocated even once would blow far past it.
RSS_GROWTH_LIMIT = 200 << 20


def budget(name: str, slow: bool) -> settings:
    return settings(
        max_examples=BUDGET[name][1 if slow else 0],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not slow,  # the default run is reproducible; the slow run explores
    )


SPEEDS = [pytest.param(False, id="default"), pytest.param(True, id="slow", marks=pytest.mark.slow)]


# ----------------------------------------------------------------------------- the harness


class Wire:
    """A raw DEALER socket: sends arbitrary frames, reads replies, checks every error it sees."""

    def __init__(self, endpoint: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.probe_id = 1 << 40
        self.bad: list[str] = []  # errors without a specific code, undecodable replies

    def close(self) -> None:
        self.sock.close(0)

    def send(self, parts: list[Any]) -> None:
        self.sock.send_multipart(parts, copy=True)

    def _recv(self, timeout: float) -> P.Message | None:
        if not self.sock.poll(int(timeout * 1000)):
            return None
        parts = self.sock.recv_multipart()
        try:
            msg = P.decode(parts)
        except VoidError as exc:
            self.bad.append(f"daemon sent an undecodable reply: {exc}")
            return None
        if isinstance(msg, P.Error) and (msg.code not in CODES or not msg.message):
            self.bad.append(f"unspecific error {msg.code}: {msg.message}")
        return msg

    def exchange(self, parts: list[Any], timeout: float = 15.0) -> list[P.Message]:
        """Send ``parts`` then a hello probe; the replies that came before the probe's answer."""
        self.send(parts)
        self.probe_id += 1
        self.send(P.encode(P.Hello(id=self.probe_id, client="fuzz-probe")))
        got: list[P.Message] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._recv(deadline - time.monotonic())
            if msg is None:
                continue
            if isinstance(msg, P.Hello) and msg.id == self.probe_id:
                return got
            got.append(msg)
        raise AssertionError("the daemon stopped answering")

    def wait_for(self, pred, timeout: float = 10.0) -> P.Message | None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._recv(deadline - time.monotonic())
            if msg is not None and pred(msg):
                return msg
        return None

    def request(self, msg: P.Message) -> P.Message:
        got = self.exchange(P.encode(msg))
        replies = [m for m in got if m.id == msg.id]
        assert replies, got
        return replies[0]


class Watchdog(threading.Thread):
    """A second, well-behaved client saying hello every 50 ms for the whole run."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.latencies: list[float] = []
        self.failures = 0
        self.halt = threading.Event()
        self.start()

    def run(self) -> None:
        with DaemonClient(self.endpoint, timeout=5.0) as c:
            while not self.halt.is_set():
                t = time.perf_counter()
                try:
                    c.hello()
                    self.latencies.append(time.perf_counter() - t)
                except VoidError:
                    self.failures += 1
                self.halt.wait(0.05)

    def check(self) -> None:
        assert self.failures == 0, f"{self.failures} hellos of the second client went unanswered"
        assert self.latencies and max(self.latencies) < 3.0, max(self.latencies or [0])


class Fuzz:
    def __init__(self, root: Path, daemon: DaemonProcess) -> None:
        self.root = root
        self.daemon = daemon
        self.wire = Wire(daemon.endpoint)
        self.watchdog = Watchdog(daemon.endpoint)
        self.cases: Counter[str] = Counter()
        assert daemon.proc is not None
        self.ps = psutil.Process(daemon.proc.pid)
        self.wire.request(P.Hello(id=1, client="warm-up"))  # engines imported: the idle baseline
        self.rss0 = self.ps.memory_info().rss

    def alive(self) -> None:
        assert self.daemon.proc is not None and self.daemon.proc.poll() is None, "the daemon died"
        assert not self.wire.bad, self.wire.bad[:5]
        self.watchdog.check()
        grew = self.ps.memory_info().rss - self.rss0
        assert grew < RSS_GROWTH_LIMIT, f"daemon RSS grew by {grew >> 20} MiB"

    def submit(self, spec: JobSpec) -> str:
        reply = self.wire.request(
            P.Submit(id=self.wire.probe_id + 7, spec=spec.to_dict(), result_credit=2)
        )
        assert isinstance(reply, P.Ack), reply
        return reply.job

    def cancel(self, job: str) -> None:
        self.wire.exchange(P.encode(P.Cancel(job=job, id=3)))


@pytest.fixture(scope="module")
def fz(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("fuzz")
    allowed = root / "allowed"
    allowed.mkdir()
    d = DaemonProcess(root / "jobs", extra=["--allow-root", str(allowed)]).start()
    f = Fuzz(root, d)
    f.allowed = allowed  # type: ignore[attr-defined]
    yield f
    f.watchdog.halt.set()
    f.watchdog.join(5)
    f.wire.close()
    grew = (f.ps.memory_info().rss - f.rss0) >> 20
    d.stop()
    total = sum(f.cases.values())
    lat = sorted(f.watchdog.latencies) or [0.0]
    line = (
        f"protocol fuzz: {total} cases ({', '.join(f'{k} {v}' for k, v in sorted(f.cases.items()))}); "
        f"second client: {len(f.watchdog.latencies)} hellos answered, p50 {1000 * lat[len(lat) // 2]:.1f} ms, "
        f"max {1000 * lat[-1]:.1f} ms; daemon RSS +{grew} MiB"
    )
    say(request, line)


# ----------------------------------------------------------------------------- strategies

TYPES = sorted(P.MESSAGE_TYPES)
FIELDS = sorted(
    {f for cls in P.MESSAGE_TYPES.values() for f in cls.__dataclass_fields__ if f != "images"}
    | {"spec", "paths"}
)
INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INT64,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=40),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=6,
)
IMAGE_DESC = st.fixed_dictionaries(
    {},
    optional={
        "frame": st.one_of(INT64, VALUES),
        "role": st.one_of(st.sampled_from(P.ROLES), VALUES),
        "dtype": st.one_of(st.sampled_from(["f16", "f32", "u8", "f64"]), VALUES),
        "shape": st.one_of(st.lists(st.integers(-5, 2**33), max_size=4), VALUES),
        "channels": st.one_of(st.lists(st.text(max_size=5), max_size=5), VALUES),
        "data_window": VALUES,
        "display_window": VALUES,
    },
)


def pack(header: Any) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


# ----------------------------------------------------------------------------- decode, in-process


@pytest.mark.parametrize("slow", SPEEDS)
def test_decode_raises_only_void_errors_and_never_allocates_from_a_declared_size(
    fz: Fuzz, slow: bool
) -> None:
    """protocol.decode on its own, fast enough for thousands of cases: it returns a message or
    raises VoidError, and an image is a view of the bytes that came, never a fresh buffer."""

    @budget("decode", slow)
    @given(
        version=st.one_of(st.just(P.PROTOCOL_VERSION), VALUES),
        mtype=st.one_of(st.sampled_from(TYPES), VALUES),
        fields=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4),
        images=st.one_of(st.lists(IMAGE_DESC, max_size=3), VALUES),
        buffers=st.lists(st.binary(max_size=64), max_size=4),
    )
    def case(version: Any, mtype: Any, fields: dict, images: Any, buffers: list[bytes]) -> None:
        fz.cases["decode"] += 1
        header = {**fields, "v": version, "type": mtype, "images": images}
        try:
            msg = P.decode([pack(header), *buffers])
        except VoidError as exc:
            assert exc.code.value in CODES and exc.message
            return
        for (_, arr), buf in zip(msg.images, buffers):
            assert not arr.flags.owndata and arr.nbytes == len(buf)

    case()


# ----------------------------------------------------------------------------- raw bytes


@pytest.mark.parametrize("slow", SPEEDS)
def test_random_bytes_get_a_specific_error(fz: Fuzz, slow: bool) -> None:
    @budget("random_bytes", slow)
    @given(parts=st.lists(st.binary(max_size=300), min_size=1, max_size=4))
    def case(parts: list[bytes]) -> None:
        fz.cases["random_bytes"] += 1
        got = fz.wire.exchange(parts)
        assert len(got) == 1 and isinstance(got[0], P.Error), got
        assert got[0].code in (
            "bad_message",
            "bad_version",
            "unknown_type",
            "too_large",
            "shape_mismatch",
        )

    case()
    fz.alive()


# ----------------------------------------------------------------------------- every type, random fields


@pytest.mark.parametrize("slow", SPEEDS)
def test_every_message_type_with_random_fields_is_answered_specifically(
    fz: Fuzz, slow: bool
) -> None:
    @budget("headers", slow)
    @given(
        mtype=st.one_of(st.sampled_from(TYPES), st.text(max_size=8)),
        version=st.one_of(st.just(P.PROTOCOL_VERSION), st.just(P.PROTOCOL_VERSION), VALUES),
        fields=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4),
        images=st.lists(IMAGE_DESC, max_size=3),
        buffers=st.lists(st.binary(max_size=200), max_size=3),
    )
    def case(mtype: str, version: Any, fields: dict, images: list, buffers: list[bytes]) -> None:
        fz.cases["headers"] += 1
        header = {**fields, "v": version, "type": mtype, "images": images}
        got = fz.wire.exchange([pack(header), *buffers])
        for msg in got:
            if isinstance(msg, P.Ack) and msg.job:
                fz.cancel(msg.job)  # a random submit that happened to be valid
        if version != P.PROTOCOL_VERSION or isinstance(version, bool):
            assert [m.code for m in got if isinstance(m, P.Error)] == ["bad_version"], got
        elif mtype not in P.MESSAGE_TYPES or mtype in ("progress", "result", "error"):
            assert any(isinstance(m, P.Error) for m in got), got
        # Otherwise it may be served (a hello, a status) or refused; Wire checks every error's code.

    case()
    fz.alive()


# ----------------------------------------------------------------------------- submit


def base_spec(**kw: Any) -> dict:
    return JobSpec(
        frames=[1, 2, 3],
        width=16,
        height=12,
        channels=["R", "G", "B", "A"],
        window=13,
        overlap=4,
        **kw,
    ).to_dict()


SPEC_MUTATIONS: dict[str, st.SearchStrategy] = {
    "frames": st.one_of(
        st.builds(
            lambda a, n, step: list(range(a, a + n * step, step)),
            st.integers(-(2**31), 2**31),
            st.integers(0, 150_000),
            st.sampled_from([-1, 1, 2]),
        ),
        st.lists(st.one_of(INT64, VALUES), max_size=6),
    ),
    "width": st.one_of(st.integers(-5, 40_000), INT64, VALUES),
    "height": st.one_of(st.integers(-5, 40_000), INT64, VALUES),
    "channels": st.one_of(st.lists(st.text(max_size=300), max_size=80), VALUES),
    "window": st.one_of(st.integers(-5, 300), INT64),
    "overlap": st.one_of(st.integers(-5, 300), INT64),
    "seam": st.one_of(st.sampled_from(["crossfade", "chain"]), st.text(max_size=8)),
    "dilation": st.one_of(st.integers(-5, 300), INT64),
    "feather": st.one_of(st.integers(-5, 300), INT64),
    "roi_margin": st.one_of(st.integers(-5, 10**6), INT64),
    "seed": INT64,
    "engine": st.one_of(
        st.sampled_from(["propagate", "void", "../propagate", ""]), st.text(max_size=12)
    ),
    "transfer": st.one_of(st.sampled_from(["pixels", "paths"]), st.text(max_size=6)),
    "out_pattern": st.sampled_from(
        [
            "",
            "/etc/x.####.exr",
            "../../x.####.exr",
            "~/x.####.exr",
            "no-frame-number.exr",
            "\0.####.exr",
        ]
    ),
    "job_id": st.one_of(
        st.sampled_from(["../../etc", "a/b", "x" * 65, "", "ok-id_1", "."]), st.text(max_size=70)
    ),
    "prompt": st.text(max_size=5000),
    "engine_options": VALUES,
    "name": st.text(max_size=300),
    "unknown_field": VALUES,
}


@pytest.mark.parametrize("slow", SPEEDS)
def test_submit_with_hostile_specs_is_refused_or_accepted_within_limits(
    fz: Fuzz, slow: bool
) -> None:
    @budget("submit", slow)
    @given(
        mutations=st.dictionaries(
            st.sampled_from(sorted(SPEC_MUTATIONS)), st.none(), min_size=1, max_size=3
        ).flatmap(lambda keys: st.fixed_dictionaries({k: SPEC_MUTATIONS[k] for k in keys}))
    )
    def case(mutations: dict) -> None:
        fz.cases["submit"] += 1
        spec = {**base_spec(), **mutations}
        if "job_id" in mutations and mutations["job_id"] == "ok-id_1":
            spec["job_id"] = (
                f"ok-{fz.cases['submit']}-{time.monotonic_ns()}"  # unique, so "exists" is not the answer
            )
        try:
            header = pack({"v": 1, "type": "submit", "id": 5, "spec": spec, "result_credit": 2})
        except (OverflowError, ValueError, TypeError):
            return  # not representable in msgpack: cannot reach the daemon
        got = fz.wire.exchange([header])
        replies = [m for m in got if m.id == 5]
        assert len(replies) == 1, got
        reply = replies[0]
        if isinstance(reply, P.Ack):
            accepted = JobSpec.from_dict(spec)  # only valid specs may be accepted
            assert accepted.engine == "propagate" and len(accepted.frames) <= 100_000
            assert ".." not in reply.job and "/" not in reply.job
            assert (
                accepted.transfer == "pixels"
            )  # no path mode: every out_pattern here is outside the roots
            fz.cancel(reply.job)
        else:
            assert isinstance(reply, P.Error), reply
            assert reply.code in (
                "bad_spec",
                "too_large",
                "unknown_engine",
                "engine_unavailable",
                "weights_missing",
                "path_not_allowed",
                "bad_message",
                "io_error",
            )

    case()
    fz.alive()


# ----------------------------------------------------------------------------- frames: one known fault


def valid_images(
    job: JobSpec, frame: int, rng: np.random.Generator, remove: np.ndarray | None = None
) -> list[tuple[P.ImageDesc, np.ndarray]]:
    h, w, c = job.height, job.width, len(job.channels)
    plate = rng.random((h, w, c), np.float32).astype(np.float16)
    if remove is None:
        remove = np.zeros((h, w, 1), np.float32)
        remove[h // 4 : h // 2, w // 4 : w // 2] = 1.0
    return [
        (P.ImageDesc.for_array(frame, "plate", plate, job.channels), plate),
        (P.ImageDesc.for_array(frame, "remove", remove), remove),
    ]


def encode_raw(
    header_images: list[dict], buffers: list[bytes], job: str, **extra: Any
) -> list[bytes]:
    return [
        pack({"v": 1, "type": "frames", "id": 9, "job": job, "images": header_images, **extra}),
        *buffers,
    ]


def wire_parts(images: list[tuple[P.ImageDesc, np.ndarray]]) -> tuple[list[dict], list[bytes]]:
    return [d.to_wire() for d, _ in images], [np.ascontiguousarray(a).tobytes() for _, a in images]


#: fault → the code the daemon must answer with; "async:" codes come as the job's failure,
#: None means the frame is legal (NaN in a plate is common in CG renders: the daemon keeps it
#: bit-exact outside the hole and never feeds it to the engine).
FAULTS: dict[str, str | None] = {
    "truncate_buffer": "shape_mismatch",
    "extend_buffer": "shape_mismatch",
    "drop_buffer": "shape_mismatch",
    "extra_buffer": "shape_mismatch",
    "huge_shape": "too_large",
    "declared_64gib": "shape_mismatch",
    "zero_shape": "too_large",
    "bad_dtype": "bad_message",
    "bad_role": "bad_message",
    "result_role": "bad_message",
    "resolution": "resolution_mismatch",
    "plate_channels": "shape_mismatch",
    "matte_channels": "shape_mismatch",
    "unknown_frame": "unknown_frame",
    "missing_remove": "bad_message",
    "duplicate_role": "bad_message",
    "bad_version": "bad_version",
    "unknown_type": "unknown_type",
    "unknown_job": "unknown_job",
    "paths_for_pixel_job": "bad_message",
    "over_credit": "no_credit",
    "nan_matte": "async:nan_in_input",
    "inf_matte": "async:nan_in_input",
    "matte_above_one": "async:matte_range",
    "matte_below_zero": "async:matte_range",
    "empty_mattes": "async:empty_matte",
    "all_ones_matte": None,
    "nan_plate": None,
    "inf_plate": None,
    "f32_plate": None,
    "all_frames": None,
    "extra_frame": "unknown_frame",
}


@pytest.mark.parametrize("slow", SPEEDS)
def test_frames_with_one_known_fault_get_that_fault_s_error(fz: Fuzz, slow: bool) -> None:
    @budget("frames_fault", slow)
    @given(
        fault=st.sampled_from(sorted(FAULTS)),
        width=st.integers(4, 24),
        height=st.integers(4, 24),
        channels=st.integers(1, 4),
        n=st.integers(1, 3),
        seed=st.integers(0, 2**32 - 1),
        cut=st.integers(1, 64),
    )
    def case(
        fault: str, width: int, height: int, channels: int, n: int, seed: int, cut: int
    ) -> None:
        fz.cases["frames_fault"] += 1
        rng = np.random.default_rng(seed)
        names = ["R", "G", "B", "A"][:channels] if channels != 1 else ["Y"]
        if fault == "over_credit":
            n = 10  # credit is min(8, frames)
        spec = JobSpec(
            frames=list(range(1, n + 1)),
            width=width,
            height=height,
            channels=names,
            window=13,
            overlap=4,
            dilation=1,
        )
        job = fz.submit(spec)
        frames = spec.frames if fault in ("empty_mattes", "all_frames") else [1]
        if fault == "over_credit":
            frames = list(range(1, 10))  # 9 frames against 8 credit
        elif fault == "extra_frame":
            frames = [*spec.frames, n + 1]  # one more frame than the job has
        images: list[tuple[P.ImageDesc, np.ndarray]] = []
        for f in frames:
            remove = None
            if fault == "empty_mattes":
                remove = np.zeros((height, width, 1), np.float32)
            images += valid_images(spec, f, rng, remove)
        descs, bufs = wire_parts(images)
        extra: dict = {}
        header_job = job
        d0 = descs[0]
        if fault == "truncate_buffer":
            bufs[0] = bufs[0][: max(0, len(bufs[0]) - cut)]
        elif fault == "extend_buffer":
            bufs[1] = bufs[1] + b"\0" * cut
        elif fault == "drop_buffer":
            bufs.pop()
        elif fault == "extra_buffer":
            bufs.append(b"\0" * cut)
        elif fault == "huge_shape":
            d0["shape"] = [P.MAX_IMAGE_SIDE + cut, width, channels]
        elif fault == "declared_64gib":
            d0.update(shape=[16384, 16384, 64], dtype="f32", channels=[])
        elif fault == "zero_shape":
            d0["shape"] = [0, width, channels]
        elif fault == "bad_dtype":
            d0["dtype"] = "f64"
        elif fault == "bad_role":
            d0["role"] = "matte"
        elif fault == "result_role":
            d0["role"] = "result"
        elif fault == "resolution":
            plate = rng.random((height + 1, width, channels), np.float32).astype(np.float16)
            descs[0], bufs[0] = (
                P.ImageDesc.for_array(1, "plate", plate, names).to_wire(),
                plate.tobytes(),
            )
        elif fault == "plate_channels":
            plate = rng.random((height, width, channels + 1), np.float32).astype(np.float16)
            descs[0], bufs[0] = P.ImageDesc.for_array(1, "plate", plate).to_wire(), plate.tobytes()
        elif fault == "matte_channels":
            m = np.zeros((height, width, 2), np.float32)
            descs[1], bufs[1] = P.ImageDesc.for_array(1, "remove", m).to_wire(), m.tobytes()
        elif fault == "unknown_frame":
            for d in descs:
                d["frame"] = 10**6 + cut
        elif fault == "missing_remove":
            descs, bufs = descs[:1], bufs[:1]
        elif fault == "duplicate_role":
            descs, bufs = descs + descs[:1], bufs + bufs[:1]
        elif fault == "unknown_job":
            header_job = "no-such-job"
        elif fault == "paths_for_pixel_job":
            extra = {"paths": [{"frame": 1, "plate": "/x.exr", "remove": "/y.exr"}]}
            descs, bufs = [], []
        elif fault in ("nan_matte", "inf_matte", "matte_above_one", "matte_below_zero"):
            m = np.frombuffer(bufs[1], np.float32).copy()
            m[cut % m.size] = {
                "nan_matte": np.nan,
                "inf_matte": np.inf,
                "matte_above_one": 2.0,
                "matte_below_zero": -1.0,
            }[fault]
            bufs[1] = m.tobytes()
        elif fault == "all_ones_matte":
            bufs[1] = np.ones((height, width, 1), np.float32).tobytes()
        elif fault in ("nan_plate", "inf_plate"):
            p = np.frombuffer(bufs[0], np.float16).copy()
            p[cut % p.size] = np.nan if fault == "nan_plate" else np.inf
            bufs[0] = p.tobytes()
        elif fault == "f32_plate":
            plate = rng.random((height, width, channels), np.float32)
            descs[0], bufs[0] = (
                P.ImageDesc.for_array(1, "plate", plate, names).to_wire(),
                plate.tobytes(),
            )
        try:
            check(fault, job, encode_raw(descs, bufs, header_job, **extra))
        finally:
            fz.cancel(job)  # whatever happened, the job does not hold a queue slot

    def check(fault: str, job: str, parts: list[bytes]) -> None:
        if fault == "bad_version":
            parts[0] = pack({**msgpack.unpackb(parts[0]), "v": 2})
        elif fault == "unknown_type":
            parts[0] = pack({**msgpack.unpackb(parts[0]), "type": "frame"})
        got = fz.wire.exchange(parts)
        sync = [
            m.code for m in got if isinstance(m, P.Error) and m.id == 9
        ]  # the reply to this message
        failed = [
            m for m in got if isinstance(m, P.Error) and m.id == 0 and m.job == job
        ]  # the job's failure
        expected = FAULTS[fault]
        if expected is None:
            assert not sync and not failed, (fault, got)
        elif expected.startswith("async:"):
            # Refused once the receiver pool has looked at the pixels: the job fails with the code,
            # before or after the probe's answer.
            assert not sync, (fault, got)
            err = (
                failed[0]
                if failed
                else fz.wire.wait_for(lambda m: isinstance(m, P.Error) and m.job == job, timeout=10)
            )
            assert err is not None and err.code == expected.split(":", 1)[1], (fault, got, err)
        else:
            assert sync == [expected] and not failed, (fault, got)

    case()
    fz.alive()


# ----------------------------------------------------------------------------- frames: anything goes


@pytest.mark.parametrize("slow", SPEEDS)
def test_frames_with_random_descriptions_and_buffers_never_hurt_the_daemon(
    fz: Fuzz, slow: bool
) -> None:
    spec = JobSpec(frames=[1, 2], width=8, height=6, channels=["R", "G", "B"], window=13, overlap=4)
    job = fz.submit(spec)

    @budget("frames_random", slow)
    @given(
        images=st.lists(IMAGE_DESC, max_size=4),
        buffers=st.lists(st.binary(max_size=600), max_size=5),
        paths=st.one_of(st.just([]), VALUES),
    )
    def case(images: list, buffers: list[bytes], paths: Any) -> None:
        fz.cases["frames_random"] += 1
        try:
            header = pack(
                {"v": 1, "type": "frames", "id": 11, "job": job, "images": images, "paths": paths}
            )
        except (OverflowError, ValueError, TypeError):
            return
        fz.wire.exchange([header, *buffers])

    case()
    fz.cancel(job)
    fz.alive()


# ----------------------------------------------------------------------------- path mode


@pytest.fixture(scope="module")
def path_shot(fz: Fuzz) -> dict[str, Any]:
    """A shot inside the allowed root, secrets outside it, and links that point out."""
    allowed: Path = fz.allowed  # type: ignore[attr-defined]
    files = write_shot(make_shot(frames=2, width=16, height=12, seed=1), str(allowed / "shot"))
    outside = fz.root / "outside"
    outside_files = write_shot(make_shot(frames=2, width=16, height=12, seed=2), str(outside))
    plate_outside = outside_files["plate"].replace("####", "1001")
    (allowed / "link-to-outside-file.exr").symlink_to(plate_outside)
    (allowed / "link-to-outside-dir").symlink_to(outside, target_is_directory=True)
    (allowed / "link-inside.exr").symlink_to(files["plate"].replace("####", "1001"))
    return {"allowed": allowed, "outside": outside, "files": files, "outside_plate": plate_outside}


def path_candidates(s: dict[str, Any]) -> list[str]:
    a, o = s["allowed"], s["outside"]
    inside_plate = s["files"]["plate"].replace("####", "1001")
    rel = os.path.relpath(s["outside_plate"], a)
    return [
        inside_plate,
        str(a / "link-inside.exr"),
        str(a / "link-to-outside-file.exr"),
        str(a / "link-to-outside-dir" / os.path.basename(s["outside_plate"])),
        str(a / rel),
        str(a / "shot" / ".." / ".." / "outside" / os.path.basename(s["outside_plate"])),
        s["outside_plate"],
        "/etc/passwd",
        "~/.ssh/id_rsa",
        "relative/plate.exr",
        str(a) + "-sibling/plate.exr",
        "",
        inside_plate + ":A",
        str(o),
    ]


def inside(path: str, root: Path) -> bool:
    file = path.rsplit(":", 1)[0] if path.endswith(":A") else path
    real = os.path.realpath(os.path.expanduser(file)) if file else ""
    r = os.path.realpath(root)
    return bool(file) and (real == r or real.startswith(r + os.sep))


@pytest.mark.parametrize("slow", SPEEDS)
def test_path_mode_never_reaches_outside_the_allowed_roots(
    fz: Fuzz, path_shot: dict[str, Any], slow: bool
) -> None:
    allowed: Path = path_shot["allowed"]
    candidates = path_candidates(path_shot)
    # An output pattern outside the roots is refused at submit, through links too.
    for out in (
        "/tmp/void-fuzz-out.####.exr",
        str(allowed / "link-to-outside-dir" / "o.####.exr"),
        str(allowed / ".." / "o.####.exr"),
    ):
        spec = JobSpec(frames=[1], width=16, height=12, transfer="paths", out_pattern=out)
        reply = fz.wire.request(P.Submit(id=21, spec=spec.to_dict()))
        fz.cases["paths"] += 1
        assert isinstance(reply, P.Error) and reply.code == "path_not_allowed", reply

    @budget("paths", slow)
    @given(
        plate=st.sampled_from(candidates),
        remove=st.sampled_from(candidates),
        affected=st.one_of(st.none(), st.sampled_from(candidates)),
    )
    def case(plate: str, remove: str, affected: str | None) -> None:
        fz.cases["paths"] += 1
        spec = JobSpec(
            frames=[1001],
            width=16,
            height=12,
            window=13,
            overlap=4,
            transfer="paths",
            out_pattern=str(allowed / "out" / "o.####.exr"),
        )
        job = fz.submit(spec)
        entry = {"frame": 1001, "plate": plate, "remove": remove, "affected": affected}
        got = fz.wire.exchange(encode_raw([], [], job, paths=[entry]))
        sync = [m.code for m in got if isinstance(m, P.Error) and m.id == 9]
        # The daemon checks the entry's fields in order: plate, remove, affected.
        if "" in (plate, remove) or plate.endswith(":A"):
            expected = ["bad_message"]  # a plate is a whole file; channel selectors are for mattes
        elif any(p and not inside(p, allowed) for p in (plate, remove, affected)):
            expected = ["path_not_allowed"]
        else:
            expected = []  # inside: read (or refused later for its content, as the job's failure)
        assert sync == expected, (entry, got)
        fz.cancel(job)

    case()
    fz.alive()


def test_a_header_over_the_limit_is_refused_before_it_is_parsed(fz: Fuzz) -> None:
    big = pack({"v": 1, "type": "hello", "client": "x" * (P.MAX_HEADER_BYTES + 1)})
    got = fz.wire.exchange([big])
    fz.cases["oversize"] += 1
    assert [m.code for m in got if isinstance(m, P.Error)] == ["too_large"]
    fz.alive()


def test_int_overflow_and_float_specials_in_numeric_fields(fz: Fuzz) -> None:
    """Values msgpack can carry but Python code often mishandles."""
    for value in (2**64 - 1, -(2**63), math.nan, math.inf, -math.inf, True):
        for field in ("credit", "result_credit", "eta_s", "id"):
            fz.cases["numeric"] += 1
            got = fz.wire.exchange([pack({"v": 1, "type": "attach", "job": "nope", field: value})])
            assert all(isinstance(m, P.Error) for m in got) and got, got
    fz.alive()
