"""Issue 17's "done when", end to end: a job written by one user (root, the submitter) runs
through the real ``openjd run`` as another user (``nobody``, the farm's service account) in a
clean environment, and its frames are bit-identical to a direct daemon run and readable by a
third user who owns none of them (the artist).

``nobody`` cannot run this venv's interpreter (it lives under ``/root``, which is 0700), so the
worker is Debian's ``/usr/bin/python3.11`` (the same cp311 ABI) with the venv's site-packages on
``PYTHONPATH``. The editable install exposes our packages through a meta-path finder that a
``.pth`` file installs, and ``.pth`` files are not processed for ``PYTHONPATH`` folders, so the
package roots go on ``PYTHONPATH`` explicitly. The job carries that ``PYTHONPATH`` (``--env``);
``openjd`` itself only gets site-packages, so a task that imports our code proves the job's
environment reached it (docs/farm.md, "first farm job").
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from void_client.sequence import SequencePattern, read_image
from void_daemon.demo_shot import make_shot, write_shot

WORKER_PYTHON = "/usr/bin/python3.11"
SITE_PACKAGES = Path(sys.prefix) / "lib" / "python3.11" / "site-packages"
#: Our top-level packages: the CLI's entry points (``task``, ``install nuke|resolve``) load them all.
PACKAGES = ["void_client", "void_daemon", "void_nuke", "void_resolve", "void_shaders"]
SERVICE_UID = 65534  # nobody: runs openjd and every task
ARTIST_UID = 65533  # a third user who owns none of the outputs
FRAMES = list(range(1001, 1019))
SETTINGS = ["--window", "8", "--overlap", "3", "--dilation", "3", "--feather", "4"]
ROOT_COMMAND = [sys.executable, "-m", "void_client.cli.main"]


def _readable_by(uid: int, path: Path) -> bool:
    """Whether ``uid`` (no groups) can read ``path``: tried for real, not computed."""
    r = subprocess.run(
        ["/usr/bin/test", "-r", str(path)], user=uid, group=uid, extra_groups=[], timeout=30
    )
    return r.returncode == 0


def package_roots() -> list[Path]:
    """The folders holding our packages as this venv imports them (``plugin/``, ``daemon/``...
    for the editable install; site-packages itself for a wheel), without importing them."""
    roots: list[Path] = []
    for name in PACKAGES:
        found = importlib.util.find_spec(name)
        if found is None or not found.origin:
            continue  # not installed here: the skip check below names what is missing
        root = Path(found.origin).parents[1]
        if root not in roots:
            roots.append(root)
    return roots


def _skip_reason() -> str:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "running as another user needs root to drop privileges"
    if not os.path.exists(WORKER_PYTHON):
        return f"{WORKER_PYTHON} (an interpreter another user can run) is missing"
    if sys.version_info[:2] != (3, 11):
        return "the venv is not Python 3.11, so its site-packages do not fit " + WORKER_PYTHON
    if not _readable_by(SERVICE_UID, SITE_PACKAGES / "numpy" / "__init__.py"):
        return f"uid {SERVICE_UID} cannot read {SITE_PACKAGES}"
    if len(package_roots()) == 0:
        return "our packages are not importable here"
    unreadable = [str(p) for p in package_roots() if not _readable_by(SERVICE_UID, p)]
    if unreadable:
        return f"uid {SERVICE_UID} cannot read {', '.join(unreadable)}"
    return ""


# About 8 s here (one daemon, one 3-window openjd job), under the budget for the default run.
SKIP = _skip_reason()
pytestmark = pytest.mark.skipif(bool(SKIP), reason=SKIP or "runs")


@pytest.fixture
def farm_root() -> Iterator[Path]:
    """A world-traversable folder (pytest's tmp folders are 0700): the shot readable by all,
    the delivery and work folders owned by the service user, the job files by the submitter."""
    root = Path(tempfile.mkdtemp(prefix="void-farm-other-user-"))
    root.chmod(0o755)
    for name in ("delivery", "work", "home"):
        (root / name).mkdir(mode=0o755)
        os.chown(root / name, SERVICE_UID, SERVICE_UID)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def pixels(pattern: str) -> list[np.ndarray]:
    pat = SequencePattern.parse(pattern)
    return [read_image(pat.path(f)).pixels for f in FRAMES]


def test_a_job_written_by_root_runs_as_nobody_and_the_artist_reads_its_frames(
    farm_root: Path, daemon
) -> None:
    paths = write_shot(
        make_shot(frames=len(FRAMES), width=32, height=24, seed=7), str(farm_root / "shot")
    )
    for dirpath, _dirs, filenames in os.walk(farm_root / "shot"):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)
    shot = ["--plate", paths["plate"], "--remove", paths["remove"], "--affected", paths["affected"]]

    # The reference: a direct run through the real daemon, as root.
    direct = str(farm_root / "direct" / "clean.####.exr")
    r = subprocess.run(
        [*ROOT_COMMAND, "run", *shot, *SETTINGS, "--out", direct]
        + ["--endpoint", daemon.endpoint, "--no-autostart"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr

    # Root writes the job. The submit-time check runs (as root, with the worker command and
    # the job's environment): it proves the command and PYTHONPATH work, not that nobody may
    # write, which is why the folders were chowned above. --out-dir keeps the job files out of
    # the work folder: a job folder root created there would be root's, and nobody's tasks
    # could not add their journals to it.
    job_pythonpath = os.pathsep.join(str(p) for p in [SITE_PACKAGES, *package_roots()])
    out = str(farm_root / "delivery" / "clean.####.exr")
    r = subprocess.run(
        [*ROOT_COMMAND, "farm", "openjd", *shot, *SETTINGS, "--out", out]
        + ["--work-dir", str(farm_root / "work"), "--out-dir", str(farm_root / "job")]
        + ["--worker-command", f"{WORKER_PYTHON} -m void_client.cli.main"]
        + ["--env", f"PYTHONPATH={job_pythonpath}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    template = Path(r.stdout.strip())
    assert template.is_file() and template.stat().st_uid == 0

    # nobody runs openjd in a clean environment: no venv, no VIRTUAL_ENV, none of our variables,
    # and only site-packages (for openjd itself) on PYTHONPATH. Its own TMPDIR: openjd makes its
    # session folders in $TMPDIR/OpenJD, which root's runs may already own in /tmp.
    home = farm_root / "home"
    (home / "tmp").mkdir()
    os.chown(home / "tmp", SERVICE_UID, SERVICE_UID)
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home / "tmp")}
    run = subprocess.run(
        [WORKER_PYTHON, "-m", "openjd", "run", str(template)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=home,
        env={**clean, "PYTHONPATH": str(SITE_PACKAGES)},
        user=SERVICE_UID,
        group=SERVICE_UID,
        extra_groups=[],
        umask=0o077,  # a strict service account: only the job's umask may decide the modes
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Session ended successfully" in run.stdout

    farm_px, direct_px = pixels(out), pixels(direct)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(farm_px, direct_px, strict=True)), (
        "the frames nobody's openjd run wrote differ from the daemon's"
    )
    frames = [Path(SequencePattern.parse(out).path(f)) for f in FRAMES]
    owners = {
        (p.stat().st_uid, p.stat().st_gid, oct(stat.S_IMODE(p.stat().st_mode))) for p in frames
    }
    assert owners == {(SERVICE_UID, SERVICE_UID, "0o644")}

    # The artist: neither the owner nor in its group. The privilege drop is real (a private
    # file stays unreadable), and every delivered frame reads back byte for byte.
    private = farm_root / "private.txt"
    private.write_text("secret")
    private.chmod(0o600)
    assert not _readable_by(ARTIST_UID, private)
    for path in frames:
        cat = subprocess.run(
            ["/bin/cat", str(path)],
            capture_output=True,
            timeout=30,
            user=ARTIST_UID,
            group=ARTIST_UID,
            extra_groups=[],
        )
        assert cat.returncode == 0, f"{path}: {cat.stderr.decode()}"
        assert cat.stdout == path.read_bytes()
