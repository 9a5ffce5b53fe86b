"""Failures for the triage tests, made on the real dev server with the demo workers.

- systemic: SYSTEMIC_RUNS orders pinned to the bad build ``orders:v3`` (the sandbox's
  BrokenOrderWorkflow), failing with the same error, their messages differing only in
  the order id;
- transient: one run whose activity fails twice (a connection reset naming an address)
  and then succeeds, served by a worker in this process on its own task queue;
- one lone failure (DemoFailed).

Every workflow id starts with the scenario's prefix, so a query selects exactly these.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import PinnedVersioningOverride, RetryPolicy, WorkerDeploymentVersion
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

SYSTEMIC_RUNS = 6
FLAKY_QUEUE_PREFIX = "triage-flaky"


@activity.defn(name="reserve_stock")
async def reserve_stock(order_id: str) -> str:
    if activity.info().attempt < 3:
        raise ApplicationError(
            f"connection reset by 10.0.3.{activity.info().attempt}:5432 for {order_id}",
            type="ConnectionReset",
        )
    return f"reserved {order_id}"


@workflow.defn(name="TriageFlakyOrder")
class TriageFlakyOrder:
    @workflow.run
    async def run(self, order_id: str) -> str:
        return await workflow.execute_activity(
            reserve_stock,
            order_id,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200),
                                     backoff_coefficient=1.0),
        )  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    prefix: str
    query: str
    systemic_ids: tuple[str, ...]
    flaky_id: str
    single_id: str


async def _closed(client: Client, workflow_ids: list[str], timeout: float = 60.0) -> None:
    async def all_closed() -> None:
        while True:
            statuses = [
                (await client.get_workflow_handle(w).describe()).status for w in workflow_ids
            ]
            if WorkflowExecutionStatus.RUNNING not in statuses:
                return
            await asyncio.sleep(0.2)

    await asyncio.wait_for(all_closed(), timeout)


@contextlib.asynccontextmanager
async def scenario(address: str) -> AsyncIterator[Scenario]:
    prefix = f"triage-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(address, namespace="default")
    queue = f"{FLAKY_QUEUE_PREFIX}-{prefix}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[TriageFlakyOrder],
        activities=[reserve_stock],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        v3 = PinnedVersioningOverride(WorkerDeploymentVersion("orders", "v3"))
        systemic = [f"{prefix}-order-{n}" for n in range(SYSTEMIC_RUNS)]
        for workflow_id in systemic:
            await client.start_workflow(
                "OrderWorkflow", workflow_id, id=workflow_id, task_queue="orders",
                versioning_override=v3,
            )  # fmt: skip
        flaky, single = f"{prefix}-flaky", f"{prefix}-single"
        await client.start_workflow("TriageFlakyOrder", flaky, id=flaky, task_queue=queue)
        await client.start_workflow("DemoFailed", single, id=single, task_queue="demo")
        await _closed(client, [*systemic, flaky, single])
        yield Scenario(
            prefix=prefix,
            query=f"WorkflowId STARTS_WITH '{prefix}'",
            systemic_ids=tuple(systemic),
            flaky_id=flaky,
            single_id=single,
        )
