"""Deadline 10: job-info and plugin-info files for the ``CommandLine`` plugin.

* ``windows.job_info.txt`` / ``windows.plugin_info.txt`` — one job whose frames are the window
  indices (``Frames=0-N``, ``ChunkSize=1``; ``<STARTFRAME>`` in the arguments is the index);
* ``assemble.job_info.txt`` / ``assemble.plugin_info.txt`` — one frame, dependent on the windows;
* ``chain`` seams: Deadline does not order the tasks of one job, so each window is its own job
  (``window-000``...), each dependent on the one before;
* ``submission.json`` — the jobs in submission order with what each depends on.

``submit`` runs ``deadlinecommand JOB_INFO PLUGIN_INFO`` for each job in order, reads the
``JobID=`` it prints and writes ``JobDependencies=<ids>`` into each dependent job's info file
before submitting it, so the files on disk are exactly what Deadline received.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.farm.farm_spec import FarmSpec

log = logging.getLogger(__name__)

MANIFEST = "submission.json"
PLUGIN = "CommandLine"
#: The CommandLine plugin replaces this with the task's first frame (our window index).
FRAME_TOKEN = "<STARTFRAME>"
_JOB_ID = re.compile(r"^JobID=(\S+)", re.MULTILINE)


def jobs(spec: FarmSpec, spec_path: str) -> list[dict[str, Any]]:
    """The Deadline jobs in submission order: name, frames, argv, dependencies (by name)."""
    return [
        {"name": t.name, "frames": t.frames, "argv": t.argv, "depends_on": t.depends}
        for t in spec.task_graph(spec_path, FRAME_TOKEN)
    ]


def _quote(arg: str) -> str:
    """Deadline hands ``Arguments`` to the process as one command line: quote what needs it."""
    if arg and not re.search(r'[\s"]', arg):
        return arg
    return '"' + arg.replace('"', '\\"') + '"'


def _info(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"{k}={v}\n" for k, v in pairs if v not in ("", None))


def job_info(spec: FarmSpec, job: dict[str, Any]) -> str:
    pairs: list[tuple[str, Any]] = [
        ("Plugin", PLUGIN),
        ("Name", f"{spec.title()} - {job['name']}"),
        ("BatchName", spec.title()),
        ("Comment", spec.seam_note()),
        ("Frames", job["frames"]),
        ("ChunkSize", 1),
        ("Priority", spec.farm.priority),
        ("Pool", spec.farm.pool),
        ("Group", spec.farm.group),
        ("TaskTimeoutMinutes", spec.farm.timeout_minutes or ""),
        ("OutputFilename0", spec.out_pattern if job["name"] == "assemble" else ""),
        ("ExtraInfoKeyValue0", f"VoidRemoveJob={spec.job_id}"),
        ("ExtraInfoKeyValue1", f"VoidRemoveStage={job['name']}"),
    ]
    for i, (k, v) in enumerate(sorted(spec.farm.env.items())):
        pairs.append((f"EnvironmentKeyValue{i}", f"{k}={v}"))
    return _info(pairs)


def plugin_info(job: dict[str, Any]) -> str:
    argv = job["argv"]
    return _info(
        [
            ("Executable", argv[0]),
            ("Arguments", " ".join(a if a == FRAME_TOKEN else _quote(a) for a in argv[1:])),
            ("Shell", "default"),
            ("ShellExecute", "False"),
        ]
    )


def write(spec: FarmSpec, spec_path: Path, out_dir: Path) -> Path:
    manifest = []
    for job in jobs(spec, str(spec_path)):
        ji = write_text_atomic(out_dir / f"{job['name']}.job_info.txt", job_info(spec, job))
        pi = write_text_atomic(out_dir / f"{job['name']}.plugin_info.txt", plugin_info(job))
        manifest.append(
            {
                "name": job["name"],
                "job_info": ji.name,
                "plugin_info": pi.name,
                "frames": job["frames"],
                "depends_on": job["depends_on"],
            }
        )
    note = {"job": spec.job_id, "title": spec.title(), "seams": spec.seam_note(), "jobs": manifest}
    return write_text_atomic(out_dir / MANIFEST, json.dumps(note, indent=2) + "\n")


def deadlinecommand() -> str | None:
    """``deadlinecommand`` on PATH, else in ``$DEADLINE_PATH`` (where the installer puts it)."""
    found = shutil.which("deadlinecommand")
    if found is None and os.environ.get("DEADLINE_PATH"):
        found = shutil.which("deadlinecommand", path=os.environ["DEADLINE_PATH"])
    return found


def submit(main: Path, spec: FarmSpec) -> str:
    exe = deadlinecommand()
    if exe is None:
        raise VoidError(
            ErrorCode.FARM_TOOL_MISSING,
            f"deadlinecommand is not on PATH (or in $DEADLINE_PATH); the job files are in {main.parent}",
            "farm",
            spec.job_id,
        )
    folder = main.parent
    ids: dict[str, str] = {}
    replies = []
    for job in json.loads(main.read_text())["jobs"]:
        ji = folder / job["job_info"]
        if job["depends_on"]:
            lines = [
                ln for ln in ji.read_text().splitlines() if not ln.startswith("JobDependencies=")
            ]
            lines.append("JobDependencies=" + ",".join(ids[d] for d in job["depends_on"]))
            write_text_atomic(ji, "\n".join(lines) + "\n")
        proc = subprocess.run(
            [exe, str(ji), str(folder / job["plugin_info"])], capture_output=True, text=True
        )
        out = proc.stdout + proc.stderr
        m = _JOB_ID.search(proc.stdout)
        if proc.returncode != 0 or m is None:
            done = f" (already submitted: {ids})" if ids else ""
            raise VoidError(
                ErrorCode.ENGINE_FAILED,
                f"deadlinecommand refused {ji.name}{done}: {out.strip()[-500:]}",
                "farm",
                spec.job_id,
            )
        ids[job["name"]] = m.group(1)
        replies.append(f"{job['name']} JobID={m.group(1)}")
        log.info("Deadline job %s: %s", job["name"], m.group(1))
    return "\n".join(replies)
