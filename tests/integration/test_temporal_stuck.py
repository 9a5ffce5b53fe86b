"""Each find_stuck rule finds its demo workflow, with evidence an operator can act on."""

from __future__ import annotations

from datetime import timedelta

from adapters.temporal import TemporalEngine
from console.model import ListQuery, StuckHit, StuckRule, StuckRules
from tests.conftest import Demo, eventually


def only(workflow_id: str) -> ListQuery:
    return ListQuery(raw=f"WorkflowId = '{workflow_id}'")


async def hit_for(
    engine: TemporalEngine, rules: StuckRules, workflow_id: str, rule: StuckRule
) -> StuckHit:
    async def found() -> StuckHit | None:
        async for hit in engine.find_stuck(rules, only(workflow_id)):
            if hit.rule == rule:
                return hit
        return None

    return await eventually(found, what=f"{rule} on {workflow_id}", timeout=45)


async def test_activity_retrying(temporal_engine: TemporalEngine, demo: Demo) -> None:
    rules = StuckRules(activity_attempts=3, enabled=frozenset({StuckRule.ACTIVITY_RETRYING}))
    hit = await hit_for(temporal_engine, rules, demo.ids.stuck_activity, rules_rule(rules))
    assert hit.execution.ref.workflow_id == demo.ids.stuck_activity
    assert "call_payment_gateway" in hit.evidence and "attempt" in hit.evidence
    assert "payment gateway timed out" in hit.evidence
    assert hit.details["attempt"] >= 3


def rules_rule(rules: StuckRules) -> StuckRule:
    (rule,) = rules.enabled
    return rule


async def test_workflow_task_failing(temporal_engine: TemporalEngine, demo: Demo) -> None:
    rules = StuckRules(
        workflow_task_attempts=2, enabled=frozenset({StuckRule.WORKFLOW_TASK_FAILING})
    )
    hit = await hit_for(temporal_engine, rules, demo.ids.wft_failing, rules_rule(rules))
    assert "workflow task is on attempt" in hit.evidence
    assert "RuntimeError: demo bug" in hit.evidence
    assert "unhandled failure" in hit.evidence  # the WorkflowTaskFailed cause


async def test_no_progress(temporal_engine: TemporalEngine, demo: Demo) -> None:
    rules = StuckRules(no_progress=timedelta(seconds=2), enabled=frozenset({StuckRule.NO_PROGRESS}))
    hit = await hit_for(temporal_engine, rules, demo.ids.awaiting_signal, rules_rule(rules))
    assert "no new history event for" in hit.evidence
    assert "WorkflowTaskCompleted" in hit.evidence  # the last thing that happened
    lenient = StuckRules(no_progress=timedelta(days=1), enabled=rules.enabled)
    hits = [h async for h in temporal_engine.find_stuck(lenient, only(demo.ids.awaiting_signal))]
    assert hits == []


async def test_no_pollers(temporal_engine: TemporalEngine, demo: Demo) -> None:
    rules = StuckRules(enabled=frozenset({StuckRule.NO_POLLERS}))
    hit = await hit_for(temporal_engine, rules, demo.ids.no_worker, rules_rule(rules))
    assert "demo-no-worker" in hit.evidence and "no worker" in hit.evidence
    polled = [h async for h in temporal_engine.find_stuck(rules, only(demo.ids.awaiting_signal))]
    assert polled == []  # its queue has a worker


async def test_all_rules_over_all_running(temporal_engine: TemporalEngine, demo: Demo) -> None:
    rules = StuckRules(
        activity_attempts=2, workflow_task_attempts=2, no_progress=timedelta(seconds=1)
    )
    ids = demo.ids

    async def every_kind() -> set[tuple[str, StuckRule]] | None:
        found = {
            (h.execution.ref.workflow_id, h.rule) async for h in temporal_engine.find_stuck(rules)
        }
        wanted = {
            (ids.stuck_activity, StuckRule.ACTIVITY_RETRYING),
            (ids.wft_failing, StuckRule.WORKFLOW_TASK_FAILING),
            (ids.awaiting_signal, StuckRule.NO_PROGRESS),
            (ids.no_worker, StuckRule.NO_POLLERS),
        }
        return found if wanted <= found else None

    found = await eventually(every_kind, what="every stuck kind", timeout=45)
    assert all(wid != ids.completed for wid, _ in found)
