"""Where a job's fill and matte go, from the daemon's job summary (issue 20).

``void-remove status`` and ``jobs`` print it (:func:`describe_layers`); ``void-remove attach``
learns from it what the job sends beside each result (:func:`learn_layers`): ``--grade-layers``
is taken from the job, and a fill or matte the job sends that attach has nowhere to write is
refused before anything is collected (a collected frame is acknowledged: its layers would be
lost). The summary's fields are in docs/protocol.md (``status``); an older daemon leaves them
out, and then nothing is learned or refused here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from void_client import protocol as P
from void_client.client import connect
from void_client.errors import ErrorCode, VoidError

#: The command-line flag that gives each layer a sequence of its own.
LAYER_FLAGS = {"fill": "--fill-out", "matte": "--matte-out"}
#: The layers ``--grade-layers`` puts inside each output file.
IN_OUTPUT = ("fill", "matte")


def describe_layers(job: P.StatusJob) -> str:
    """``fill: /o/fill.####.exr; fill, matte in output`` — or ``-`` for a job without them.
    A layer with no pattern is written by the client that collects the job (pixel transfer)."""
    outputs = [str(o) for o in job.get("outputs", [])]
    patterns = job.get("layer_patterns", {}) or {}
    in_out = bool(job.get("layers_in_out", False))
    parts = [f"{layer}: {patterns[layer]}" for layer in outputs if layer in patterns]
    if in_out:
        parts.append(f"{', '.join(IN_OUTPUT)} in output")
    loose = [o for o in outputs if o not in patterns and not (in_out and o in IN_OUTPUT)]
    if loose:
        parts.append(f"{', '.join(loose)}: to the client")
    return "; ".join(parts) or "-"


@dataclass
class LearnedLayers:
    """What attach writes beside each output frame, after :func:`learn_layers`."""

    fill_out: str
    matte_out: str
    grade_layers: bool
    #: What was taken from the job (said on stderr), e.g. ``["--grade-layers"]``.
    learned: list[str] = field(default_factory=list)


def learn_layers(
    job_id: str, summaries: list[P.StatusJob], fill_out: str, matte_out: str, grade_layers: bool
) -> LearnedLayers:
    """Reconcile attach's flags with what the job(s) send (every view's job of a stereo run).

    ``--grade-layers`` comes from the job when it was submitted with it; a flag for a layer the
    job does not send is refused (the write would fail after frames were collected); a layer
    the job sends to the client that attach cannot place is refused, naming the flag to add.
    A job that also had ``--fill-out``/``--matte-out`` beside ``--grade-layers`` cannot be told
    from one without (both send fill and matte): that sequence is written only when given.
    """
    got = LearnedLayers(fill_out, matte_out, grade_layers)
    known = [s for s in summaries if "outputs" in s]
    if not known:  # an older daemon: the flags as given
        return got
    outputs = {str(o) for s in known for o in s.get("outputs", [])}
    in_out = any(bool(s.get("layers_in_out", False)) for s in known)
    on_daemon = {str(k) for s in known for k in (s.get("layer_patterns") or {})}
    given = {"fill": fill_out, "matte": matte_out}
    for layer, pattern in given.items():
        if pattern and layer not in outputs:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"job {job_id} was submitted without a {layer} layer; drop "
                f"{LAYER_FLAGS[layer]} (a job's outputs are fixed when it is submitted)",
                f"{layer}_out",
            )
    if grade_layers and not in_out:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"job {job_id} was submitted without --grade-layers: its results carry no fill and "
            "matte to put inside the output; drop --grade-layers",
            "grade_layers",
        )
    if in_out and not grade_layers:
        got.grade_layers = True
        got.learned.append("--grade-layers")
    placed = set(IN_OUTPUT) if got.grade_layers else set()
    placed |= {layer for layer, pattern in given.items() if pattern} | on_daemon
    nowhere = sorted(outputs - placed)
    if nowhere:
        flags = " and ".join(f"{LAYER_FLAGS.get(x, x)} PATTERN" for x in nowhere)
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"job {job_id} sends its {' and '.join(nowhere)} with each frame, and attach has "
            f"nowhere to write {'them' if len(nowhere) > 1 else 'it'}: add {flags} as the run "
            "was given (its printed attach command has them); nothing was collected",
            f"{nowhere[0]}_out",
        )
    return got


def job_ids(text: str) -> list[str]:
    """``JOB`` or a stereo run's ``left=JOB,right=JOB`` → the job ids."""
    return [item.partition("=")[2] or item for item in (i.strip() for i in text.split(",")) if item]


def learn_from_daemon(
    job_text: str, endpoint: str, fill_out: str, matte_out: str, grade_layers: bool
) -> LearnedLayers:
    """:func:`learn_layers` with the summaries of ``job_text``'s job(s), asked of the daemon."""
    with connect(endpoint, autostart=False) as client:
        summaries = [s for job in job_ids(job_text) for s in client.status(job)]
    return learn_layers(job_text, summaries, fill_out, matte_out, grade_layers)
