"""The ramp engine against an in-memory routing and a stub guard (the port is stubbed;
the real adapters are tested in tests/integration/test_ramp_*.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from console.audit import AuditJournal
from console.errors import BackendError, UsageError
from console.model_chaos import RampState
from console.rollout.engine import RampRunner
from console.rollout.guard import GuardVerdict
from console.rollout.journal import CHECK, HOLD, ROLLBACK, START, STEP, RampJournal, RampProgress
from console.rollout.plan import RampPlan, RampStep, build_plan, parse_steps


class MemoryRouting:
    """A deployment's routing in memory, refusing changes from a stale ``expected``."""

    def __init__(self, current: str | None = "v1") -> None:
        self.state = RampState("orders", current, None, 0.0)
        self.calls: list[tuple[str, float | str | None]] = []
        self.fail_next: str | None = None

    def ramp_call(self, percentage: float) -> str:
        return "Promote" if percentage >= 100 else "Ramp"

    async def version_query(self, deployment: str, version: str) -> str | None:
        return f"v = '{version}'"

    async def ramp_routing(self, deployment: str, version: str) -> RampState:
        return self.state

    def _check(self, expected: RampState) -> None:
        if self.fail_next:
            message, self.fail_next = self.fail_next, None
            raise BackendError(message)
        if expected != self.state:
            raise BackendError(f"routing changed: {self.state}")

    async def set_ramp(
        self, deployment: str, version: str, percentage: float, expected: RampState
    ) -> RampState:
        self._check(expected)
        self.calls.append(("set", percentage))
        if percentage >= 100:
            self.state = RampState(deployment, version, None, 0.0)
        else:
            self.state = RampState(deployment, self.state.current, version, percentage)
        return self.state

    async def restore_routing(
        self, deployment: str, version: str, previous: str | None, expected: RampState
    ) -> RampState:
        self._check(expected)
        self.calls.append(("restore", previous))
        self.state = RampState(deployment, previous, None, 0.0)
        return self.state


class StubGuard:
    def __init__(self, *verdicts: bool) -> None:
        self.verdicts = list(verdicts)
        self.asked: list[int] = []

    def describe(self) -> str:
        return "stub"

    async def check(self, step: RampStep, since: datetime) -> GuardVerdict:
        self.asked.append(step.index)
        ok = self.verdicts.pop(0) if self.verdicts else True
        return GuardVerdict(ok, "fine" if ok else "error rate 100% on v2")


def make_plan(routing: MemoryRouting, steps: str = "10,50,100", hold: float = 0.0) -> RampPlan:
    percentages = parse_steps(steps)
    return build_plan(
        ramp_id="ramp-1", context="local", engine="temporal",
        target="temporal:default/deployment/orders", deployment="orders", version="v2",
        start=routing.state, known_versions=["v1", "v2"], percentages=percentages,
        hold_s=hold, calls={p: routing.ramp_call(p) for p in percentages}, guard="stub",
        slo=None, reason="test",
    )  # fmt: skip


@pytest.fixture
def journal(tmp_path: Path) -> RampJournal:
    return RampJournal(AuditJournal(tmp_path / "audit.db"), identity="alice", policy={"p": 1})


def actions(journal: RampJournal) -> list[tuple[str, str]]:
    return [(r.action, r.outcome) for r in reversed(journal.audit.list(limit=None))]


async def start(routing: MemoryRouting, guard: StubGuard, journal: RampJournal, **kw: object):
    plan = make_plan(routing, **kw)  # type: ignore[arg-type]
    runner = RampRunner(routing, guard, journal)
    runner.start(plan)
    return plan, runner, await runner.run(plan, RampProgress(plan))


def test_steps_must_rise_and_end_at_100() -> None:
    assert parse_steps("10, 50,100") == (10.0, 50.0, 100.0)
    for bad in ("10,50", "50,10,100", "0,100", "10,x,100", "10,150"):
        with pytest.raises(UsageError):
            parse_steps(bad)


def test_a_ramp_cannot_start_on_a_current_or_already_ramping_deployment() -> None:
    routing = MemoryRouting(current="v2")
    with pytest.raises(UsageError, match="already the current"):
        make_plan(routing)
    routing.state = RampState("orders", "v1", "v3", 20.0)
    with pytest.raises(UsageError, match="already ramps v3 at 20%"):
        make_plan(routing)
    routing.state = RampState("orders", None, None, 0.0)
    with pytest.raises(UsageError, match="no current version to fall back on"):
        make_plan(routing)


async def test_a_healthy_version_is_promoted_step_by_step(journal: RampJournal) -> None:
    routing, guard = MemoryRouting(), StubGuard()
    plan, _, result = await start(routing, guard, journal)
    assert result.status == "promoted" and result.exit_code == 0
    assert routing.calls == [("set", 10.0), ("set", 50.0), ("set", 100.0)]
    assert routing.state == RampState("orders", "v2", None, 0.0)
    assert guard.asked == [1, 2, 3]
    assert actions(journal) == [(START, "ok")] + [(STEP, "ok"), (CHECK, "ok")] * 3
    assert plan.steps[2].call == "Promote"


async def test_a_breach_rolls_back_at_once_and_says_why(journal: RampJournal) -> None:
    routing, guard = MemoryRouting(), StubGuard(True, False)
    _, _, result = await start(routing, guard, journal)
    assert result.status == "rolled_back" and result.exit_code == 1
    assert "error rate 100% on v2" in result.reason
    assert routing.calls == [("set", 10.0), ("set", 50.0), ("restore", "v1")]
    assert routing.state == RampState("orders", "v1", None, 0.0)
    assert actions(journal)[-2:] == [(CHECK, "failed"), (ROLLBACK, "ok")]


async def test_resume_continues_after_the_last_journaled_step(journal: RampJournal) -> None:
    routing, guard = MemoryRouting(), StubGuard()
    plan = make_plan(routing)
    first = RampRunner(routing, guard, journal)
    first.start(plan)
    # as if the process died during step 2's hold: step 1 checked, step 2 applied
    await routing.set_ramp("orders", "v2", 10.0, plan.after(0))
    journal.write(plan, STEP, "ok", "", {"step": 1, "percentage": 10.0})
    journal.write(plan, CHECK, "ok", "", {"step": 1})
    await routing.set_ramp("orders", "v2", 50.0, plan.after(1))
    journal.write(plan, STEP, "ok", "", {"step": 2, "percentage": 50.0})
    routing.calls.clear()
    progress = journal.load("ramp-1")
    assert progress is not None and progress.plan == plan
    assert (progress.last_applied, progress.checked) == (2, {1})
    result = await RampRunner(routing, guard, journal).run(plan, progress)
    assert result.status == "promoted"
    assert routing.calls == [("set", 100.0)]  # steps 1 and 2 never sent again
    assert guard.asked == [2, 3]


async def test_a_step_applied_but_not_journaled_is_found_not_resent(journal: RampJournal) -> None:
    routing, guard = MemoryRouting(), StubGuard()
    plan = make_plan(routing)
    RampRunner(routing, guard, journal).start(plan)
    await routing.set_ramp("orders", "v2", 10.0, plan.after(0))  # killed before the record
    routing.calls.clear()
    progress = journal.load("ramp-1")
    assert progress is not None
    result = await RampRunner(routing, guard, journal).run(plan, progress)
    assert result.status == "promoted"
    assert routing.calls == [("set", 50.0), ("set", 100.0)]
    assert result.events[0].kind == "found_applied"


async def test_someone_else_changing_the_routing_stops_the_resume(journal: RampJournal) -> None:
    routing, guard = MemoryRouting(), StubGuard()
    plan = make_plan(routing)
    RampRunner(routing, guard, journal).start(plan)
    await routing.set_ramp("orders", "v2", 10.0, plan.after(0))
    journal.write(plan, STEP, "ok", "", {"step": 1, "percentage": 10.0})
    routing.state = RampState("orders", "v1", "v3", 30.0)  # another operator
    routing.calls.clear()
    progress = journal.load("ramp-1")
    assert progress is not None
    result = await RampRunner(routing, guard, journal).run(plan, progress)
    assert result.status == "stopped" and result.exit_code == 4
    assert "someone else changed the routing" in result.reason
    assert "v3 ramping at 30%" in result.reason
    assert routing.calls == []


async def test_a_failed_step_stops_without_rolling_back(journal: RampJournal) -> None:
    routing, guard = MemoryRouting(), StubGuard()
    plan = make_plan(routing)
    runner = RampRunner(routing, guard, journal)
    runner.start(plan)
    routing.fail_next = None
    original = routing.set_ramp

    async def failing_second(*args: object, **kw: object) -> RampState:
        if routing.calls:
            routing.fail_next = "conflict token mismatch"
        return await original(*args, **kw)  # type: ignore[arg-type]

    routing.set_ramp = failing_second  # type: ignore[method-assign]
    result = await runner.run(plan, RampProgress(plan))
    assert result.status == "stopped" and result.exit_code == 4
    assert "conflict token mismatch" in result.reason
    assert routing.state.percentage == 10.0  # left where it was: resumable
    assert actions(journal)[-1] == (STEP, "failed")


async def test_interrupt_during_a_hold_holds_or_rolls_back(journal: RampJournal) -> None:
    for choice, status, last in (("hold", "held", HOLD), ("rollback", "rolled_back", ROLLBACK)):
        routing, guard = MemoryRouting(), StubGuard()
        plan = make_plan(routing, hold=30.0)
        plan = RampPlan.from_data(plan.to_data() | {"ramp_id": f"ramp-{choice}"})
        interrupted = asyncio.Event()
        asked: list[int] = []

        async def answer(step: RampStep, choice: str = choice, asked: list[int] = asked) -> str:
            asked.append(step.index)
            return choice

        runner = RampRunner(routing, guard, journal, interrupted=interrupted,
                            on_interrupt=answer)  # fmt: skip
        runner.start(plan)
        task = asyncio.create_task(runner.run(plan, RampProgress(plan)))
        while not routing.calls:
            await asyncio.sleep(0.01)
        interrupted.set()
        result = await asyncio.wait_for(task, timeout=5)  # not the 30 s hold
        assert (result.status, asked, guard.asked) == (status, [1], [])
        records = [(r.action, r.outcome) for r in journal.audit.list(request_id=plan.ramp_id)]
        assert records[0] == (last, "ok")
    progress = journal.load("ramp-hold")
    assert progress is not None and not progress.finished and progress.last_applied == 1


class CountingEngine:
    """Counts by status from a fixed table; raises when told to (the guard's only port)."""

    def __init__(self, failed: int, closed: int, error: Exception | None = None) -> None:
        self.failed, self.closed, self.error = failed, closed, error
        self.queries: list[object] = []

    async def count(self, query: object) -> int:
        from console.model import ExecutionStatus

        if self.error is not None:
            raise self.error
        self.queries.append(query)
        statuses = getattr(query, "statuses", ())
        if statuses == (ExecutionStatus.FAILED,):
            return self.failed
        return self.closed if statuses else self.closed + 1


STEP1 = RampStep(1, 10.0, "Ramp", 0.0)


async def test_failed_executions_guard_thresholds_and_scope() -> None:
    from console.rollout.guard import FailedExecutionsGuard

    since = datetime(2026, 1, 1)
    for failed, closed, ok in ((0, 10, True), (1, 1, True), (2, 20, True), (2, 5, False)):
        engine = CountingEngine(failed, closed)
        guard = FailedExecutionsGuard(engine, "v3", "v = 'v3'")  # type: ignore[arg-type]
        verdict = await guard.check(STEP1, since)
        assert verdict.ok is ok, (failed, closed)
        assert f"{failed} of {closed} closed executions of v3 failed" in verdict.reason
        assert all(q.raw == "v = 'v3'" and q.started_after == since for q in engine.queries)  # type: ignore[attr-defined]


async def test_a_guard_that_cannot_read_its_backend_is_a_breach() -> None:
    from console.rollout.guard import AllGuards, FailedExecutionsGuard

    broken = CountingEngine(0, 0, BackendError("visibility unavailable"))
    guard = AllGuards([FailedExecutionsGuard(broken, "v3", "q"), StubGuard(True)])  # type: ignore[arg-type,list-item]
    verdict = await guard.check(STEP1, datetime(2026, 1, 1))
    assert not verdict.ok
    assert "could not count executions of v3: visibility unavailable" in verdict.reason


async def test_all_guards_name_every_breach() -> None:
    from console.rollout.guard import AllGuards

    verdict = await AllGuards([StubGuard(False), StubGuard(True), StubGuard(False)]).check(
        STEP1, datetime(2026, 1, 1)
    )
    assert not verdict.ok and verdict.reason == "error rate 100% on v2; error rate 100% on v2"


async def test_a_guard_that_crashes_rolls_back(journal: RampJournal) -> None:
    class Crashing(StubGuard):
        async def check(self, step: RampStep, since: datetime) -> GuardVerdict:
            raise KeyError("groups")

    routing = MemoryRouting()
    _, _, result = await start(routing, Crashing(), journal)
    assert result.status == "rolled_back"
    assert "the guard failed: KeyError" in result.reason
    assert routing.state == RampState("orders", "v1", None, 0.0)
