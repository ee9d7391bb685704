"""A host driving the real ``void-remove`` (``void_hostlink.VoidRemoveProcess``, which adds
``--progress jsonl``) with a command line the worker does not accept learns why from the stream:
a ``failed`` event with code ``bad_spec`` naming the option, not a synthesized ``worker_died``
with only stderr's last line (docs/protocol.md, "Progress stream (jsonl)"). A worker of another
version with an option this host knows, but it does not, ends this way.
"""

from __future__ import annotations

from tests.support.cli import VOID_REMOVE
from void_hostlink import VoidRemoveProcess


def test_an_unknown_option_reaches_the_host_as_failed_bad_spec(tmp_path) -> None:  # type: ignore[no-untyped-def]
    events: list[dict] = []
    args = ["run", "--plate", str(tmp_path / "p.####.exr"), "--remove", "m.####.exr"]
    args += ["--out", str(tmp_path / "o.####.exr"), "--matte-from-the-future", "on"]
    proc = VoidRemoveProcess(args, events.append, exe=VOID_REMOVE).start()
    final = proc.wait(120)
    assert proc.returncode == 2
    assert [e["event"] for e in events] == ["start", "failed"]
    assert final["error"]["code"] == "bad_spec"
    assert final["error"]["field"] == "matte-from-the-future"
    assert "unrecognized arguments: --matte-from-the-future on" in final["error"]["message"]
    assert any("usage: void-remove" in line for line in proc.stderr_tail)
