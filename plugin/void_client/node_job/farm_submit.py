"""Hand an exported run to a render farm instead of the local daemon (``void_client.farm``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from void_client.errors import ErrorCode, VoidError
from void_client.node_job.plan import RunPlan
from void_client.node_job.settings import NodeSettings

#: Farm managers whose "submit" runs the whole job on this machine (``openjd run``): from a host
#: only their job bundle is written, to run or submit (``deadline bundle submit``) from a shell.
LOCAL_RUNNER_FARMS = ("openjd",)


@dataclass(frozen=True)
class FarmSubmission:
    farm: str
    job_id: str
    main_file: str
    submitted: bool

    def text(self) -> str:
        if self.submitted:
            return f"submitted to {self.farm} as {self.job_id}"
        folder = os.path.dirname(self.main_file)
        return f"{self.farm} job {self.job_id} written: run 'openjd run {self.main_file}' or 'deadline bundle submit {folder}'"


def submit_to_farm(plan: RunPlan, settings: NodeSettings, farm: str) -> FarmSubmission:
    """Hand an exported run to a render farm through ``void_client.farm`` (the CLI's code path).

    The job id comes from the fingerprint, so submitting the same inputs again rewrites the same
    job files and the farm's tasks resume from their journals. Results land in the plan's result
    pattern, where the host node already looks.
    """
    try:
        # Optional: the farm writers are their own package.
        from void_client.farm import FarmSpec, submit_job
    except ImportError as exc:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"farm submission is not available in this install (void_client.farm cannot be imported: {exc})",
            "farm",
        ) from exc
    job_id = f"{re.sub(r'[^A-Za-z0-9_-]+', '_', plan.name)[:40]}-{plan.fingerprint[:8]}"
    spec = FarmSpec.from_request(
        plan.request(settings, autostart=False),
        work_dir=os.path.join(plan.run_dir, "farm"),
        job_id=job_id,
    )
    submitted = farm not in LOCAL_RUNNER_FARMS
    main = submit_job(spec, farm, submit=submitted)
    return FarmSubmission(farm, job_id, str(main), submitted)
