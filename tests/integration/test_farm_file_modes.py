"""Farm outputs are readable by the team (issue 17, finding 3): whatever umask the farm's
service user has, a task writes with the job's umask (022 by default: files 0644, folders 0755;
``--group-writable``: 0664/0775), and that holds for the output EXRs, the window cache, the
``chain`` frames and the journals. As root, the outputs are then read as another user."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from void_client.farm import FarmSpec
from void_client.sequence import SequencePattern
from void_client.sequence_job import RemoveRequest
from void_daemon.demo_shot import make_shot, write_shot

COMMAND = [sys.executable, "-m", "void_client.cli.main"]
FRAMES = list(range(1001, 1019))
NOBODY = 65534


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_shot(
        make_shot(frames=len(FRAMES), width=32, height=24, seed=7),
        str(tmp_path_factory.mktemp("modes-shot")),
    )


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder another user can traverse (pytest's own tmp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="void-farm-modes-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_job_as_a_strict_service_user(paths: dict, root: Path, umask: str) -> FarmSpec:
    """Every task of a chain job through the real task command, started with umask 077 (a
    service account's usual setting): only the job's umask may decide the modes."""
    req = RemoveRequest(
        paths["plate"],
        paths["remove"],
        str(root / "delivery" / "clean.####.exr"),
        paths["affected"],
        settings={"window": 8, "overlap": 3, "seam": "chain"},
    )
    farm = FarmSpec.from_request(req, root / "work", command=COMMAND)
    farm.umask, farm.keep_work = umask, True  # keep the work to look at its modes
    spec_path = farm.save(root / "farm.json")
    n = len(farm.windows())
    assert n >= 3
    for argv in [["window", "--index", str(k)] for k in range(n)] + [["assemble"]]:
        r = subprocess.run(
            [*COMMAND, "task", *argv[:1], "--spec", str(spec_path), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=180,
            umask=0o077,
        )
        assert r.returncode == 0, r.stderr
    return farm


def written_files(farm: FarmSpec) -> dict[str, list[Path]]:
    out = SequencePattern.parse(farm.out_pattern)
    return {
        "output EXR": [Path(out.path(f)) for f in FRAMES],
        "cache entry": sorted(farm.cache_dir.glob("*/*.npy")),
        "chain frame": sorted((farm.job_dir / "out").glob("*.npy")),
        "journal": sorted((farm.job_dir / "journal").glob("*.jsonl")),
    }


def folders(farm: FarmSpec) -> list[Path]:
    return [
        Path(farm.out_pattern).parent,
        farm.cache_dir,
        *sorted(p for p in farm.cache_dir.iterdir() if p.is_dir()),
        farm.job_dir / "out",
        farm.job_dir / "journal",
    ]


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [("022", 0o644, 0o755), ("002", 0o664, 0o775)]
)
def test_every_file_a_task_writes_follows_the_jobs_umask(
    paths, shared: Path, umask: str, file_mode: int, dir_mode: int
) -> None:
    farm = run_job_as_a_strict_service_user(paths, shared, umask)
    files = written_files(farm)
    assert all(files.values()), {k: len(v) for k, v in files.items()}
    wrong = {
        f"{kind} {p.name}": oct(mode(p))
        for kind, ps in files.items()
        for p in ps
        if mode(p) != file_mode
    }
    assert not wrong, f"expected {oct(file_mode)}: {wrong}"
    wrong_dirs = {str(p): oct(mode(p)) for p in folders(farm) if mode(p) != dir_mode}
    assert not wrong_dirs, f"expected {oct(dir_mode)}: {wrong_dirs}"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="reading as another user needs root to drop privileges",
)
def test_another_user_reads_the_delivered_frames_and_the_shared_work(paths, shared: Path) -> None:
    farm = run_job_as_a_strict_service_user(paths, shared, "022")
    files = written_files(farm)

    def cat_as_nobody(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["/bin/cat", str(path)],
            capture_output=True,
            timeout=30,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
        )

    # The privilege drop is real: a private file stays unreadable to that user.
    private = shared / "private.txt"
    private.write_text("secret")
    private.chmod(0o600)
    denied = cat_as_nobody(private)
    assert denied.returncode != 0 and b"Permission denied" in denied.stderr

    for kind in ("output EXR", "cache entry", "chain frame"):
        for path in files[kind][:3]:
            r = cat_as_nobody(path)
            assert r.returncode == 0, f"{kind} {path}: {r.stderr.decode()}"
            assert r.stdout == path.read_bytes()
