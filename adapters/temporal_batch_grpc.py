"""Start and describe Temporal batch jobs through the SDK's gRPC stubs: the bulk apply
path of an engine configured without ``http-address``."""

from __future__ import annotations

from datetime import UTC

from temporalio.api.enums.v1 import BatchOperationState
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationResponse,
    StartBatchOperationRequest,
)

from adapters.temporal_actions import describe_batch, set_batch_operation
from adapters.temporal_batch_job import JobState, job_reason, job_rps
from adapters.temporal_client import Connection
from console.model import Plan


def job_state(state: DescribeBatchOperationResponse) -> JobState:
    name = BatchOperationState.Name(state.state)
    start = state.start_time.ToDatetime(tzinfo=UTC) if state.HasField("start_time") else None
    return JobState(
        state=name.removeprefix("BATCH_OPERATION_STATE_").lower(),
        total=state.total_operation_count,
        completed=state.complete_operation_count,
        failed=state.failure_operation_count,
        start_time=start,
    )


class GrpcBatchJobs:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def describe(self, job_id: str) -> JobState | None:
        state = await describe_batch(self.conn, job_id)
        return None if state is None else job_state(state)

    async def start(self, plan: Plan, job_id: str) -> None:
        conn = self.conn
        start = StartBatchOperationRequest(
            namespace=conn.namespace,
            job_id=job_id,
            reason=job_reason(plan),
            visibility_query=str(plan.calls[0].params["selection"]),
            max_operations_per_second=job_rps(plan.calls[0].params),
        )
        set_batch_operation(start, conn, plan.request)
        await conn.call(conn.service.start_batch_operation, start, retry=True)
