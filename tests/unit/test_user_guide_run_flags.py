"""docs/user-guide.md's "Running" table lists every ``void-remove run`` option with the words
``void-remove run --help`` prints for it, so the guide cannot fall behind the parser (issue 20:
the table lacked --grade-layers, --reference, --preview, --progress, --view, --matte-view,
--out-layer, --fill-out and --matte-out).

Nothing runs: the parser is built, never parsed with (docs/architecture.md, "Tests").
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from void_client.cli.main import build_parser

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"
#: A table row: the option as --help writes it (in backticks), then its help text.
_ROW_RE = re.compile(r"^\| `(--[^`]+)` \| (.*) \|$")
#: Markdown's backslash escapes in the help column (``\*``, ``\_``, ``\<``).
_ESCAPE_RE = re.compile(r"\\([\\*_<>|\[\]])")


def run_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def help_rows() -> dict[str, str]:
    """``{"--view VIEW": help}`` as ``void-remove run --help`` prints them (one line each)."""
    p = run_parser()
    fmt = p._get_formatter()
    return {
        fmt._format_action_invocation(a): fmt._expand_help(a)
        for a in p._actions
        if a.option_strings and a.dest != "help"
    }


def guide_rows() -> dict[str, str]:
    text = GUIDE.read_text(encoding="utf-8")
    running = text.split("\n## Running\n", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in running.splitlines():
        m = _ROW_RE.match(line)
        if m:
            rows[m[1]] = _ESCAPE_RE.sub(r"\1", m[2])
    return rows


def test_the_running_table_lists_every_run_option_as_help_prints_it() -> None:
    expected, documented = help_rows(), guide_rows()
    for flag in (
        "--grade-layers",
        "--reference FRAME=PATH",
        "--preview FRAME[,FRAME...]",
        "--progress {bar,jsonl,none}",
        "--view VIEW",
        "--matte-view MATTE_VIEW",
        "--out-layer NAME",
        "--fill-out PATTERN",
        "--matte-out PATTERN",
    ):
        assert flag in documented, f"docs/user-guide.md's Running table lacks {flag}"
    assert sorted(documented) == sorted(expected)
    for flag, words in expected.items():
        assert documented[flag] == words, flag
