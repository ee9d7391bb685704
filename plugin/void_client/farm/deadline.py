"""Deadline 10: job-info and plugin-info files for the ``CommandLine`` plugin.

* ``windows.job_info.txt`` / ``windows.plugin_info.txt`` — one job whose frames are the window
  indices (``Frames=0-N``, ``ChunkSize=1``; ``<STARTFRAME>`` in the arguments is the index);
* ``assemble.job_info.txt`` / ``assemble.plugin_info.txt`` — one frame, dependent on the windows;
* ``chain`` seams: Deadline does not order the tasks of one job, so each window is its own job
  (``window-000``...), each dependent on the one before;
* ``submission.json`` — the jobs in submission order with what each depends on;
* ``submit_deadline.sh`` — the same submission by hand: each job with ``deadlinecommand``, its
  ``JobID=`` read from the reply and written as ``JobDependencies=`` into the jobs that wait on it;
* ``deadline_plugin/VoidRemove/`` — an application plugin that runs the same command line as
  ``CommandLine`` and turns our ``openjd_progress:``/``openjd_status:`` lines into the task's
  progress and status (the stock ``CommandLine`` plugin registers no stdout handler, so it shows
  none). Copied once into ``<repository>/custom/plugins/``, it is used by ``--deadline-plugin
  VoidRemove``.

GPU: Deadline 10 has no job key that requires a GPU (GPU affinity is a Worker property that a
plugin reads), so GPU work is routed by ``--pool``/``--group`` (the group only on the windows of a
GPU job: assemble runs anywhere), and a ``void`` window task refuses to run on a worker without a
GPU unless the job says ``--allow-cpu`` (``void_daemon.farm_tasks.require_gpu``).

``submit`` runs ``deadlinecommand JOB_INFO PLUGIN_INFO`` for each job in order, reads the
``JobID=`` it prints and writes ``JobDependencies=<ids>`` into each dependent job's info file
before submitting it, so the files on disk are exactly what Deadline received.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.farm.farm_spec import FarmSpec

log = logging.getLogger(__name__)

MANIFEST = "submission.json"
SUBMIT_SCRIPT = "submit_deadline.sh"
PLUGIN = "CommandLine"
#: Our plugin: ``CommandLine`` plus stdout handlers for the task's progress lines.
PROGRESS_PLUGIN = "VoidRemove"
PLUGINS = (PLUGIN, PROGRESS_PLUGIN)
PLUGIN_DIR = "deadline_plugin"
#: The stdout handlers ``VoidRemove.py`` registers (``AddStdoutHandlerCallback``); the lines are
#: the ones ``void-remove task`` prints (``void_daemon.task_command.farm_progress``).
PROGRESS_REGEX = r"openjd_progress: ([0-9]+(?:\.[0-9]+)?)"
STATUS_REGEX = r"openjd_status: (.*)"
GPU_ENGINES = ("void",)
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


def validate(spec: FarmSpec) -> None:
    if spec.farm.deadline_plugin not in PLUGINS:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"--deadline-plugin must be one of {list(PLUGINS)}, got {spec.farm.deadline_plugin!r}",
            "deadline_plugin",
            spec.job_id,
        )


def job_info(spec: FarmSpec, job: dict[str, Any]) -> str:
    gpu_job = spec.job.engine in GPU_ENGINES
    needs_gpu = gpu_job and job["name"] != "assemble"
    pairs: list[tuple[str, Any]] = [
        ("Plugin", spec.farm.deadline_plugin),
        ("Name", f"{spec.title()} - {job['name']}"),
        ("BatchName", spec.title()),
        ("Comment", spec.seam_note()),
        ("Frames", job["frames"]),
        ("ChunkSize", 1),
        ("Priority", spec.farm.priority),
        ("Pool", spec.farm.pool),
        # The group names GPU workers: a GPU job's assemble (CPU only) is left to any worker.
        ("Group", spec.farm.group if needs_gpu or not gpu_job else ""),
        ("TaskTimeoutMinutes", spec.farm.timeout_minutes or ""),
        ("OutputFilename0", spec.out_pattern if job["name"] == "assemble" else ""),
        ("ExtraInfoKeyValue0", f"VoidRemoveJob={spec.job_id}"),
        ("ExtraInfoKeyValue1", f"VoidRemoveStage={job['name']}"),
        (
            "ExtraInfoKeyValue2",
            "VoidRemoveGpu=" + ("allow-cpu" if spec.farm.allow_cpu else "required")
            if needs_gpu
            else "",
        ),
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
    script = write_text_atomic(out_dir / SUBMIT_SCRIPT, submit_script(manifest))
    script.chmod(script.stat().st_mode | 0o111)
    for name, text in plugin_files().items():
        write_text_atomic(out_dir / PLUGIN_DIR / PROGRESS_PLUGIN / name, text)
    return write_text_atomic(out_dir / MANIFEST, json.dumps(note, indent=2) + "\n")


def _var(name: str) -> str:
    return "ID_" + re.sub(r"[^A-Za-z0-9]", "_", name)


def submit_script(manifest: list[dict[str, Any]]) -> str:
    """A POSIX shell script that submits the jobs in order, as :func:`submit` does.

    ``deadlinecommand JOB_INFO PLUGIN_INFO`` answers with a ``JobID=<id>`` line (what
    :func:`submit` reads too); each dependent job's info gets ``JobDependencies=<ids>`` first.
    """
    lines = [
        "#!/bin/sh",
        "# Submit this VOID Remove job to Deadline 10 by hand, in order: each job that waits on",
        "# another gets JobDependencies=<its JobID> written into its job info before it is sent.",
        "# DEADLINECOMMAND names deadlinecommand when it is not on PATH.",
        "set -eu",
        'cd "$(dirname "$0")"',
        'DL="${DEADLINECOMMAND:-deadlinecommand}"',
        "submit() {  # NAME JOB_INFO PLUGIN_INFO",
        '    out=$("$DL" "$2" "$3") || { printf \'%s\\n\' "$out" >&2; echo "deadlinecommand refused $1" >&2; exit 1; }',
        "    id=$(printf '%s\\n' \"$out\" | sed -n 's/^JobID=\\([^[:space:]]*\\).*/\\1/p' | head -n 1)",
        '    [ -n "$id" ] || { printf \'%s\\n\' "$out" >&2; echo "no JobID= in the reply for $1" >&2; exit 1; }',
        "    printf '%s\\n' \"$id\"",
        "}",
        "depend() {  # JOB_INFO IDS: replace any JobDependencies= line",
        '    grep -v \'^JobDependencies=\' "$1" > "$1.tmp" || true',
        '    echo "JobDependencies=$2" >> "$1.tmp"',
        '    mv "$1.tmp" "$1"',
        "}",
    ]
    for job in manifest:
        ji, pi = shlex.quote(job["job_info"]), shlex.quote(job["plugin_info"])
        if job["depends_on"]:
            ids = ",".join("${" + _var(d) + "}" for d in job["depends_on"])
            lines.append(f'depend {ji} "{ids}"')
        lines.append(f"{_var(job['name'])}=$(submit {shlex.quote(job['name'])} {ji} {pi})")
        lines.append(f'echo "{job["name"]} JobID=${{{_var(job["name"])}}}"')
    return "\n".join(lines) + "\n"


def plugin_files() -> dict[str, str]:
    """``VoidRemove.py`` and ``VoidRemove.param``: the plugin folder for ``custom/plugins``."""
    py = f'''"""VoidRemove: Deadline 10 application plugin for void-remove farm tasks.

Runs Executable + Arguments from the plugin info exactly as the CommandLine plugin does, and
reads the task's progress lines (void-remove prints openjd_progress: / openjd_status:).
Install: copy this folder to <DeadlineRepository>/custom/plugins/VoidRemove/.
"""
from Deadline.Plugins import DeadlinePlugin, PluginType
from Deadline.Scripting import RepositoryUtils

PROGRESS_REGEX = r"{PROGRESS_REGEX}"
STATUS_REGEX = r"{STATUS_REGEX}"


def GetDeadlinePlugin():
    return VoidRemovePlugin()


def CleanupDeadlinePlugin(deadlinePlugin):
    deadlinePlugin.Cleanup()


class VoidRemovePlugin(DeadlinePlugin):
    def __init__(self):
        self.InitializeProcessCallback += self.InitializeProcess
        self.RenderExecutableCallback += self.RenderExecutable
        self.RenderArgumentCallback += self.RenderArgument

    def Cleanup(self):
        for stdoutHandler in self.StdoutHandlers:
            del stdoutHandler.HandleCallback
        del self.InitializeProcessCallback
        del self.RenderExecutableCallback
        del self.RenderArgumentCallback

    def InitializeProcess(self):
        self.PluginType = PluginType.Simple
        self.SingleFramesOnly = False
        self.StdoutHandling = True
        self.AddStdoutHandlerCallback(PROGRESS_REGEX).HandleCallback += self.HandleProgress
        self.AddStdoutHandlerCallback(STATUS_REGEX).HandleCallback += self.HandleStatus

    def HandleProgress(self):
        self.SetProgress(float(self.GetRegexMatch(1)))

    def HandleStatus(self):
        self.SetStatusMessage(self.GetRegexMatch(1))

    def RenderExecutable(self):
        return RepositoryUtils.CheckPathMapping(self.GetPluginInfoEntry("Executable").strip())

    def RenderArgument(self):
        return RepositoryUtils.CheckPathMapping(self.GetPluginInfoEntry("Arguments").strip())
'''
    param = "[About]\nType=label\nLabel=About\nCategory=About Plugin\nCategoryOrder=-1\n"
    param += "Index=0\nDefault=VoidRemove: void-remove farm tasks with progress\n"
    return {f"{PROGRESS_PLUGIN}.py": py, f"{PROGRESS_PLUGIN}.param": param}


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
