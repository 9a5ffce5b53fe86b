"""DescribeWorkflowExecution (+ the newest history events) as an ExecutionDetail."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.json_format import MessageToDict
from temporalio.api.enums.v1 import PendingActivityState, PendingWorkflowTaskState
from temporalio.api.history.v1 import HistoryEvent as ProtoEvent
from temporalio.api.workflow.v1 import PendingActivityInfo, PendingWorkflowTaskInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse

from adapters.temporal_format import enum_text, failure_text, payload_value, time_of
from adapters.temporal_history import event_type_name, workflow_task_failed_text
from adapters.temporal_visibility import execution_from_json
from console.model import (
    ExecutionDetail,
    ExecutionRef,
    PendingActivity,
    PendingWorkflowTask,
)


def pending_activity(info: PendingActivityInfo) -> PendingActivity:
    state = enum_text(PendingActivityState.Name(info.state), "PENDING_ACTIVITY_STATE_")
    if info.paused:
        state = "paused"
    return PendingActivity(
        activity_id=info.activity_id,
        activity_type=info.activity_type.name,
        state=state,
        attempt=info.attempt,
        maximum_attempts=info.maximum_attempts,  # 0: no limit (Temporal's own convention)
        last_failure=failure_text(info.last_failure) if info.HasField("last_failure") else None,
        next_attempt_time=time_of(info, "next_attempt_schedule_time"),
        last_heartbeat_time=time_of(info, "last_heartbeat_time"),
        last_started_time=time_of(info, "last_started_time"),
        last_worker_identity=info.last_worker_identity or None,
    )


def pending_workflow_task(info: PendingWorkflowTaskInfo) -> PendingWorkflowTask:
    return PendingWorkflowTask(
        state=enum_text(PendingWorkflowTaskState.Name(info.state), "PENDING_WORKFLOW_TASK_STATE_"),
        attempt=info.attempt,
        scheduled_time=time_of(info, "scheduled_time"),
        original_scheduled_time=time_of(info, "original_scheduled_time"),
    )


def latest_failure(newest_first: Sequence[ProtoEvent]) -> str | None:
    """The most recent failure among the newest events, as one readable line."""
    for event in newest_first:
        kind = event_type_name(event)
        if kind == "WorkflowTaskFailed":
            return f"workflow task failed: {workflow_task_failed_text(event.workflow_task_failed_event_attributes)}"  # noqa: E501
        if kind.endswith(("Failed", "TimedOut")):
            field = event.WhichOneof("attributes")
            attrs = getattr(event, field) if field else None
            if attrs is not None and "failure" in attrs.DESCRIPTOR.fields_by_name:
                return f"{kind}: {failure_text(attrs.failure)}"
    return None


def detail_from(
    resp: DescribeWorkflowExecutionResponse,
    engine: str,
    namespace: str,
    newest_first: Sequence[ProtoEvent] = (),
) -> ExecutionDetail:
    info = resp.workflow_execution_info
    execution = execution_from_json(MessageToDict(info), engine, namespace)
    activities = tuple(pending_activity(a) for a in resp.pending_activities)
    wft = (
        pending_workflow_task(resp.pending_workflow_task)
        if resp.HasField("pending_workflow_task")
        else None
    )
    versioning = info.versioning_info
    build_id = (
        versioning.deployment_version.build_id
        or info.assigned_build_id
        or info.most_recent_worker_version_stamp.build_id
        or None
    )
    failure = latest_failure(newest_first)
    if failure is None:
        failure = next((a.last_failure for a in activities if a.last_failure), None)
    parent = None
    if info.HasField("parent_execution"):
        parent = ExecutionRef(
            engine,
            namespace,
            info.parent_execution.workflow_id,
            info.parent_execution.run_id or None,
        )
    memo = {k: payload_value(v) for k, v in info.memo.fields.items()}
    return ExecutionDetail(
        execution=execution,
        pending_activities=activities,
        pending_workflow_task=wft,
        last_failure=failure,
        build_id=build_id,
        memo=memo,
        parent=parent,
        last_event_time=time_of(newest_first[0], "event_time") if newest_first else None,
    )
