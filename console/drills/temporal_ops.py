"""Temporal calls the drills make against the sandbox's dev server.

Reads (counts, stuck scans, versions) go through the WorkflowEngine port, built from the
sandbox's own engine settings, as opsdeck reads anything. Injections use the Temporal
SDK directly: a drill simulates someone else's mistake (a bad deploy, a flood of work),
so it deliberately bypasses opsdeck's plan/policy/audit path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from console.model import ExecutionStatus, ListQuery, StuckRules

if TYPE_CHECKING:
    from console.ports import WorkflowEngine
    from console.sandbox import SandboxState

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine on a fresh loop (drill functions are synchronous)."""
    return asyncio.run(coro)


def prefix_query(prefix: str) -> str:
    """The visibility query for the drill's own executions (ids start with its token)."""
    return f"WorkflowId STARTS_WITH '{prefix}'"


def engine_for(state: SandboxState) -> WorkflowEngine:
    from console.registry import engine_class
    from console.sandbox import context_settings
    from console.session import resolve_secret

    settings = context_settings(state)
    engine: WorkflowEngine = engine_class("temporal").from_config(  # type: ignore[attr-defined]
        "temporal", dict(settings), resolve_secret
    )
    return engine


async def _with_engine(state: SandboxState, use: Any) -> Any:
    engine = engine_for(state)
    try:
        return await use(engine)
    finally:
        await engine.close()


def count_running(state: SandboxState, prefix: str) -> int:
    query = ListQuery(statuses=(ExecutionStatus.RUNNING,), raw=prefix_query(prefix))

    async def use(engine: WorkflowEngine) -> int:
        return int(await engine.count(query))

    return int(run(_with_engine(state, use)))


def count_by_status(state: SandboxState, prefix: str) -> dict[str, int]:
    """The drill's executions counted by status (``running``, ``completed``...)."""

    async def use(engine: WorkflowEngine) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for execution in engine.list(ListQuery(raw=prefix_query(prefix))):
            name = str(execution.status.value).lower()
            counts[name] = counts.get(name, 0) + 1
        return counts

    result: dict[str, int] = run(_with_engine(state, use))
    return result


def stuck_ids(state: SandboxState, prefix: str, rules: StuckRules) -> dict[str, str]:
    """Workflow id -> rule of the drill's executions the stuck scan reports."""

    async def use(engine: WorkflowEngine) -> dict[str, str]:
        hits: dict[str, str] = {}
        async for hit in engine.find_stuck(rules, ListQuery(raw=prefix_query(prefix))):
            hits.setdefault(hit.execution.ref.workflow_id, str(hit.rule.value))
        return hits

    result: dict[str, str] = run(_with_engine(state, use))
    return result


def versions(state: SandboxState, deployment: str) -> list[Any]:
    async def use(engine: WorkflowEngine) -> list[Any]:
        return list(await engine.versions(deployment))

    result: list[Any] = run(_with_engine(state, use))
    return result


def start_workflows(
    state: SandboxState,
    workflow: str,
    ids: Sequence[str],
    task_queue: str,
    *,
    start_signal: str | None = None,
    wait_s: float = 0.0,
) -> dict[str, int]:
    """Start one ``workflow`` per id; with ``wait_s`` wait for them to close. By status."""
    from console.sandbox import workers

    return run(
        workers.start_orders(
            state.address,
            state.namespace,
            workflow,
            ids,
            task_queue,
            start_signal=start_signal,
            wait_s=wait_s,
        )
    )


def terminate(state: SandboxState, ids: Sequence[str], reason: str) -> list[str]:
    """Terminate those of ``ids`` still running; their ids."""
    from console.sandbox import workers

    return run(workers.terminate_running(state.address, state.namespace, ids, reason))


async def _routing(client: Any, deployment: str) -> tuple[Any, dict[str, Any]]:
    from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest

    resp = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
    )
    routing = resp.worker_deployment_info.routing_config
    return resp, {
        "current": routing.current_deployment_version.build_id or None,
        "ramping": routing.ramping_deployment_version.build_id or None,
        "percentage": float(routing.ramping_version_percentage),
    }


def routing(state: SandboxState, deployment: str) -> dict[str, Any]:
    """The deployment's routing now: current build, ramping build, ramp percentage."""

    async def read() -> dict[str, Any]:
        from temporalio.client import Client

        client = await Client.connect(state.address, namespace=state.namespace)
        return (await _routing(client, deployment))[1]

    return run(read())


def make_current(
    state: SandboxState, deployment: str, build_id: str, identity: str
) -> dict[str, Any]:
    """SetWorkerDeploymentCurrentVersion (and no ramp); the routing before."""

    async def change() -> dict[str, Any]:
        from temporalio.api.workflowservice.v1 import (
            SetWorkerDeploymentCurrentVersionRequest,
            SetWorkerDeploymentRampingVersionRequest,
        )
        from temporalio.client import Client

        client = await Client.connect(state.address, namespace=state.namespace)
        resp, before = await _routing(client, deployment)
        token = bytes(resp.conflict_token)
        if before["ramping"]:  # a build cannot be current and ramping at once
            ramp = await client.workflow_service.set_worker_deployment_ramping_version(
                SetWorkerDeploymentRampingVersionRequest(
                    namespace=client.namespace,
                    deployment_name=deployment,
                    build_id="",
                    percentage=0,
                    conflict_token=token,
                    identity=identity,
                )
            )
            token = bytes(ramp.conflict_token)
        if before["current"] != build_id:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace,
                    deployment_name=deployment,
                    build_id=build_id,
                    conflict_token=token,
                    identity=identity,
                )
            )
        return before

    return run(change())
