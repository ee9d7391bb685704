"""Render farm submission: one :class:`FarmSpec`, one writer per farm manager.

Each writer is a module with ``write(spec, spec_path, out_dir) -> Path`` (the job files, nothing
submitted) and ``submit(main_file, spec) -> str`` (hand them to the farm, return its reply). The
core never imports a writer; it asks :func:`writer` by name. Third-party writers register through
the ``void_remove.farms`` entry-point group.

The CLI (``void-remove farm``) and the Nuke node's *Submit to farm* both call :func:`submit_job`.
"""

from __future__ import annotations

import importlib
import logging
import os
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


def submit_job(
    farm_spec: FarmSpec, farm: str, out_dir: str | os.PathLike | None = None, submit: bool = False
) -> Path:
    """Write ``farm.json`` and the farm's job files into ``out_dir``; submit them if asked.

    ``out_dir`` defaults to the job's folder in the work directory (shared storage, which is
    where the farm nodes must be able to read the spec). Returns the main job file (the OpenJD
    template, the OpenCue job spec, the Deadline submission manifest). Writing the same spec
    again rewrites the same files: the tasks resume from the work directory's journals.
    """
    farm_spec.validate()
    w = writer(farm)
    folder = Path(out_dir) if out_dir else farm_spec.job_dir
    folder = folder.absolute()
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = farm_spec.save(folder / SPEC_FILE)
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


__all__ = ["FarmSettings", "FarmSpec", "SPEC_FILE", "farm_names", "submit_job", "writer"]
