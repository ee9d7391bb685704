"""Render farm submission: one :class:`FarmSpec`, one writer per farm manager.

Each writer is a module with ``write(spec, spec_path, out_dir) -> Path`` (the job files, nothing
submitted) and ``submit(main_file, spec) -> str`` (hand them to the farm, return its reply). The
core never imports a writer; it asks :func:`writer` by name. Third-party writers register through
the ``void_remove.farms`` entry-point group.

The CLI (``void-remove farm``) and the Nuke node's *Submit to farm* both call :func:`submit_job`.
Before anything is submitted, :func:`preflight` runs ``<worker command> task check`` with the
job's environment: the worker command itself, the colour space, the weights and the output
and work folders are checked by the same code a farm task runs (docs/farm.md, "Checked at
submit").
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from void_client.errors import ErrorCode, VoidError
from void_client.farm.farm_spec import FarmSettings, FarmSpec

log = logging.getLogger(__name__)

BUILTIN_WRITERS: dict[str, str] = {
    "openjd": "void_client.farm.openjd",
    "opencue": "void_client.farm.opencue",
    "deadline": "void_client.farm.deadline",
}
#: The file name of the spec next to the farm's files; tasks are pointed at it.
SPEC_FILE = "farm.json"


def farm_names() -> dict[str, str]:
    names = dict(BUILTIN_WRITERS)
    try:
        for ep in entry_points(group="void_remove.farms"):
            names.setdefault(ep.name, ep.value)
    except Exception:  # a broken plugin must not hide the built-in farms
        log.exception("could not read farm writer entry points")
    return names


def writer(name: str) -> ModuleType:
    target = farm_names().get(name)
    if target is None:
        raise VoidError(
            ErrorCode.BAD_SPEC, f"unknown farm {name!r}; available: {sorted(farm_names())}", "farm"
        )
    return importlib.import_module(target)


#: Seconds the submit-time check may take (imports numpy, OpenImageIO, OpenColorIO).
CHECK_TIMEOUT_S = 120.0


def preflight(farm_spec: FarmSpec, spec_path: Path) -> dict:
    """Run ``task check`` with the job's worker command and environment, as a farm task would.

    Raises the check's own :class:`VoidError` (``bad_spec`` for a colour space the OCIO config
    does not know, ``weights_missing``, ``io_error`` for a folder that cannot be written), or
    ``bad_spec`` when the worker command does not run on this machine.
    """
    argv = [*farm_spec.command, "task", "check", "--spec", str(spec_path)]
    env = {**os.environ, **{str(k): str(v) for k, v in farm_spec.farm.env.items()}}
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=CHECK_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"the worker command {farm_spec.command} does not run here ({exc}); fix "
            "--worker-command, or pass --no-check if it exists only on the workers",
            "command",
            farm_spec.job_id,
        ) from exc
    report: dict = {}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                report = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if not report:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"the worker command {farm_spec.command} failed its check (exit {proc.returncode}); "
            f"a farm task would fail the same way:\n{tail}",
            "command",
            farm_spec.job_id,
        )
    if not report.get("ok"):
        try:
            code = ErrorCode(report.get("code", "bad_spec"))
        except ValueError:
            code = ErrorCode.BAD_SPEC
        raise VoidError(
            code,
            f"{report.get('message', 'the job check failed')} (checked before submission; "
            "nothing was sent to the farm)",
            report.get("field") or "",
            farm_spec.job_id,
        )
    return report


def submit_job(
    farm_spec: FarmSpec,
    farm: str,
    out_dir: str | os.PathLike | None = None,
    submit: bool = False,
    check: bool = True,
) -> Path:
    """Write ``farm.json`` and the farm's job files into ``out_dir``; submit them if asked.

    ``out_dir`` defaults to the job's folder in the work directory (shared storage, which is
    where the farm nodes must be able to read the spec). Returns the main job file (the OpenJD
    template, the OpenCue job spec, the Deadline submission manifest). Writing the same spec
    again rewrites the same files: the tasks resume from the work directory's journals.
    ``check`` runs :func:`preflight` before the farm's files are written.
    """
    farm_spec.validate()
    w = writer(farm)
    folder = Path(out_dir) if out_dir else farm_spec.job_dir
    folder = folder.absolute()
    folder.mkdir(parents=True, exist_ok=True)
    # The farm's own rules (OpenCue's names, Deadline's plugin) before the slower worker check.
    farm_check = getattr(w, "validate", None)
    if farm_check is not None:
        farm_check(farm_spec)
    spec_path = farm_spec.save(folder / SPEC_FILE)
    if check:
        preflight(farm_spec, spec_path)
    main = w.write(farm_spec, spec_path, folder)
    n = len(farm_spec.windows())
    log.info(
        "%s job %s: %d windows (%s) written to %s",
        farm,
        farm_spec.job_id,
        n,
        farm_spec.job.seam,
        main,
    )
    if submit:
        reply = w.submit(main, farm_spec)
        (folder / "submitted.log").write_text(reply + ("\n" if not reply.endswith("\n") else ""))
        log.info(
            "%s accepted job %s: %s",
            farm,
            farm_spec.job_id,
            reply.strip().splitlines()[-1] if reply.strip() else "",
        )
    return main


__all__ = [
    "FarmSettings",
    "FarmSpec",
    "SPEC_FILE",
    "farm_names",
    "preflight",
    "submit_job",
    "writer",
]
