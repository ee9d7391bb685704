"""The retention policy and the jobs-folder checks, on real files (no daemon, no sockets)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from void_client.errors import VoidError
from void_daemon.folder_lock import FolderLock, check_jobs_folder
from void_daemon.retention import (
    DAY_S,
    JobUsage,
    RetentionPolicy,
    disk_bytes,
    drop_files,
    parse_age,
    plan,
    plan_clean,
    remove_job_folder,
    trim_cache,
)

NOW = 1_800_000_000.0


def usage(job: str, final: bool, days_ago: float, mib: float) -> JobUsage:
    return JobUsage(job, final, NOW - days_ago * DAY_S, int(mib * 2**20))


def test_old_final_jobs_go_and_active_ones_never_do() -> None:
    jobs = [
        usage("old-done", True, 9, 10),
        usage("old-active", False, 30, 10),
        usage("new-done", True, 1, 10),
    ]
    removals, excess = plan(jobs, NOW, RetentionPolicy(retention_days=7))
    assert [(r.job, r.bytes) for r in removals] == [("old-done", 10 * 2**20)]
    assert "7 days" in removals[0].reason and excess == 0


def test_the_disk_budget_removes_the_oldest_final_jobs_first_then_asks_for_cache() -> None:
    jobs = [
        usage("a", True, 3, 40),
        usage("b", True, 2, 40),
        usage("c", True, 1, 40),
        usage("live", False, 5, 100),
    ]
    policy = RetentionPolicy(retention_days=0, disk_budget_bytes=150 * 2**20)
    removals, excess = plan(jobs, NOW, policy, cache_bytes=20 * 2**20)
    # 240 MiB used: dropping a (oldest) and b brings it to 160 > 150, c too → 120.
    assert [r.job for r in removals] == ["a", "b", "c"]
    assert excess == 0
    # The live job alone is over budget: nothing it could remove, the cache must give 10 MiB.
    removals, excess = plan([usage("live", False, 5, 160)], NOW, policy, cache_bytes=0)
    assert removals == [] and excess == 10 * 2**20


def test_clean_by_age_or_all_finished() -> None:
    jobs = [usage("a", True, 10, 1), usage("b", True, 1, 1), usage("c", False, 20, 1)]
    assert [r.job for r in plan_clean(jobs, NOW, 7 * DAY_S, False)] == ["a"]
    assert [r.job for r in plan_clean(jobs, NOW, 7 * DAY_S, True)] == ["a", "b"]
    assert "7d" in plan_clean(jobs, NOW, 7 * DAY_S, False)[0].reason


@pytest.mark.parametrize(
    "text,seconds", [("7d", 7 * DAY_S), ("12h", 43_200), ("30m", 1800), ("90s", 90), ("5", 5)]
)
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "x", "-1d", "nan", "inf"])
def test_parse_age_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_age(text)


def test_disk_use_and_removal_never_follow_links(tmp_path: Path) -> None:
    root = tmp_path / "jobs"
    job = root / "j1"
    (job / "in").mkdir(parents=True)
    (job / "in" / "a.npy").write_bytes(b"x" * 1000)
    (job / "spec.json").write_text("{}")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "plate.exr").write_bytes(b"p" * 5000)
    (job / "in" / "link").symlink_to(precious, target_is_directory=True)
    assert disk_bytes(job) == 1002
    (root / "linked").symlink_to(precious, target_is_directory=True)
    with pytest.raises(ValueError):
        remove_job_folder(root, root / "linked")
    with pytest.raises(ValueError):
        remove_job_folder(root, tmp_path / "precious")
    assert remove_job_folder(root, job) == 1002
    assert not job.exists() and (precious / "plate.exr").stat().st_size == 5000
    assert (root / "linked").is_symlink()


def test_drop_files_keeps_what_is_asked_and_does_not_recurse(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep").write_bytes(b"d" * 10)
    (tmp_path / "a").write_bytes(b"a" * 100)
    (tmp_path / "b").write_bytes(b"b" * 50)
    assert drop_files(tmp_path, keep={"b"}) == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "sub"]


def test_trim_cache_removes_old_entries_then_the_oldest_for_the_budget(tmp_path: Path) -> None:
    now = time.time()
    for i, age_days in enumerate((30, 3, 2, 1)):
        p = tmp_path / f"{i:02x}" / f"{i:02x}entry.npy"
        p.parent.mkdir()
        p.write_bytes(b"c" * 100)
        t = now - age_days * DAY_S
        os.utime(p, (t, t))
    files, freed = trim_cache(tmp_path, now, 7 * DAY_S, excess_bytes=150)
    # the 30-day-old one by age, then the 3-day-old one for the remaining 50 bytes of excess.
    assert (files, freed) == (2, 200)
    left = sorted(p.name for p in tmp_path.glob("*/*.npy"))
    assert left == ["02entry.npy", "03entry.npy"]


# ----------------------------------------------------------------------------- folder checks


def test_a_world_writable_jobs_folder_is_refused_with_the_chmod_to_run(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    jobs.chmod(0o777)
    with pytest.raises(VoidError) as err:
        check_jobs_folder(jobs)
    assert f"chmod 700 {jobs}" in err.value.message
    jobs.chmod(0o755)
    check_jobs_folder(jobs)  # readable by others is tightened by JobStore, not refused


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_a_jobs_folder_of_another_user_is_refused_with_the_chown_to_run(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir(mode=0o700)
    os.chown(jobs, 65534, 65534)
    with pytest.raises(VoidError) as err:
        check_jobs_folder(jobs)
    assert f"chown -R {os.geteuid()} {jobs}" in err.value.message


def test_the_folder_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    first = FolderLock(tmp_path)
    first.acquire(["tcp://127.0.0.1:1"])
    second = FolderLock(tmp_path)
    with pytest.raises(VoidError) as err:
        second.acquire(["tcp://127.0.0.1:2"])
    assert f"pid {os.getpid()}" in err.value.message and "tcp://127.0.0.1:1" in err.value.message
    first.release()
    second.acquire(["tcp://127.0.0.1:2"])
    second.release()
