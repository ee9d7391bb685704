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

OpenJD (:func:`add_openjd_steps`): Open Job Description has dependencies between the steps of
one job, not between jobs, so the comp render is appended to the VOID bundle's template as a step
``comp-<Write>`` per Write, depending on the VOID steps' last (``assemble``, the constant
``void_client.farm.openjd.ASSEMBLE_STEP``), one task per frame running this Nuke with ``-x -X
<Write> -F <frame> <script>``. The bundle is run or submitted by hand as before (``openjd run``,
``deadline bundle submit``), the comp with it.

OpenCue (:func:`opencue_args`): launching a spec needs OpenCue's Python API (pycue), which
Nuke's process must not load (docs/nuke.md, "Farm"), and ``void-remove farm opencue --submit``
launches the VOID job itself. So the node asks *before* submitting and passes ``--comp-render
<script>:<Write>[,<Write>...]`` (with ``--comp-range`` and ``--nuke``) to ``void-remove farm
opencue``, which puts a layer ``comp_<Write>`` per Write into the same job spec, depending on
``assemble`` (``void_client.farm.opencue``). Standard library only (docs/nuke.md, "Host
isolation").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from void_hostlink import HostLinkError
from void_hostlink import node_plan as PL
from void_nuke import host

#: What ``deadlinecommand`` answers for a submitted job.
JOB_ID = re.compile(r"^JobID=(\S+)", re.MULTILINE)
#: Frames per Deadline task of the comp render.
CHUNK_SIZE = 10
FARM = "deadline"
OPENJD = "openjd"
#: ``void_client.farm.openjd``'s names (the node cannot import the client; a test compares).
OPENJD_TEMPLATE = "template.yaml"
OPENJD_ASSEMBLE_STEP = "assemble"
#: OpenJD step names are at most 64 characters.
OPENJD_MAX_NAME = 64
SUBMIT_TIMEOUT_S = 120.0
OPENCUE = "opencue"
#: ``void_client.farm.opencue``'s names (a test compares): the comp layers are this prefix plus
#: the Write's name, and wait on the assemble layer.
OPENCUE_LAYER_PREFIX = "comp_"
OPENCUE_ASSEMBLE_LAYER = "assemble"


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


def void_job_ids(plan: PL.RunPlan, views: Sequence[str] = ()) -> list[str]:
    """The Deadline ids of the VOID job (of every view's job, ``farm/<view>/``, for a stereo
    run), from the replies ``void-remove farm`` kept."""
    folders = [os.path.join(plan.farm_dir, v) for v in views] or [plan.farm_dir]
    ids: list[str] = []
    path = ""
    for folder in folders:
        path = os.path.join(folder, "job", "submitted.log")
        try:
            with open(path, encoding="utf-8") as f:
                ids += [m.split("=", 1)[1] for m in re.findall(r"JobID=\S+", f.read())]
        except OSError:
            pass
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


def run_submit(argv: list[str], timeout_s: float, what: str) -> tuple[int, str, str]:
    """Run a farm submitter (no stdin, output captured): its exit status, stdout and stderr.
    A submitter that cannot start or does not finish in ``timeout_s`` is a ``farm_failed``."""
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HostLinkError("farm_failed", f"{what} did not finish: {exc}") from exc
    return (
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def submit(
    plan: PL.RunPlan, writes: list[Any], script: str, views: Sequence[str] = ()
) -> list[str]:
    """Submit each Write's render, waiting on the VOID job (every view's, for a stereo run);
    returns the new jobs' ids."""
    exe = deadlinecommand()
    if exe is None:
        raise HostLinkError(
            "farm_tool_missing",
            "deadlinecommand is not on PATH (or in $DEADLINE_PATH): the comp render was not "
            "submitted",
        )
    depends = void_job_ids(plan, views)
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
        code, reply, err = run_submit(
            [exe, job_path, plugin_path], SUBMIT_TIMEOUT_S, "deadlinecommand"
        )
        found = JOB_ID.search(reply)
        if code != 0 or found is None:
            text = (reply + err).strip()[-300:]
            raise HostLinkError("farm_failed", f"deadlinecommand refused the {name} render: {text}")
        ids.append(found.group(1))
    return ids


def openjd_step(write: str, frames: tuple[int, int], script: str, executable: str) -> dict:
    """The comp render of ``write`` as an OpenJD step after the VOID steps."""
    name = ("comp-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", write))[:OPENJD_MAX_NAME]
    return {
        "name": name,
        "description": f"Render {write} of {os.path.basename(script)} once the clean plate is "
        "on disk (added by the VOID Remove node).",
        "dependencies": [{"dependsOn": OPENJD_ASSEMBLE_STEP}],
        "parameterSpace": {
            "taskParameterDefinitions": [
                {"name": "Frame", "type": "INT", "range": f"{frames[0]}-{frames[1]}"}
            ]
        },
        "script": {
            "actions": {
                "onRun": {
                    "command": executable,
                    "args": ["-x", "-X", write, "-F", "{{Task.Param.Frame}}", script],
                }
            }
        },
    }


def add_openjd_steps(plan: PL.RunPlan, writes: list[Any], script: str) -> list[str]:
    """Append each Write's comp render to the bundle's template (``farm/job/template.yaml``, as
    ``void-remove farm openjd`` just wrote it); returns the new steps' names. A step already
    there (the same submit twice) is not added again."""
    path = os.path.join(plan.farm_dir, "job", OPENJD_TEMPLATE)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise HostLinkError("farm_failed", f"no OpenJD template to add to: {exc}") from exc
    keys = re.findall(r"^([A-Za-z][A-Za-z0-9_]*):", text, re.MULTILINE)
    if not keys or keys[-1] != "steps" or f'- name: "{OPENJD_ASSEMBLE_STEP}"' not in text:
        raise HostLinkError(
            "farm_failed",
            f"{path} does not end with its steps after '{OPENJD_ASSEMBLE_STEP}'; "
            "the comp render was not added",
        )
    names = []
    lines = [] if text.endswith("\n") else [""]
    exe = host.executable()
    for write in writes:
        step = openjd_step(host.full_name(write), host.frame_range(write), script, exe)
        names.append(step["name"])
        if json.dumps(step["name"]) in text:
            continue
        # JSON is YAML: one flow-style list item per step, under the last key (steps).
        lines.append("  - " + json.dumps(step, sort_keys=False))
    if len(lines) > (0 if text.endswith("\n") else 1):
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return names


def opencue_args(writes: list[Any], script: str, executable: str) -> list[str]:
    """``void-remove farm opencue`` flags that add the Writes' render to the VOID job's spec:
    one ``--comp-range`` for all of them (the span of their frame ranges), rendered by
    ``executable`` (this Nuke, the same path on the render hosts as with OpenJD)."""
    ranges = [host.frame_range(w) for w in writes]
    names = ",".join(host.full_name(w) for w in writes)
    first, last = min(a for a, _ in ranges), max(b for _, b in ranges)
    return [
        "--comp-render",
        f"{script}:{names}",
        "--comp-range",
        f"{first}-{last}",
        "--nuke",
        executable,
    ]


def opencue_layers(writes: list[Any]) -> list[str]:
    """The comp layers' names in the OpenCue job, for the status line."""
    return [OPENCUE_LAYER_PREFIX + host.full_name(w) for w in writes]
