"""Wire protocol: round trips for every message type and specific refusals."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
import zmq

from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.errors import ErrorCode, VoidError


def roundtrip(msg: P.Message) -> P.Message:
    parts = [bytes(p) for p in P.encode(msg)]
    return P.decode(parts)


@pytest.mark.parametrize("cls", list(P.MESSAGE_TYPES.values()))
def test_every_message_type_round_trips(cls: type[P.Message]) -> None:
    msg = cls(job="j1", id=7)
    back = roundtrip(msg)
    assert type(back) is cls
    assert back.job == "j1" and back.id == 7
    assert {k: v for k, v in back.header().items()} == msg.header()


def test_images_travel_as_separate_buffers_bit_exact() -> None:
    rng = np.random.default_rng(0)
    plate = rng.standard_normal((9, 13, 5)).astype(np.float16)
    matte = rng.random((9, 13, 1)).astype(np.float32)
    msg = P.Frames(
        job="j",
        images=[
            (
                P.ImageDesc.for_array(
                    1001,
                    "plate",
                    plate,
                    ["R", "G", "B", "A", "Z"],
                    data_window=(2, 3, 13, 9),
                    display_window=(0, 0, 20, 20),
                ),
                plate,
            ),
            (P.ImageDesc.for_array(1001, "remove", matte), matte),
        ],
    )
    parts = P.encode(msg)
    assert len(parts) == 3  # header + one frame per image, pixels never in msgpack
    assert len(bytes(parts[0])) < 1024
    back = P.decode([bytes(p) for p in parts])
    (d0, a0), (d1, a1) = back.images
    assert a0.dtype == np.float16 and np.array_equal(a0.view(np.uint16), plate.view(np.uint16))
    assert np.array_equal(a1, matte)
    assert d0.channels == ["R", "G", "B", "A", "Z"] and d0.data_window == (2, 3, 13, 9)


def header(**kw) -> bytes:
    h = {"v": P.PROTOCOL_VERSION, "type": "hello", "id": 1, "job": "", "images": []}
    h.update(kw)
    return msgpack.packb(h)


@pytest.mark.parametrize(
    "parts, code",
    [
        ([header(v=99)], ErrorCode.BAD_VERSION),
        ([header(type="teleport")], ErrorCode.UNKNOWN_TYPE),
        ([b"\xc1\xff not msgpack"], ErrorCode.BAD_MESSAGE),
        ([msgpack.packb([1, 2, 3])], ErrorCode.BAD_MESSAGE),
        ([header(id="seven")], ErrorCode.BAD_MESSAGE),
        (
            [
                header(
                    type="frames",
                    images=[{"frame": 1, "role": "plate", "dtype": "f16", "shape": [4, 4, 4]}],
                )
            ],
            ErrorCode.SHAPE_MISMATCH,
        ),
        (
            [
                header(
                    type="frames",
                    images=[{"frame": 1, "role": "plate", "dtype": "f16", "shape": [4, 4, 4]}],
                ),
                b"\0" * 10,
            ],
            ErrorCode.SHAPE_MISMATCH,
        ),
        (
            [
                header(
                    type="frames",
                    images=[
                        {"frame": 1, "role": "plate", "dtype": "f16", "shape": [100000, 100000, 4]}
                    ],
                ),
                b"",
            ],
            ErrorCode.TOO_LARGE,
        ),
        (
            [
                header(
                    type="frames",
                    images=[{"frame": 1, "role": "plate", "dtype": "u8", "shape": [1, 1, 1]}],
                ),
                b"\0",
            ],
            ErrorCode.BAD_MESSAGE,
        ),
        (
            [
                header(
                    type="frames",
                    images=[{"frame": 1, "role": "ghost", "dtype": "f32", "shape": [1, 1, 1]}],
                ),
                b"\0" * 4,
            ],
            ErrorCode.BAD_MESSAGE,
        ),
        ([], ErrorCode.BAD_MESSAGE),
    ],
)
def test_decode_refuses_with_specific_code(parts: list[bytes], code: ErrorCode) -> None:
    with pytest.raises(VoidError) as err:
        P.decode(parts)
    assert err.value.code == code


def raw_exchange(endpoint: str, parts: list[bytes]) -> P.Message:
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    try:
        s.send_multipart(parts)
        assert s.poll(10000), "daemon did not answer"
        return P.decode(s.recv_multipart())
    finally:
        s.close()


@pytest.mark.parametrize(
    "parts, code",
    [
        ([header(v=2)], "bad_version"),
        ([b"garbage"], "bad_message"),
        (
            [
                header(
                    type="frames",
                    job="nope",
                    images=[{"frame": 1, "role": "plate", "dtype": "f32", "shape": [2, 2, 1]}],
                ),
                b"\0" * 3,
            ],
            "shape_mismatch",
        ),
        ([header(type="progress")], "unknown_type"),
        ([header(type="attach", job="no-such-job")], "unknown_job"),
        ([header(type="submit", spec={"frames": [1, 2], "width": 8})], "bad_spec"),
        (
            [
                header(
                    type="submit", spec={"frames": [1], "width": 8, "height": 8, "engine": "magic"}
                )
            ],
            "unknown_engine",
        ),
    ],
)
def test_daemon_refuses_bad_messages_and_keeps_serving(
    daemon, parts: list[bytes], code: str
) -> None:
    reply = raw_exchange(daemon.endpoint, parts)
    assert isinstance(reply, P.Error)
    assert reply.code == code
    assert reply.message  # a human sentence, not just a code
    with DaemonClient(daemon.endpoint) as c:
        assert c.hello().daemon_version


def test_hello_reports_engines(daemon) -> None:
    with DaemonClient(daemon.endpoint) as c:
        hello = c.hello()
    names = {e["name"]: e for e in hello.engines}
    assert names["propagate"]["available"] is True
    assert "void" in names
    assert hello.protocol == P.PROTOCOL_VERSION


def test_frames_beyond_credit_are_refused(daemon) -> None:
    from void_client.job_spec import JobSpec

    with DaemonClient(daemon.endpoint) as c:
        ack = c.submit(JobSpec(frames=list(range(40)), width=4, height=4, channels=["R", "G", "B"]))
        assert 0 < ack.credit < 40
        images = []
        for f in range(ack.credit + 1):
            plate = np.zeros((4, 4, 3), np.float32)
            m = np.ones((4, 4, 1), np.float32)
            images += [
                (P.ImageDesc.for_array(f, "plate", plate), plate),
                (P.ImageDesc.for_array(f, "remove", m), m),
            ]
        c.send_frames(ack.job, images=images)
        msg = c.recv(10)
        assert isinstance(msg, P.Error) and msg.code == "no_credit"
        c.cancel(ack.job)
