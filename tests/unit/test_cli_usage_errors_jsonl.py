"""A usage error (an unknown option, a bad value) in ``--progress jsonl`` mode still ends the stream
with one ``failed`` event (code ``bad_spec``), so a host reading stdout learns why instead of
seeing an empty stream; without ``--progress jsonl`` argparse behaves as always (docs/protocol.md,
"Progress stream (jsonl)").

In-process through ``void_client.cli.main.main``: nothing is submitted, parsing fails first.
"""

from __future__ import annotations

import json

import pytest

from void_client.cli.main import main
from void_hostlink import FINAL_EVENTS

RUN = ["run", "--plate", "p.####.exr", "--remove", "m.####.exr", "--out", "o.####.exr"]


def usage_error(argv: list[str], capsys) -> tuple[int, list[dict], str]:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    return int(exit_info.value.code or 0), events, captured.err


@pytest.mark.parametrize(
    ("argv", "field", "words"),
    [
        (
            [*RUN, "--bogus", "--progress", "jsonl"],
            "bogus",
            "unrecognized arguments: --bogus",
        ),
        (
            ["attach", "abc123", *RUN[1:], "--progress=jsonl", "--frobnicate", "3"],
            "frobnicate",
            "unrecognized arguments: --frobnicate 3",
        ),
        (
            [*RUN, "--progress", "jsonl", "--seed", "many"],
            "seed",
            "argument --seed: invalid int value: 'many'",
        ),
        (
            ["run", "--plate", "p.####.exr", "--progress", "jsonl"],
            "remove",
            "the following arguments are required: --remove, --out",
        ),
    ],
)
def test_usage_errors_end_the_stream_with_failed(argv, field, words, capsys) -> None:  # type: ignore[no-untyped-def]
    status, events, err = usage_error(argv, capsys)
    assert status == 2
    assert [e["event"] for e in events] == ["start", "failed"], events
    assert events[0]["stream"] == 1 and events[0]["total"] is None
    error = events[1]["error"]
    assert error["code"] == "bad_spec" and error["field"] == field
    assert words in error["message"] and "void-remove" in error["message"]
    assert sum(e["event"] in FINAL_EVENTS for e in events) == 1
    # stderr still carries argparse's usage and message for a person reading the log.
    assert "usage: void-remove" in err and words in err


def test_without_jsonl_stdout_stays_empty(capsys) -> None:  # type: ignore[no-untyped-def]
    status, events, err = usage_error([*RUN, "--bogus"], capsys)
    assert status == 2 and events == []
    assert "unrecognized arguments: --bogus" in err


def test_jsonl_as_another_options_value_is_not_jsonl_mode(capsys) -> None:  # type: ignore[no-untyped-def]
    # "--prompt jsonl" is a prompt, not the progress mode: argparse's usual behaviour.
    status, events, _ = usage_error(["run", "--prompt", "jsonl", "--bogus"], capsys)
    assert status == 2 and events == []


def test_help_is_not_a_failure(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--progress", "jsonl", "--help"])
    assert exit_info.value.code == 0
    assert '"failed"' not in capsys.readouterr().out
