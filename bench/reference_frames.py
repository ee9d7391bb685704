"""Reference frames: hole PSNR far from a reference of the true clean plate, with and without.

    python bench/reference_frames.py

Each shot runs twice through a real daemon (EXR files → client → daemon → propagate → EXR),
without and with ``--reference FIRST=truth.FIRST.exr``; the hole PSNR (sRGB, inside the
dilated remove matte) is measured on frames at least ``FAR`` frames from the reference.
Numbers: docs/benchmarks.md, "Reference frames".
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from tests.support.daemons import DaemonProcess  # noqa: E402
from tests.support.reference_shot import slow_object_shot  # noqa: E402
from void_client.quadmask import build_quadmask, hole  # noqa: E402
from void_client.sequence import SequencePattern, read_image  # noqa: E402
from void_client.sequence_job import RemoveRequest, remove_sequence  # noqa: E402
from void_daemon.demo_shot import Shot, make_shot, write_shot  # noqa: E402
from void_daemon.metrics import psnr  # noqa: E402

FAR = 20
DILATION = 3


def _run(endpoint: str, files: dict, out: str, refs: dict, window: int, affected: bool) -> None:
    remove_sequence(
        RemoveRequest(
            files["plate"],
            files["remove"],
            out,
            affected=files["affected"] if affected else "",
            settings={"dilation": DILATION, "feather": 4, "window": window, "overlap": 4},
            endpoint=endpoint,
            autostart=False,
            references=refs,
        )
    )


def measure(endpoint: str, name: str, shot: Shot, window: int, affected: bool, tmp: Path) -> dict:
    files = write_shot(shot, str(tmp / name))
    ref = {shot.frames[0]: SequencePattern.parse(files["truth"]).path(shot.frames[0])}
    scores = {}
    for label, refs in (("without", {}), ("with", ref)):
        out = str(tmp / name / label / "o.####.exr")
        _run(endpoint, files, out, refs, window, affected)
        pat = SequencePattern.parse(out)
        far = list(range(FAR, len(shot.frames)))
        res = np.stack([read_image(pat.path(shot.frames[p])).pixels[..., :3] for p in far])
        qm = np.stack(
            [
                build_quadmask(shot.remove[p], shot.affected[p] if affected else None, DILATION)
                for p in far
            ]
        )
        scores[label] = psnr(res.astype(np.float32), shot.truth[far], hole(qm))
    return scores


def main() -> None:
    shots = [
        ("locked-off, slow object, 1 window", slow_object_shot(), 197, False),
        ("locked-off, slow object, 13-frame windows", slow_object_shot(), 13, False),
        ("slow pan 1 px/frame, slow object", slow_object_shot(pan=1), 197, False),
        (
            "demo shot (pan 6 px/frame, ball + shadow)",
            make_shot(frames=24, width=96, height=64, seed=3),
            197,
            True,
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        daemon = DaemonProcess(Path(tmp) / "jobs").start()
        try:
            print("| shot (24 frames, 96x64) | without | with | gain (dB) |")
            print("|---|---|---|---|")
            for i, (name, shot, window, affected) in enumerate(shots):
                s = measure(daemon.endpoint, f"s{i}", shot, window, affected, Path(tmp))
                gain = s["with"] - s["without"]
                print(f"| {name} | {s['without']:.2f} | {s['with']:.2f} | {gain:+.2f} |")
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
