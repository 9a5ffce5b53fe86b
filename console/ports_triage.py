"""Optional port beside WorkflowEngine (which is unchanged): structured failures of a run.

console.triage groups failures by error type and message; the WorkflowEngine port only
gives ``describe(ref).last_failure`` as one line of text. Engines that can say more
implement FailureReader: Temporal (close-event failure, pending activities' last
failure, the failing workflow task, activities retried through) and Step Functions (a
failed execution's error and cause). Others are triaged through ``describe``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from console.model import Execution
from console.model_triage import ObservedFailure


@runtime_checkable
class FailureReader(Protocol):
    async def failures(self, execution: Execution) -> Sequence[ObservedFailure]:
        """The failures of one listed execution: its close failure if it failed or timed
        out; if open, its retrying activities and failing workflow task; and activities
        whose failed attempts a later attempt retried through. Empty when none."""
        ...
