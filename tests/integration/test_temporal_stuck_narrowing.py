"""find_stuck describes only the candidates visibility cannot rule out (real dev server).

Thirty young running executions of a type of their own, on a queue nobody polls: what
each rule costs is read from the engine's ``stuck_stats``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import Client

from adapters.temporal import TemporalEngine
from console.model import ListQuery, StuckHit, StuckRule, StuckRules
from console.sandbox.devserver import DevServer
from tests.conftest import eventually

pytestmark = pytest.mark.integration
COUNT = 30


@pytest.fixture(scope="module")
async def young_type(temporal_server: DevServer) -> AsyncIterator[str]:
    workflow_type = f"Narrow{uuid.uuid4().hex[:8]}"
    client = await Client.connect(temporal_server.address)
    await asyncio.gather(
        *(
            client.start_workflow(
                workflow_type, id=f"{workflow_type}-{i}", task_queue="narrow-nobody"
            )
            for i in range(COUNT)
        )
    )

    async def visible() -> bool:
        return (await client.count_workflows(f"WorkflowType = '{workflow_type}'")).count == COUNT

    await eventually(visible, what="all visible")
    yield workflow_type


async def scan(engine: TemporalEngine, rules: StuckRules, workflow_type: str) -> list[StuckHit]:
    return [h async for h in engine.find_stuck(rules, ListQuery(workflow_type=workflow_type))]


def only(rule: StuckRule, **thresholds: object) -> StuckRules:
    return StuckRules(enabled=frozenset({rule}), **thresholds)


async def test_no_progress_describes_only_executions_older_than_the_threshold(
    temporal_engine: TemporalEngine, young_type: str
) -> None:
    hits = await scan(
        temporal_engine, only(StuckRule.NO_PROGRESS, no_progress=timedelta(hours=1)), young_type
    )
    stats = temporal_engine.stuck_stats
    assert hits == [] and stats is not None
    assert (stats.listed, stats.describes, stats.histories) == (0, 0, 0)

    await asyncio.sleep(1.1)  # now every one of them is older than one second
    rules = only(StuckRule.NO_PROGRESS, no_progress=timedelta(seconds=1))
    hits = await scan(temporal_engine, rules, young_type)
    stats = temporal_engine.stuck_stats
    assert stats is not None
    assert len(hits) == COUNT and {h.rule for h in hits} == {StuckRule.NO_PROGRESS}
    assert (stats.candidates, stats.describes, stats.histories) == (COUNT, COUNT, COUNT)


async def test_failing_tasks_at_the_servers_threshold_come_from_visibility(
    temporal_engine: TemporalEngine, young_type: str
) -> None:
    hits = await scan(
        temporal_engine, only(StuckRule.WORKFLOW_TASK_FAILING, workflow_task_attempts=6), young_type
    )
    stats = temporal_engine.stuck_stats
    assert hits == [] and stats is not None
    assert stats.fallbacks == []  # the server knows TemporalReportedProblems
    assert stats.describes == 0  # none of them reported a problem


async def test_failing_tasks_below_the_servers_threshold_describe_every_running_one(
    temporal_engine: TemporalEngine, young_type: str
) -> None:
    rules = only(StuckRule.WORKFLOW_TASK_FAILING, workflow_task_attempts=5)  # reported from 6
    assert await scan(temporal_engine, rules, young_type) == []
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.describes == COUNT


async def test_activity_retrying_skips_executions_that_never_ran_a_task(
    temporal_engine: TemporalEngine, young_type: str
) -> None:
    # Nobody polls their queue: no workflow task completed, so no activity can exist.
    assert await scan(temporal_engine, only(StuckRule.ACTIVITY_RETRYING), young_type) == []
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.fallbacks == []
    assert (stats.describes, stats.by_rule) == (0, {"activity_retrying": 0})


async def test_no_pollers_lists_without_describing(
    temporal_engine: TemporalEngine, young_type: str
) -> None:
    hits = await scan(temporal_engine, only(StuckRule.NO_POLLERS), young_type)
    stats = temporal_engine.stuck_stats
    assert len(hits) == COUNT and stats is not None
    assert (stats.listed, stats.describes, stats.task_queues) == (COUNT, 0, 1)


def test_explain_names_the_rules_that_need_describes(temporal_engine: TemporalEngine) -> None:
    how = temporal_engine.explain_stuck(StuckRules())
    temporal_rules = {"activity_retrying", "workflow_task_failing", "no_progress", "no_pollers"}
    assert set(how) == temporal_rules
    assert "BuildIds IS NOT NULL" in how["activity_retrying"]
    # The default threshold is the server's reported one (attempt 6): from visibility.
    assert "visibility first" in how["workflow_task_failing"]
    assert "TemporalReportedProblems" in how["workflow_task_failing"]
    assert "visibility alone" in how["no_pollers"] and "TaskQueue NOT IN" in how["no_pollers"]
    lower = temporal_engine.explain_stuck(StuckRules(workflow_task_attempts=3))
    assert "describes every running execution" in lower["workflow_task_failing"]


async def test_default_rules_describe_none_of_the_never_run(
    temporal_engine: TemporalEngine, young_type: str
) -> None:
    # Default thresholds: none of these can hit workflow_task_failing (nothing reported),
    # activity_retrying (no task ran) or no_progress (young), so none is described.
    assert StuckRules().workflow_task_attempts == 6
    hits = await scan(temporal_engine, StuckRules(), young_type)
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.describes == 0 and stats.fallbacks == []
    assert len(hits) == COUNT and {h.rule for h in hits} == {StuckRule.NO_POLLERS}
    # Below the server's threshold every running one is described.
    hits = await scan(temporal_engine, StuckRules(workflow_task_attempts=3), young_type)
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.describes == COUNT and len(hits) == COUNT
