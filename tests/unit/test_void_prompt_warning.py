"""``void-remove run --engine void`` without ``--prompt`` warns (issue 18: the model card asks for a
description of the clean background); other engines, and a given prompt, do not."""

from __future__ import annotations

import pytest

from void_client.cli import run as run_cli
from void_client.cli.main import build_parser

ARGS = ["run", "--plate", "p.####.exr", "--remove", "m.####.exr", "--out", "o.####.exr"]


@pytest.fixture
def submitted(monkeypatch) -> list:
    """Stop at the job submission: what the command would submit, no daemon needed."""
    seen: list = []
    monkeypatch.setattr(run_cli, "run_job", lambda req, *a, **k: seen.append(req) or 0)
    return seen


@pytest.mark.parametrize(
    "extra, warns",
    [
        (["--engine", "void"], True),
        (["--engine", "void", "--prompt", "  "], True),
        (["--engine", "void", "--prompt", "a wooden table in a kitchen"], False),
        ([], False),  # propagate: no prompt to give
    ],
)
def test_missing_prompt_is_a_warning_for_the_void_engine(submitted, capsys, extra, warns):
    args = build_parser().parse_args(ARGS + extra)
    assert run_cli.main(args) == 0 and len(submitted) == 1
    err = capsys.readouterr().err
    assert ("warning: no --prompt" in err) == warns
    if warns:
        assert "description of the clean background" in err
