"""Structured failures of one Temporal run, for triage (console.ports_triage.FailureReader).

A closed run is read from its newest history events only (no describe): the close
event carries the failure. An open run is described (pending activities' last failure
and attempt, the pending workflow task) and its newest events give the failing
workflow task's failure. In both, an ActivityTaskStarted with attempt > 1 whose activity
then completed is an activity retried through: its previous attempt's failure is
reported with ``retried_through``. Only the newest NEWEST_EVENTS events are read, so a
long history's older retries are not seen (triage is about recent failures).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from temporalio.api.enums.v1 import TimeoutType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent as ProtoEvent

from adapters.temporal_client import Connection
from adapters.temporal_format import enum_text, time_of
from adapters.temporal_history import event_type_name
from console.model import Execution, ExecutionRef, ExecutionStatus
from console.model_triage import FailureKind, ObservedFailure

NEWEST_EVENTS = 200
_BUILD_ID_PREFIXES = ("unversioned:", "assigned:", "versioned:", "pinned:")


def root_cause(failure: Failure) -> tuple[str, str, str | None]:
    """(error type, message, activity type) of a failure chain's innermost cause: an
    ActivityError or ChildWorkflowError wraps the real error, which is what groups."""
    activity: str | None = None
    current = failure
    for _ in range(8):  # chains are short; never loop on a malformed one
        info = current.WhichOneof("failure_info")
        if info == "activity_failure_info":
            activity = current.activity_failure_info.activity_type.name or activity
        if not current.HasField("cause"):
            break
        current = current.cause
    return _error_type(current), current.message.strip(), activity


def _error_type(failure: Failure) -> str:
    info = failure.WhichOneof("failure_info")
    if info == "application_failure_info":
        return failure.application_failure_info.type or "ApplicationError"
    if info == "timeout_failure_info":
        kind = TimeoutType.Name(failure.timeout_failure_info.timeout_type)
        return "Timeout " + enum_text(kind, "TIMEOUT_TYPE_")
    names = {
        "canceled_failure_info": "Canceled",
        "terminated_failure_info": "Terminated",
        "server_failure_info": "ServerFailure",
        "reset_workflow_failure_info": "ResetWorkflow",
        "activity_failure_info": "ActivityFailure",
        "child_workflow_execution_failure_info": "ChildWorkflowFailure",
        "nexus_operation_execution_failure_info": "NexusOperationFailure",
    }
    return names.get(info or "", "Failure")


def version_of(execution: Execution) -> str | None:
    """The deployment version, else the build id the run was last processed by (from
    the BuildIds search attribute: 'unversioned:3fde9d24...')."""
    if execution.deployment_version:
        return execution.deployment_version
    build_ids = execution.search_attributes.get("BuildIds")
    if isinstance(build_ids, list):
        for entry in reversed(build_ids):
            if isinstance(entry, str) and ":" in entry:
                for prefix in _BUILD_ID_PREFIXES:
                    if entry.startswith(prefix):
                        return entry.removeprefix(prefix)
    return None


def _by_id(events: Sequence[ProtoEvent]) -> dict[int, ProtoEvent]:
    return {e.event_id: e for e in events}


def healed_activities(
    execution: Execution, newest_first: Sequence[ProtoEvent], version: str | None
) -> list[ObservedFailure]:
    """Activities that completed on an attempt after failed ones (retried through)."""
    events = _by_id(newest_first)
    out = []
    for event in newest_first:
        if event_type_name(event) != "ActivityTaskCompleted":
            continue
        done = event.activity_task_completed_event_attributes
        started = events.get(done.started_event_id)
        if started is None:
            continue
        attrs = started.activity_task_started_event_attributes
        if attrs.attempt <= 1 or not attrs.HasField("last_failure"):
            continue
        scheduled = events.get(done.scheduled_event_id)
        activity = (
            scheduled.activity_task_scheduled_event_attributes.activity_type.name
            if scheduled is not None
            else None
        )
        error_type, message, _ = root_cause(attrs.last_failure)
        out.append(
            ObservedFailure(
                execution=execution,
                kind=FailureKind.ACTIVITY,
                error_type=error_type,
                message=message,
                time=time_of(started, "event_time"),
                activity_type=activity,
                attempt=attrs.attempt - 1,  # the last attempt that failed
                retried_through=True,
                version=version,
            )
        )
    return out


def _close_failure(
    execution: Execution, newest_first: Sequence[ProtoEvent], version: str | None
) -> ObservedFailure | None:
    for event in newest_first:
        kind = event_type_name(event)
        when = time_of(event, "event_time") or execution.close_time
        if kind == "WorkflowExecutionFailed":
            error_type, message, activity = root_cause(
                event.workflow_execution_failed_event_attributes.failure
            )
            return ObservedFailure(
                execution, FailureKind.EXECUTION, error_type, message, when, activity,
                version=version,
            )  # fmt: skip
        if kind == "WorkflowExecutionTimedOut":
            return ObservedFailure(
                execution, FailureKind.EXECUTION, "Timeout workflow execution",
                "workflow execution timed out", when, version=version,
            )  # fmt: skip
    return None


def _last_task_failure(newest_first: Sequence[ProtoEvent]) -> tuple[Failure, datetime | None]:
    for event in newest_first:
        if event_type_name(event) == "WorkflowTaskFailed":
            attrs = event.workflow_task_failed_event_attributes
            if attrs.HasField("failure"):
                return attrs.failure, time_of(event, "event_time")
    # Only a task's first failure is written (retries are transient); a first attempt that
    # timed out instead leaves no failure to read.
    return Failure(message="workflow task failing; no failure in the newest events"), None


async def failures(conn: Connection, execution: Execution) -> list[ObservedFailure]:
    ref = execution.ref
    if not execution.status.is_open:
        newest = await conn.newest_events(ref, NEWEST_EVENTS)
        version = version_of(execution)
        found = healed_activities(execution, newest, version)
        if execution.status in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT):
            closed = _close_failure(execution, newest, version)
            if closed is not None:
                found.append(closed)
        return found
    resp = await conn.describe(ref)
    info = resp.workflow_execution_info
    pinned = ExecutionRef(ref.engine, ref.scope, ref.workflow_id, info.execution.run_id)
    newest = await conn.newest_events(pinned, NEWEST_EVENTS)
    deployment = info.versioning_info.deployment_version
    version = (
        f"{deployment.deployment_name}:{deployment.build_id}"
        if deployment.build_id
        else version_of(execution) or info.assigned_build_id or None
    )
    found = healed_activities(execution, newest, version)
    for activity in resp.pending_activities:
        if activity.attempt <= 1 or not activity.HasField("last_failure"):
            continue
        error_type, message, _ = root_cause(activity.last_failure)
        found.append(
            ObservedFailure(
                execution=execution,
                kind=FailureKind.ACTIVITY,
                error_type=error_type,
                message=message,
                time=time_of(activity, "last_attempt_complete_time"),
                activity_type=activity.activity_type.name,
                attempt=activity.attempt - 1,  # attempts that failed so far
                version=version,
            )
        )
    task = resp.pending_workflow_task if resp.HasField("pending_workflow_task") else None
    if task is not None and task.attempt > 1:
        failure, when = _last_task_failure(newest)
        error_type, message, _ = root_cause(failure)
        found.append(
            ObservedFailure(
                execution=execution,
                kind=FailureKind.WORKFLOW_TASK,
                error_type=error_type,
                message=message,
                time=when or time_of(task, "scheduled_time"),
                attempt=task.attempt - 1,
                version=version,
            )
        )
    return found
