"""triage_failures against the real dev server: a systemic group on orders:v3 and
transient ones (an activity retried through, a lone failure), with their reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest_asyncio

from adapters.temporal import TemporalEngine
from console.model_triage import FailureKind
from console.triage.check import triage, triage_failures
from console.triage.groups import SYSTEMIC, TRANSIENT, FailureGroup
from tests.conftest import Demo, make_temporal_engine
from tests.integration.triage_scenario import SYSTEMIC_RUNS, Scenario, scenario


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def made(demo: Demo, temporal_server: object) -> AsyncIterator[Scenario]:
    async with scenario(demo.address) as made:
        yield made


def by_type(groups: list[FailureGroup], workflow_type: str) -> FailureGroup:
    (group,) = [g for g in groups if g.signature.workflow_type == workflow_type]
    return group


async def test_systemic_and_transient_groups(
    temporal_engine: TemporalEngine, made: Scenario
) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    groups = await triage_failures(temporal_engine, query=made.query, since=since)

    assert [g.verdict for g in groups] == [SYSTEMIC, TRANSIENT, TRANSIENT]
    bad = groups[0]
    assert bad.signature.workflow_type == "OrderWorkflow"
    assert bad.signature.version == "orders:v3" and bad.versions == ("orders:v3",)
    assert bad.signature.error_type == "ApplicationError"
    assert bad.signature.message == "order <id>: v<n> cannot price orders"
    assert bad.count == SYSTEMIC_RUNS
    assert {r.workflow_id for r in bad.executions} == set(made.systemic_ids)
    assert all(r.run_id for r in bad.executions)
    assert bad.first_seen and bad.last_seen and bad.first_seen <= bad.last_seen
    assert bad.reason == (
        f"systemic: {SYSTEMIC_RUNS} executions, all on orders:v3, {SYSTEMIC_RUNS} in the "
        f"last 10 min vs 0 before (rising), {SYSTEMIC_RUNS} of {SYSTEMIC_RUNS} OrderWorkflow "
        "runs read"
    )

    flaky = by_type(groups, "TriageFlakyOrder")
    assert flaky.signature.activity_type == "reserve_stock"
    assert flaky.signature.error_type == "ConnectionReset"
    assert flaky.signature.message == "connection reset by <ip> for <id>"
    assert flaky.kinds == (FailureKind.ACTIVITY.value,)
    assert flaky.retried_through == 1 and flaky.max_attempt == 2
    assert flaky.reason == "transient: 1 execution, all retried through (a later attempt succeeded)"

    single = by_type(groups, "DemoFailed")
    assert single.count == 1 and single.executions[0].workflow_id == made.single_id
    assert single.signature.message == "order <id> rejected: card declined"
    assert single.reason.startswith("transient: few, 1 execution failing")
    assert "(systemic from 5)" in single.reason


async def test_since_and_query_bound_what_is_read(temporal_server: object, made: Scenario) -> None:
    engine = make_temporal_engine(temporal_server, http=False)  # type: ignore[arg-type]
    later = await triage(engine, query=made.query, since=datetime.now(UTC) + timedelta(minutes=1))
    assert later.groups == ()
    only_v3 = f"{made.query} AND TemporalWorkerDeploymentVersion = 'orders:v3'"
    report = await triage(engine, query=only_v3, since=datetime.now(UTC) - timedelta(hours=1))
    assert [g.count for g in report.groups] == [SYSTEMIC_RUNS]
    assert report.stats.listed == {"failed": SYSTEMIC_RUNS, "completed": 0, "running": 0}
    # Only the v3 failures in scope: nothing to compare versions with, the trend decides.
    assert "all on" not in report.groups[0].reason
    assert report.groups[0].verdict == SYSTEMIC
