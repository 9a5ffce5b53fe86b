"""The ramp engine: apply a step, hold, ask the guard; a breach rolls back at once.

Per step: check the server still routes as the plan expects, apply the step (journal
``versions.ramp``), hold, ask the guard (journal ``versions.ramp.check``); a breach
restores the previous version and clears the ramp (``versions.ramp.rollback``).

Resuming (the same ramp id) starts from what the journal says: steps journaled as
applied are not applied again; the server must show exactly the routing the journal
says the last step left. One exception: the server showing the *next* step's routing
means the process stopped between the call and its journal record; that step is then
journaled as found applied, never sent twice. Anything else means someone else changed
the routing: the ramp stops, changes nothing, and says what it found.

An interrupt (the CLI's Ctrl-C) during a hold asks ``on_interrupt``: ``hold`` keeps
the current percentage and ends the run (resumable), ``rollback`` rolls back now.

Exit codes (``RampResult.exit_code``): 0 promoted; 1 rolled back (a breach or the
operator: the system is back where it started, the change failed) or stopped before
changing anything; 4 partly done: held at a step, stopped by an error with the new
version still ramping, or a rollback that failed (an alert: look now).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.errors import OpsdeckError
from console.model_chaos import RampState
from console.rollout.guard import GuardVerdict
from console.rollout.journal import CHECK, HOLD, ROLLBACK, START, STEP, RampJournal, RampProgress
from console.rollout.plan import RampPlan, RampStep

if TYPE_CHECKING:
    from console.ports import VersionRamp
    from console.rollout.guard import RampGuard

EXIT_CODES = {"promoted": 0, "rolled_back": 1, "unchanged": 1, "held": 4, "stopped": 4,
              "rollback_failed": 4}  # fmt: skip


@dataclass(frozen=True)
class RampEvent:
    kind: str  # applied, found_applied, holding, checked, breach, rolled_back, held, ...
    message: str
    step: int | None = None
    percentage: float | None = None


@dataclass
class RampResult:
    ramp_id: str
    status: str  # promoted | rolled_back | held | stopped | unchanged | rollback_failed
    reason: str
    routing: RampState | None = None
    applied: list[int] = field(default_factory=list)  # steps applied by this run
    events: list[RampEvent] = field(default_factory=list)
    audit_ids: list[int] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


Interrupt = Callable[[RampStep], Awaitable[str]]  # -> "hold" | "rollback"


def routing_text(state: RampState | None) -> str:
    if state is None:
        return "unknown"
    current = state.current or "unversioned"
    if state.ramping is None:
        return f"current {current}, nothing ramping"
    return f"current {current}, {state.ramping} ramping at {state.percentage:g}%"


class RampRunner:
    def __init__(
        self,
        port: VersionRamp,
        guard: RampGuard,
        journal: RampJournal,
        *,
        on_event: Callable[[RampEvent], None] | None = None,
        interrupted: asyncio.Event | None = None,
        on_interrupt: Interrupt | None = None,
    ) -> None:
        self.port = port
        self.guard = guard
        self.journal = journal
        self.on_event = on_event
        self.interrupted = interrupted or asyncio.Event()
        self.on_interrupt = on_interrupt
        self._result = RampResult("", "promoted", "")
        # When each step took effect: its hold counts from here (a slow call must not
        # eat the hold); the guard reads from just before the call (``applied``).
        self._effective: dict[int, datetime] = {}

    def start(self, plan: RampPlan) -> int:
        """Journal the plan before anything changes; the record's audit id."""
        record = self.journal.write(plan, START, "ok", "ramp planned", {"plan": plan.to_data()})
        return record.id

    async def run(self, plan: RampPlan, progress: RampProgress) -> RampResult:
        result = RampResult(plan.ramp_id, "promoted", "")
        self._result = result
        if progress.finished:
            result.status = "rolled_back" if progress.rolled_back else "promoted"
            result.reason = f"ramp {plan.ramp_id} already ended ({result.status}); nothing to do"
            result.routing = await self.port.ramp_routing(plan.deployment, plan.version)
            return result
        state = await self.port.ramp_routing(plan.deployment, plan.version)
        done = progress.last_applied
        if state != plan.after(done):
            nxt = done + 1
            found_next = nxt <= len(plan.steps) and state == plan.after(nxt)
            if found_next and (done == 0 or done in progress.checked):
                self._record(plan, STEP, "ok", f"step {nxt} found applied on the server "
                             "(stopped before its journal record); not sent again",
                             {"step": nxt, "percentage": plan.steps[nxt - 1].percentage,
                              "found_applied": True, "routing": state.to_data()})  # fmt: skip
                progress.applied[nxt] = datetime.now(UTC)
                self._event("found_applied", f"step {nxt} was already applied", plan, nxt)
            else:
                said = routing_text(plan.after(done))
                result.status = "unchanged" if done == 0 else "stopped"
                result.reason = (
                    f"the server shows {routing_text(state)}, the journal says {said} after "
                    f"step {done}: someone else changed the routing; the ramp changed nothing"
                )
                result.routing = state
                return result
        for step in plan.steps:
            if step.index in progress.checked:
                continue
            if step.index not in progress.applied:
                applied = await self._apply(plan, step, progress)
                if not applied:
                    return result
            since = progress.applied[step.index]
            effective = self._effective.get(step.index, since)
            waited = (datetime.now(UTC) - effective).total_seconds()
            choice = await self._hold(plan, step, max(0.0, step.hold_s - waited))
            if choice == "hold":
                return await self._held(plan, step)
            if choice == "rollback":
                why = f"rolled back by the operator at step {step.index} ({step.percentage:g}%)"
                return await self._rollback(plan, step.index, why)
            try:
                verdict = await self.guard.check(step, since)
            except Exception as exc:  # a guard's bug must not let a bad version through
                verdict = GuardVerdict(False, f"the guard failed: {type(exc).__name__}: {exc}")
            outcome = "ok" if verdict.ok else "failed"
            self._record(plan, CHECK, outcome, verdict.reason,
                         {"step": step.index, "percentage": step.percentage,
                          "verdict": {"ok": verdict.ok, **verdict.details}})  # fmt: skip
            self._event("checked" if verdict.ok else "breach", verdict.reason, plan, step.index)
            if not verdict.ok:
                return await self._rollback(plan, step.index, f"guard breached: {verdict.reason}")
            progress.checked.add(step.index)
        result.routing = await self.port.ramp_routing(plan.deployment, plan.version)
        result.reason = f"{plan.version} is current on {plan.deployment}; the ramp is done"
        self._event("promoted", result.reason, plan)
        return result

    async def rollback_now(self, plan: RampPlan, progress: RampProgress, why: str) -> RampResult:
        """Roll a held or interrupted ramp back (``--resume ID --rollback``)."""
        result = RampResult(plan.ramp_id, "unchanged", "")
        self._result = result
        if progress.finished or progress.last_applied == 0:
            result.reason = f"ramp {plan.ramp_id} has nothing to roll back"
            result.routing = await self._routing_or_none(plan)
            return result
        return await self._rollback(plan, progress.last_applied, why)

    async def _apply(self, plan: RampPlan, step: RampStep, progress: RampProgress) -> bool:
        result = self._result
        expected = plan.after(step.index - 1)
        started = datetime.now(UTC)
        params: dict[str, Any] = {"step": step.index, "percentage": step.percentage,
                                  "call": step.call, "expected": expected.to_data()}  # fmt: skip
        try:
            state = await self.port.set_ramp(
                plan.deployment, plan.version, step.percentage, expected
            )
        except OpsdeckError as exc:
            self._record(plan, STEP, "failed", str(exc), params)
            result.status = "stopped" if step.index > 1 else "unchanged"
            result.reason = f"step {step.index} ({step.percentage:g}%) failed: {exc}"
            result.routing = await self._routing_or_none(plan)
            self._event("stopped", result.reason, plan, step.index)
            return False
        self._record(plan, STEP, "ok", f"{plan.version} at {step.percentage:g}%: "
                     f"{routing_text(state)}", params | {"routing": state.to_data()})  # fmt: skip
        progress.applied[step.index] = started
        self._effective[step.index] = datetime.now(UTC)
        result.applied.append(step.index)
        self._event("applied", routing_text(state), plan, step.index)
        return True

    async def _hold(self, plan: RampPlan, step: RampStep, seconds: float) -> str:
        """ "go" after ``seconds``, or the operator's choice when interrupted."""
        until = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%H:%M:%S UTC")
        text = f"holding {math.ceil(seconds)}s at {step.percentage:g}% (until {until})"
        self._event("holding", text, plan, step.index)
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            try:
                if not self.interrupted.is_set():
                    await asyncio.wait_for(self.interrupted.wait(), timeout=max(0.0, left))
            except TimeoutError:
                return "go"
            self.interrupted.clear()
            choice = "hold" if self.on_interrupt is None else await self.on_interrupt(step)
            if choice in ("hold", "rollback"):
                return choice
            if deadline - time.monotonic() <= 0:
                return "go"  # "continue": the hold goes on to its end

    async def _held(self, plan: RampPlan, step: RampStep) -> RampResult:
        result = self._result
        message = f"held at step {step.index} ({step.percentage:g}%) by the operator"
        self._record(plan, HOLD, "ok", message, {"step": step.index,
                                                 "percentage": step.percentage})  # fmt: skip
        result.status, result.reason = "held", message
        result.routing = await self._routing_or_none(plan)
        self._event("held", message, plan, step.index)
        return result

    async def _rollback(self, plan: RampPlan, index: int, why: str) -> RampResult:
        result = self._result
        expected = plan.after(index)
        params = {"step": index, "restore": plan.previous, "expected": expected.to_data()}
        try:
            state = await self.port.restore_routing(
                plan.deployment, plan.version, plan.previous, expected
            )
        except OpsdeckError as exc:
            self._record(plan, ROLLBACK, "failed", f"{why}; rollback failed: {exc}", params)
            result.status = "rollback_failed"
            result.reason = f"{why}; the rollback FAILED: {exc}"
            result.routing = await self._routing_or_none(plan)
            self._event("rollback_failed", result.reason, plan, index)
            return result
        message = f"{why}; rolled back: {routing_text(state)}"
        self._record(plan, ROLLBACK, "ok", message, params | {"routing": state.to_data()})
        result.status, result.reason, result.routing = "rolled_back", why, state
        self._event("rolled_back", message, plan, index)
        return result

    async def _routing_or_none(self, plan: RampPlan) -> RampState | None:
        try:
            return await self.port.ramp_routing(plan.deployment, plan.version)
        except OpsdeckError:
            return None

    def _record(
        self, plan: RampPlan, action: str, outcome: str, message: str, params: dict[str, Any]
    ) -> None:
        record = self.journal.write(plan, action, outcome, message, params)
        self._result.audit_ids.append(record.id)

    def _event(self, kind: str, message: str, plan: RampPlan, index: int | None = None) -> None:
        percentage = plan.steps[index - 1].percentage if index else None
        event = RampEvent(kind, message, index, percentage)
        self._result.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
