"""Demo workers and seeding for the sandbox.

Run as a detached process: ``python -m console.sandbox.workers --address HOST:PORT
--namespace default``. It polls task queue ``demo`` (unversioned) and ``orders`` with
worker-deployment versions ``orders``/``v1`` and ``orders``/``v2``, and a bad
build ``orders``/``v3`` (never current) whose orders fail at once. Nothing polls
``demo-no-worker``. ``seed()`` then starts one workflow of each kind, with stable ids:

=========================  ==================================================
demo-completed             completes (one activity)
demo-failed                fails: non-retryable application error
demo-stuck-activity        activity fails every second, forever (attempt grows)
demo-wft-failing           workflow code raises: the workflow task keeps failing
demo-awaiting-signal       waits for signal ``approve``: no progress
demo-no-worker             on task queue ``demo-no-worker``: no pollers
demo-orders                pinned to deployment ``orders`` version ``v2``
=========================  ==================================================

v1 is made current first and then v2, so rolling back to v1 is meaningful.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    VersioningBehavior,
    WorkerDeploymentVersion,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
    WorkerDeploymentConfig,
)

from console.sandbox import faults
from console.sandbox import workflows as wf

DEPLOYMENT_BUILDS = ("v1", "v2")
BROKEN_BUILD = "v3"  # polls too, never made current: every order it runs fails
SEED_IDENTITY = "opsdeck-sandbox"


@dataclass(frozen=True)
class DemoIds:
    """Workflow ids started by ``seed``; stable so docs, demos and tests can name them."""

    completed: str = "demo-completed"
    failed: str = "demo-failed"
    stuck_activity: str = "demo-stuck-activity"
    wft_failing: str = "demo-wft-failing"
    awaiting_signal: str = "demo-awaiting-signal"
    no_worker: str = "demo-no-worker"
    orders: str = "demo-orders"
    deployment: str = wf.ORDERS_DEPLOYMENT
    current_build: str = DEPLOYMENT_BUILDS[-1]
    previous_build: str = DEPLOYMENT_BUILDS[0]


DEMO_IDS = DemoIds()


class _FaultActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, path: Path) -> None:
        super().__init__(next)
        self.path = path

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        from temporalio import activity

        fault = faults.read_faults(self.path).get(activity.info().activity_type)
        if fault is not None:
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if faults.draw(fault):
                raise ApplicationError(
                    f"injected fault (failure_rate {fault.failure_rate})", type="InjectedFault"
                )
        return await super().execute_activity(input)


class FaultSwitch(Interceptor):
    """Applies the sandbox fault switch (console.sandbox.faults) to every activity attempt."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _FaultActivity(next, self.path)


def build_workers(client: Client, interceptors: Sequence[Interceptor] = ()) -> list[Worker]:
    workers = [
        Worker(
            client,
            task_queue=wf.TASK_QUEUE,
            workflows=wf.DEMO_WORKFLOWS,
            activities=wf.DEMO_ACTIVITIES,
            interceptors=interceptors,
        )
    ]
    for build_id in (*DEPLOYMENT_BUILDS, BROKEN_BUILD):
        config = WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(wf.ORDERS_DEPLOYMENT, build_id),
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.PINNED,
        )
        workers.append(
            Worker(
                client,
                task_queue=wf.ORDERS_TASK_QUEUE,
                workflows=[
                    wf.BrokenOrderWorkflow if build_id == BROKEN_BUILD else wf.OrderWorkflow
                ],
                deployment_config=config,
                identity=f"sandbox-orders-{build_id}",
            )
        )
    return workers


async def run_workers(
    address: str,
    namespace: str,
    interceptors: Sequence[Any] = (),
    client_interceptors: Any = (),
    faults_file: Path | None = None,
) -> None:
    client = await Client.connect(
        address, namespace=namespace, identity="opsdeck-sandbox", interceptors=client_interceptors
    )
    if faults_file is not None:
        interceptors = [*interceptors, FaultSwitch(faults_file)]
    workers = build_workers(client, interceptors)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = [asyncio.create_task(w.run()) for w in workers]
    await stop.wait()
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*running, return_exceptions=True)


async def _start(
    client: Client,
    workflow: str,
    workflow_id: str,
    task_queue: str,
    task_timeout: timedelta | None = None,
) -> None:
    """Start unless a run with this id exists already (seeding is idempotent)."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            workflow,
            workflow_id,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            task_timeout=task_timeout,
        )


async def _wait_for_versions(client: Client, timeout: float) -> bytes:
    """Wait until every build has polled (registered); return the conflict token."""
    request = DescribeWorkerDeploymentRequest(
        namespace=client.namespace, deployment_name=wf.ORDERS_DEPLOYMENT
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            resp = await client.workflow_service.describe_worker_deployment(request)
            seen = {
                s.deployment_version.build_id for s in resp.worker_deployment_info.version_summaries
            }
            if seen.issuperset((*DEPLOYMENT_BUILDS, BROKEN_BUILD)):
                return bytes(resp.conflict_token)
        except RPCError:
            pass  # deployment not created until the first poll
        if time.monotonic() > deadline:
            raise TimeoutError("demo workers did not register deployment versions in time")
        await asyncio.sleep(0.2)


async def _current_build(client: Client) -> str:
    resp = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(
            namespace=client.namespace, deployment_name=wf.ORDERS_DEPLOYMENT
        )
    )
    routing = resp.worker_deployment_info.routing_config
    return str(routing.current_deployment_version.build_id)


async def _make_current(client: Client, build_id: str, token: bytes) -> bytes:
    resp = await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=wf.ORDERS_DEPLOYMENT,
            build_id=build_id,
            conflict_token=token,
            identity=SEED_IDENTITY,
        )
    )
    return bytes(resp.conflict_token)


async def seed(client: Client, *, timeout: float = 30.0) -> DemoIds:
    """Start one workflow of each demo kind and set up the `orders` deployment.

    Needs the workers process running (the deployment exists once its workers poll).
    """
    ids = DEMO_IDS
    await _start(client, "DemoCompleted", ids.completed, wf.TASK_QUEUE)
    await _start(client, "DemoFailed", ids.failed, wf.TASK_QUEUE)
    await _start(client, "DemoStuckActivity", ids.stuck_activity, wf.TASK_QUEUE)
    # The SDK reports a failing workflow task once, then lets retries time out: a short
    # task timeout makes the attempt count grow every ~2s.
    await _start(client, "DemoBrokenWorkflow", ids.wft_failing, wf.TASK_QUEUE, timedelta(seconds=2))
    await _start(client, "DemoAwaitSignal", ids.awaiting_signal, wf.TASK_QUEUE)
    await _start(client, "DemoAwaitSignal", ids.no_worker, wf.NO_WORKER_TASK_QUEUE)
    token = await _wait_for_versions(client, timeout)
    if not await _current_build(client):
        for build_id in DEPLOYMENT_BUILDS:  # v1 then v2: v1 becomes "the previous one"
            token = await _make_current(client, build_id, token)
    await _start(client, "OrderWorkflow", ids.orders, wf.ORDERS_TASK_QUEUE)
    return ids


async def seed_address(
    address: str, namespace: str, *, timeout: float = 30.0, interceptors: Any = ()
) -> DemoIds:
    client = await Client.connect(
        address, namespace=namespace, identity=SEED_IDENTITY, interceptors=interceptors
    )
    return await seed(client, timeout=timeout)


async def wait_until_closed(client: Client, workflow_id: str, timeout: float = 15.0) -> None:
    """Poll until the newest run of ``workflow_id`` is closed (used by tests and demos)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = await client.get_workflow_handle(workflow_id).describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{workflow_id} still running after {timeout}s")


async def start_orders(
    address: str,
    namespace: str,
    workflow: str,
    workflow_ids: Sequence[str],
    task_queue: str,
    *,
    start_signal: str | None = None,
    wait_s: float = 60.0,
) -> dict[str, int]:
    """Start one ``workflow`` per id (with ``start_signal`` sent at start, e.g. the
    orders' ``approve``) and wait up to ``wait_s`` for them to close; counts by status
    (``completed``, ``failed``, ..., ``running`` for those still open)."""
    client = await Client.connect(address, namespace=namespace, identity=SEED_IDENTITY)
    handles = [
        await client.start_workflow(
            workflow,
            workflow_id,
            id=workflow_id,
            task_queue=task_queue,
            start_signal=start_signal,
            start_signal_args=[True] if start_signal else [],
        )
        for workflow_id in workflow_ids
    ]
    deadline = time.monotonic() + wait_s
    statuses: dict[str, WorkflowExecutionStatus | None] = {}
    while True:
        for handle in handles:
            if statuses.get(handle.id) in (None, WorkflowExecutionStatus.RUNNING):
                statuses[handle.id] = (await handle.describe()).status
        running = sum(s == WorkflowExecutionStatus.RUNNING for s in statuses.values())
        if not running or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    counts: dict[str, int] = {}
    for status in statuses.values():
        name = status.name.lower() if status is not None else "unknown"
        counts[name] = counts.get(name, 0) + 1
    return counts


async def terminate_running(
    address: str, namespace: str, workflow_ids: Sequence[str], reason: str
) -> list[str]:
    """Terminate those of ``workflow_ids`` still running; their ids."""
    client = await Client.connect(address, namespace=namespace, identity=SEED_IDENTITY)
    done = []
    for workflow_id in workflow_ids:
        handle = client.get_workflow_handle(workflow_id)
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate(reason=reason)
            done.append(workflow_id)
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="opsdeck sandbox demo workers")
    parser.add_argument("--address", required=True, help="Temporal frontend HOST:PORT")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--seed", action="store_true", help="seed demo workflows once running")
    parser.add_argument(
        "--ready-file", type=Path, help="write the demo ids here (JSON) once seeded"
    )
    parser.add_argument(
        "--telemetry-dir", type=Path, help="trace the workers; spans and logs go here (JSONL)"
    )
    parser.add_argument("--metrics-port", type=int, default=0, help="Prometheus metrics port")
    parser.add_argument(
        "--faults-file", type=Path, help="the fault switch (JSON) read on every activity attempt"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    # The demo fails on purpose every second; keep the log to real problems.
    for noisy in ("temporalio.activity", "temporalio.workflow", "temporalio.worker"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    traced: list[Any] = []
    if args.telemetry_dir and args.metrics_port:
        try:
            from console.sandbox.worker_telemetry import setup

            traced = setup(args.telemetry_dir, args.metrics_port)
        except (ImportError, OSError) as exc:  # the sandbox still runs, untraced
            logging.getLogger(__name__).warning("workers not traced: %s", exc)
    client_side, worker_side = traced[:1], traced[1:]

    async def run() -> None:
        workers = asyncio.create_task(
            run_workers(args.address, args.namespace, worker_side, client_side, args.faults_file)
        )
        if args.seed:
            ids = await seed_address(args.address, args.namespace, interceptors=client_side)
            if args.ready_file:
                tmp = args.ready_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(asdict(ids)))
                tmp.replace(args.ready_file)  # atomic: readers never see half a file
        await workers

    asyncio.run(run())


if __name__ == "__main__":
    main()
