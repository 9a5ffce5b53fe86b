"""Domain types of failure triage (console.triage): one observed failure of one run.

Adapters that implement console.ports_triage.FailureReader return these; engines that do
not are read through the WorkflowEngine port (describe), with less detail.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from console.model import Execution


class FailureKind(enum.StrEnum):
    EXECUTION = "execution"  # the run closed failed or timed out
    ACTIVITY = "activity"  # an activity attempt failed (still retrying, or retried through)
    WORKFLOW_TASK = "workflow_task"  # workflow code fails on every task attempt


@dataclass(frozen=True)
class ObservedFailure:
    """One failure seen on one execution.

    ``error_type`` and ``message`` are those of the root cause (an activity failure's
    ApplicationError, not the ActivityError wrapping it). ``retried_through``: a later
    attempt of the same activity succeeded, so the failure healed itself. ``time``: when
    it happened (close time, the failed attempt's end, the failed workflow task's event).
    """

    execution: Execution
    kind: FailureKind
    error_type: str
    message: str
    time: datetime | None = None
    activity_type: str | None = None
    attempt: int | None = None
    retried_through: bool = False
    version: str | None = None  # build id / deployment version the failing code ran on
