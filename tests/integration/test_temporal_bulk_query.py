"""Changes by visibility query run as ONE server-side batch job (adapters/temporal_bulk.py),
observed on the real dev server: the job's counts, the runs it closed, the ones it left."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from temporalio.api.workflowservice.v1 import ListBatchOperationsRequest
from temporalio.client import Client

from adapters.temporal import TemporalEngine
from adapters.temporal_batch_job import JobState
from adapters.temporal_bulk import is_query_plan
from adapters.temporal_bulk_watch import ReadBack, apply_by_query
from console.errors import UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    Execution,
    ExecutionRef,
    ExecutionStatus,
    ListQuery,
    Outcome,
    Plan,
)
from console.progress import JobProgress, progress_to
from console.sandbox.devserver import DevServer
from tests.conftest import Demo, eventually, make_temporal_engine

pytestmark = pytest.mark.integration
NO_WORKER = "bulk-query-no-worker"  # nobody polls it: never a completed workflow task


@pytest.fixture(params=["http", "grpc"])
def engine(temporal_server: DevServer, request: pytest.FixtureRequest) -> TemporalEngine:
    """The job over the HTTP API (http-address configured) and over gRPC (without)."""
    http = request.param == "http"
    return make_temporal_engine(temporal_server, http=http, **{"batch-threshold": 3})


async def start_many(
    address: str, prefix: str, n: int, *, workflow: str = "DemoAwaitSignal", queue: str = NO_WORKER
) -> list[str]:
    client = await Client.connect(address)
    ids = [f"{prefix}-{i:03d}" for i in range(n)]
    for workflow_id in ids:
        await client.start_workflow(workflow, id=workflow_id, task_queue=queue)
    return ids


async def visible(engine: TemporalEngine, query: str, n: int) -> None:
    running = ListQuery(raw=query, statuses=(ExecutionStatus.RUNNING,))

    async def all_there() -> bool:
        return await engine.count(running) == n

    await eventually(all_there, what=f"{n} running matches of {query}")


async def job_ids(temporal_server: DevServer) -> list[str]:
    client = await Client.connect(temporal_server.address)
    resp = await client.workflow_service.list_batch_operations(
        ListBatchOperationsRequest(namespace="default", page_size=1000)
    )
    return [op.job_id for op in resp.operation_info]


async def test_terminate_by_query_is_one_job_that_spares_runs_started_after_the_plan(
    engine: TemporalEngine, temporal_server: DevServer
) -> None:
    prefix = f"bulkq-{uuid.uuid4().hex[:6]}"
    ids = await start_many(temporal_server.address, prefix, 12)
    query = f"WorkflowId STARTS_WITH '{prefix}'"
    await visible(engine, query, 12)
    params = {"query": query, "rps": 50, "limit": 100}
    plan = await engine.plan(ActionRequest(ActionKind.TERMINATE, (), "bulk test", params))
    assert is_query_plan(plan) and plan.batch
    assert sorted(ExecutionRef.parse(t).workflow_id for t in plan.targets) == ids
    selection = plan.calls[0].params["selection"]
    assert query in selection and "ExecutionStatus = 'Running'" in selection
    assert plan.calls[0].params["rps"] == 50.0
    assert any("continues if this client goes away" in w for w in plan.warnings)
    (late,) = await start_many(temporal_server.address, f"{prefix}-late", 1)
    await visible(engine, query, 13)  # it matches the query, but started after the plan

    seen: list[JobProgress] = []
    request_id = str(uuid.uuid4())
    with progress_to(seen.append):
        outcomes = [o async for o in engine.apply(plan, request_id)]
    assert [o.outcome for o in outcomes] == [Outcome.OK] * 12
    assert all(o.details["batch_job_id"] == request_id for o in outcomes)
    # The job's counts are on the last outcome only; each one names the job.
    assert outcomes[-1].details["total"] == 12 and outcomes[-1].details["completed"] == 12
    assert all("total" not in o.details for o in outcomes[:-1])
    assert seen and seen[-1].state == "completed" and seen[-1].completed == 12
    assert (await job_ids(temporal_server)).count(request_id) == 1
    late_ref = ExecutionRef("temporal", "default", late)
    assert (await engine.describe(late_ref)).execution.status is ExecutionStatus.RUNNING
    for workflow_id in ids[:2]:
        detail = await engine.describe(ExecutionRef("temporal", "default", workflow_id))
        assert detail.execution.status is ExecutionStatus.TERMINATED

    # A resumed apply finds the job by its id and starts no second one.
    again = [o async for o in engine.apply(plan, request_id)]
    assert {o.outcome for o in again} == {Outcome.OK}
    assert (await job_ids(temporal_server)).count(request_id) == 1


async def test_retry_by_query_reports_which_runs_the_job_could_not_reset(
    engine: TemporalEngine, temporal_server: DevServer, demo: Demo
) -> None:
    """Runs that completed a workflow task reset; runs that never did stay as they were
    and are reported failed, one by one (the job itself only counts them)."""
    prefix = f"bulkr-{uuid.uuid4().hex[:6]}"
    served = await start_many(demo.address, f"{prefix}-served", 3, queue="demo")
    unserved = await start_many(demo.address, f"{prefix}-unserved", 2)
    client = await Client.connect(demo.address)

    async def first_task_done() -> bool:
        for workflow_id in served:
            desc = await client.get_workflow_handle(workflow_id).describe()
            if desc.raw_description.workflow_execution_info.history_length < 4:
                return False
        return True

    await eventually(first_task_done, what="the served workflows' first workflow task")
    query = f"WorkflowId STARTS_WITH '{prefix}' AND ExecutionStatus = 'Running'"
    await visible(engine, query, 5)
    plan = await engine.plan(ActionRequest(ActionKind.RETRY, (), "bulk retry", {"query": query}))
    assert is_query_plan(plan) and len(plan.calls) == 5
    outcomes = {
        ExecutionRef.parse(o.target).workflow_id: o
        async for o in engine.apply(plan, str(uuid.uuid4()))
    }
    assert {outcomes[w].outcome for w in served} == {Outcome.OK}
    assert {outcomes[w].outcome for w in unserved} == {Outcome.FAILED}
    assert "still running" in outcomes[unserved[0]].message
    assert "(2 failed in the job)" in outcomes[unserved[0]].message
    for workflow_id in served:
        planned = next(t for t in plan.targets if f"/{workflow_id}/" in t)
        now = (await engine.describe(ExecutionRef("temporal", "default", workflow_id))).execution
        assert now.ref.run_id != ExecutionRef.parse(planned).run_id  # a new run after the reset


async def test_retry_by_query_matching_closed_runs_plans_each_run_exactly(
    engine: TemporalEngine, demo: Demo
) -> None:
    """A query job cannot tell a workflow's older runs from its latest one."""
    prefix = f"bulkc-{uuid.uuid4().hex[:6]}"
    ids = await start_many(demo.address, prefix, 5)
    client = await Client.connect(demo.address)
    await client.get_workflow_handle(ids[0]).terminate("closed before the plan")
    query = f"WorkflowId STARTS_WITH '{prefix}'"
    await visible(engine, query, 4)
    plan = await engine.plan(ActionRequest(ActionKind.RETRY, (), "retry", {"query": query}))
    assert not is_query_plan(plan)
    assert "closed execution" in plan.warnings[0]


async def test_more_running_matches_than_the_limit_is_refused(
    engine: TemporalEngine, temporal_server: DevServer
) -> None:
    prefix = f"bulkl-{uuid.uuid4().hex[:6]}"
    await start_many(temporal_server.address, prefix, 6)
    query = f"WorkflowId STARTS_WITH '{prefix}'"
    await visible(engine, query, 6)
    request = ActionRequest(ActionKind.TERMINATE, (), "r", {"query": query, "limit": 5})
    with pytest.raises(UsageError, match="limit: the query matches 6 running"):
        await engine.plan(request)
    for bad, field in (({"rps": 0}, "rps"), ({"rps": "fast"}, "rps"), ({"query": " "}, "query")):
        params = {"query": query} | bad
        with pytest.raises(UsageError, match=f"^{field}:"):
            await engine.plan(ActionRequest(ActionKind.TERMINATE, (), "r", params))
    await visible(engine, query, 6)  # nothing changed


async def test_a_job_still_running_when_apply_stops_watching_is_submitted(
    engine: TemporalEngine, temporal_server: DevServer
) -> None:
    prefix = f"bulks-{uuid.uuid4().hex[:6]}"
    await start_many(temporal_server.address, prefix, 4)
    query = f"WorkflowId STARTS_WITH '{prefix}'"
    await visible(engine, query, 4)
    params = {"query": query, "rps": 1}
    plan = await engine.plan(ActionRequest(ActionKind.TERMINATE, (), "slow", params))
    request_id = str(uuid.uuid4())
    jobs = await engine.batch_jobs()

    class StillRunning:
        """The job as the server has it, never ended yet: the dev server runs a small job
        in a fraction of a second whatever --rps says (10 runs at 0.5/s: 0.13 s), so the
        first describe after the start could see it end under load or not."""

        async def describe(self, job_id: str) -> JobState | None:
            state = await jobs.describe(job_id)
            return None if state is None else replace(state, state="running")

        async def start(self, plan: Plan, job_id: str) -> None:
            await jobs.start(plan, job_id)

    slow = StillRunning()
    outcomes = [o async for o in apply_by_query(slow, engine, plan, request_id, wait=0)]
    assert {o.outcome for o in outcomes} == {Outcome.SUBMITTED}
    assert "still running on the server" in outcomes[0].message
    assert all("total" not in o.details for o in outcomes)  # no end seen: no final counts

    async def job_done() -> bool:  # the job goes on without the client (one at a time)
        state = await jobs.describe(request_id)
        return state is not None and state.completed == 4

    await eventually(job_done, what="the batch job finishing on its own", timeout=60)
    await visible(engine, query, 0)


async def test_read_back_keeps_closed_runs_and_asks_only_for_the_rest(
    engine: TemporalEngine, temporal_server: DevServer
) -> None:
    """While a job runs, runs seen closed are kept (a closed run stays closed): the read
    after the job asks visibility only about the runs not seen closed yet."""
    prefix = f"bulkb-{uuid.uuid4().hex[:6]}"
    ids = await start_many(temporal_server.address, prefix, 4)
    query = f"WorkflowId STARTS_WITH '{prefix}'"
    await visible(engine, query, 4)
    listed = [e async for e in engine.list(ListQuery(raw=query, limit=10))]
    by_id = {e.ref.workflow_id: e.ref.run_id or "" for e in listed}
    client = await Client.connect(temporal_server.address)
    for workflow_id in ids[:2]:
        await client.get_workflow_handle(workflow_id).terminate("closed while the job runs")
    await visible(engine, query, 2)
    runs = ReadBack(engine, [by_id[w] for w in ids])
    await runs.read(runs.run_ids)
    assert set(runs.closed) == {by_id[w] for w in ids[:2]}
    for workflow_id in ids[2:]:
        await client.get_workflow_handle(workflow_id).terminate("closed by the job")
    asked: list[str] = []
    read = runs.read

    async def counted(run_ids: list[str]) -> dict[str, Execution]:
        asked.extend(run_ids)
        return await read(run_ids)

    runs.read = counted  # type: ignore[method-assign]
    found = await runs.settled(ExecutionStatus.TERMINATED, 4)
    assert {e.status for e in found.values()} == {ExecutionStatus.TERMINATED}
    assert set(found) == set(runs.run_ids)
    assert asked and set(asked) == {by_id[w] for w in ids[2:]}  # never the first two again
