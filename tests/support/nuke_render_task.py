"""One Nuke render task, as a farm runs it (``nuke -x shot.nk -F FRAME``), against the fake ``nuke``.

``python tests/support/nuke_render_task.py FRAME ENDPOINT`` builds the same script as
``tests/integration/test_nuke_glue.py``'s :func:`render_graph`, loads VOID Remove's
``nuke_path/init.py`` as Nuke does at start-up (it registers the ``beforeRender`` hook) and renders
the comp's Write for one frame with ``nuke.execute``, which fires ``beforeRender`` in this process
as Nuke does in every render task. Prints one JSON line: what rendered, the render's error, every
``execute`` call (an export Write there would mean the VOID job ran in the task).
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    frame = int(argv[0])
    sys.path[:0] = [str(REPO), str(REPO / "nuke")]
    from tests.support.fakes.fake_nuke import FakeNuke

    fake = FakeNuke()
    fake.GUI = False  # nuke -x: no GUI
    sys.modules["nuke"] = fake
    runpy.run_path(str(REPO / "nuke" / "void_nuke" / "nuke_path" / "init.py"))
    from tests.integration.test_nuke_glue import render_graph

    node, write = render_graph(fake, endpoint=argv[1])
    rendered: list[str] = []
    fake.on_execute = lambda w, first, last: rendered.append(w.fullName())
    error = ""
    try:
        fake.execute(write, frame, frame)
    except RuntimeError as exc:  # a beforeRender hook aborted the render
        error = str(exc)
    executes = [list(args) for name, args in fake.calls if name == "execute"]
    print(
        json.dumps(
            {
                "rendered": rendered,
                "error": error,
                "executes": executes,
                "results": node["results"].value(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
