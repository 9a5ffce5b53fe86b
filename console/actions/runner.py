"""ActionRunner: plan -> (preview, confirm: the caller's job) -> policy -> apply -> audit.

The runner owns policy and the audit trail so the CLI, the TUI and runbooks cannot
forget either: ``apply`` checks policy again (the plan may have been built before the
context changed), writes ONE audit record per target as each outcome arrives (a
batch job's outcomes, which arrive in groups while it runs, one transaction per group), and
never lets a backend exception escape as a traceback: unfinished targets are recorded
as failed with the error, which the report carries.

Policy: ``apply`` asks the context's policy gate (console.policy.gate) about the plan
and writes its decision, the policy's hash and reasons into every audit record
(``parameters.policy``); a plan the policy marks "approve" is filed as a pending
request and applied later with ``approval_id``, if the world has not moved.

Passing a previous ``request_id`` resumes an interrupted apply: targets the journal
already shows as done for that request are reported as skipped and not sent again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from console.actions.policy import (
    check_change_allowed,
    check_typed_confirmation,
    confirmation_phrase,
)
from console.audit import mask
from console.errors import BackendError, OpsdeckError, Unsupported, UsageError
from console.model import ActionRequest, Outcome, Plan, PlannedCall, TargetOutcome

if TYPE_CHECKING:
    from console.audit import AuditJournal
    from console.config import Context
    from console.policy.gate import PolicyGate
    from console.policy.model import ChangeRequest, Decision
    from console.ports import WorkflowEngine

_DONE = (Outcome.OK, Outcome.SUBMITTED, Outcome.SKIPPED)
AUDIT_CHUNK = 250  # batch outcomes written per audit transaction


@dataclass
class ApplyReport:
    outcomes: list[TargetOutcome]
    request_id: str
    error: OpsdeckError | None = None
    audit_ids: list[int] = field(default_factory=list)

    @property
    def failed(self) -> list[TargetOutcome]:
        return [o for o in self.outcomes if o.outcome is Outcome.FAILED]

    @property
    def counts(self) -> dict[str, int]:
        """Targets per outcome (every outcome named, zero included): done is ok+submitted."""
        counts = {o.value: 0 for o in Outcome}
        for o in self.outcomes:
            counts[o.outcome.value] += 1
        return counts

    def summary(self) -> str:
        """One line for people: '2 done, 1 skipped, 0 failed' (skipped changed nothing)."""
        c = self.counts
        return f"{c['ok'] + c['submitted']} done, {c['skipped']} skipped, {c['failed']} failed"

    @property
    def exit_code(self) -> int:
        """0 all done (ok/submitted/skipped), 1 all failed, 4 partly done."""
        failed = len(self.failed)
        if failed == 0:
            return 1 if self.error is not None else 0
        return 1 if failed == len(self.outcomes) else 4


async def arrival_groups(
    outcomes: AsyncIterator[TargetOutcome], most: int
) -> AsyncIterator[list[TargetOutcome]]:
    """The outcomes in groups as they arrive: a group is what came without waiting (up to
    ``most``), so a batch job's outcomes are written while it runs, not all after it.

    A task pulls the source into a queue; a backend error comes out after what arrived
    before it."""
    import asyncio

    queue: asyncio.Queue[TargetOutcome | BaseException | None] = asyncio.Queue()

    async def pull() -> None:
        try:
            async for outcome in outcomes:
                queue.put_nowait(outcome)
        except Exception as exc:
            queue.put_nowait(exc)
        else:
            queue.put_nowait(None)

    puller = asyncio.ensure_future(pull())
    try:
        while True:
            item = await queue.get()
            group: list[TargetOutcome] = []
            while isinstance(item, TargetOutcome):
                group.append(item)
                if len(group) >= most or queue.empty():
                    break
                item = queue.get_nowait()
            if group:
                yield group
                if isinstance(item, TargetOutcome):
                    continue
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
    finally:
        if not puller.done():
            puller.cancel()
        await asyncio.gather(puller, return_exceptions=True)


class ActionRunner:
    def __init__(
        self,
        *,
        context: Context,
        engines: Mapping[str, WorkflowEngine],
        audit: AuditJournal,
        read_only: bool = False,
        identity: str | None = None,
        pii_fields: tuple[str, ...] = (),
        gate: PolicyGate | None = None,
    ) -> None:
        self.context = context
        self.engines = engines
        self.audit = audit
        self.read_only = read_only
        self.pii_fields = pii_fields
        if gate is None:  # no session (tests, embedding): the shipped default policy
            from pathlib import Path

            from console.config import Config
            from console.policy.gate import PolicyGate
            from console.policy.model import Identity

            who = None if identity is None else Identity(identity)
            gate = PolicyGate(
                Config(path=Path("-"), contexts={}, identity=identity, exists=False),
                context,
                read_only=read_only,
                identity=who,
            )
        self.gate = gate

    @property
    def identity(self) -> str:
        return self.gate.identity.user

    def engine(self, name: str) -> WorkflowEngine:
        try:
            return self.engines[name]
        except KeyError:
            known = ", ".join(sorted(self.engines)) or "none"
            raise UsageError(
                f"context {self.context.name!r} has no engine {name!r} (engines: {known})"
            ) from None

    def check_allowed(self) -> None:
        check_change_allowed(self.context, read_only=self.read_only)

    async def plan(self, engine: str, request: ActionRequest) -> Plan:
        """The engine's plan; PolicyDenied if read-only, Unsupported if it cannot."""
        self.check_allowed()
        backend = self.engine(engine)
        capability = request.kind.capability
        if capability not in backend.capabilities:
            why = backend.describe_capability(capability)
            raise Unsupported(why or f"engine {engine!r} ({backend.kind}) cannot {request.kind}")
        return await backend.plan(request)

    def change(self, plan: Plan, *, runbook: str | None = None) -> ChangeRequest:
        """The plan as the policy sees it (PII masked parameters)."""
        from console.policy.model import ChangeRequest

        return ChangeRequest(
            action=plan.request.kind.value,
            engine=plan.engine,
            targets=plan.targets,
            reason=plan.request.reason,
            runbook=runbook,
            params=self.display_params(plan.request.params),
        )

    def frozen(self, plan: Plan) -> dict[str, Any]:
        """The plan as an approval freezes it: masked params plus a digest of the real ones,
        so a change hidden by the mask still changes the hash."""
        import hashlib
        import json

        def digest(params: Mapping[str, Any]) -> str:
            text = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
            return hashlib.sha256(text.encode("utf-8")).hexdigest()

        return {
            "context": self.context.name,
            "engine": plan.engine,
            "action": plan.request.kind.value,
            "batch": plan.batch,
            "params": self.display_params(plan.request.params),
            "calls": [
                {
                    "target": c.target,
                    "call": c.call,
                    "params": self.display_params(c.params),
                    "digest": digest(c.params),
                }
                for c in plan.calls
            ],
        }

    def decide(self, plan: Plan, *, runbook: str | None = None) -> Decision:
        """What the policy says about this plan now (previews); changes nothing."""
        return self.gate.decide(self.change(plan, runbook=runbook))

    def confirmation_phrase(self, plan: Plan) -> str | None:
        return confirmation_phrase(self.context, plan)

    def display_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters as they may be shown: PII and secrets masked."""
        masked: dict[str, Any] = mask(dict(params), self.pii_fields)
        return masked

    async def apply(
        self,
        plan: Plan,
        *,
        typed_confirmation: str | None = None,
        on_outcome: Callable[[TargetOutcome], None] | None = None,
        request_id: str | None = None,
        run_id: str | None = None,
        traceparent: str | None = None,
        approval_id: str | None = None,
        runbook: str | None = None,
        command: list[str] | None = None,
    ) -> ApplyReport:
        """``run_id``: the runbook run this apply belongs to, written to every audit record.

        Traced (console.telemetry, when export is configured): one span for the apply and
        one per target, children of the incident's ``traceparent`` (else $TRACEPARENT).
        """
        from console import telemetry

        if not telemetry.enabled():
            if traceparent:  # a typo on the command line is still an error
                telemetry.incident_context(traceparent)
            return await self._apply(
                plan,
                typed_confirmation=typed_confirmation,
                on_outcome=on_outcome,
                request_id=request_id,
                run_id=run_id,
                policy=(approval_id, runbook, command),
            )
        import json
        import time

        from opentelemetry.trace import Status, StatusCode, set_span_in_context

        parent = telemetry.incident_context(traceparent)
        tracer = telemetry.tracer()
        action = plan.request.kind.value
        with tracer.start_as_current_span(
            f"opsdeck {action}",
            context=parent,
            attributes={
                "opsdeck.action": action,
                "opsdeck.engine": plan.engine,
                "opsdeck.context": self.context.name,
                "opsdeck.targets": len(plan.calls),
                "opsdeck.parameters": json.dumps(
                    self.display_params(plan.request.params), sort_keys=True, default=str
                ),
            },
        ) as span:
            apply_context = set_span_in_context(span)
            last = time.time_ns()

            def traced(outcome: TargetOutcome) -> None:
                nonlocal last
                now = time.time_ns()
                child = tracer.start_span(
                    f"opsdeck {action} target",
                    context=apply_context,
                    start_time=last,
                    attributes={
                        "opsdeck.action": action,
                        "opsdeck.target": outcome.target,
                        "opsdeck.outcome": outcome.outcome.value,
                        "opsdeck.message": str(mask(outcome.message or "", self.pii_fields)),
                    },
                )
                if outcome.outcome is Outcome.FAILED:
                    child.set_status(Status(StatusCode.ERROR, outcome.message or "failed"))
                child.end(end_time=now)
                last = now
                if on_outcome is not None:
                    on_outcome(outcome)

            report = await self._apply(
                plan,
                typed_confirmation=typed_confirmation,
                on_outcome=traced,
                request_id=request_id,
                run_id=run_id,
                policy=(approval_id, runbook, command),
            )
            span.set_attribute("opsdeck.request_id", report.request_id)
            span.set_attribute("opsdeck.failed", len(report.failed))
            span.set_attribute("opsdeck.exit_code", report.exit_code)
            if report.error is not None or report.failed:
                span.set_status(Status(StatusCode.ERROR, str(report.error or "targets failed")))
            return report

    async def _apply(
        self,
        plan: Plan,
        *,
        typed_confirmation: str | None,
        on_outcome: Callable[[TargetOutcome], None] | None,
        request_id: str | None,
        run_id: str | None,
        policy: tuple[str | None, str | None, list[str] | None],
    ) -> ApplyReport:
        import asyncio
        import functools

        from console.policy.gate import audit_fields

        self.check_allowed()
        approval_id, runbook, command = policy
        if approval_id is not None:  # an approval is single use: spend it only when typed
            check_typed_confirmation(self.context, plan, typed_confirmation)
        authorize = functools.partial(
            self.gate.authorize,
            self.change(plan, runbook=runbook),
            self.frozen(plan),
            approval_id=approval_id,
            command=command,
        )
        if self.gate.evaluator.remote:  # an OPA server: not on the event loop
            decision = await asyncio.to_thread(authorize)
        else:
            decision = authorize()
        policy_record = audit_fields(decision, self.gate.identity, approval_id)
        # Filing an approval request needs no typed name; applying does.
        check_typed_confirmation(self.context, plan, typed_confirmation)
        backend = self.engine(plan.engine)
        resumed = request_id is not None
        if request_id is None:
            import uuid

            request_id = str(uuid.uuid4())
        report = ApplyReport(outcomes=[], request_id=request_id)
        self.audit.list(limit=1)  # fail before changing anything if we cannot record it

        def record(outcome: TargetOutcome, *, write: bool = True) -> None:
            report.outcomes.append(outcome)
            if write:
                call = calls.get(outcome.target)
                params: dict[str, Any] = dict(call.params if call else plan.request.params)
                if outcome.details:
                    params["result"] = dict(outcome.details)
                params["policy"] = policy_record
                entry = self.audit.append(
                    context=self.context.name,
                    action=plan.request.kind.value,
                    engine=plan.engine,
                    target=outcome.target,
                    outcome=outcome.outcome.value,
                    parameters=params,
                    reason=plan.request.reason,
                    message=outcome.message,
                    request_id=request_id,
                    identity=self.identity,
                    run_id=run_id,
                )
                report.audit_ids.append(entry.id)
            if on_outcome is not None:
                on_outcome(outcome)

        calls: dict[str, PlannedCall] = {c.target: c for c in plan.calls}
        if resumed:
            plan = self._without_done(plan, request_id, record)
        pending = set(plan.targets)
        arrived: list[TargetOutcome] = []

        def flush() -> None:
            # A batch job's outcomes arrive in groups (as its read-back sees runs close,
            # the rest when it ends): one transaction per group of up to AUDIT_CHUNK (a
            # commit each costs ~5 ms on a busy disk; 1,000 would take seconds).
            chunk, arrived[:] = list(arrived), []
            if chunk:
                with self.audit.batch():
                    for outcome in chunk:
                        record(outcome)

        try:
            if not plan.calls:
                return report
            if not plan.batch:
                async for outcome in backend.apply(plan, request_id):
                    pending.discard(outcome.target)
                    record(outcome)
            else:
                async for group in arrival_groups(backend.apply(plan, request_id), AUDIT_CHUNK):
                    arrived.extend(group)
                    flush()
        except OpsdeckError as exc:
            report.error = exc
        except Exception as exc:  # a backend bug must not lose the audit trail
            report.error = BackendError(f"{plan.engine}: {type(exc).__name__}: {exc}")
        flush()  # what arrived before a backend error
        if report.error is not None and not plan.batch:
            for target in sorted(pending):
                record(TargetOutcome(target, Outcome.FAILED, f"not done: {report.error}"))
        return report

    def _without_done(self, plan: Plan, request_id: str, record: Callable[..., None]) -> Plan:
        done = {
            r.target: r.id
            for r in self.audit.list(limit=None, request_id=request_id)
            if r.outcome in {o.value for o in _DONE}
        }
        remaining = []
        for call in plan.calls:
            if call.target in done:
                note = f"already done in request {request_id} (audit #{done[call.target]})"
                record(TargetOutcome(call.target, Outcome.SKIPPED, note), write=False)
            else:
                remaining.append(call)
        return replace(plan, calls=tuple(remaining))
