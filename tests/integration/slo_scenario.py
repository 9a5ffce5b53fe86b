"""Executions for the SLO tests on the real dev server: a worker in this process on a
task queue of its own runs the sandbox's DemoCompleted and DemoFailed and a workflow
that takes SLOW_S seconds (a durable timer), so ``TaskQueue = '<queue>'`` selects
exactly this scenario's runs."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from console.sandbox.workflows import DemoCompleted, DemoFailed, charge_card
from tests.conftest import eventually

SLOW_S = 1.5


@workflow.defn(name="SloSlowOrder")
class SloSlowOrder:
    @workflow.run
    async def run(self, order_id: str) -> str:
        await asyncio.sleep(SLOW_S)  # a workflow timer
        return order_id


@dataclass
class Runs:
    client: Client
    queue: str
    started: list[str]

    @property
    def query(self) -> str:
        return f"TaskQueue = '{self.queue}'"

    async def start(self, kind: str, n: int) -> None:
        """Start ``n`` runs of ``kind`` (completed, failed, slow) and wait until they close."""
        workflow_type = {"completed": "DemoCompleted", "failed": "DemoFailed",
                         "slow": "SloSlowOrder"}[kind]  # fmt: skip
        ids = [f"{self.queue}-{kind}-{len(self.started) + i}" for i in range(n)]
        for workflow_id in ids:
            await self.client.start_workflow(
                workflow_type, workflow_id, id=workflow_id, task_queue=self.queue
            )
        self.started += ids

        async def closed() -> bool:
            # Visibility lags the close a little: wait until it counts every run closed.
            listed = self.client.count_workflows(f"{self.query} AND ExecutionStatus != 'Running'")
            return (await listed).count == len(self.started)

        await eventually(closed, timeout=60, what=f"{len(self.started)} runs closed in visibility")


@contextlib.asynccontextmanager
async def runs(address: str) -> AsyncIterator[Runs]:
    client = await Client.connect(address, namespace="default")
    queue = f"slo-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[DemoCompleted, DemoFailed, SloSlowOrder],
        activities=[charge_card],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        yield Runs(client, queue, [])


def write_config(
    tmp_path: Path, address: str, http_address: str, slos: str, extra: str = ""
) -> Path:
    """A config with one context ``t`` on the dev server and the given ``slos:`` block
    (indented as under the context)."""
    path = tmp_path / "opsdeck.yaml"
    path.write_text(
        "current-context: t\n"
        "contexts:\n"
        "  t:\n"
        "    engines:\n"
        "      - kind: temporal\n"
        f"        address: {address}\n"
        f"        http-address: {http_address}\n"
        "        namespace: default\n"
        f"{extra}"
        "    slos:\n"
        f"{slos}"
    )
    return path
