"""A stand-in for the Nuke executable (``nuke.EXE_PATH``) rendering a saved script's Write in
execute mode, for the background export (``nuke/void_nuke/export.py``), plus the
``nuke.scriptSave(filename)`` stand-in that saves what it renders.

``python fake_nuke_exe.py -x -X <Write> -F <first>-<last> [--view v1,v2] <script.nk>``

As strict as Nuke about what it is given, each rule citing what it models:

* ``-x``: "execute mode" (render the script, no GUI); without it Nuke would open the script in
  the GUI, so the fake refuses to run (Foundry, "Command Line Operations",
  https://learn.foundry.com/nuke/content/comp_environment/configuring_nuke/command_line_operations.html;
  that page is not in the docs we could read here: ``-x``, ``-X`` and ``--view`` are taken from
  Nuke's own ``--help`` as we know it, and the self-test on a real Nuke has to confirm them).
* ``-X node``: execute only this node; a name the script lacks is an error, exit status 1.
* ``-F range``: the frames, ``A-B`` or ``A``; "any frame ranges should be preceded by the -F
  switch" (https://learn.foundry.com/nuke/content/getting_started/managing_scripts/defining_frame_ranges.html);
  ``--view v1,v2``: only these views (same command-line page). Any other switch, or a script
  path that is not an existing ``.nk``, is refused with status 1.
* The Write's knobs: an EXR Write (``file_type exr``) at ``16 bit half`` writes half floats;
  ``%V`` in ``file`` is the view's name and ``%04d`` the frame ("File Name Conventions for
  Rendered Images", https://learn.foundry.com/nuke/content/comp_environment/rendering/file_name_conventions_rendered_images.html);
  a Write renders each of its ``views``.
* After each frame and view, the Write's ``afterFrameRender`` Python runs in the render
  process with ``nuke.frame()`` the frame (the Write's Python tab: "after each frame",
  https://learn.foundry.com/nuke/content/reference_guide/image_nodes/write.html), and Nuke
  prints ``Writing <file> took <s> seconds``.
* A frame being written exists on disk in part until it is done, so a render killed mid-frame
  leaves a partial file (what the export's cancel must clean up).

The saved script (:func:`save_script`, standing in for ``nuke.scriptSave(filename)``) is a small
``.nk``: one ``Write {...}`` block per Write with its knobs as JSON strings, plus ``fake_*`` knobs
(not Nuke's) naming the file and channels its upstream reads, which a real ``.nk`` would hold as
the upstream nodes themselves.

``VOID_FAKE_NUKE_FRAME_S`` (seconds a frame takes) lets a test cancel mid-render;
``VOID_FAKE_NUKE_IGNORE_TERM=1`` makes the render ignore SIGTERM (a test hook for a render that
does not stop when asked, not a claim about Nuke).
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
import types
from pathlib import Path
from typing import Any

WRITE_KNOBS = ("file", "channels", "file_type", "datatype", "views", "afterFrameRender")
_CHANNELS = {"red": "R", "green": "G", "blue": "B", "alpha": "A"}


# --------------------------------------------------------------------------- saving (in-process)
def install(fake: Any, folder: Path, sources: dict[str, str] | None = None) -> str:
    """Give a ``FakeNuke`` what a GUI run's background export needs: ``EXE_PATH`` (a wrapper
    running this file with this Python), ``scriptSave(filename)`` (:func:`save_script`) and
    ``views()`` (mono). ``sources`` (role -> EXR pattern on disk) replaces what the upstream
    Reads' ``file`` knobs say, for graphs whose Reads name no real files."""
    exe = Path(folder) / "Nuke"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    fake.EXE_PATH = str(exe)
    fake.scriptSave = lambda path="": save_script(fake, path, sources)
    fake.views = lambda: ["main"]
    return str(exe)


def save_script(fake: Any, path: str, sources: dict[str, str] | None = None) -> None:
    """``nuke.scriptSave(filename)`` for the fake ``nuke``: every Write of the graph, with what
    its upstream reads (the group input feeding the export's internal node)."""
    from void_nuke import node_spec as N

    roles = {source: role for role, source in N.EXPORT_SOURCES.items()}
    inputs = {"plate": N.SOURCE, "remove": N.REMOVE, "affected": N.AFFECTED}
    links = {"remove": "remove_channel", "affected": "affected_channel"}
    blocks = []
    for node in list(fake.registry.values()):
        if node.Class() != "Write" or node.deleted:
            continue
        internal = node.input(0)
        group = internal._parent
        role = roles.get(internal.name(), "")
        knobs = {k: node[k].value() for k in WRITE_KNOBS if node.knob(k) is not None}
        knobs["name"] = node.fullName()
        if not role:  # a Write of anything else (the self-test's scratch Write of a Constant)
            knobs["fake_source"], knobs["fake_channels"] = "", ["R", "G", "B", "A"]
            body = "\n".join(f" {k} {json.dumps(v)}" for k, v in knobs.items())
            blocks.append(f"Write {{\n{body}\n}}")
            continue
        upstream = group.input(inputs[role])
        if role == "plate":
            layer = str(internal["in"].value())
            channels = ["R", "G", "B", "A"] if layer == "rgba" else [f"{layer}.{c}" for c in "RGBA"]
        else:
            layer, _, channel = str(group[links[role]].value()).partition(".")
            name = _CHANNELS.get(channel, channel)
            channels = [name if layer == "rgba" else f"{layer}.{name}"]
        knobs["fake_source"] = (sources or {}).get(role) or str(upstream["file"].value())
        knobs["fake_channels"] = channels
        body = "\n".join(f" {k} {json.dumps(v)}" for k, v in knobs.items())
        blocks.append(f"Write {{\n{body}\n}}")
    Path(path).write_text("version 13.0 v1\n" + "\n".join(blocks) + "\n", encoding="utf-8")


def read_script(path: str) -> dict[str, dict[str, Any]]:
    """The saved script's Writes by full name."""
    writes = {}
    for block in re.findall(r"^Write \{\n(.*?)\n\}", Path(path).read_text("utf-8"), re.M | re.S):
        knobs = {}
        for line in block.splitlines():
            key, _, value = line.strip().partition(" ")
            knobs[key] = json.loads(value)
        writes[knobs["name"]] = knobs
    return writes


# --------------------------------------------------------------------------- the executable
class Refused(Exception):
    pass


def parse(argv: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {"x": False, "node": None, "frames": None, "views": None}
    rest = list(argv)
    while rest:
        a = rest.pop(0)
        if a == "-x":
            args["x"] = True
        elif a in ("-X", "-F", "--view"):
            if not rest:
                raise Refused(f"{a} needs a value")
            value = rest.pop(0)
            if a == "-X":
                args["node"] = value
            elif a == "-F":
                m = re.fullmatch(r"(-?\d+)(?:-(-?\d+))?", value)
                if not m:
                    raise Refused(f"-F {value}: not a frame range")
                first = int(m.group(1))
                args["frames"] = (first, int(m.group(2)) if m.group(2) else first)
            else:
                args["views"] = [v for v in value.split(",") if v]
        elif a.startswith("-"):
            raise Refused(f"unknown option {a}")
        elif rest:
            raise Refused(f"unexpected argument {a} before the script")
        else:
            args["script"] = a
    if not args["x"]:
        raise Refused("not in execute mode (-x): Nuke would open the GUI")
    script = args.get("script")
    if not script or not script.endswith(".nk") or not os.path.isfile(script):
        raise Refused(f"no script to execute: {script!r}")
    return args


def frame_path(pattern: str, frame: int, view: str = "") -> str:
    path = pattern.replace("%V", view).replace("%v", view[:1])
    return re.sub(r"%(0?\d*)d", lambda m: f"%{m.group(1)}d" % frame, path, count=1)


def render(write: dict[str, Any], frames: tuple[int, int], views: list[str] | None) -> None:
    import numpy as np

    from void_client.sequence import read_image, write_image

    if write.get("file_type") != "exr" or write.get("datatype") != "16 bit half":
        raise Refused("the fake renders half-float EXR Writes only")
    write_views = str(write.get("views") or "").split()
    if "%V" in write["file"] and not write_views:
        raise Refused("%V in the file name of a Write with no views")
    chosen = [v for v in write_views if views is None or v in views] or [""]
    seconds = float(os.environ.get("VOID_FAKE_NUKE_FRAME_S", "0"))
    stand_in = types.SimpleNamespace(frame=lambda: 0, thisNode=lambda: None)
    node_name = write["name"].rsplit(".", 1)[-1]
    for frame in range(frames[0], frames[1] + 1):
        if write["fake_source"]:
            src = read_image(frame_path(write["fake_source"].replace("####", "%04d"), frame))
            names = [n for n in src.channels]
            picked = np.stack(
                [src.pixels[:, :, names.index(c)] for c in write["fake_channels"]], -1
            )
        else:  # a Constant: black
            picked = np.zeros((4, 4, 4), np.float32)
        for view in chosen:
            path = frame_path(write["file"], frame, view)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as partial:  # being written: on disk, not yet an image
                partial.write(b"\x76\x2f\x31\x01partial")
            time.sleep(seconds)
            out_names = ["R", "G", "B", "A"] if picked.shape[2] == 4 else ["A"]
            write_image(path, picked.astype(np.float16), channels=out_names)
            print(f"Writing {path} took {seconds:.2f} seconds", flush=True)
            code = write.get("afterFrameRender") or ""
            if code:
                stand_in.frame = lambda frame=frame: frame
                stand_in.thisNode = lambda: types.SimpleNamespace(name=lambda: node_name)
                sys.modules["nuke"] = stand_in  # type: ignore[assignment]
                exec(code, {"nuke": stand_in})


def main(argv: list[str]) -> int:
    if os.environ.get("VOID_FAKE_NUKE_IGNORE_TERM") == "1":
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        args = parse(argv)
        writes = read_script(args["script"])
        if args["node"] not in writes:
            raise Refused(f"-X {args['node']}: no such node in {args['script']}")
        write = writes[args["node"]]
        render(write, args["frames"] or (1, 1), args["views"])
    except Refused as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).resolve().parents[3] / "plugin")]
    sys.exit(main(sys.argv[1:]))
