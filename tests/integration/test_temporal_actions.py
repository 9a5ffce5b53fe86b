"""Changes through plan/apply, each observed on the server afterwards."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client

from adapters.temporal import TemporalEngine
from console.errors import UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    ExecutionRef,
    ExecutionStatus,
    ListQuery,
    Outcome,
    TargetOutcome,
)
from console.sandbox.devserver import DevServer
from tests.conftest import Demo, eventually, make_temporal_engine


async def start(demo: Demo, workflow: str, prefix: str) -> ExecutionRef:
    client = await Client.connect(demo.address)
    workflow_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await client.start_workflow(workflow, workflow_id, id=workflow_id, task_queue="demo")
    return ExecutionRef("temporal", "default", workflow_id)


async def run(engine: TemporalEngine, request: ActionRequest) -> list[TargetOutcome]:
    plan = await engine.plan(request)
    return [o async for o in engine.apply(plan, str(uuid.uuid4()))]


async def status_becomes(
    engine: TemporalEngine, ref: ExecutionRef, status: ExecutionStatus
) -> None:
    async def reached() -> bool:
        return (await engine.describe(ref)).execution.status == status

    await eventually(reached, what=f"{ref} {status}")


async def test_signal(temporal_engine: TemporalEngine, demo: Demo) -> None:
    ref = await start(demo, "DemoAwaitSignal", "sig")
    request = ActionRequest(
        ActionKind.SIGNAL, (ref,), "approved by test", {"signal": "approve", "input": {"by": "t"}}
    )
    plan = await temporal_engine.plan(request)
    assert [c.call for c in plan.calls] == ["SignalWorkflowExecution"]
    assert plan.calls[0].params["input"] == {"by": "t"}
    outcomes = [o async for o in temporal_engine.apply(plan, str(uuid.uuid4()))]
    assert [o.outcome for o in outcomes] == [Outcome.OK]
    await status_becomes(temporal_engine, ref, ExecutionStatus.COMPLETED)
    events = [e async for e in temporal_engine.history(ref)]
    signaled = [e for e in events if e.event_type == "WorkflowExecutionSignaled"]
    assert signaled and "approve" in signaled[0].summary and '"by"' in signaled[0].summary


async def test_signal_needs_a_name(temporal_engine: TemporalEngine, demo: Demo) -> None:
    ref = ExecutionRef("temporal", "default", demo.ids.awaiting_signal)
    with pytest.raises(UsageError, match="signal"):
        await temporal_engine.plan(ActionRequest(ActionKind.SIGNAL, (ref,), "x", {}))


async def test_cancel_is_idempotent(temporal_engine: TemporalEngine, demo: Demo) -> None:
    ref = await start(demo, "DemoAwaitSignal", "cancel")
    plan = await temporal_engine.plan(ActionRequest(ActionKind.CANCEL, (ref,), "test cancel"))
    request_id = str(uuid.uuid4())
    first = [o async for o in temporal_engine.apply(plan, request_id)]
    assert first[0].outcome == Outcome.OK
    again = [o async for o in temporal_engine.apply(plan, request_id)]
    assert again[0].outcome in (Outcome.OK, Outcome.SKIPPED)
    assert (
        again[0].details.get("request_id", first[0].details["request_id"])
        == first[0].details["request_id"]
    )
    await status_becomes(temporal_engine, ref, ExecutionStatus.CANCELED)


async def test_terminate_with_reason(temporal_engine: TemporalEngine, demo: Demo) -> None:
    ref = await start(demo, "DemoAwaitSignal", "term")
    outcomes = await run(
        temporal_engine, ActionRequest(ActionKind.TERMINATE, (ref,), "INC-42 stuck order")
    )
    assert outcomes[0].outcome == Outcome.OK
    await status_becomes(temporal_engine, ref, ExecutionStatus.TERMINATED)
    last = [e async for e in temporal_engine.history(ref)][-1]
    assert last.event_type == "WorkflowExecutionTerminated" and "INC-42" in last.summary
    again = await run(temporal_engine, ActionRequest(ActionKind.TERMINATE, (ref,), "again"))
    assert again[0].outcome == Outcome.SKIPPED and "already closed" in again[0].message


async def test_retry_resets_to_last_workflow_task(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    ref = await start(demo, "DemoFailed", "retry")
    await status_becomes(temporal_engine, ref, ExecutionStatus.FAILED)
    old_run = (await temporal_engine.describe(ref)).execution.ref.run_id
    plan = await temporal_engine.plan(ActionRequest(ActionKind.RETRY, (ref,), "retry after fix"))
    (call,) = plan.calls
    assert call.call == "ResetWorkflowExecution"
    assert call.params["run_id"] == old_run and call.params["workflow_task_finish_event_id"] == 4
    (outcome,) = [o async for o in temporal_engine.apply(plan, str(uuid.uuid4()))]
    assert outcome.outcome == Outcome.OK, outcome.message
    new_run = outcome.details["new_run_id"]
    assert new_run and new_run != old_run
    latest = await temporal_engine.describe(ref)
    assert latest.execution.ref.run_id == new_run


async def test_retry_activity_resets_attempts(temporal_engine: TemporalEngine, demo: Demo) -> None:
    ref = await start(demo, "DemoStuckActivity", "retry-act")

    async def attempt() -> int:
        acts = (await temporal_engine.describe(ref)).pending_activities
        return acts[0].attempt if acts else 0

    async def at_least_four() -> bool:
        return await attempt() >= 4

    await eventually(at_least_four, what="activity attempt 4")
    request = ActionRequest(ActionKind.RETRY, (ref,), "gateway fixed", {"mode": "activity"})
    outcomes = await run(temporal_engine, request)
    assert outcomes[0].outcome == Outcome.OK, outcomes[0].message

    async def back_to_start() -> bool:
        return 0 < await attempt() < 3

    await eventually(back_to_start, what="activity attempt reset", timeout=10)
    await run(temporal_engine, ActionRequest(ActionKind.TERMINATE, (ref,), "cleanup"))


async def test_batch_terminate_runs_on_the_server(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    prefix = f"batch-{uuid.uuid4().hex[:6]}"
    refs = tuple([await start(demo, "DemoAwaitSignal", prefix) for _ in range(12)])
    mine = ListQuery(raw=f"WorkflowId STARTS_WITH '{prefix}'", statuses=(ExecutionStatus.RUNNING,))

    async def all_visible() -> bool:
        return await temporal_engine.count(mine) == 12

    await eventually(all_visible, what="12 running batch targets visible")
    plan = await temporal_engine.plan(ActionRequest(ActionKind.TERMINATE, refs, "batch test"))
    assert plan.batch and len(plan.calls) == 12 and plan.warnings
    request_id = str(uuid.uuid4())
    outcomes = [o async for o in temporal_engine.apply(plan, request_id)]
    assert len(outcomes) == 12
    assert {o.outcome for o in outcomes} <= {Outcome.OK, Outcome.SUBMITTED}
    assert all(o.details["batch_job_id"] == request_id for o in outcomes)

    async def none_running() -> bool:
        return await temporal_engine.count(mine) == 0

    await eventually(none_running, what="batch terminated all 12", timeout=60)
    for ref in refs[:3]:
        detail = await temporal_engine.describe(ref)
        assert detail.execution.status == ExecutionStatus.TERMINATED
    resumed = [o async for o in temporal_engine.apply(plan, request_id)]
    assert {o.outcome for o in resumed} == {Outcome.OK}  # the same job, not a second one
    assert "12/12" in resumed[0].message


async def test_versions_and_rollback(temporal_engine: TemporalEngine, demo: Demo) -> None:
    versions = await temporal_engine.versions(demo.ids.deployment)
    by_build = {v.version: v for v in versions}
    assert set(by_build) == {"v1", "v2", "v3"}  # v3: the bad build, never current
    assert by_build["v2"].is_current and not by_build["v1"].is_current
    assert by_build["v2"].status == "current"
    plan = await temporal_engine.plan(
        ActionRequest(ActionKind.ROLLBACK, (), "bad v2 deploy", {"deployment": "orders"})
    )
    (call,) = plan.calls
    assert call.target == "temporal:default/deployment/orders"
    assert call.params["build_id"] == "v1" and call.params["expected_current"] == "v2"
    try:
        (outcome,) = [o async for o in temporal_engine.apply(plan, str(uuid.uuid4()))]
        assert outcome.outcome == Outcome.OK, outcome.message
        assert "v2 -> v1" in outcome.message
        current = [v.version for v in await temporal_engine.versions("orders") if v.is_current]
        assert current == ["v1"]
        (stale,) = [o async for o in temporal_engine.apply(plan, str(uuid.uuid4()))]
        assert stale.outcome == Outcome.OK  # already where the plan wanted it
    finally:
        restore = await temporal_engine.plan(
            ActionRequest(
                ActionKind.ROLLBACK, (), "restore", {"deployment": "orders", "version": "v2"}
            )
        )
        [o async for o in temporal_engine.apply(restore, str(uuid.uuid4()))]
    current = [v.version for v in await temporal_engine.versions("orders") if v.is_current]
    assert current == ["v2"]


async def test_rollback_refuses_a_deployment_changed_since_the_plan(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    plan = await temporal_engine.plan(
        ActionRequest(ActionKind.ROLLBACK, (), "r", {"deployment": "orders", "version": "v1"})
    )
    assert plan.calls[0].params["expected_current"] == "v2"
    client = await Client.connect(demo.address)
    desc = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace="default", deployment_name="orders")
    )
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(  # someone else: route to unversioned workers
            namespace="default",
            deployment_name="orders",
            build_id="",
            conflict_token=desc.conflict_token,
            identity="someone-else",
        )
    )
    try:
        (refused,) = [o async for o in temporal_engine.apply(plan, str(uuid.uuid4()))]
        assert refused.outcome == Outcome.FAILED
        assert "changed since the plan" in refused.message
    finally:
        restore = await temporal_engine.plan(
            ActionRequest(
                ActionKind.ROLLBACK, (), "restore", {"deployment": "orders", "version": "v2"}
            )
        )
        assert restore.calls[0].params["expected_current"] is None
        (restored,) = [o async for o in temporal_engine.apply(restore, str(uuid.uuid4()))]
        assert restored.outcome == Outcome.OK, restored.message
    current = [v.version for v in await temporal_engine.versions("orders") if v.is_current]
    assert current == ["v2"]


async def test_rollback_to_unknown_version_is_usage_error(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    with pytest.raises(UsageError, match="v9"):
        await temporal_engine.plan(
            ActionRequest(ActionKind.ROLLBACK, (), "r", {"deployment": "orders", "version": "v9"})
        )


async def test_batch_retry_resets_exactly_the_given_runs(
    temporal_server: DevServer, demo: Demo
) -> None:
    engine = make_temporal_engine(temporal_server, **{"batch-threshold": 3})
    refs = [await start(demo, "DemoFailed", "batch-retry") for _ in range(4)]
    first_runs = {}
    for ref in refs:
        await status_becomes(engine, ref, ExecutionStatus.FAILED)
        first_runs[ref.workflow_id] = (await engine.describe(ref)).execution.ref.run_id
    pinned = tuple(
        ExecutionRef(r.engine, r.scope, r.workflow_id, first_runs[r.workflow_id]) for r in refs
    )
    plan = await engine.plan(ActionRequest(ActionKind.RETRY, pinned, "batch retry"))
    assert plan.batch
    outcomes = [o async for o in engine.apply(plan, str(uuid.uuid4()))]
    assert {o.outcome for o in outcomes} <= {Outcome.OK, Outcome.SUBMITTED}

    async def all_reset() -> bool:
        latest = [(await engine.describe(r)).execution.ref.run_id for r in refs]
        return all(run != first_runs[r.workflow_id] for run, r in zip(latest, refs, strict=True))

    await eventually(all_reset, what="a new run for each of the 4", timeout=60)
