"""A host node's VOID Remove run, without the host (``docs/architecture.md``).

The Nuke node (``nuke/void_nuke``) is glue around this package and any other host can drive it
the same way. A run goes:

1. :class:`NodeSettings` from the node's knob values and :func:`resolve_range` for the frames
   (:mod:`.settings`); :func:`fingerprint` of everything that decides the result's pixels
   (:mod:`.fingerprinting`); :func:`plan_run` for the folder the run lives in (:mod:`.plan`). The
   folder is named by the fingerprint, so re-running with unchanged inputs finds the finished
   results (:func:`results_complete`) and reuses them.
2. The host renders :meth:`RunPlan.exports` (plate and mattes as EXR, in :func:`export_steps`
   chunks) with its own renderer; :func:`export_error` words a renderer's failure.
3. :class:`NodeRun` (:mod:`.run`) sends them to the daemon and writes results as they arrive:
   :meth:`NodeRun.run` blocks (batch, render farm), :meth:`NodeRun.start` runs on a worker thread
   (GUI). Every change of :class:`RunState` (:mod:`.run_state`; its :class:`RunStage` around the
   daemon job's :class:`~void_client.job_state.JobState`) and every written frame is reported
   through callbacks, which the host marshals to its UI thread.
4. Or :func:`submit_to_farm` (:mod:`.farm_submit`) hands the exported run to a render farm.

Nothing here imports a host API.
"""

from __future__ import annotations

from void_client.node_job.farm_submit import LOCAL_RUNNER_FARMS, FarmSubmission, submit_to_farm
from void_client.node_job.fingerprinting import (
    FINGERPRINT_VERSION,
    fingerprint,
    upstream_digest,
    upstream_order,
)
from void_client.node_job.plan import (
    EXPORT_ROLES,
    MANIFEST_NAME,
    Export,
    Manifest,
    RunPlan,
    export_steps,
    plan_run,
    results_complete,
)
from void_client.node_job.run import LOCAL_PROBE_S, NodeRun
from void_client.node_job.run_state import FINAL_STAGES, RunStage, RunState, export_error
from void_client.node_job.settings import (
    CUSTOM_PRESET,
    PRESET_KNOBS,
    QUALITY_PRESETS,
    NodeSettings,
    preset_knob_values,
    resolve_range,
)

__all__ = [
    "CUSTOM_PRESET",
    "EXPORT_ROLES",
    "FINAL_STAGES",
    "FINGERPRINT_VERSION",
    "LOCAL_PROBE_S",
    "LOCAL_RUNNER_FARMS",
    "MANIFEST_NAME",
    "PRESET_KNOBS",
    "QUALITY_PRESETS",
    "Export",
    "FarmSubmission",
    "Manifest",
    "NodeRun",
    "NodeSettings",
    "RunPlan",
    "RunStage",
    "RunState",
    "export_error",
    "export_steps",
    "fingerprint",
    "plan_run",
    "preset_knob_values",
    "resolve_range",
    "results_complete",
    "submit_to_farm",
    "upstream_digest",
    "upstream_order",
]
