"""The ramp's guard: after each step's hold, is the new version healthy enough to go on?

A small port (``RampGuard``) so the ramp engine can be tested against a stub, with
three checks that compose (``AllGuards``: every one is asked; any breach is one):

- ``FailedExecutionsGuard``: executions of the new version started since the step,
  by the engine's visibility (the version's own query): a breach when at least
  ``min_failed`` failed and they are at least ``max_failed_ratio`` of those closed.
  Needs no configuration, so every ramp has a guard even without an SLO.
- ``TriageGuard``: console.triage's failure groups scoped to the new version; a group
  the triage calls systemic = breach (its reason is the ramp's).
- ``SloGuard``: console.slo's check of the named SLO scoped to the new version.

Whatever the guard cannot read (a backend error) is a breach: a ramp must not go on
blind. The reason says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from console.errors import OpsdeckError
from console.model import ExecutionStatus, ListQuery

if TYPE_CHECKING:
    from console.ports import WorkflowEngine
    from console.rollout.plan import RampStep

_CLOSED = (
    ExecutionStatus.COMPLETED,
    ExecutionStatus.FAILED,
    ExecutionStatus.TIMED_OUT,
    ExecutionStatus.TERMINATED,
    ExecutionStatus.CANCELED,
)


@dataclass(frozen=True)
class GuardVerdict:
    ok: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


class RampGuard(Protocol):
    def describe(self) -> str:
        """What it checks, one line for the plan."""
        ...

    async def check(self, step: RampStep, since: datetime) -> GuardVerdict:
        """The verdict on what happened since ``since`` (the step's start)."""
        ...


class FailedExecutionsGuard:
    def __init__(
        self,
        engine: WorkflowEngine,
        version: str,
        query: str,
        *,
        min_failed: int = 2,
        max_failed_ratio: float = 0.2,
    ) -> None:
        self.engine = engine
        self.version = version
        self.query = query
        self.min_failed = min_failed
        self.max_failed_ratio = max_failed_ratio

    def describe(self) -> str:
        return (
            f"failed executions of {self.version} since the step: breach at "
            f">= {self.min_failed} and >= {self.max_failed_ratio:.0%} of those closed"
        )

    async def check(self, step: RampStep, since: datetime) -> GuardVerdict:
        def query(*statuses: ExecutionStatus) -> ListQuery:
            return ListQuery(statuses=statuses, started_after=since, raw=self.query)

        try:
            failed = await self.engine.count(query(ExecutionStatus.FAILED))
            closed = await self.engine.count(query(*_CLOSED))
            started = await self.engine.count(query())
        except OpsdeckError as exc:
            return GuardVerdict(False, f"could not count executions of {self.version}: {exc}")
        details = {"failed": failed, "closed": closed, "started": started}
        ratio = failed / closed if closed else 0.0
        text = f"{failed} of {closed} closed executions of {self.version} failed"
        text += f" ({started} started since step {step.index})"
        if failed >= self.min_failed and ratio >= self.max_failed_ratio:
            return GuardVerdict(False, text, details)
        return GuardVerdict(True, text, details)


class TriageGuard:
    """Systemic failure groups on the new version (console.triage.check)."""

    def __init__(self, engine: WorkflowEngine, version: str, query: str | None) -> None:
        self.engine = engine
        self.version = version
        self.query = query

    def describe(self) -> str:
        return f"triage: no systemic failure group on {self.version}"

    async def check(self, step: RampStep, since: datetime) -> GuardVerdict:
        from console.triage.check import triage_failures

        try:
            groups = await triage_failures(self.engine, query=self.query, since=since)
        except OpsdeckError as exc:
            return GuardVerdict(False, f"triage of {self.version} failed: {exc}")
        systemic = [
            g
            for g in groups
            if g.verdict == "systemic" and (self.query or self.version in g.versions)
        ]
        if systemic:
            worst = max(systemic, key=lambda g: g.count)
            return GuardVerdict(
                False,
                f"systemic failure on {self.version}: {worst.signature} "
                f"({worst.count} failures; {worst.reason})",
                {"groups": [g.signature for g in systemic]},
            )
        return GuardVerdict(True, f"{len(groups)} failure group(s), none systemic")


class SloGuard:
    """The named SLO, scoped to the new version (console.slo.check)."""

    def __init__(self, session: Any, name: str, query: str | None) -> None:
        self.session = session
        self.name = name
        self.query = query

    def describe(self) -> str:
        return f"SLO {self.name} holds"

    async def check(self, step: RampStep, since: datetime) -> GuardVerdict:
        from console.slo.check import check_slo

        try:
            result = await check_slo(self.session, self.name, scope_query=self.query, since=since)
        except OpsdeckError as exc:
            return GuardVerdict(False, f"SLO {self.name} could not be checked: {exc}")
        text = f"SLO {self.name}: {result.reason}"
        details = {"slo": self.name, "value": result.value, "objective": result.objective}
        return GuardVerdict(bool(result.ok), text, details)


class AllGuards:
    """Every guard is asked (the rollback's reason names each breach), in order."""

    def __init__(self, guards: Sequence[RampGuard]) -> None:
        self.guards = tuple(guards)

    def describe(self) -> str:
        return "; ".join(g.describe() for g in self.guards) or "none"

    async def check(self, step: RampStep, since: datetime) -> GuardVerdict:
        verdicts = [await guard.check(step, since) for guard in self.guards]
        breaches = [v for v in verdicts if not v.ok]
        details: dict[str, Any] = {}
        for verdict in verdicts:
            details |= verdict.details
        chosen = breaches or verdicts
        return GuardVerdict(not breaches, "; ".join(v.reason for v in chosen) or "no guard",
                            details)  # fmt: skip
