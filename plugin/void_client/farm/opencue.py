"""OpenCue: the job as Cuebot receives it (``job.xml``, checked against Cuebot's own rules).

* ``job.xml`` — an OpenCue job spec (``cjsl-1.14``, the XML pyoutline's serializer sends to
  Cuebot): a ``windows`` layer whose frames are the window indices (``#IFRAME#`` in the command),
  an ``assemble`` layer, and a ``LAYER_ON_LAYER`` dependency between them. ``chain`` seams give
  one layer per window, each depending on the one before (OpenCue has no in-layer ordering).
* **Who launches it** is not in the file: ``<user>`` holds :data:`USER_PLACEHOLDER` and there is
  no ``<uid>`` (optional in the DTD). :func:`submit` fills both with the submitting user, and
  refuses root as Cuebot does (``JobSpec.java``: ``if (user.equals("root") ||
  uid.equals(Optional.of(0))) throw new SpecBuilderException("Cannot launch jobs as root.")``).
* Names follow Cuebot's rules (``JobSpec.NAME_REGEX = "^([\\w\\.-]{3,})$"``, applied to
  show, shot, layer names and each ``|``-separated tag); :func:`validate` refuses what Cuebot
  would, before anything is written.
* ``maxretries``: Cuebot clamps it to ``FRAME_RETRIES_MIN..FRAME_RETRIES_MAX`` (0..1) at launch;
  we write the clamped value and warn.
* GPU layers (a GPU engine's windows) carry ``gpus``/``gpu_memory`` and the ``--group`` tags;
  the CPU-only ``assemble`` layer carries neither.
* The comp render (``--comp-render SCRIPT.nk:WRITE[,WRITE...]``, :class:`CompRender`; the Nuke
  node's Submit to farm passes it, docs/nuke.md "Farm"): one layer per Write in the same spec,
  ``comp_<Write>``, running ``nuke -x -X <Write> -F #FRAME_START#-#FRAME_END# <script>`` for each
  chunk of the Write's frames, with a ``LAYER_ON_LAYER`` depend on ``assemble``. Cuebot replaces
  those tokens with the chunk's first and last frame at dispatch (cuesubmit ``Constants.py``:
  "Tokens are replaced by cuebot during dispatch with their computed value. see:
  cuebot/src/main/java/com/imageworks/spcue/dispatcher/DispatchSupportService.java"). One spec,
  one launch: a second spec with a ``JOB_ON_JOB`` depend would need the OpenCue API where the
  comp is (inside Nuke, which must not load it).

There is no pyoutline ``outline.json`` any more: pyoutline's JSON loader
(``outline/loader.py: load_json``) reads only ``name``, ``facility``, ``maxcores``, ``maxgpus``,
``range`` and the layers; priority, retries, show, shot and user come from the launcher and the
job environment from the Python API, so loaded and serialised (opencue-pyoutline 1.37) it gave
priority 1, ``gpu_memory`` 1g, no environment, and the serialising user (root, uid 0).

Submission (``submit``) sends the spec with the OpenCue Python API and needs ``CUEBOT_HOSTS``.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from xml.dom import minidom
from xml.etree import ElementTree as Et

from void_client.atomic import write_text_atomic
from void_client.errors import ErrorCode, VoidError
from void_client.farm.farm_spec import FarmSpec

log = logging.getLogger(__name__)

SPEC_VERSION = "1.14"
JOB_FILE = "job.xml"
#: OpenCue replaces this token in a layer's command with the frame number (our window index).
FRAME_TOKEN = "#IFRAME#"
#: ``<user>`` in the written file; :func:`submit` puts the submitting user there.
USER_PLACEHOLDER = "VOID_SUBMITTING_USER"
#: Cuebot's ``JobSpec.NAME_REGEX`` (Java's ``\\w`` is ASCII): show, shot, layer and tag names.
CUEBOT_NAME = re.compile(r"^([\w.-]{3,})$", re.ASCII)
#: Cuebot's ``JobSpec.FRAME_RETRIES_MIN`` / ``FRAME_RETRIES_MAX``: ``maxretries`` is clamped to these.
CUEBOT_RETRIES = (0, 1)
#: ``gpu_memory`` as Cuebot's ``convertMemoryInput`` reads it: ``<int>g``, ``<number>m`` or GB.
GPU_MEMORY = re.compile(r"^(\d+g|\d+(\.\d+)?m|\d+)$")
#: Engines whose window layers need a GPU.
GPU_ENGINES = ("void",)
#: The VOID layer the comp render waits for (``FarmSpec.task_graph``'s last unit).
ASSEMBLE_LAYER = "assemble"
#: Comp render layers are named this plus the Write's full name (``comp_Group1.Write1``).
COMP_LAYER_PREFIX = "comp_"
#: Frames one OpenCue frame of the comp render renders (one Nuke start per chunk).
COMP_CHUNK = 10
#: The chunk's first and last frame, as Cuebot fills them in at dispatch.
COMP_FRAMES_TOKEN = "#FRAME_START#-#FRAME_END#"
#: A Nuke node's full name: ``Write1``, ``Group1.Write1`` (letters, digits, '_', dots between).
NUKE_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
#: A command argument made only of Cuebot's frame tokens stays unquoted (``_shell``).
_TOKENS = re.compile(r"^#[A-Z_]+#(-#[A-Z_]+#)?$")


@dataclass(frozen=True)
class CompRender:
    """The comp render that waits on the VOID job: Writes of a saved Nuke script."""

    script: str
    writes: tuple[str, ...]
    frames: tuple[int, int]
    nuke: str = "nuke"
    chunk: int = COMP_CHUNK

    def layer_name(self, write: str) -> str:
        return COMP_LAYER_PREFIX + write

    def argv(self, write: str) -> list[str]:
        """Nuke's command line for one chunk (``-x`` execute, ``-X`` only this Write, ``-F``)."""
        return [self.nuke, "-x", "-X", write, "-F", COMP_FRAMES_TOKEN, self.script]


def comp_render(
    value: str, frames: str, nuke: str, chunk: int, job_frames: list[int]
) -> CompRender:
    """``--comp-render SCRIPT.nk:WRITE[,WRITE...]`` with ``--comp-range FIRST-LAST`` (empty: the
    VOID job's frames), ``--nuke`` and ``--comp-chunk``, checked; refuses what would fail on
    the farm (or in Cuebot) with a message that says what to pass."""

    def bad(field: str, msg: str) -> VoidError:
        return VoidError(ErrorCode.BAD_SPEC, msg, field)

    # The last ':' splits: a Windows script path has one after its drive letter.
    script, sep, names = value.rpartition(":")
    writes = tuple(w.strip() for w in names.split(",") if w.strip())
    if not sep or not script or not writes:
        raise bad(
            "comp_render",
            f"--comp-render {value!r} must look like SCRIPT.nk:WRITE[,WRITE...], e.g. "
            "/show/sh010/comp.nk:Write1",
        )
    if not (PurePosixPath(script).is_absolute() or PureWindowsPath(script).is_absolute()):
        # Render hosts start in their own folder: a relative script would not be found there.
        raise bad(
            "comp_render",
            f"--comp-render script {script!r} must be an absolute path the render hosts can read",
        )
    for write in writes:
        if not NUKE_NODE_NAME.match(write) or not CUEBOT_NAME.match(COMP_LAYER_PREFIX + write):
            raise bad(
                "comp_render",
                f"--comp-render Write {write!r} is not a Nuke node name (e.g. Write1, "
                "Group1.Write1)",
            )
    if len(set(writes)) != len(writes):
        raise bad("comp_render", f"--comp-render names a Write twice: {names!r}")
    if frames:
        first, dash, last = frames.partition("-")
        try:
            span = (int(first), int(last))
        except ValueError:
            span = (1, 0)
        if not dash or span[0] > span[1]:
            raise bad(
                "comp_range", f"--comp-range {frames!r} must look like FIRST-LAST, e.g. 1001-1100"
            )
    else:
        span = (min(job_frames), max(job_frames))
    if chunk < 1:
        raise bad("comp_chunk", f"--comp-chunk must be 1 or more, got {chunk}")
    if not nuke.strip():
        raise bad("nuke", "--nuke must name the Nuke executable on the render hosts")
    return CompRender(script, writes, span, nuke, chunk)


def _nmtoken(text: str) -> str:
    """A default name made from free text (job name, ``$SHOT``): letters, digits, '_', '-', '.'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip("_") or "void"


def layers(spec: FarmSpec, spec_path: str) -> list[dict[str, Any]]:
    """The job's layers in order: name, command (argv), frame range, what it depends on."""
    return [
        {"name": t.name, "command": t.argv, "range": t.frames, "depends": t.depends}
        for t in spec.task_graph(spec_path, FRAME_TOKEN)
    ]


def _shell(argv: list[str]) -> str:
    """The layer command as RQD runs it (a shell line); the frame tokens stay bare."""
    return " ".join(a if _TOKENS.match(a) else shlex.quote(a) for a in argv)


def _names(spec: FarmSpec) -> dict[str, str]:
    return {
        "job": _nmtoken(f"void_remove_{spec.job_id}"),
        "show": spec.farm.show or _nmtoken(os.environ.get("SHOW", "") or "void"),
        "shot": spec.farm.shot or _nmtoken(os.environ.get("SHOT", "") or spec.job.name),
    }


def tags(spec: FarmSpec) -> list[str]:
    """``--group`` as Cuebot splits layer tags: on ``|``, spaces removed (``determineTags``)."""
    return [t for t in spec.farm.group.replace(" ", "").split("|") if t]


def gpu_layer(spec: FarmSpec, layer_name: str) -> bool:
    return spec.job.engine in GPU_ENGINES and layer_name != "assemble"


def max_retries(spec: FarmSpec) -> int:
    """``max_retries`` within Cuebot's range; a warning says when it is clamped."""
    lo, hi = CUEBOT_RETRIES
    value = min(max(spec.farm.max_retries, lo), hi)
    if value != spec.farm.max_retries:
        log.warning(
            "OpenCue: max retries %d is outside Cuebot's %d..%d (JobSpec.FRAME_RETRIES_MIN/MAX); "
            "the job asks for %d",
            spec.farm.max_retries,
            lo,
            hi,
            value,
        )
    return value


def validate(spec: FarmSpec) -> None:
    """Refuse, before anything is written, what Cuebot would refuse at launch."""

    def bad(name: str, msg: str) -> VoidError:
        return VoidError(ErrorCode.BAD_SPEC, msg, name, spec.job_id)

    names = _names(spec)
    for what, flag in (("show", "--show"), ("shot", "--shot")):
        if not CUEBOT_NAME.match(names[what]):
            raise bad(
                what,
                f"OpenCue {what} {names[what]!r} breaks Cuebot's name rule (3 or more of letters, "
                f"digits, '_', '.', '-'); pass {flag}",
            )
    for tag in tags(spec):
        if not CUEBOT_NAME.match(tag):
            raise bad(
                "group",
                f"--group tag {tag!r} breaks Cuebot's tag rule (3 or more of letters, digits, "
                "'_', '.', '-'; several tags separated by '|')",
            )
    for layer in spec.task_graph("farm.json", FRAME_TOKEN):
        if not CUEBOT_NAME.match(layer.name):
            raise bad("layer", f"OpenCue layer name {layer.name!r} breaks Cuebot's name rule")
    if isinstance(spec.farm.gpus, bool) or not isinstance(spec.farm.gpus, int):
        raise bad("gpus", f"--gpus must be a whole number, got {spec.farm.gpus!r}")
    if spec.job.engine in GPU_ENGINES:
        if spec.farm.gpus < 1:
            raise bad("gpus", f"the {spec.job.engine} engine needs --gpus 1 or more")
        if not GPU_MEMORY.match(str(spec.farm.gpu_memory).lower()):
            raise bad(
                "gpu_memory",
                f"--gpu-memory {spec.farm.gpu_memory!r} is not a size Cuebot reads: use e.g. "
                "24g or 16384m",
            )


def comp_layers(comp: CompRender) -> list[dict[str, Any]]:
    """The comp render's layers (as :func:`layers`): one per Write, each after ``assemble``."""
    return [
        {
            "name": comp.layer_name(w),
            "command": comp.argv(w),
            "range": f"{comp.frames[0]}-{comp.frames[1]}",
            "depends": [ASSEMBLE_LAYER],
            "chunk": comp.chunk,
        }
        for w in comp.writes
    ]


def job_xml(spec: FarmSpec, spec_path: str, comp: CompRender | None = None) -> str:
    """The job spec as written to disk: ``<user>`` is :data:`USER_PLACEHOLDER`, no ``<uid>``.
    With ``comp``, the comp render's layers follow the VOID layers."""
    names = _names(spec)
    root = Et.Element("spec")
    Et.SubElement(root, "show").text = names["show"]
    Et.SubElement(root, "shot").text = names["shot"]
    Et.SubElement(root, "user").text = USER_PLACEHOLDER
    job = Et.SubElement(root, "job", {"name": names["job"]})
    Et.SubElement(job, "paused").text = "False"
    Et.SubElement(job, "priority").text = str(spec.farm.priority)
    Et.SubElement(job, "maxretries").text = str(max_retries(spec))
    Et.SubElement(job, "autoeat").text = "False"
    env = Et.SubElement(job, "env")
    for k, v in spec.farm.env.items():
        Et.SubElement(env, "key", {"name": _nmtoken(str(k))}).text = str(v)
    spec_layers = Et.SubElement(job, "layers")
    depends = Et.Element("depends")
    void_layers = layers(spec, spec_path)
    for layer in void_layers + (comp_layers(comp) if comp is not None else []):
        is_comp = "chunk" in layer
        el = Et.SubElement(spec_layers, "layer", {"name": layer["name"], "type": "Render"})
        # Element order is fixed by the DTD: cmd, range, chunk, cores, ..., gpus, gpu_memory, timeout, tags, env, services.
        Et.SubElement(el, "cmd").text = _shell(layer["command"])
        Et.SubElement(el, "range").text = layer["range"]
        Et.SubElement(el, "chunk").text = str(layer.get("chunk", 1))
        gpu = not is_comp and gpu_layer(spec, layer["name"])
        if gpu:
            Et.SubElement(el, "gpus").text = str(spec.farm.gpus)
            Et.SubElement(el, "gpu_memory").text = str(spec.farm.gpu_memory).lower()
        if spec.farm.timeout_minutes > 0:
            Et.SubElement(el, "timeout").text = str(spec.farm.timeout_minutes)
        # The group names the GPU hosts: the CPU-only assemble layer of a GPU job runs anywhere.
        # It names the hosts with VOID's environment, not Nuke's: never on the comp render.
        if tags(spec) and not is_comp and (gpu or spec.job.engine not in GPU_ENGINES):
            Et.SubElement(el, "tags").text = " | ".join(tags(spec))
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
    return (
        f"{spec.title()}: {spec.seam_note()} Generated by void-remove farm opencue; submit it "
        "with void-remove farm opencue FARM_JSON -submit, which fills in the launching user."
    ).replace("--", "-")


def fill_submitter(text: str, user: str | None = None, uid: int | None = None) -> str:
    """``job.xml`` with the launching user and uid in place of the placeholder.

    Refuses root, as Cuebot would, with a message that says what to do.
    """
    user = user if user is not None else getpass.getuser()
    if uid is None and hasattr(os, "getuid"):
        uid = os.getuid()
    if user == "root" or uid == 0:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            "Cuebot refuses jobs launched as root ('Cannot launch jobs as root.'); submit as "
            "the artist's own user",
            "user",
        )
    if f"<user>{USER_PLACEHOLDER}</user>" not in text:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"the job spec has no <user>{USER_PLACEHOLDER}</user> to fill; re-write it with "
            "void-remove farm opencue FARM_JSON",
            "user",
        )
    esc = user.replace("&", "&amp;").replace("<", "&lt;")
    who = f"<user>{esc}</user>" + (f"\n  <uid>{uid}</uid>" if uid is not None else "")
    return text.replace(f"<user>{USER_PLACEHOLDER}</user>", who, 1)


def write(spec: FarmSpec, spec_path: Path, out_dir: Path, comp: CompRender | None = None) -> Path:
    validate(spec)
    stale = out_dir / "outline.json"  # written by earlier versions; it was not the same job
    if stale.exists():
        stale.unlink()
    return write_text_atomic(out_dir / JOB_FILE, job_xml(spec, str(spec_path), comp))


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
    text = fill_submitter(main.read_text())
    log.info("launching %s on Cuebot %s", main, hosts)
    names = opencue.api.launchSpec(text)  # the names of the jobs Cuebot created
    return "\n".join(f"launched {name}" for name in names)
