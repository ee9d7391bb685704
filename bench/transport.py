"""Transport benchmark: frames client → server → client through our protocol vs raw pyzmq.

Both paths move the same bytes over the same kind of sockets (DEALER → ROUTER over loopback
TCP) in the same run, so the ratio is meaningful on a noisy machine:

* **raw**: ``send_multipart([b"", buf], copy=False)`` and the server echoes the frames back.
* **ours**: ``protocol.encode(Frames)`` with an :class:`ImageDesc`, the server ``decode``s and
  validates it (shape/dtype/byte count), builds a ``Result`` from the received buffer without
  copying and ``encode``s it back; the client ``decode``s the result.

Usage: ``python bench/transport.py [--json] [--frames N] [--sizes 1080p,4k]``
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import threading
import time

import numpy as np
import zmq

from void_client import protocol as P

SIZES = {"1080p": (1080, 1920), "2k": (1080, 2048), "4k": (2160, 3840)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server(endpoint: str, mode: str, count: int, ready: threading.Event) -> None:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_BYTES)
    sock.bind(endpoint)
    ready.set()
    for _ in range(count):
        parts = sock.recv_multipart(copy=False)
        ident, body = parts[0], parts[1:]
        if mode == "raw":
            sock.send_multipart([ident, *body], copy=False)
        else:
            msg = P.decode(body)
            desc, arr = msg.images[0]
            out = P.Result(
                job=msg.job,
                images=[
                    (P.ImageDesc(desc.frame, "result", desc.dtype, desc.shape, desc.channels), arr)
                ],
            )
            sock.send_multipart([ident, *P.encode(out)], copy=False)
    sock.close(linger=10_000)  # let the last replies leave before the socket goes


def run(mode: str, frame: np.ndarray, count: int, window: int = 4) -> float:
    """Seconds to round-trip ``count`` frames with ``window`` in flight."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ready = threading.Event()
    t = threading.Thread(target=server, args=(endpoint, mode, count, ready), daemon=True)
    t.start()
    ready.wait()
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_BYTES)
    sock.connect(endpoint)
    desc = P.ImageDesc.for_array(0, "plate", frame, ["R", "G", "B", "A"])
    t0 = time.perf_counter()
    sent = received = 0
    while received < count:
        while sent < count and sent - received < window:
            if mode == "raw":
                sock.send_multipart([b"", memoryview(frame).cast("B")], copy=False)
            else:
                desc.frame = sent
                sock.send_multipart(
                    P.encode(P.Frames(job="bench", images=[(desc, frame)])), copy=False
                )
            sent += 1
        parts = sock.recv_multipart(copy=False)
        if mode == "ours":
            msg = P.decode(parts)
            assert msg.images[0][1].shape == frame.shape
        else:
            assert len(parts[1].buffer) == frame.nbytes
        received += 1
    elapsed = time.perf_counter() - t0
    t.join()
    sock.close(0)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--sizes", default="1080p,4k")
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="alternate raw/ours this many times, keep the best of each",
    )
    args = ap.parse_args()
    rows = []
    for name in args.sizes.split(","):
        h, w = SIZES[name]
        frame = np.random.default_rng(0).random((h, w, 4)).astype(np.float16)
        best = {"raw": float("inf"), "ours": float("inf")}
        run("raw", frame, 4)  # warm up sockets and pages
        for _ in range(args.repeats):
            for mode in ("raw", "ours"):
                best[mode] = min(best[mode], run(mode, frame, args.frames))
        mb = frame.nbytes * args.frames * 2 / 1e6  # both directions
        rows.append(
            {
                "size": name,
                "frame_mb": round(frame.nbytes / 1e6, 2),
                "raw_fps": round(args.frames / best["raw"], 1),
                "ours_fps": round(args.frames / best["ours"], 1),
                "raw_mb_s": round(mb / best["raw"], 0),
                "ours_mb_s": round(mb / best["ours"], 0),
                "ratio_vs_raw_zmq": round(best["raw"] / best["ours"], 3),
            }
        )
    result = {
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
        "frames": args.frames,
        "rows": rows,
        "ratio_vs_raw_zmq": min(r["ratio_vs_raw_zmq"] for r in rows),
    }
    if args.json:
        print(json.dumps(result))
        return
    print("| size | MB/frame | raw zmq fps | ours fps | raw MB/s | ours MB/s | ratio vs raw |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']} | {r['frame_mb']} | {r['raw_fps']} | {r['ours_fps']} | {r['raw_mb_s']:.0f} | {r['ours_mb_s']:.0f} | {r['ratio_vs_raw_zmq']} |"
        )


if __name__ == "__main__":
    main()
