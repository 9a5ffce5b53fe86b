"""TemporalEngine reads against a real dev server: list (HTTP and SDK), count, describe,
history, and the errors an operator sees."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from adapters.temporal import TemporalEngine
from console.errors import BackendUnavailable, NotFound, UsageError
from console.model import Execution, ExecutionRef, ExecutionStatus, ListQuery
from console.sandbox.devserver import DevServer, free_port
from tests.conftest import Demo, eventually, make_temporal_engine


async def collect(engine: TemporalEngine, query: ListQuery) -> list[Execution]:
    return [e async for e in engine.list(query)]


@pytest.fixture(scope="module")
async def tagged(demo: Demo) -> str:
    """25 completed workflows sharing a CustomerId, for pagination (page size 10)."""
    tag = f"cust-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(demo.address)
    from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

    key = SearchAttributeKey.for_keyword("CustomerId")
    handles = await asyncio.gather(
        *(
            client.start_workflow(
                "DemoCompleted",
                f"{tag}-{i}",
                id=f"{tag}-{i:02d}",
                task_queue="demo",
                search_attributes=TypedSearchAttributes([SearchAttributePair(key, tag)]),
            )
            for i in range(25)
        )
    )
    # Wait for every close: a run closing mid-listing moves in visibility's order
    # (close time first), so a page could repeat one row and skip another.
    await asyncio.gather(*(h.result() for h in handles))
    return tag


@pytest.mark.parametrize("http", [True, False], ids=["http", "sdk"])
async def test_list_paginates_over_page_size(
    temporal_server: DevServer, tagged: str, http: bool
) -> None:
    engine = make_temporal_engine(temporal_server, http=http)
    query = ListQuery(search_attributes={"CustomerId": tagged}, page_size=10)

    async def all_listed() -> list[Execution] | None:
        rows = await collect(engine, query)
        # Visibility records the close a moment after the result; until every row is
        # closed the order is still moving.
        closed = all(r.status is ExecutionStatus.COMPLETED for r in rows)
        return rows if len(rows) == 25 and closed else None

    rows = await eventually(all_listed, what="25 tagged workflows listed")
    assert len({r.ref.workflow_id for r in rows}) == 25
    assert all(r.ref.run_id and r.workflow_type == "DemoCompleted" for r in rows)
    assert all(r.search_attributes["CustomerId"] == tagged for r in rows)
    limited = await collect(engine, ListQuery(search_attributes={"CustomerId": tagged}, limit=7))
    assert len(limited) == 7


@pytest.mark.parametrize("http", [True, False], ids=["http", "sdk"])
async def test_list_filters_by_status_type_and_time(
    temporal_server: DevServer, demo: Demo, http: bool
) -> None:
    engine = make_temporal_engine(temporal_server, http=http)
    failed = await collect(
        engine, ListQuery(statuses=(ExecutionStatus.FAILED,), workflow_type="DemoFailed")
    )
    assert demo.ids.failed in {e.ref.workflow_id for e in failed}
    assert {e.status for e in failed} == {ExecutionStatus.FAILED}
    running = await collect(engine, ListQuery(statuses=(ExecutionStatus.RUNNING,)))
    running_ids = {e.ref.workflow_id for e in running}
    assert {demo.ids.stuck_activity, demo.ids.awaiting_signal} <= running_ids
    assert demo.ids.completed not in running_ids
    future = await collect(engine, ListQuery(started_after=datetime.now(UTC) + timedelta(hours=1)))
    assert future == []
    raw = await collect(engine, ListQuery(raw=f"WorkflowId = '{demo.ids.orders}'"))
    assert [e.ref.workflow_id for e in raw] == [demo.ids.orders]
    assert raw[0].deployment_version == "orders:v2"
    assert raw[0].task_queue == "orders"


@pytest.mark.parametrize("http", [True, False], ids=["http", "sdk"])
async def test_count(temporal_server: DevServer, tagged: str, http: bool) -> None:
    engine = make_temporal_engine(temporal_server, http=http)
    query = ListQuery(search_attributes={"CustomerId": tagged})

    async def counted() -> int | None:
        n = await engine.count(query)
        return n if n == 25 else None

    assert await eventually(counted, what="count of 25") == 25


async def test_invalid_query_is_a_usage_error(temporal_engine: TemporalEngine) -> None:
    with pytest.raises(UsageError, match="NoSuchAttribute"):
        await collect(temporal_engine, ListQuery(raw="NoSuchAttribute = 'x'"))


async def test_describe_pending_activity_attempts_and_failure(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    ref = ExecutionRef("temporal", "default", demo.ids.stuck_activity)

    async def retried() -> object:
        detail = await temporal_engine.describe(ref)
        acts = detail.pending_activities
        # Between attempts, not while one runs: only then is a next retry time due.
        # (A describe just as the retry is due shows it scheduled with no next time.)
        waiting = (
            acts
            and acts[0].attempt >= 2
            and acts[0].state == "scheduled"
            and acts[0].next_attempt_time is not None
        )
        return detail if waiting else None

    detail = await eventually(retried, what="activity waiting for attempt >= 2")
    assert detail.execution.status == ExecutionStatus.RUNNING
    assert detail.execution.workflow_type == "DemoStuckActivity"
    assert detail.execution.task_queue == "demo"
    activity = detail.pending_activities[0]
    assert activity.activity_type == "call_payment_gateway"
    assert activity.maximum_attempts == 0  # unlimited
    assert (
        activity.last_failure is not None and "payment gateway timed out" in activity.last_failure
    )
    assert "GatewayTimeout" in activity.last_failure
    assert activity.next_attempt_time is not None
    assert detail.last_event_time is not None
    assert detail.last_failure and "payment gateway" in detail.last_failure


async def test_describe_workflow_task_attempts_and_version(
    temporal_engine: TemporalEngine, demo: Demo
) -> None:
    ref = ExecutionRef("temporal", "default", demo.ids.wft_failing)

    async def failing() -> object:
        d = await temporal_engine.describe(ref)
        wft = d.pending_workflow_task
        return d if wft and wft.attempt >= 2 else None

    detail = await eventually(failing, what="workflow task attempt 2")
    assert detail.last_failure and "demo bug" in detail.last_failure
    orders = await temporal_engine.describe(ExecutionRef("temporal", "default", demo.ids.orders))
    assert orders.build_id == "v2"
    assert orders.execution.deployment_version == "orders:v2"


async def test_history_failures_are_readable(temporal_engine: TemporalEngine, demo: Demo) -> None:
    failed = [
        e
        async for e in temporal_engine.history(ExecutionRef("temporal", "default", demo.ids.failed))
    ]
    assert failed[0].event_type == "WorkflowExecutionStarted"
    assert "DemoFailed" in failed[0].summary
    assert [e.event_id for e in failed] == list(range(1, len(failed) + 1))
    last = failed[-1]
    assert last.event_type == "WorkflowExecutionFailed" and last.is_failure
    assert "card declined" in last.summary
    broken = [
        e
        async for e in temporal_engine.history(
            ExecutionRef("temporal", "default", demo.ids.wft_failing)
        )
    ]
    wft_failed = [e for e in broken if e.event_type == "WorkflowTaskFailed"]
    assert wft_failed and wft_failed[0].is_failure
    assert "RuntimeError: demo bug" in wft_failed[0].summary
    assert not any(e.is_failure for e in broken if e.event_type == "WorkflowTaskScheduled")


async def test_unknown_execution_is_not_found(temporal_engine: TemporalEngine, demo: Demo) -> None:
    ref = ExecutionRef("temporal", "default", "no-such-workflow")
    with pytest.raises(NotFound):
        await temporal_engine.describe(ref)
    with pytest.raises(NotFound):
        _ = [e async for e in temporal_engine.history(ref)]


@pytest.mark.parametrize("http", [True, False], ids=["http", "sdk"])
async def test_unreachable_server_is_one_clear_line(http: bool) -> None:
    port = free_port()
    settings: dict[str, object] = {"address": f"127.0.0.1:{port}"}
    if http:
        settings["http-address"] = f"127.0.0.1:{port}"
    engine = TemporalEngine.from_config("temporal", settings, lambda ref: ref)
    with pytest.raises(BackendUnavailable) as info:
        await collect(engine, ListQuery(limit=1))
    text = str(info.value)
    assert "\n" not in text and f"127.0.0.1:{port}" in text and "is the server running" in text
    with pytest.raises(BackendUnavailable):
        await engine.describe(ExecutionRef("temporal", "default", "x"))


def test_importing_the_adapter_does_not_import_temporalio() -> None:
    code = (
        "import sys, adapters.temporal, adapters.temporal_http;"
        "bad = [m for m in sys.modules if m.startswith(('temporalio', 'google.protobuf'))];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registered_as_entry_point() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="opsdeck.adapters") if e.name == "temporal"]
    assert ep.load() is TemporalEngine
