"""A change never hits a run that is closed or no longer the latest one (issue 9).

The scenario on call: retry a failed workflow, then (marks still on the old runs)
retry again. The second plan must not reset the old run, which would terminate the
healthy run the first retry created.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from temporalio.client import Client

from adapters.temporal import TemporalEngine
from console.model import ActionKind, ActionRequest, ExecutionRef, ExecutionStatus, Outcome
from console.sandbox.devserver import DevServer
from tests.conftest import Demo, eventually, make_temporal_engine

from .test_temporal_actions import run, start, status_becomes

pytestmark = pytest.mark.integration


async def retried_once(engine: TemporalEngine, demo: Demo) -> tuple[ExecutionRef, str]:
    """A failed workflow after one retry: (ref pinned to the OLD run, the new run id)."""
    ref = await start(demo, "DemoFailed", "stale")
    await status_becomes(engine, ref, ExecutionStatus.FAILED)
    old = (await engine.describe(ref)).execution.ref
    (first,) = await run(engine, ActionRequest(ActionKind.RETRY, (old,), "first retry"))
    assert first.outcome == Outcome.OK, first.message
    return old, str(first.details["new_run_id"])


async def test_second_retry_of_the_old_run_is_skipped(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    old, new_run = await retried_once(temporal_engine, demo)
    plan = await temporal_engine.plan(ActionRequest(ActionKind.RETRY, (old,), "again"))
    (call,) = plan.calls
    assert call.call == "skip"
    assert "no longer the latest run" in call.params["why"]
    assert new_run[:8] in call.params["why"]
    assert any("no longer the latest run" in w for w in plan.warnings)
    (outcome,) = [o async for o in temporal_engine.apply(plan, str(uuid.uuid4()))]
    assert outcome.outcome == Outcome.SKIPPED
    latest = (await temporal_engine.describe(replace(old, run_id=None))).execution
    assert latest.ref.run_id == new_run, "the new run was not replaced"
    assert latest.status != ExecutionStatus.TERMINATED


async def test_terminate_of_an_old_run_does_not_touch_the_new_one(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    old, new_run = await retried_once(temporal_engine, demo)
    (outcome,) = await run(temporal_engine, ActionRequest(ActionKind.TERMINATE, (old,), "x"))
    assert outcome.outcome == Outcome.SKIPPED and "no longer the latest" in outcome.message
    latest = (await temporal_engine.describe(replace(old, run_id=None))).execution
    assert latest.ref.run_id == new_run and latest.status != ExecutionStatus.TERMINATED


async def test_batch_plan_leaves_out_old_runs(temporal_server: DevServer, demo: Demo) -> None:
    engine = make_temporal_engine(temporal_server, **{"batch-threshold": 1})
    old, new_run = await retried_once(engine, demo)
    fresh = await start(demo, "DemoAwaitSignal", "stale-batch")
    other = await start(demo, "DemoAwaitSignal", "stale-batch")
    plan = await engine.plan(ActionRequest(ActionKind.TERMINATE, (old, fresh, other), "batch"))
    assert plan.batch
    calls = {ExecutionRef.parse(c.target).workflow_id: c.call for c in plan.calls}
    assert calls[old.workflow_id] == "skip"
    assert calls[fresh.workflow_id].startswith("StartBatchOperation")
    outcomes = {
        ExecutionRef.parse(o.target).workflow_id: o.outcome
        async for o in engine.apply(plan, str(uuid.uuid4()))
    }
    assert outcomes[old.workflow_id] == Outcome.SKIPPED
    await status_becomes(engine, fresh, ExecutionStatus.TERMINATED)
    latest = (await engine.describe(replace(old, run_id=None))).execution
    assert latest.ref.run_id == new_run and latest.status != ExecutionStatus.TERMINATED


async def test_cancel_of_a_completed_run_is_skipped(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    client = await Client.connect(demo.address)
    ref = await start(demo, "DemoAwaitSignal", "done")
    await client.get_workflow_handle(ref.workflow_id).terminate("closed first")
    await status_becomes(temporal_engine, ref, ExecutionStatus.TERMINATED)
    for kind in (ActionKind.CANCEL, ActionKind.SIGNAL):
        params = {"signal": "approve"} if kind is ActionKind.SIGNAL else {}
        (outcome,) = await run(temporal_engine, ActionRequest(kind, (ref,), "x", params))
        assert outcome.outcome == Outcome.SKIPPED, (kind, outcome.message)
        assert "already closed (terminated)" in outcome.message


async def test_retry_of_a_closed_latest_run_warns_that_a_new_run_starts(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    client = await Client.connect(demo.address)
    ref = await start(demo, "DemoAwaitSignal", "term-retry")
    handle = client.get_workflow_handle(ref.workflow_id)

    async def first_task_done() -> bool:
        events = [e async for e in handle.fetch_history_events()]
        return any(e.HasField("workflow_task_completed_event_attributes") for e in events)

    await eventually(first_task_done, what="the first workflow task completed")
    await handle.terminate("closed first")
    await status_becomes(temporal_engine, ref, ExecutionStatus.TERMINATED)
    pinned = (await temporal_engine.describe(ref)).execution.ref
    plan = await temporal_engine.plan(ActionRequest(ActionKind.RETRY, (pinned,), "x"))
    assert plan.calls[0].call == "ResetWorkflowExecution"
    assert any("closed (terminated); the reset starts a new run" in w for w in plan.warnings)
