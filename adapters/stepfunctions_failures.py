"""Structured failures of one Step Functions execution, for triage
(console.ports_triage.FailureReader): a failed, timed-out or aborted execution's
``error`` and ``cause`` from DescribeExecution (one call, no history read).

Not read: retries inside a running execution (a Task state's Retry attempts live in
its history, as TaskFailed events followed by a later TaskSucceeded): triage sees
Step Functions failures only once an execution has closed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from console.model import Execution, ExecutionStatus
from console.model_triage import FailureKind, ObservedFailure

Describe = Callable[[Execution], Awaitable[Mapping[str, Any]]]
_CLOSED_BADLY = (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.CANCELED)


def failure_of(execution: Execution, described: Mapping[str, Any]) -> ObservedFailure | None:
    """The close failure a DescribeExecution response shows, if any."""
    error = str(described.get("error") or "")
    cause = str(described.get("cause") or "")
    if execution.status is ExecutionStatus.TIMED_OUT and not error:
        error = "States.Timeout"
    if not error and not cause:
        return None
    return ObservedFailure(
        execution=execution,
        kind=FailureKind.EXECUTION,
        error_type=error or "Failure",
        message=cause or error,
        time=execution.close_time,
        version=execution.deployment_version,
    )


async def failures(execution: Execution, describe: Describe) -> list[ObservedFailure]:
    if execution.status not in _CLOSED_BADLY:
        return []
    found = failure_of(execution, await describe(execution))
    return [found] if found is not None else []
