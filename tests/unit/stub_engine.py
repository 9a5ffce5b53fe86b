"""A stub WorkflowEngine implementing the port in memory (unit tests only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from console.errors import BackendUnavailable, ConfigError, NotFound
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
    Plan,
    PlannedCall,
    StuckHit,
    StuckRule,
    StuckRules,
    TargetOutcome,
    Version,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class StubEngine:
    kind = "stub"

    def __init__(self, name: str = "stub", settings: dict[str, Any] | None = None) -> None:
        self.name = name
        self.settings = settings or {}
        self.capabilities = frozenset(Capability) - {Capability.ROLLBACK}
        self.executions = {
            f"wf-{i}": Execution(
                ref=ExecutionRef(name, "default", f"wf-{i}", f"run-{i}"),
                workflow_type="OrderWorkflow",
                status=ExecutionStatus.RUNNING if i % 2 == 0 else ExecutionStatus.COMPLETED,
                start_time=T0,
                task_queue="orders",
                search_attributes={"CustomerId": f"c{i}"},
            )
            for i in range(4)
        }
        self.fail_targets: set[str] = set()
        self.crash_after: int | None = None
        self.applied: list[tuple[str, str, str]] = []
        self.unreachable = False
        self.closed = False

    @classmethod
    def from_config(cls, name: str, settings: dict[str, Any], resolve_secret: Any) -> StubEngine:
        if "address" not in settings:
            raise ConfigError("address: required")
        engine = cls(name, settings)
        engine.unreachable = settings["address"] == "unreachable:1"
        return engine

    def describe_capability(self, capability: Capability) -> str | None:
        if capability in self.capabilities:
            return None
        return "the stub engine has no deployments, so it cannot roll back"

    def _check(self) -> None:
        if self.unreachable:
            raise BackendUnavailable(
                "stub", "unreachable:1", "connection refused", hint="is the server running?"
            )

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:  # type: ignore[override]
        self._check()
        count = 0
        for execution in self.executions.values():
            if query.statuses and execution.status not in query.statuses:
                continue
            if query.limit is not None and count >= query.limit:
                return
            count += 1
            yield execution

    async def count(self, query: ListQuery) -> int:
        return len([e async for e in self.list(query)])

    def _get(self, ref: ExecutionRef) -> Execution:
        self._check()
        try:
            return self.executions[ref.workflow_id]
        except KeyError:
            raise NotFound(f"execution {ref} not found") from None

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail:
        return ExecutionDetail(execution=self._get(ref), last_event_time=T0)

    async def history(self, ref: ExecutionRef) -> AsyncIterator[HistoryEvent]:  # type: ignore[override]
        self._get(ref)
        yield HistoryEvent(1, T0, "WorkflowExecutionStarted", "started")
        yield HistoryEvent(2, T0, "ActivityTaskFailed", "boom", is_failure=True)

    async def find_stuck(  # type: ignore[override]
        self, rules: StuckRules, query: ListQuery | None = None
    ) -> AsyncIterator[StuckHit]:
        self._check()
        execution = self.executions["wf-0"]
        if StuckRule.ACTIVITY_RETRYING in rules.enabled:
            yield StuckHit(
                execution,
                StuckRule.ACTIVITY_RETRYING,
                f"activity charge attempt 7 >= {rules.activity_attempts}",
                {"attempt": 7},
            )

    async def versions(self, workflow: str) -> Sequence[Version]:
        self._check()
        return [Version(workflow, "v1", is_current=True, created_time=T0), Version(workflow, "v2")]

    async def plan(self, request: ActionRequest) -> Plan:
        self._check()
        calls = []
        for ref in request.targets:
            self._get(ref)
            params = dict(request.params)
            calls.append(PlannedCall(str(ref), f"{request.kind.value.title()}Workflow", params))
        if request.kind is ActionKind.ROLLBACK:
            target = f"{self.name}:default/deployment/{request.params['deployment']}"
            calls.append(PlannedCall(target, "SetCurrentVersion", dict(request.params)))
        return Plan(request=request, engine=self.name, calls=tuple(calls))

    async def apply(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:  # type: ignore[override]
        for index, call in enumerate(plan.calls):
            if self.crash_after is not None and index >= self.crash_after:
                raise BackendUnavailable("stub", "x:1", "connection lost")
            self.applied.append((call.target, call.call, request_id))
            if call.target in self.fail_targets:
                yield TargetOutcome(call.target, Outcome.FAILED, "already closed")
            else:
                yield TargetOutcome(call.target, Outcome.OK, "done", {"new_run_id": "r2"})

    async def close(self) -> None:
        self.closed = True
