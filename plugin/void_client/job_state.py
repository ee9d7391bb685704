"""The states a daemon job goes through: one vocabulary for the daemon, the client, the panel and hosts.

A job is ``queued`` when submitted, ``receiving`` while its input frames arrive, ``running`` once
its windows are being computed, and ends ``done``, ``failed`` or ``cancelled``. The daemon reports
the state in every ``progress`` message (``Progress.stage``) and in ``status``; nothing else is
ever sent there. A host run adds its own stages around a job (``void_hostlink.node_status``).
"""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    QUEUED = "queued"
    RECEIVING = "receiving"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:  # f-strings and logs show "queued", not "JobState.QUEUED"
        return self.value

    @property
    def final(self) -> bool:
        """Whether the job has ended (nothing more will happen to it)."""
        return self in FINAL_STATES


#: States a job never leaves.
FINAL_STATES: frozenset[JobState] = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})
#: States of a job that still holds a queue place.
ACTIVE_STATES: frozenset[JobState] = frozenset(JobState) - FINAL_STATES


def is_final(state: str) -> bool:
    """``state`` as sent on the wire (a plain string) is a final one."""
    return state in {s.value for s in FINAL_STATES}
