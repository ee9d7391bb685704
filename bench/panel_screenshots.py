"""Screenshots of the VOID Remove panel for docs/panel.md, rendered offscreen.

Starts a real daemon on a free loopback port, writes the generated demo shot, previews the
mattes before Run, fills in a reference frame, runs **Suggest…** (the real ``void-remove
suggest-affected`` subprocess) for the affected matte, runs a real job through the panel's Run
action, cancels a second one, and grabs the panel (``QWidget.grab()``) at the interesting
moments:

    python bench/panel_screenshots.py            # -> docs/images/panel-*.png

Needs the daemon extra (OpenCV, scikit-image) for the shot and the propagate engine. Runs on
Qt's offscreen platform unless ``QT_QPA_PLATFORM`` says otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"))
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--height", type=int, default=270)
    args = ap.parse_args()

    from void_client.client import DaemonClient
    from void_client.errors import VoidError
    from void_client.panel import VoidPanel
    from void_client.panel.panel import apply_dark_theme
    from void_client.panel.qt import application
    from void_client.panel.viewer import ViewMode
    from void_client.sequence_job import RemoveRequest
    from void_daemon.demo_shot import make_shot, write_shot

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="void-panel-shots-"))
    os.environ["VOID_REMOVE_HOME"] = str(work / "home")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "void_daemon",
            "serve",
            "--endpoint",
            endpoint,
            "--jobs-dir",
            str(work / "jobs"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    app, _ = application()
    apply_dark_theme(app)

    def pump(until: Callable[[], bool], timeout: float, what: str, required: bool = True) -> bool:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                if required:
                    raise SystemExit(f"timed out waiting for {what}")
                return False
            app.processEvents()
            time.sleep(0.005)
        return True

    def settle(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def save(widget, name: str) -> None:
        settle()
        path = out_dir / name
        # Quality 0 is zlib's strongest level for PNG: same pixels, smaller files in the repo.
        if not widget.grab().save(str(path), "PNG", 0):
            raise SystemExit(f"could not write {path}")
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    def show_form_frame(frame: int, what: str) -> None:
        """Preview the Job tab's sequences (as the panel does once typing pauses) and hold the
        viewer on ``frame`` once its coverage scan is done and the frame is loaded."""
        settle(0.6)  # the form's 300 ms debounce fires first, so it cannot reset the frame later
        if not panel.preview_form():
            raise SystemExit(f"the panel cannot preview {what}: {panel.viewer.empty_note}")
        pump(lambda: not panel.viewer.scanning, 60, f"the coverage of {what}")
        panel.viewer.set_frame(frame)
        pump(
            lambda: panel.viewer.frame() == frame and panel.viewer.current_preview() is not None,
            20,
            f"frame {frame} of {what}",
        )

    try:
        deadline = time.monotonic() + 60
        while True:
            with DaemonClient(endpoint) as c:
                try:
                    c.hello(timeout=0.5)
                    break
                except VoidError:
                    if time.monotonic() > deadline or daemon.poll() is not None:
                        raise SystemExit("the daemon did not start") from None
        shot = make_shot(frames=args.frames, width=args.width, height=args.height, seed=0)
        paths = write_shot(shot, str(work / "shot"))
        req = RemoveRequest(
            plate=paths["plate"],
            remove=paths["remove"],
            affected=paths["affected"],
            out=str(work / "out" / "clean.####.exr"),
            settings={"window": 21, "overlap": 6},
            endpoint=endpoint,
            autostart=False,
        )
        panel = VoidPanel(endpoint=endpoint, poll_interval_s=0.5)
        panel.resize(1280, 800)
        panel.show()
        pump(
            lambda: panel.daemon_status is not None and panel.daemon_status.connected,
            20,
            "the panel to connect",
        )
        panel.set_request(req)

        # 0a. Preview before Run: plate, quadmask overlay and matte coverage without a job, on a
        # copy of the remove matte with two frames left blank (a roto gap) so the warning shows;
        # the Job tab with an artist preset picked.
        from void_client.sequence import SequencePattern, read_image, write_image

        src, gaps = SequencePattern.parse(paths["remove"]), work / "gaps" / "remove.####.exr"
        gap_pat = SequencePattern.parse(str(gaps))
        gaps.parent.mkdir()
        for i, f in enumerate(shot.frames):
            img = read_image(src.path(f)).pixels
            blank = i in (len(shot.frames) // 3, len(shot.frames) // 3 + 1)
            write_image(gap_pat.path(f), img * 0 if blank else img, channels=["A"])
        panel.job_form.apply_preset("final")
        panel.job_form.preset_combo.setCurrentText("final")
        panel.job_form.remove_edit.setText(str(gaps))
        mid = shot.frames[len(shot.frames) // 2]
        show_form_frame(mid, "the mattes with a gap")
        if not panel.viewer.warnings:
            raise SystemExit("no matte warning for the blanked frames")
        panel.tabs.setCurrentIndex(0)
        save(panel, "panel-preview.png")

        # 0c. The Job tab with a reference frame row (here the shot's true clean frame, as if
        # painted) and the affected matte left empty, next to its Suggest… button.
        ref_frame = shot.frames[len(shot.frames) // 4]
        ref_path = work / "paint" / f"clean.{ref_frame}.exr"
        ref_path.parent.mkdir()
        write_image(
            str(ref_path),
            shot.truth[shot.frames.index(ref_frame)].astype("float16"),
            channels=["R", "G", "B"],
        )
        panel.set_request(dataclasses.replace(req, affected=""))
        panel.job_form.apply_preset("final")
        panel.job_form.add_reference(ref_frame, str(ref_path))
        if panel.job_form.references() != {ref_frame: str(ref_path)}:
            raise SystemExit(f"the reference row reads {panel.job_form.references()}")
        show_form_frame(mid, "the mattes without an affected matte")
        panel.tabs.setCurrentIndex(0)
        save(panel, "panel-job.png")

        # 0d. Suggest…: the real `void-remove suggest-affected` on a worker thread; the proposal
        # lands beside the output, fills the Affected field and shows in the overlay.
        suggested: list[str] = []
        failed: list[str] = []
        panel.affected_suggested.connect(suggested.append)
        panel.suggest_failed.connect(failed.append)
        assert panel.suggest_affected()
        pump(lambda: bool(suggested or failed), 300, "the affected matte proposal")
        if failed:
            raise SystemExit(f"Suggest affected matte failed: {failed[0]}")
        if panel.job_form.affected_edit.text() != suggested[0]:
            raise SystemExit("the proposal is not in the Affected field")
        show_form_frame(mid, "the proposed affected matte")
        panel.viewer.set_mode(ViewMode.OVERLAY)
        panel.tabs.setCurrentWidget(panel.log_view)
        save(panel, "panel-suggest.png")
        panel.set_request(req)  # no reference, the test shot's affected matte
        settle(0.6)  # let the form's debounced preview pass before the next steps

        # 0b. Preview frame: only the window covering the viewer's frame, fast settings, into
        # clean_preview.####.exr, shown in the Result view.
        show_form_frame(mid, "the shot")
        assert panel.preview_frame()
        pump(lambda: not panel.is_busy(), 120, "the preview")
        pump(
            lambda: (
                panel.viewer.current_preview() is not None
                and panel.viewer.current_preview().result is not None
            ),
            20,
            "the preview frame",
        )
        panel.tabs.setCurrentWidget(panel.log_view)
        save(panel, "panel-preview-frame.png")

        # 1. A job under way: quadmask overlay on the newest result's frame, windows filling in.
        panel.viewer.set_mode(ViewMode.OVERLAY)
        panel.tabs.setCurrentIndex(0)
        panel.viewer.follow.setChecked(True)
        assert panel.run()
        half = len(shot.frames) // 2
        pump(
            lambda: (
                panel.progress.frames_written >= half - 6
                and panel.viewer.current_preview() is not None
            ),
            120,
            "results",
        )
        # Best effort: catch a moment with the engine's step count on screen too.
        pump(
            lambda: panel.progress.steps > 0 and panel.viewer.current_preview() is not None,
            3,
            "a step report",
            required=False,
        )
        panel.viewer.follow.setChecked(False)  # hold the picture still for the grab
        save(panel, "panel-running.png")
        pump(lambda: not panel.is_busy(), 120, "the job to finish")
        full_job = panel.job

        # 2. Before/after wipe through the ball, once every frame is back.
        ball_frame = shot.frames[half]
        panel.viewer.set_mode(ViewMode.WIPE)
        cols = (shot.remove[half] > 0.5).any(axis=0).nonzero()[0]
        panel.viewer.set_wipe(float(cols.mean()) / args.width)
        panel.viewer.set_frame(ball_frame)
        pump(
            lambda: (
                panel.viewer.current_preview() is not None and panel.viewer.frame() == ball_frame
            ),
            20,
            "the frame",
        )
        panel.viewer.set_wipe(float(cols.mean()) / args.width)
        save(panel, "panel-wipe.png")

        # 2b. QC: the difference view (|result - plate| x gain) at 1:1 on the ball.
        panel.viewer.set_mode(ViewMode.DIFFERENCE)
        panel.viewer.set_view(diff_gain=4.0)
        panel.viewer.zoom_one_to_one()
        save(panel, "panel-difference.png")
        panel.viewer.set_view(diff_gain=1.0)
        panel.viewer.zoom_fit()

        # 3. A second job, cancelled; then the log and the history.
        second = RemoveRequest(
            **{
                **req.__dict__,
                "out": str(work / "out2" / "clean.####.exr"),
                "settings": {"window": 13, "overlap": 4, "dilation": 2},
            }
        )
        panel.job_started.connect(lambda job: panel.cancel())
        assert panel.run_request(second)
        pump(lambda: not panel.is_busy(), 60, "the cancel")
        panel.job_started.disconnect()
        panel.viewer.set_mode(ViewMode.OVERLAY)
        pump(lambda: panel.viewer.current_preview() is not None, 20, "the frame")
        panel.tabs.setCurrentWidget(panel.log_view)
        save(panel, "panel-log.png")
        panel.tabs.setCurrentIndex(2)
        panel.select_history(full_job)  # the full run, not the preview or the cancelled job
        panel.show_selected()  # History ▸ View: the finished job's frames from disk
        panel.viewer.set_mode(ViewMode.WIPE)
        panel.viewer.set_frame(ball_frame)
        pump(
            lambda: (
                panel.viewer.current_preview() is not None and panel.viewer.frame() == ball_frame
            ),
            20,
            "the frame",
        )
        save(panel, "panel-history.png")

        # 4. Docked in a narrow pane (Nuke's properties bin): viewer above the tabs.
        panel.viewer.set_mode(ViewMode.OVERLAY)
        panel.tabs.setCurrentIndex(0)
        panel.resize(600, 980)
        save(panel, "panel-docked.png")
        panel.shutdown()
    finally:
        daemon.terminate()
        daemon.wait(15)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
