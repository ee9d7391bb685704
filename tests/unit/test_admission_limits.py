"""Pure admission checks: padding widths, length and depth limits, bounded status replies,
readable disk errors, the memory model, the client table and regular-file opening.

Each maps to an observation of issue 15 (findings 5, 6, 8, 10); the daemon-level reproductions
are in ``tests/integration/test_daemon_admission.py``.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
import time
from pathlib import Path

import msgpack
import pytest

from void_client import protocol as P
from void_client.errors import ErrorCode, VoidError
from void_client.sequence import SequencePattern
from void_daemon import bounds, memory_model, safe_files
from void_daemon.connections import ClientTable, busy_error, fit_max_clients

# ----------------------------------------------------------------------------- padding (finding 6)


@pytest.mark.parametrize(
    "pattern",
    [
        "x.%0900000000d.exr",
        "x.%099999999999999999999d.exr",
        "x.%11d.exr",
        "x.$F900000000.exr",
        "x.$F11.exr",
        "x." + "#" * 11 + ".exr",
        "x." + "#" * 5_000 + ".exr",
    ],
)
def test_wide_padding_is_refused_before_expansion(pattern: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(VoidError) as exc:
        bounds.check_padding(pattern, "out_pattern")
    assert time.perf_counter() - t0 < 0.05  # nothing was expanded
    assert exc.value.code == ErrorCode.BAD_SPEC and exc.value.field == "out_pattern"
    assert "padding" in exc.value.message and "\n" not in exc.value.message


@pytest.mark.parametrize(
    "pattern",
    ["x.####.exr", "x.%04d.exr", "x.%d.exr", "x.$F4.exr", "x.$F.exr", "x.%010d.exr", "a#b/x.#.exr"],
)
def test_usual_padding_passes_and_parses(pattern: str) -> None:
    bounds.check_padding(pattern, "out_pattern")
    assert SequencePattern.parse(pattern).padding <= bounds.MAX_PADDING


def test_padding_check_uses_the_match_that_parse_uses() -> None:
    # An early run of '#' in a folder name is a literal; the last one is the frame number.
    bounds.check_padding("/shots/" + "#" * 30 + "/x.####.exr", "out_pattern")
    assert SequencePattern.parse("/shots/" + "#" * 30 + "/x.####.exr").padding == 4


# ----------------------------------------------------------------------------- lengths and depth


def test_spec_string_limits_and_reserved_ids() -> None:
    with pytest.raises(VoidError) as exc:
        bounds.check_spec_sizes({"name": "n" * (bounds.MAX_NAME_CHARS + 1)})
    assert exc.value.field == "name" and str(bounds.MAX_NAME_CHARS) in exc.value.message
    with pytest.raises(VoidError) as exc:
        bounds.check_spec_sizes({"job_id": "cache"})
    assert exc.value.field == "job_id" and "reserved" in exc.value.message
    with pytest.raises(VoidError) as exc:
        bounds.check_spec_sizes({"out_pattern": "/a/" + "b" * 5000 + ".####.exr"})
    assert exc.value.field == "out_pattern"
    bounds.check_spec_sizes({"name": "n" * bounds.MAX_NAME_CHARS, "job_id": "shot_010"})


def test_nesting_500_deep_is_bad_message_without_recursion() -> None:
    deep: object = {}
    for _ in range(500):
        deep = {"k": deep}
    # Decoding is fine (msgpack is not recursive in Python); checking must not recurse either.
    value = msgpack.unpackb(msgpack.packb({"engine_options": deep}))
    with pytest.raises(VoidError) as exc:
        P.check_nesting(value)
    assert exc.value.code == ErrorCode.BAD_MESSAGE
    wide = {"k": [[1, 2, {"x": [3]}]] * 1000}
    P.check_nesting(wide)
    # decode() applies it to every header, before any field is read.
    header = msgpack.packb({"v": P.PROTOCOL_VERSION, "type": "submit", "spec": {"o": deep}})
    with pytest.raises(VoidError) as exc:
        P.decode([header])
    assert exc.value.code == ErrorCode.BAD_MESSAGE and "deep" in exc.value.message
    with pytest.raises(VoidError) as exc:  # shallower than the header limit, deeper than options'
        shallow: object = 1
        for _ in range(bounds.ENGINE_OPTIONS_NESTING + 1):
            shallow = [shallow]
        bounds.check_spec_sizes({"engine_options": {"k": shallow}})
    assert exc.value.field == "engine_options"


# ----------------------------------------------------------------------------- status replies


def test_status_reply_is_capped_in_entries_bytes_and_name_length() -> None:
    jobs = [{"job": f"j{i}", "name": "n" * 900_000, "state": "queued"} for i in range(40)]
    kept, left_out = bounds.bounded_status(jobs, max_entries=500, max_bytes=256 << 10)
    size = len(msgpack.packb({"type": "status", "jobs": kept}))
    assert size <= 256 << 10
    assert kept and left_out == 40 - len(kept)
    assert all(len(e["name"]) == bounds.MAX_NAME_CHARS for e in kept)
    assert kept[-1]["job"] == "j39"  # the newest are kept
    kept, left_out = bounds.bounded_status(jobs[:3], max_entries=2, max_bytes=1 << 20)
    assert [e["job"] for e in kept] == ["j1", "j2"] and left_out == 1


# ----------------------------------------------------------------------------- readable disk errors


def test_numpy_short_write_reads_as_a_full_disk(tmp_path: Path) -> None:
    err = bounds.disk_error(OSError("163840 requested and 116672 written"), tmp_path, "frame 3")
    assert err.code == ErrorCode.IO_ERROR and "full" in err.message
    assert str(tmp_path) in err.message and "free" in err.message
    assert "requested" not in err.message and "\n" not in err.message


def test_enospc_keeps_the_os_words_and_says_what_is_free(tmp_path: Path) -> None:
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    err = bounds.disk_error(exc, tmp_path, "job x", "x")
    assert "No space left on device" in err.message and "free" in err.message
    assert err.job == "x" and err.field == "jobs_dir"


# ----------------------------------------------------------------------------- memory model


#: Peak RSS over idle measured by bench/memory_model.py: (width, height, window frames) -> MiB.
MEASURED_MIB = {
    (512, 512, 5): 202,
    (512, 512, 13): 338,
    (512, 512, 21): 447,
    (1024, 1024, 5): 573,
    (1024, 1024, 13): 1030,
    (2048, 1024, 5): 990,
    (2048, 2048, 5): 1966,
}


@pytest.mark.parametrize("size", sorted(MEASURED_MIB))
def test_memory_model_covers_the_measured_propagate_peaks(size: tuple[int, int, int]) -> None:
    # A 1-frame job runs a 5-frame window (valid lengths are 8m+5).
    est = memory_model.estimate("propagate", *size) / 2**20
    measured = MEASURED_MIB[size]
    assert measured - 16 <= est <= measured * 1.25, (est, measured)


def test_a_one_frame_job_runs_a_padded_window() -> None:
    assert memory_model.window_frames(1, 197, 16) == 5


def test_largest_size_that_fits_keeps_the_aspect_and_fits() -> None:
    budget = 1 << 30
    fit = memory_model.largest_fit("propagate", 4096, 2160, 5, budget)
    assert fit is not None
    w, h = fit
    assert memory_model.estimate("propagate", w, h, 5) <= budget
    assert abs(w / h - 4096 / 2160) < 0.02
    assert memory_model.estimate("propagate", w + 64, round((w + 64) * 2160 / 4096), 5) > budget
    assert memory_model.largest_fit("propagate", 4096, 2160, 5, 1) is None


def test_window_frames_follow_the_plan() -> None:
    assert memory_model.window_frames(40, 21, 6) == 21
    assert memory_model.window_frames(100, 197, 16) == 101  # padded to 8m+5


def test_the_refusal_names_a_size_and_a_window_that_fit() -> None:
    from void_client.job_spec import JobSpec
    from void_daemon.admission import check_memory

    spec = JobSpec(frames=list(range(100)), width=2048, height=2048)
    with pytest.raises(VoidError) as exc:
        check_memory(spec, 8 << 30)
    msg = exc.value.message
    assert exc.value.code == ErrorCode.TOO_LARGE and "--memory-budget-gib" in msg
    assert "fits" in msg and "--window" in msg and "\n" not in msg
    check_memory(JobSpec(frames=[1], width=1920, height=1080), 8 << 30)  # an HD frame fits


def test_available_memory_is_positive() -> None:
    avail = memory_model.available_memory()
    assert avail is None or avail > 0


# ----------------------------------------------------------------------------- connections


def test_client_table_admits_up_to_the_limit_then_busy() -> None:
    t = ClientTable(max_clients=3, grace=1)
    for fd in (10, 11, 12, 13):
        t.accepted(fd)
    assert [t.admit(bytes([i])) for i in range(4)] == [True, True, True, False]
    assert t.admit(b"\x00")  # a known peer is always served
    t.closed(10)
    t.closed(11)  # two connections went; the least recently heard peers are forgotten
    assert t.admit(b"\x09")
    err = busy_error(3)
    assert err.code == ErrorCode.BUSY and "--max-clients" in err.message


def test_connections_beyond_limit_and_grace_are_shut_down() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    t = ClientTable(max_clients=1, grace=1)
    clients, accepted = [], []
    try:
        for _ in range(3):
            c = socket.create_connection(srv.getsockname())
            clients.append(c)
            a, _ = srv.accept()
            accepted.append(a)
        assert [t.accepted(a.fileno()) for a in accepted] == [True, True, False]
        clients[2].settimeout(2)
        assert clients[2].recv(1) == b""  # the third peer sees its connection end
        assert accepted[2].fileno() >= 0  # ... while the descriptor stays its owner's to close
    finally:
        for s in clients + accepted:
            s.close()
        srv.close()


def test_max_clients_fits_the_descriptor_limit() -> None:
    assert fit_max_clients(64, 1 << 20) == 64
    assert fit_max_clients(64, 200) < 64


# ----------------------------------------------------------------------------- safe files (finding 5)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "config.ocio"
    os.mkfifo(fifo)
    done = threading.Event()
    errors: list[VoidError] = []

    def attempt() -> None:
        for fn in (safe_files.check_regular_file, safe_files.open_regular_file):
            try:
                fn(str(fifo), "ocio_config")
            except VoidError as exc:
                errors.append(exc)
        done.set()

    threading.Thread(target=attempt, daemon=True).start()
    assert done.wait(5), "opening a FIFO blocked"
    assert len(errors) == 2
    assert all("FIFO" in e.message and e.field == "ocio_config" for e in errors)


def test_devices_folders_and_sockets_are_refused(tmp_path: Path) -> None:
    sock_path = tmp_path / "s.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(sock_path))
    try:
        for path, kind in (
            ("/dev/zero", "device"),
            (str(tmp_path), "folder"),
            (str(sock_path), "socket"),
        ):
            with pytest.raises(VoidError) as exc:
                safe_files.read_regular_file(path, "ocio_config")
            assert kind in exc.value.message
    finally:
        srv.close()
    with pytest.raises(VoidError) as exc:
        safe_files.check_regular_file(str(tmp_path / "nope.ocio"), "ocio_config")
    assert "does not exist" in exc.value.message


def test_a_regular_file_is_read_and_a_swap_after_the_check_is_caught(tmp_path: Path) -> None:
    f = tmp_path / "config.ocio"
    f.write_text("ocio_profile_version: 2\n")
    assert safe_files.read_regular_file(str(f), "ocio_config") == b"ocio_profile_version: 2\n"
    fd = safe_files.open_regular_file(str(f), "ocio_config")
    try:
        assert stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    with pytest.raises(VoidError) as exc:
        safe_files.read_regular_file(str(f), "ocio_config", limit=4)
    assert exc.value.code == ErrorCode.TOO_LARGE


# ----------------------------------------------------------------------------- native stderr


def test_native_stderr_lines_are_caught_and_log_lines_pass_through(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from void_daemon.native_stderr import native_stderr, with_native_lines

    with native_stderr() as lines:
        os.write(2, b"libpng error: [00][00]: bad header (invalid type)\n")
        os.write(2, b"2026-12-01 14:47:57,858 INFO void_daemon.server: still serving\n")
    assert lines == ["libpng error: [00][00]: bad header (invalid type)"]
    assert "still serving" in capfd.readouterr().err  # the daemon's own log line is not lost
    msg = with_native_lines("frame 1 (p.png) cannot be read: PNG read error", lines)
    assert msg.endswith(
        "(the image library said: libpng error: [00][00]: bad header (invalid type))"
    )
