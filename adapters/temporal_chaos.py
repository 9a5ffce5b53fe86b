"""Temporal calls behind the chaos ports (console.ports_chaos): ramping, pause, task queues.

Each change returns what it replaced, so the extension's rollback can put it back.
"""

from __future__ import annotations

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    PauseActivityRequest,
    SetWorkerDeploymentRampingVersionRequest,
    UnpauseActivityRequest,
)

from adapters.temporal_client import Connection
from adapters.temporal_versions import describe_deployment
from console.errors import OpsdeckError, Unsupported, UsageError
from console.model_chaos import RampState, TaskQueueStats


async def ramping(conn: Connection, deployment: str) -> RampState:
    routing = (await describe_deployment(conn, deployment)).worker_deployment_info.routing_config
    build = routing.ramping_deployment_version.build_id or None
    return RampState(
        deployment=deployment,
        current=routing.current_deployment_version.build_id or None,
        ramping=build,
        percentage=float(routing.ramping_version_percentage) if build else 0.0,
    )


async def set_ramping(
    conn: Connection, deployment: str, build_id: str | None, percentage: float
) -> RampState:
    """Ramp ``build_id`` to ``percentage`` (None: stop ramping); the state before."""
    if not 0 <= percentage <= 100:
        raise UsageError(f"percentage must be from 0 to 100, not {percentage}")
    before = await ramping(conn, deployment)
    resp = await describe_deployment(conn, deployment)
    await conn.call(
        conn.service.set_worker_deployment_ramping_version,
        SetWorkerDeploymentRampingVersionRequest(
            namespace=conn.namespace,
            deployment_name=deployment,
            build_id=build_id or "",
            percentage=percentage if build_id else 0.0,
            conflict_token=resp.conflict_token,  # a racing change fails instead
            identity=conn.identity,
        ),
        retry=False,
    )
    return before


def _unsupported(exc: OpsdeckError, what: str, address: str) -> OpsdeckError:
    text = str(exc).lower()
    markers = ("unimplemented", "unknown method", "not supported", "not enabled", "disabled")
    if any(marker in text for marker in markers):
        return Unsupported(
            f"temporal at {address} does not support {what} ({exc})",
            hint="it needs Temporal Server 1.27+ with the activity API enabled",
        )
    return exc


async def pause_activity(
    conn: Connection, workflow_id: str, activity_type: str, reason: str
) -> None:
    request = PauseActivityRequest(
        namespace=conn.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id),
        identity=conn.identity,
        type=activity_type,
        reason=reason,
    )
    try:
        await conn.call(conn.service.pause_activity, request, retry=False)
    except OpsdeckError as exc:
        raise _unsupported(exc, "PauseActivity", conn.address) from None


async def unpause_activity(conn: Connection, workflow_id: str, activity_type: str) -> None:
    request = UnpauseActivityRequest(
        namespace=conn.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id),
        identity=conn.identity,
        type=activity_type,
    )
    try:
        await conn.call(conn.service.unpause_activity, request, retry=False)
    except OpsdeckError as exc:
        raise _unsupported(exc, "UnpauseActivity", conn.address) from None


async def task_queue_stats(conn: Connection, task_queue: str, kind: str) -> TaskQueueStats:
    """Pollers and backlog of one task queue (``kind``: workflow or activity)."""
    types = {
        "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    }
    if kind not in types:
        raise UsageError(f"task queue kind must be workflow or activity, not {kind!r}")
    resp = await conn.call(
        conn.service.describe_task_queue,
        DescribeTaskQueueRequest(
            namespace=conn.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=types[kind],
            report_stats=True,
        ),
    )
    stats = resp.stats
    return TaskQueueStats(
        task_queue=task_queue,
        kind=kind,
        pollers=len(resp.pollers),
        backlog=int(stats.approximate_backlog_count),
        backlog_age_s=float(stats.approximate_backlog_age.ToTimedelta().total_seconds()),
    )
