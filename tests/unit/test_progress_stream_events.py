"""How a command's outcome becomes the stream's one final event (void_client.cli.progress_stream;
docs/protocol.md, "Progress stream (jsonl)"): exit 0 → done, 130 → cancelled, 3 → failed
(missing_frames), a VoidError → failed with its code (and raised on, so the exit status stays 2),
a cancelled job → cancelled (130), a bug → failed (internal). Warnings before the start wait for
it; nothing follows the final event; a closed reader does not stop the command.

In-process, with a command function standing in for ``run``: the real-daemon runs are in
tests/integration/test_progress_stream.py.
"""

from __future__ import annotations

import argparse
import io
import json
import logging

import pytest

from void_client import __version__
from void_client import protocol as P
from void_client.cli import progress_stream as PS
from void_client.errors import ErrorCode, VoidError
from void_hostlink import FINAL_EVENTS


def run(command, capsys, **extra):  # type: ignore[no-untyped-def]
    """Run ``command`` as ``run_command`` would run ``run``'s body: status, the exception it
    raised, the events on stdout, stderr."""
    args = argparse.Namespace(progress="jsonl", out="/o/clean.####.exr", **extra)
    raised: BaseException | None = None
    status = None
    try:
        status = PS.run_command(args, command)
    except BaseException as exc:  # noqa: BLE001 - the test looks at what came out
        raised = exc
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert sum(e["event"] in FINAL_EVENTS for e in events) == 1, events
    assert events[-1]["event"] in FINAL_EVENTS
    return status, raised, events, captured.err


def test_exit_0_is_done_after_a_start(capsys) -> None:
    status, raised, events, _err = run(lambda a: 0, capsys)
    assert status == 0 and raised is None
    assert events[0] == {
        "event": "start",
        "stream": 1,
        "version": __version__,
        "out": "/o/clean.####.exr",
        "total": None,
    }
    assert events[1]["event"] == "done" and events[1]["written"] == 0
    assert "detached" not in events[1]


def test_a_void_error_is_failed_with_its_code_and_still_raised(capsys) -> None:
    def bad(args):  # type: ignore[no-untyped-def]
        raise VoidError(ErrorCode.MISSING_FRAMES, "plate frames 1001-1003 are missing", "plate")

    status, raised, events, _err = run(bad, capsys)
    assert isinstance(raised, VoidError)  # cli.main still prints it and exits 2
    assert [e["event"] for e in events] == ["start", "failed"]
    assert events[-1]["error"] == {
        "code": "missing_frames",
        "message": "plate frames 1001-1003 are missing",
        "field": "plate",
    }


def test_a_job_cancelled_elsewhere_is_cancelled_with_130(capsys) -> None:
    def cancelled(args):  # type: ignore[no-untyped-def]
        raise VoidError(ErrorCode.CANCELLED, "job abc was cancelled on the daemon", job="abc")

    status, raised, events, _err = run(cancelled, capsys)
    assert status == 130 and raised is None
    assert events[-1] == {"event": "cancelled", "job": "abc"}


@pytest.mark.parametrize(
    ("status", "final"),
    [(130, "cancelled"), (3, "failed"), (7, "failed")],
)
def test_exit_statuses_map_to_final_events(capsys, status, final) -> None:
    got, raised, events, _err = run(lambda a: status, capsys)
    assert got == status and raised is None
    assert events[-1]["event"] == final
    if status == 3:
        assert events[-1]["error"]["code"] == "missing_frames"
        assert events[-1]["error"]["field"] == "out"
    if status == 7:
        assert events[-1]["error"]["code"] == "internal"


def test_interrupt_and_bugs(capsys) -> None:
    def interrupted(args):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    _, raised, events, _err = run(interrupted, capsys)
    assert isinstance(raised, KeyboardInterrupt)
    assert events[-1] == {"event": "cancelled", "job": None}

    def bug(args):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("division by zero")

    _, raised, events, _err = run(bug, capsys)
    assert isinstance(raised, ZeroDivisionError)
    assert events[-1]["error"]["code"] == "internal"
    assert "ZeroDivisionError" in events[-1]["error"]["message"]


def test_warnings_wait_for_start_and_logs_become_warnings(capsys) -> None:
    def command(args):  # type: ignore[no-untyped-def]
        PS.warn("warning: no --prompt; describe the clean background")
        logging.getLogger("void_client.sequence_job").warning("the remove matte covers %d%%", 99)
        logging.getLogger("void_client.x").info("not a warning")
        stream = PS.current()
        assert stream is not None
        with stream.job_events(24, "/o/c.####.exr") as on_event:
            on_event(P.Progress(job="j1", stage="running", windows=3, frames_total=24))
            on_event(P.Progress(job="j1", stage="running", windows=3, frames_total=24))
        return 0

    _, _, events, err = run(command, capsys)
    assert [e["event"] for e in events] == ["start", "warning", "warning", "state", "done"]
    assert events[0]["total"] == 24 and events[0]["out"] == "/o/c.####.exr"
    assert events[1]["message"] == "no --prompt; describe the clean background"
    assert events[2]["message"] == "the remove matte covers 99%"
    assert events[3]["job"] == "j1" and events[3]["eta_s"] is None  # repeated state: sent once
    assert events[4]["job"] == "j1"
    assert "void-remove: warning: no --prompt" in err


def test_nothing_follows_the_final_event_and_a_closed_reader_is_survived() -> None:
    buf = io.StringIO()
    stream = PS.JsonlStream(buf, "/o/c.####.exr")
    stream.done()
    stream.warning("late")
    stream.failed("internal", "late")
    assert [json.loads(x)["event"] for x in buf.getvalue().splitlines()] == ["start", "done"]

    closed = io.StringIO()
    closed.close()
    broken = PS.JsonlStream(closed, "/o/c.####.exr")
    broken.warning("the host went away")
    broken.done()  # no exception: the job's frames still land
    assert broken.ended


def test_bar_and_none_modes_write_no_stream(capsys) -> None:
    seen = []
    for mode in ("bar", "none"):
        args = argparse.Namespace(progress=mode, out="/o/c.####.exr")
        assert PS.run_command(args, lambda a: seen.append((PS.mode(), PS.current())) or 0) == 0
    assert seen == [("bar", None), ("none", None)]
    assert capsys.readouterr().out == ""
    assert PS.mode() == "bar"


def test_the_exit_statuses_are_the_clis() -> None:
    from void_client.cli import run as R

    assert (PS.EXIT_MISSING, PS.EXIT_INTERRUPTED) == (R.EXIT_MISSING, R.EXIT_INTERRUPTED)
    assert PS.STREAM_VERSION == 1
