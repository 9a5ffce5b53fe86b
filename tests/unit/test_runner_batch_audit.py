"""A batch job's outcomes go to the audit journal in chunks: every one recorded, the chain
intact, and what arrived before a backend error is kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from console.actions import ActionRunner
from console.actions.runner import AUDIT_CHUNK
from console.audit import AuditJournal
from console.config import Context
from console.errors import BackendUnavailable
from console.model import ActionKind, ActionRequest, Outcome, Plan, PlannedCall, TargetOutcome

from .stub_engine import StubEngine

N = AUDIT_CHUNK * 2 + 17


class BatchStub(StubEngine):
    """Plans N targets as one batch job; ``crash_after`` outcomes, the job's watch fails."""

    async def plan(self, request: ActionRequest) -> Plan:
        calls = tuple(
            PlannedCall(f"stub:default/wf-{i}", "StartBatchOperation(terminate)", {})
            for i in range(N)
        )
        return Plan(request, self.name, calls, batch=True)

    async def apply(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:  # type: ignore[override]
        for index, call in enumerate(plan.calls):
            if self.crash_after is not None and index >= self.crash_after:
                raise BackendUnavailable("stub", "x:1", "connection lost")
            yield TargetOutcome(call.target, Outcome.OK, "terminated by batch job")


def runner_for(tmp_path: Path, engine: StubEngine) -> tuple[ActionRunner, AuditJournal]:
    audit = AuditJournal(tmp_path / "audit.db")
    context = Context(name="dev", engines=())
    return ActionRunner(context=context, engines={"stub": engine}, audit=audit), audit


@pytest.mark.parametrize("crash_after", [None, AUDIT_CHUNK + 3])
async def test_batch_outcomes_are_all_recorded_in_one_chain(
    tmp_path: Path, crash_after: int | None
) -> None:
    engine = BatchStub()
    engine.crash_after = crash_after
    runner, audit = runner_for(tmp_path, engine)
    plan = await runner.plan("stub", ActionRequest(ActionKind.TERMINATE, (), "bulk"))
    seen: list[TargetOutcome] = []
    report = await runner.apply(plan, on_outcome=seen.append)
    arrived = N if crash_after is None else crash_after
    assert len(report.outcomes) == len(seen) == len(report.audit_ids) == arrived
    records = audit.list(limit=None, request_id=report.request_id)
    assert len(records) == arrived and {r.outcome for r in records} == {"ok"}
    assert audit.verify() is None  # the hash chain is intact
    assert (report.error is None) == (crash_after is None)


class TrickleStub(BatchStub):
    """A job's outcomes in two groups, the second only after the test saw the first."""

    def __init__(self) -> None:
        super().__init__()
        self.first_written = asyncio.Event()

    async def apply(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:  # type: ignore[override]
        calls = plan.calls
        for call in calls[:3]:
            yield TargetOutcome(call.target, Outcome.OK, "terminated by batch job")
        await self.first_written.wait()  # the job is still running
        for call in calls[3:]:
            yield TargetOutcome(call.target, Outcome.OK, "terminated by batch job")


async def test_batch_outcomes_are_written_as_each_group_arrives(tmp_path: Path) -> None:
    engine = TrickleStub()
    runner, audit = runner_for(tmp_path, engine)
    plan = await runner.plan("stub", ActionRequest(ActionKind.TERMINATE, (), "bulk"))
    printed: list[int] = []

    def on_outcome(outcome: TargetOutcome) -> None:
        printed.append(len(audit.list(limit=None)))
        if len(printed) == 3:
            engine.first_written.set()

    # Bounded: a runner that held the first group back would wait for the rest forever.
    report = await asyncio.wait_for(runner.apply(plan, on_outcome=on_outcome), 30)
    assert len(report.audit_ids) == N and audit.verify() is None
    assert printed[:3] == [1, 2, 3]  # the first group: written and printed before the rest came
