"""Submit to farm, second half: the comp render as a Deadline job that waits on the VOID job.

After ``void-remove farm deadline --submit`` (:func:`void_nuke.actions.submit_to_farm`), the
Writes downstream of the node are submitted with Deadline's stock Nuke plugin, each job carrying
``JobDependencies=`` the VOID job's ids (read from the ``JobID=`` lines of the farm's reply,
``<run folder>/farm/job/submitted.log``), so the comp renders once the clean plate is on disk and
its render tasks find the results (the render hook never runs the job). Job info keys
(``Plugin``, ``Name``, ``Frames``, ``ChunkSize``, ``JobDependencies``) and ``deadlinecommand
JOB_INFO PLUGIN_INFO`` are the ones ``void_client.farm.deadline`` submits with; the Nuke plugin's
info keys (``SceneFile``, ``WriteNode``, ``Version`` as ``major.minor``) are those production
Nuke submitters send to Deadline's Nuke plugin.

OpenCue and OpenJD have no such step here: OpenCue's dependencies need its Python API (not in
Nuke's Python), and OpenJD bundles are run by hand. Standard library only (docs/nuke.md, "Host
isolation").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

from void_hostlink import HostLinkError
from void_hostlink import node_plan as PL
from void_nuke import host

#: What ``deadlinecommand`` answers for a submitted job.
JOB_ID = re.compile(r"^JobID=(\S+)", re.MULTILINE)
#: Frames per Deadline task of the comp render.
CHUNK_SIZE = 10
FARM = "deadline"
SUBMIT_TIMEOUT_S = 120.0


def deadlinecommand() -> str | None:
    """``deadlinecommand`` on PATH, else in ``$DEADLINE_PATH`` (where Deadline's installer
    puts it; the same search as void_client.farm.deadline)."""
    found = shutil.which("deadlinecommand")
    if found is None and os.environ.get("DEADLINE_PATH"):
        found = shutil.which("deadlinecommand", path=os.environ["DEADLINE_PATH"])
    return found


def downstream_writes(node: Any) -> list[Any]:
    """The Write nodes fed, through any number of nodes, by ``node``; by name."""
    seen: set[str] = set()
    writes: list[Any] = []
    stack = list(host.dependents(node))
    while stack:
        current = stack.pop()
        name = host.full_name(current)
        if name in seen:
            continue
        seen.add(name)
        if host.class_name(current) == "Write":
            writes.append(current)
        stack.extend(host.dependents(current))
    return sorted(writes, key=host.full_name)


def void_job_ids(plan: PL.RunPlan) -> list[str]:
    """The Deadline ids of the VOID job, from the reply ``void-remove farm`` kept."""
    path = os.path.join(plan.farm_dir, "job", "submitted.log")
    try:
        with open(path, encoding="utf-8") as f:
            ids = [m.split("=", 1)[1] for m in re.findall(r"JobID=\S+", f.read())]
    except OSError:
        ids = []
    if not ids:
        raise HostLinkError(
            "farm_failed", f"no Deadline job id in {path}: the comp render was not submitted"
        )
    return ids


def job_files(
    script: str, write: str, frames: tuple[int, int], version: str, depends: list[str]
) -> tuple[str, str]:
    """``(job info, plugin info)`` of the render of ``write`` in ``script``."""
    job = [
        "Plugin=Nuke",
        f"Name={os.path.basename(script)} {write}",
        f"Frames={frames[0]}-{frames[1]}",
        f"ChunkSize={CHUNK_SIZE}",
        "JobDependencies=" + ",".join(depends),
    ]
    plugin = [f"SceneFile={script}", f"WriteNode={write}", f"Version={version}"]
    return "\n".join(job) + "\n", "\n".join(plugin) + "\n"


def submit(plan: PL.RunPlan, writes: list[Any], script: str) -> list[str]:
    """Submit each Write's render, waiting on the VOID job; returns the new jobs' ids."""
    exe = deadlinecommand()
    if exe is None:
        raise HostLinkError(
            "farm_tool_missing",
            "deadlinecommand is not on PATH (or in $DEADLINE_PATH): the comp render was not "
            "submitted",
        )
    depends = void_job_ids(plan)
    version = ".".join(host.nuke_version().split("v")[0].split(".")[:2])
    folder = os.path.join(plan.farm_dir, "comp")
    os.makedirs(folder, exist_ok=True)
    ids = []
    for write in writes:
        name = host.full_name(write)
        job, plugin = job_files(script, name, host.frame_range(write), version, depends)
        job_path = os.path.join(folder, f"{name}.job_info.txt")
        plugin_path = os.path.join(folder, f"{name}.plugin_info.txt")
        for path, text in ((job_path, job), (plugin_path, plugin)):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        try:
            done = subprocess.run(
                [exe, job_path, plugin_path],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=SUBMIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HostLinkError("farm_failed", f"deadlinecommand did not finish: {exc}") from exc
        reply = done.stdout.decode("utf-8", "replace")
        found = JOB_ID.search(reply)
        if done.returncode != 0 or found is None:
            text = (reply + done.stderr.decode("utf-8", "replace")).strip()[-300:]
            raise HostLinkError("farm_failed", f"deadlinecommand refused the {name} render: {text}")
        ids.append(found.group(1))
    return ids
