"""OpenCue: the job as Cuebot receives it (``job.xml``) and as pyoutline loads it (``outline.json``).

Written without a Cuebot or pyoutline installed:

* ``job.xml`` — an OpenCue job spec (``cjsl-1.14``, the XML pyoutline's serializer sends to
  Cuebot): a ``windows`` layer whose frames are the window indices (``#IFRAME#`` in the command),
  an ``assemble`` layer, and a ``LAYER_ON_LAYER`` dependency between them. ``chain`` seams give
  one layer per window, each depending on the one before (OpenCue has no in-layer ordering).
* ``outline.json`` — the same job as a pyoutline JSON outline (``outline.loader.load_json``):
  ``Shell`` layers, dependencies as ``require: "<layer>:all"``, for sites that launch with cuerun.

Submission (``submit``) sends ``job.xml`` with the OpenCue Python API and needs ``CUEBOT_HOSTS``.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import shlex
from pathlib import Path
from typing import Any
from xml.dom import minidom
from xml.etree import ElementTree as Et

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.farm.farm_spec import FarmSpec

log = logging.getLogger(__name__)

SPEC_VERSION = "1.14"
JOB_FILE = "job.xml"
OUTLINE_FILE = "outline.json"
#: OpenCue replaces this token in a layer's command with the frame number (our window index).
FRAME_TOKEN = "#IFRAME#"
SHELL_MODULE = "outline.modules.shell.Shell"


def _nmtoken(text: str) -> str:
    """OpenCue names are XML NMTOKENs; keep letters, digits, '_', '-' and '.'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip("_") or "void"


def layers(spec: FarmSpec, spec_path: str) -> list[dict[str, Any]]:
    """The job's layers in order: name, command (argv), frame range, what it depends on."""
    return [
        {"name": t.name, "command": t.argv, "range": t.frames, "depends": t.depends}
        for t in spec.task_graph(spec_path, FRAME_TOKEN)
    ]


def _shell(argv: list[str]) -> str:
    """The layer command as RQD runs it (a shell line); the frame token stays bare."""
    return " ".join(a if a == FRAME_TOKEN else shlex.quote(a) for a in argv)


def _names(spec: FarmSpec) -> dict[str, str]:
    return {
        "job": _nmtoken(f"void_remove_{spec.job_id}"),
        "show": _nmtoken(spec.farm.show or os.environ.get("SHOW", "") or "void"),
        "shot": _nmtoken(spec.farm.shot or os.environ.get("SHOT", "") or spec.job.name),
        "user": _nmtoken(getpass.getuser()),
    }


def job_xml(spec: FarmSpec, spec_path: str) -> str:
    names = _names(spec)
    root = Et.Element("spec")
    for tag in ("show", "shot", "user"):
        Et.SubElement(root, tag).text = names[tag]
    if hasattr(os, "getuid"):
        Et.SubElement(root, "uid").text = str(os.getuid())
    job = Et.SubElement(root, "job", {"name": names["job"]})
    Et.SubElement(job, "paused").text = "False"
    Et.SubElement(job, "priority").text = str(spec.farm.priority)
    Et.SubElement(job, "maxretries").text = str(spec.farm.max_retries)
    Et.SubElement(job, "autoeat").text = "False"
    env = Et.SubElement(job, "env")
    for k, v in spec.farm.env.items():
        Et.SubElement(env, "key", {"name": _nmtoken(str(k))}).text = str(v)
    spec_layers = Et.SubElement(job, "layers")
    depends = Et.Element("depends")
    for layer in layers(spec, spec_path):
        el = Et.SubElement(spec_layers, "layer", {"name": layer["name"], "type": "Render"})
        # Element order is fixed by the DTD: cmd, range, chunk, cores, ..., gpus, gpu_memory, timeout, tags, env, services.
        Et.SubElement(el, "cmd").text = _shell(layer["command"])
        Et.SubElement(el, "range").text = layer["range"]
        Et.SubElement(el, "chunk").text = "1"
        if spec.job.engine == "void" and layer["name"] != "assemble":
            Et.SubElement(el, "gpus").text = "1"
            Et.SubElement(el, "gpu_memory").text = "24g"
        if spec.farm.timeout_minutes > 0:
            Et.SubElement(el, "timeout").text = str(spec.farm.timeout_minutes)
        if spec.farm.group:
            Et.SubElement(el, "tags").text = _nmtoken(spec.farm.group)
        Et.SubElement(el, "env")
        Et.SubElement(Et.SubElement(el, "services"), "service").text = "shell"
        for on in layer["depends"]:
            dep = Et.SubElement(depends, "depend", {"type": "LAYER_ON_LAYER", "anyframe": "False"})
            Et.SubElement(dep, "depjob").text = names["job"]
            Et.SubElement(dep, "deplayer").text = layer["name"]
            Et.SubElement(dep, "onjob").text = names["job"]
            Et.SubElement(dep, "onlayer").text = on
    root.append(depends)
    body = minidom.parseString(Et.tostring(root)).toprettyxml(indent="  ").split("\n", 1)[1]
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE spec PUBLIC "SPI Cue  Specification Language" "http://localhost:8080/spcue/dtd/cjsl-{SPEC_VERSION}.dtd">\n'
        f"<!-- {_comment(spec)} -->\n"
        f"{body}"
    )


def _comment(spec: FarmSpec) -> str:
    return f"{spec.title()}: {spec.seam_note()} Generated by void-remove farm opencue.".replace(
        "--", "-"
    )


def outline(spec: FarmSpec, spec_path: str) -> dict[str, Any]:
    """pyoutline's JSON outline: ``outline.loader.load_json(text)`` builds the Outline."""
    names = _names(spec)
    all_layers = layers(spec, spec_path)
    n = len(spec.windows())
    out_layers = []
    for layer in all_layers:
        item: dict[str, Any] = {
            "name": layer["name"],
            "module": SHELL_MODULE,
            "command": layer["command"],
            "range": layer["range"],
            "chunk": 1,
        }
        if layer["depends"]:
            item["require"] = [f"{d}:all" for d in layer["depends"]]
        if spec.job.engine == "void" and layer["name"] != "assemble":
            item["gpus"] = 1
        out_layers.append(item)
    return {
        "name": names["job"],
        "range": f"0-{n - 1}" if n > 1 else "0",
        "description": f"{spec.title()}: {spec.seam_note()}",
        "layers": out_layers,
    }


def write(spec: FarmSpec, spec_path: Path, out_dir: Path) -> Path:
    write_text_atomic(
        out_dir / OUTLINE_FILE, json.dumps(outline(spec, str(spec_path)), indent=2) + "\n"
    )
    return write_text_atomic(out_dir / JOB_FILE, job_xml(spec, str(spec_path)))


def submit(main: Path, spec: FarmSpec) -> str:
    """Launch ``job.xml`` on the Cuebot named by ``CUEBOT_HOSTS`` (OpenCue's own variable)."""
    hosts = os.environ.get("CUEBOT_HOSTS", "")
    if not hosts:
        raise VoidError(
            ErrorCode.DAEMON_UNREACHABLE,
            f"set CUEBOT_HOSTS to your Cuebot host to submit; the job is written to {main}",
            "farm",
            spec.job_id,
        )
    try:
        import opencue  # type: ignore[import-not-found]
    except ImportError as exc:
        raise VoidError(
            ErrorCode.FARM_TOOL_MISSING,
            f"the OpenCue Python API is not installed (pip install opencue-pycue); the job is written to {main}",
            "farm",
            spec.job_id,
        ) from exc
    log.info("launching %s on Cuebot %s", main, hosts)
    names = opencue.api.launchSpec(main.read_text())  # the names of the jobs Cuebot created
    return "\n".join(f"launched {name}" for name in names)
