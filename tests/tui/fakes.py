"""A small in-memory WorkflowEngine and a stub session for fast TUI tests.

Only the TUI's unit tests use these (the port is stubbed, never the Temporal client);
the end-to-end TUI test runs against the real dev server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from console.errors import BackendUnavailable, NotFound, PolicyDenied, Unsupported, UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    Capability,
    Execution,
    ExecutionDetail,
    ExecutionRef,
    ExecutionStatus,
    HistoryEvent,
    ListQuery,
    Outcome,
    PendingActivity,
    PendingWorkflowTask,
    Plan,
    PlannedCall,
    StuckHit,
    StuckRule,
    StuckRules,
    TargetOutcome,
    Version,
)
from console.policy.model import Decision

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)

CALLS = {
    ActionKind.RETRY: "ResetWorkflowExecution",
    ActionKind.CANCEL: "RequestCancelWorkflowExecution",
    ActionKind.TERMINATE: "TerminateWorkflowExecution",
    ActionKind.SIGNAL: "SignalWorkflowExecution",
    ActionKind.ROLLBACK: "SetWorkerDeploymentCurrentVersion",
}


def execution(
    wid: str,
    wtype: str,
    status: ExecutionStatus,
    minutes_ago: int,
    *,
    engine: str = "temporal",
    queue: str = "orders",
    version: str | None = None,
) -> Execution:
    ref = ExecutionRef(engine, "default", wid, f"run-{wid}")
    start = NOW - timedelta(minutes=minutes_ago)
    closed = None if status.is_open else start + timedelta(seconds=30)
    return Execution(
        ref, wtype, status, start, closed, queue, history_length=11, deployment_version=version
    )


def demo_executions(engine: str = "temporal") -> list[Execution]:
    S = ExecutionStatus
    return [
        execution("order-1", "OrderWorkflow", S.RUNNING, 2, engine=engine, version="shop:v2"),
        execution("order-2", "OrderWorkflow", S.COMPLETED, 5, engine=engine),
        execution("payment-7", "PaymentWorkflow", S.FAILED, 30, engine=engine, queue="payments"),
        execution("refund-3", "RefundWorkflow", S.RUNNING, 90, engine=engine, queue="payments"),
        execution("ship-9", "ShippingWorkflow", S.TERMINATED, 300, engine=engine, queue="ship"),
        execution("order-3", "OrderWorkflow", S.TIMED_OUT, 2000, engine=engine),
    ]


@dataclass
class FakeEngine:
    """Implements the WorkflowEngine port over fixed data."""

    name: str = "temporal"
    kind: str = "temporal"
    executions: list[Execution] = field(default_factory=demo_executions)
    capabilities: frozenset[Capability] = frozenset(Capability)
    fail: Exception | None = None
    hang: bool = False
    applied: list[tuple[Plan, str]] = field(default_factory=list)
    apply_gate: asyncio.Event | None = None  # apply waits for it: a slow batch

    def describe_capability(self, capability: Capability) -> str | None:
        if capability in self.capabilities:
            return None
        return f"{self.kind} cannot {capability.value}"

    async def _gate(self) -> None:
        if self.hang:
            await asyncio.Event().wait()  # never answers, like a dead peer
        if self.fail is not None:
            raise self.fail

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        await self._gate()
        for e in self.executions[: query.limit]:
            yield e

    async def count(self, query: ListQuery) -> int:
        await self._gate()
        return len(self.executions)

    def _find(self, ref: ExecutionRef) -> Execution:
        for e in self.executions:
            if e.ref.workflow_id == ref.workflow_id:
                return e
        raise NotFound(f"{ref} not found")

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail:
        await self._gate()
        e = self._find(ref)
        pending: tuple[PendingActivity, ...] = ()
        task = None
        if e.status.is_open:
            pending = (
                PendingActivity(
                    "5",
                    "ChargeCard",
                    "scheduled",
                    attempt=7,
                    maximum_attempts=10,
                    last_failure="card declined: insufficient funds",
                    next_attempt_time=NOW + timedelta(seconds=40),
                ),
            )
            task = PendingWorkflowTask("scheduled", attempt=1, scheduled_time=NOW)
        return ExecutionDetail(
            e,
            pending_activities=pending,
            pending_workflow_task=task,
            build_id="build-42",
            last_event_time=NOW - timedelta(minutes=1),
            last_failure="card declined: insufficient funds" if pending else None,
        )

    async def history(self, ref: ExecutionRef) -> AsyncIterator[HistoryEvent]:
        await self._gate()
        e = self._find(ref)
        t = e.start_time or NOW
        yield HistoryEvent(1, t, "WorkflowExecutionStarted", f"type {e.workflow_type}")
        yield HistoryEvent(2, t, "WorkflowTaskScheduled", "queue orders")
        yield HistoryEvent(3, t, "WorkflowTaskCompleted", "")
        yield HistoryEvent(4, t, "ActivityTaskScheduled", "ChargeCard")
        yield HistoryEvent(
            5, t, "ActivityTaskFailed", "card declined: insufficient funds", is_failure=True
        )
        yield HistoryEvent(6, t, "TimerStarted", "backoff 30s")

    async def find_stuck(
        self, rules: StuckRules, query: ListQuery | None = None
    ) -> AsyncIterator[StuckHit]:
        await self._gate()
        for e in self.executions:
            if e.ref.workflow_id == "order-1":
                yield StuckHit(e, StuckRule.ACTIVITY_RETRYING, "ChargeCard attempt 7 >= 5")
            if e.ref.workflow_id == "refund-3":
                yield StuckHit(e, StuckRule.NO_PROGRESS, "no event for 88m > 30m")
                yield StuckHit(e, StuckRule.NO_POLLERS, "task queue payments has no pollers")

    async def versions(self, workflow: str) -> list[Version]:
        await self._gate()
        return [
            Version(workflow, "v2", is_current=True, created_time=NOW - timedelta(days=1)),
            Version(workflow, "v1", created_time=NOW - timedelta(days=7), status="drained"),
        ]

    async def plan(self, request: ActionRequest) -> Plan:
        await self._gate()
        params = {"reason": request.reason, **request.params}
        if request.kind is ActionKind.ROLLBACK:
            target = f"{self.name}:default/deployment/{request.params['deployment']}"
            return Plan(request, self.name, (PlannedCall(target, CALLS[request.kind], params),))
        calls = tuple(PlannedCall(str(ref), CALLS[request.kind], params) for ref in request.targets)
        return Plan(request, self.name, calls)

    async def apply(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:
        self.applied.append((plan, request_id))
        if self.apply_gate is not None:
            await self.apply_gate.wait()
        for call in plan.calls:
            yield TargetOutcome(call.target, Outcome.OK)

    async def close(self) -> None:
        pass


@dataclass(frozen=True)
class StubContext:
    name: str = "sandbox"
    production: bool = False
    read_only: bool = False


@dataclass
class StubReport:
    outcomes: list[TargetOutcome]
    request_id: str

    @property
    def exit_code(self) -> int:
        failed = sum(o.outcome is Outcome.FAILED for o in self.outcomes)
        return 0 if not failed else 1 if failed == len(self.outcomes) else 4


@dataclass
class StubRunner:
    """The ActionRunner contract (plan / confirmation_phrase / apply) over FakeEngines."""

    engines: dict[str, FakeEngine]
    context: StubContext
    read_only: bool = False
    audit: list[tuple[str, str, str]] = field(default_factory=list)
    decision: Decision = field(default_factory=lambda: Decision("allow"))
    approvals_used: list[str | None] = field(default_factory=list)  # approval_id per apply

    def decide(self, plan: Plan) -> Decision:
        """The policy's answer for previews (tests set ``decision``)."""
        return self.decision

    async def plan(self, engine: str, request: ActionRequest) -> Plan:
        if self.read_only or self.context.read_only:
            raise PolicyDenied("context is read-only")
        fake = self.engines[engine]
        reason = fake.describe_capability(request.kind.capability)
        if reason:
            raise Unsupported(reason)
        return await fake.plan(request)

    def confirmation_phrase(self, plan: Plan) -> str | None:
        if not self.context.production:
            return None
        if plan.request.kind is ActionKind.ROLLBACK:
            return str(plan.request.params["deployment"])
        if len(plan.calls) == 1:
            return plan.request.targets[0].workflow_id
        return f"{len(plan.calls)} executions"

    async def apply(
        self,
        plan: Plan,
        *,
        typed_confirmation: str | None = None,
        on_outcome: Callable[[TargetOutcome], None] | None = None,
        approval_id: str | None = None,
    ) -> StubReport:
        self.approvals_used.append(approval_id)
        phrase = self.confirmation_phrase(plan)
        if phrase is not None and typed_confirmation != phrase:
            raise PolicyDenied("confirmation text does not match")
        outcomes = []
        async for outcome in self.engines[plan.engine].apply(plan, "req-1"):
            self.audit.append((plan.request.kind.value, outcome.target, outcome.outcome.value))
            outcomes.append(outcome)
        return StubReport(outcomes, "req-1")


@dataclass
class StubSession:
    context: StubContext
    engines: dict[str, Any]
    runner: StubRunner
    read_only: bool = False

    async def close(self) -> None:
        pass


def stub_session(
    *engines: FakeEngine, production: bool = False, read_only: bool = False
) -> StubSession:
    fakes = {e.name: e for e in engines} if engines else {"temporal": FakeEngine()}
    context = StubContext(production=production)
    runner = StubRunner(fakes, context, read_only=read_only)
    return StubSession(context, dict(fakes), runner, read_only=read_only)


def unreachable(name: str = "temporal") -> BackendUnavailable:
    return BackendUnavailable(name, "127.0.0.1:1", "connection refused", hint="is it running?")


SCALE_TYPES = ("OrderWorkflow", "PaymentWorkflow", "RefundWorkflow", "ShippingWorkflow")


@dataclass
class ScaleEngine(FakeEngine):
    """A namespace of ``size`` generated executions, newest first, made as they are
    read (never held in memory); records every listing and count it is asked for.

    ``raw`` understands ``WorkflowType = 'X'`` only and refuses anything else in the
    words of a visibility server."""

    size: int = 100_000
    executions: list[Execution] = field(default_factory=list)
    lists: list[ListQuery] = field(default_factory=list)
    counts: list[ListQuery] = field(default_factory=list)
    handed_out: int = 0  # executions yielded over every listing

    def _types(self, raw: str | None) -> tuple[str, ...]:
        if not raw:
            return SCALE_TYPES
        key, sep, value = raw.partition("=")
        wanted = value.strip().strip("'\"")
        if key.strip() != "WorkflowType" or not sep or not wanted:
            raise UsageError(f"invalid query: unable to parse '{raw}'")
        return (wanted,)

    def generated(self, index: int) -> Execution:
        status = ExecutionStatus.RUNNING if index % 3 else ExecutionStatus.COMPLETED
        wtype = SCALE_TYPES[index % len(SCALE_TYPES)]
        ref = ExecutionRef(self.name, "default", f"wf-{index:06d}", f"run-{index}")
        return Execution(ref, wtype, status, NOW - timedelta(seconds=index), None, "orders")

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        self.lists.append(query)
        types = self._types(query.raw)
        await self._gate()
        for index in range(self.size):
            execution = self.generated(index)
            if execution.workflow_type in types:
                self.handed_out += 1
                yield execution

    async def count(self, query: ListQuery) -> int:
        self.counts.append(query)
        types = self._types(query.raw)
        await self._gate()
        slots = [SCALE_TYPES.index(t) for t in types if t in SCALE_TYPES]
        return sum((self.size - slot + len(SCALE_TYPES) - 1) // len(SCALE_TYPES) for slot in slots)

    def _find(self, ref: ExecutionRef) -> Execution:
        return self.generated(int(ref.workflow_id.removeprefix("wf-")))
