"""Collecting through the WorkflowEngine port alone (an engine without FailureReader),
and runbook matching on the shipped runbooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from console.model import (
    Execution,
    ExecutionDetail,
    ExecutionRef,
    ExecutionStatus,
    ListQuery,
    PendingActivity,
    PendingWorkflowTask,
)
from console.model_triage import FailureKind
from console.triage.check import triage
from console.triage.collect import ScanLimits
from console.triage.data import retry_command
from console.triage.groups import SYSTEMIC
from console.triage.report import shipped_runbooks
from console.triage.runbooks import match_runbook

NOW = datetime.now(UTC)


def run(n: int, status: ExecutionStatus, closed_ago: float | None = None) -> Execution:
    closed = NOW - timedelta(minutes=closed_ago) if closed_ago is not None else None
    ref = ExecutionRef("plain", "ns", f"order-{n}", f"r{n}")
    return Execution(ref, "Checkout", status, start_time=NOW, close_time=closed)


class PortOnlyEngine:
    """list and describe from memory; no ``failures``: triage reads describe."""

    name = "plain"
    kind = "plain"

    def __init__(self) -> None:
        self.runs = [
            run(1, ExecutionStatus.FAILED, 5),
            run(2, ExecutionStatus.FAILED, 300),  # closed before since: not a failure now
            run(3, ExecutionStatus.RUNNING),
            run(4, ExecutionStatus.RUNNING),
            run(5, ExecutionStatus.COMPLETED, 1),
        ]
        self.queries: list[ListQuery] = []

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        self.queries.append(query)
        for execution in self.runs:  # ignores closed_after, as some engines do
            if execution.status in query.statuses:
                yield execution

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail:
        execution = next(e for e in self.runs if e.ref == ref)
        n = int(ref.workflow_id.split("-")[1])
        if n in (1, 2):
            return ExecutionDetail(
                execution, last_failure=f"GatewayTimeout: gateway timed out for order-{n}"
            )
        if n == 3:
            activity = PendingActivity(
                "1",
                "charge",
                "scheduled",
                attempt=4,
                last_failure="ECONNRESET: reset by 10.1.1.1",
                last_started_time=NOW - timedelta(minutes=1),
            )
            return ExecutionDetail(execution, pending_activities=(activity,))
        if n == 4:
            task = PendingWorkflowTask("scheduled", attempt=3, scheduled_time=NOW)
            return ExecutionDetail(
                execution,
                pending_workflow_task=task,
                last_failure="workflow task failed: KeyError: 'total'",
            )
        return ExecutionDetail(execution)


async def test_describe_fallback_and_since_checked_here() -> None:
    engine = PortOnlyEngine()
    report = await triage(engine, since=NOW - timedelta(hours=1), query="x = 1")  # type: ignore[arg-type]
    assert report.stats.structured is False
    assert report.stats.listed == {"failed": 1, "completed": 1, "running": 2}
    assert all(q.raw == "x = 1" for q in engine.queries)
    assert engine.queries[0].closed_after is not None
    by_kind = {g.kinds: g for g in report.groups}
    failed = by_kind[(FailureKind.EXECUTION.value,)]
    assert (failed.signature.error_type, failed.signature.message) == (
        "GatewayTimeout",
        "gateway timed out for <id>",
    )
    assert [r.workflow_id for r in failed.executions] == ["order-1"]
    activity = by_kind[(FailureKind.ACTIVITY.value,)]
    assert activity.signature.activity_type == "charge" and activity.max_attempt == 3
    assert activity.signature.error_type == "ECONNRESET"
    task = by_kind[(FailureKind.WORKFLOW_TASK.value,)]
    assert (task.signature.error_type, task.signature.message) == ("KeyError", "'total'")


async def test_caps_are_reported() -> None:
    engine = PortOnlyEngine()
    engine.runs += [replace(run(10 + n, ExecutionStatus.RUNNING)) for n in range(3)]
    limits = ScanLimits(running=2)
    report = await triage(engine, since=NOW - timedelta(hours=1), limits=limits)  # type: ignore[arg-type]
    assert report.stats.capped == ["running"] and report.stats.listed["running"] == 2


async def test_runbooks_match_by_rule_and_by_tag() -> None:
    books = shipped_runbooks()
    engine = PortOnlyEngine()
    report = await triage(engine, since=NOW - timedelta(hours=1))  # type: ignore[arg-type]
    activity = next(g for g in report.groups if g.kinds == ("activity",))
    stuck = match_runbook(activity, books, "temporal")
    assert stuck is not None and stuck.name == "stuck-workflows"
    assert stuck.params == {"query": "WorkflowType = 'Checkout'"}
    assert stuck.command() == (
        "opsdeck runbook run stuck-workflows --param \"query=WorkflowType = 'Checkout'\""
    )
    assert match_runbook(activity, books, "plain") is None  # temporal-only runbooks
    assert retry_command(activity) is not None and "--activity" in retry_command(activity)

    bad = replace(
        activity, verdict=SYSTEMIC, signature=replace(activity.signature, version="orders:v3")
    )
    deploy = match_runbook(bad, books, "temporal")
    assert deploy is not None and deploy.name == "bad-deploy-rollback"
    assert deploy.params["deployment"] == "orders"
    timeout = replace(
        activity, signature=replace(activity.signature, error_type="Timeout start to close")
    )
    found = match_runbook(timeout, books, "temporal")
    assert found is not None and found.name == "timeout-cascade"

    tagged = replace(books[0], name="checkout-help", tags=("triage:Checkout",), engines=())
    hint = match_runbook(activity, [*books, tagged], "plain")
    assert hint is not None and (hint.name, hint.why) == ("checkout-help", "tagged triage:Checkout")
