"""Run a runbook step by step, journaling every state so a run can always resume.

``RunbookRunner.advance()`` runs from the run's cursor until the run ends or needs a
person: a decision answer, a manual confirmation, the confirmation of an action's
plan, or an approval by a second identity. It then returns a :class:`Progress` with
``waiting`` describing what is needed; the caller (CLI or TUI) records the answer with
``answer()`` and calls ``advance()`` again, now or after a restart.

Order of writes, so a killed process never repeats a finished action: before an
action applies, its request id is journaled (state ``applying``); a resume of a step in
that state reuses the id, and the ActionRunner skips every target the audit journal
already shows done for it (the engine's idempotency key covers a target that was sent
but not yet recorded). A step is marked done before the cursor moves; a resume at a
done step only computes where to go next.

Checks query through the WorkflowEngine port; actions go through the session's
ActionRunner (plan -> preview -> apply), with the run id in every audit record.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from console.errors import ApprovalRequired, OpsdeckError, PolicyDenied, Unsupported, UsageError
from console.model import ActionKind, ActionRequest, ExecutionRef, ListQuery, Plan, StuckRule
from console.runbook.journal import RunJournal, RunRecord, StepRecord
from console.runbook.schema import Runbook, Step, parse_duration
from console.runbook.template import EvalError, Template, evaluate

if TYPE_CHECKING:
    from console.session import Session

MAX_STEPS_PER_ADVANCE = 500  # a goto loop must end somewhere
TEST_HOLD_ENV = "OPSDECK_RUNBOOK_HOLD"


def current_identity(config: Any) -> str:
    """Who is acting (console.identity.current): the verified OIDC user when a token is
    given or stored, else $OPSDECK_IDENTITY, the config's `identity` or the OS user.

    The environment wins over the config so one machine can act as a second person (an
    approver in a shared shell or CI job) without editing the config.
    """
    from console.identity.current import resolve_identity, unverified_user

    if config is None or not hasattr(config, "oidc"):
        return unverified_user(getattr(config, "identity", None))
    return resolve_identity(config).user


@dataclass
class Waiting:
    step: str
    kind: str  # decision | manual | confirm | approval
    prompt: str
    choices: tuple[str, ...] = ()
    plan: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "kind": self.kind,
            "prompt": self.prompt,
            "choices": list(self.choices),
            "plan": self.plan,
        }


@dataclass
class Progress:
    run: RunRecord
    steps: dict[str, StepRecord]
    waiting: Waiting | None = None
    events: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def exit_code(self) -> int:
        return {"done": 0, "waiting": 2, "failed": 1}.get(self.run.status, 1)


class _Wait(Exception):
    def __init__(self, waiting: Waiting) -> None:
        self.waiting = waiting


class StepFailed(Exception):
    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


def plan_summary(
    plan: Plan, display: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    return {
        "engine": plan.engine,
        "action": plan.request.kind.value,
        "reason": plan.request.reason,
        "batch": plan.batch,
        "targets": list(plan.targets),
        "calls": [
            {"target": c.target, "call": c.call, "params": display(c.params)} for c in plan.calls
        ],
        "warnings": list(plan.warnings),
    }


class RunbookRunner:
    def __init__(
        self,
        session: Session,
        journal: RunJournal,
        runbook: Runbook,
        run: RunRecord,
        *,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session
        self.journal = journal
        self.book = runbook
        self.run = run
        self.on_event = on_event
        self.events: list[str] = []
        self._metric_sources: Mapping[str, Any] | None = None

    # -- starting ----------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        session: Session,
        journal: RunJournal,
        runbook: Runbook,
        params: Mapping[str, Any],
        *,
        answers: Mapping[str, str] | None = None,
        engine: str | None = None,
        dry_run: bool = False,
        on_event: Callable[[str], None] | None = None,
    ) -> RunbookRunner:
        resolved = runbook.resolve_params(params)
        engine_name = pick_engine(session, runbook, engine)
        for step_id in answers or {}:
            runbook.step(step_id)  # an answer for a step that does not exist is a typo
        gate = getattr(session, "gate", None)
        identity = (
            gate.identity.user
            if gate is not None
            else current_identity(getattr(session, "config", None))
        )
        run = journal.create(
            runbook=runbook.name,
            path=runbook.path,
            source=runbook.source,
            context=session.context.name,
            engine=engine_name,
            identity=identity,
            params=resolved,
            answers=dict(answers or {}),
            cursor=runbook.steps[0].id,
            dry_run=dry_run,
        )
        journal.note(run.id, f"run started by {identity} (context {session.context.name})")
        return cls(session, journal, runbook, run, on_event=on_event)

    @classmethod
    def resume(
        cls,
        session: Session,
        journal: RunJournal,
        run_id: str,
        *,
        on_event: Callable[[str], None] | None = None,
    ) -> RunbookRunner:
        from console.runbook.loader import parse_runbook

        run = journal.get(run_id)
        if run.context != session.context.name:
            raise UsageError(
                f"run {run_id} was started in context {run.context!r}; resume it with "
                f"--context {run.context}"
            )
        book = parse_runbook(run.source, run.path)
        return cls(session, journal, book, run, on_event=on_event)

    def metric_sources(self) -> Mapping[str, Any]:
        """The context's MetricSources (Prometheus), built on first use; tests may preset."""
        if self._metric_sources is None:
            from console.correlate import build_sources
            from console.ports import MetricSource
            from console.session import resolve_secret

            built = build_sources(self.session.context, resolve_secret)
            self._metric_sources = {
                n: src for n, src in built.items() if isinstance(src, MetricSource)
            }
        return self._metric_sources

    # -- answers -----------------------------------------------------------------------

    def answer(self, step_id: str, value: str) -> None:
        self.book.step(step_id)
        self.run.answers[step_id] = value
        self.journal.update_run(self.run.id, answers=self.run.answers)

    # -- the loop ----------------------------------------------------------------------

    def _event(self, text: str, step_id: str | None = None) -> None:
        self.journal.note(self.run.id, text, step_id)
        self.events.append(text)
        if self.on_event is not None:
            self.on_event(text)

    def scope(self, steps: Mapping[str, StepRecord]) -> dict[str, Any]:
        return {
            "params": self.run.params,
            "steps": {
                sid: {**rec.result, "state": rec.state, "message": rec.message}
                for sid, rec in steps.items()
            },
            "run": {"id": self.run.id, "identity": self.run.identity, "context": self.run.context},
        }

    def progress(self, waiting: Waiting | None = None) -> Progress:
        self.run = self.journal.get(self.run.id)
        return Progress(self.run, self.journal.steps(self.run.id), waiting, list(self.events))

    async def advance(self, max_steps: int | None = None) -> Progress:
        """Run until the end, a wait, or ``max_steps`` executed steps (guided mode: 1).

        One process at a time drives a run (the journal's claim); a second one gets a
        UsageError instead of applying the same action again.
        """
        if self.run.status in ("done", "failed"):
            return self.progress()
        self.journal.claim(self.run.id)
        try:
            return await self._advance(max_steps)
        finally:
            self.journal.release(self.run.id)

    async def _advance(self, max_steps: int | None) -> Progress:
        self.journal.update_run(self.run.id, status="running", message="")
        executed = 0
        for _ in range(MAX_STEPS_PER_ADVANCE):
            cursor = self.run.cursor
            if cursor is None:
                return self._finish("done", "finished")
            if max_steps is not None and executed >= max_steps:
                self.journal.update_run(self.run.id, status="paused")
                return self.progress()
            step = self.book.step(cursor)
            steps = self.journal.steps(self.run.id)
            record = steps.get(step.id)
            if record is None or record.state not in ("done", "failed", "skipped"):
                try:
                    state, result, message = await self._execute(step, record, steps)
                except _Wait as wait:
                    self.journal.set_step(
                        self.run.id, step.id, "waiting", message=wait.waiting.prompt
                    )
                    self.journal.update_run(
                        self.run.id, status="waiting", message=wait.waiting.prompt
                    )
                    self._event(f"waiting: {wait.waiting.prompt}", step.id)
                    return self.progress(wait.waiting)
                self.journal.set_step(self.run.id, step.id, state, result=result, message=message)
                lines = [f"{step.id}: {state}{f' - {message}' if message else ''}"]
                lines += [f"    {line}" for line in result_lines(result)]
                self._event("\n".join(lines), step.id)
                record = StepRecord(step.id, state, result, None, message)
                executed += 1
            nxt, failed = self._following(step, record)
            if failed:
                return self._finish("failed", f"step {step.id} failed: {record.message}")
            if nxt is not None:
                # Reset the next step (it may run again after a goto), then move.
                self.journal.set_step(self.run.id, nxt, "pending", fresh=True)
            self.journal.update_run(self.run.id, cursor=nxt)
            self.run.cursor = nxt
        return self._finish("failed", f"more than {MAX_STEPS_PER_ADVANCE} steps: a goto loop?")

    def _finish(self, status: str, message: str) -> Progress:
        self.journal.update_run(self.run.id, status=status, message=message)
        self._event(f"run {status}: {message}")
        return self.progress()

    def _following(self, step: Step, record: StepRecord) -> tuple[str | None, bool]:
        """(next step id or None at the end, whether the run fails here)."""
        index = self.book.index(step.id)
        after = self.book.steps[index + 1].id if index + 1 < len(self.book.steps) else None
        if record.state == "failed":
            if step.on_failure == "continue":
                return after, False
            if step.on_failure == "goto":
                return step.goto, False
            return None, True
        if step.kind == "decision" and record.state == "done":
            target = step.choices.get(str(record.result.get("answer")), "next")
            if target == "end":
                return None, False
            return (after if target == "next" else target), False
        return after, False

    # -- one step ----------------------------------------------------------------------

    async def _execute(
        self, step: Step, record: StepRecord | None, steps: Mapping[str, StepRecord]
    ) -> tuple[str, dict[str, Any], str]:
        scope = self.scope(steps)
        if step.when is not None:
            try:
                if not evaluate(step.when.node, scope):
                    return "skipped", {}, f"when {step.when.source.strip()!r} is false"
            except EvalError as exc:
                return "failed", {}, f"when: {exc}"
        self.journal.set_step(
            self.run.id,
            step.id,
            record.state if record and record.state == "applying" else "running",
        )
        hold = os.environ.get(TEST_HOLD_ENV, "")
        if hold == f"before:{step.id}":
            await _hold_forever(self.journal.path.parent / f"hold-{self.run.id}")
        if record is None or record.state not in ("waiting", "applying"):
            self._event(f"{step.id}: {step.title}", step.id)  # once, not on each re-entry
        try:
            coro = getattr(self, f"_{step.kind}")(step, record, scope)
            if step.timeout is not None:
                result, message = await asyncio.wait_for(coro, step.timeout.total_seconds())
            else:
                result, message = await coro
        except _Wait:
            raise
        except TimeoutError:
            secs = step.timeout.total_seconds() if step.timeout else 0
            return "failed", {}, f"timed out after {secs:g}s"
        except StepFailed as exc:
            return "failed", exc.result, str(exc)
        except OpsdeckError as exc:
            return "failed", {}, f"{exc.title}: {exc}"
        except EvalError as exc:
            return "failed", {}, f"template: {exc}"
        return "done", result, message

    def step_text(self, step: Step) -> str:
        """The step's Markdown with its templates filled in from what is known so far."""
        if "{{" not in step.text:
            return step.text
        from console.runbook.template import compile_template

        try:
            return str(
                compile_template(step.text).render(self.scope(self.journal.steps(self.run.id)))
            )
        except (EvalError, ValueError):
            return step.text

    def render(self, value: Any, scope: Mapping[str, Any]) -> Any:
        if isinstance(value, Template):
            return value.render(scope)
        if isinstance(value, list):
            return [self.render(v, scope) for v in value]
        return value

    # check ---------------------------------------------------------------------------

    async def _check(
        self, step: Step, record: StepRecord | None, scope: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str]:
        args = {k: self.render(v, scope) for k, v in step.args.items()}
        if step.query == "promql":
            result = await run_promql(self.metric_sources(), args)
        else:
            result = await run_check(self.session, self.run.engine, step.query or "", args)
        ok = True
        if step.expect is not None:
            ok = bool(evaluate(step.expect.node, {**scope, "result": result}))
        result["ok"] = ok
        if step.query == "versions":
            summary = f"current {result['current']}"
        elif step.query == "promql":
            summary = f"value {result['value']} ({result['count']} series)"
        else:
            summary = f"{result['count']} found"
        if not ok:
            raise StepFailed(f"{summary}; expected {step.expect.source.strip()!r}", result)  # type: ignore[union-attr]
        return result, summary

    # action --------------------------------------------------------------------------

    async def _action(
        self, step: Step, record: StepRecord | None, scope: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str]:
        runner = self.session.runner
        request = self._request(step, scope)
        plan = await runner.plan(self.run.engine, request)
        summary = plan_summary(plan, runner.display_params)
        base = {"targets": list(plan.targets), "done": 0, "failed": 0, "skipped": 0}
        if not plan.calls:
            return base | {"plan": summary}, "nothing to do: the plan has no targets"
        if self.run.dry_run:
            self._event(
                f"{step.id}: dry run, plan of {len(plan.calls)} call(s) not applied", step.id
            )
            return base | {"plan": summary, "dry_run": True}, "dry run: not applied"
        resuming = record is not None and record.state == "applying" and record.request_id
        # Production contexts: the answer must be the typed phrase, never a plain yes.
        phrase = runner.confirmation_phrase(plan)
        accepted = (phrase,) if phrase is not None else ("yes", "y", "apply", "confirm")
        if not resuming:
            answer = self.run.answers.get(step.id, "")
            if answer.lower() not in accepted and answer not in accepted:
                if answer and phrase is None:
                    raise StepFailed(f"plan not confirmed (answer {answer!r})", base)
                how = f"type {phrase!r}" if phrase is not None else "yes/no"
                raise _Wait(
                    Waiting(
                        step.id,
                        "confirm",
                        f"confirm the plan of step {step.id!r}: {request.kind.value} "
                        f"{len(plan.calls)} target(s) ({how})",
                        (phrase,) if phrase is not None else ("yes", "no"),
                        summary | {"confirmation": phrase},
                    )
                )
        # An id journaled in this pass (killed mid-apply, or a failed apply retried with
        # `resume --retry-failed`) is reused: targets already done are not sent again.
        request_id = record.request_id if record and record.request_id else str(uuid.uuid4())
        self.journal.set_step(self.run.id, step.id, "applying", request_id=request_id)
        self._event(f"{step.id}: applying (request id {request_id})", step.id)
        from datetime import UTC, datetime

        applied_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        approval_key = f"{step.id}:policy-approval"
        approval_id = self._policy_approval(step, self.run.answers.get(approval_key))
        try:
            report = await runner.apply(
                plan,
                typed_confirmation=phrase,
                request_id=request_id,
                run_id=self.run.id,
                runbook=self.book.name,
                approval_id=approval_id,
            )
        except ApprovalRequired as exc:
            # The policy wants a second person for this step: the run waits for the
            # filed request like for an approval step, and resumes with it.
            self.run.answers[approval_key] = exc.request_id
            self.journal.update_run(self.run.id, answers=self.run.answers)
            raise _Wait(self._approval_wait(step, exc.request_id, exc.message)) from None
        hold = os.environ.get(TEST_HOLD_ENV, "")
        if hold == f"after-apply:{step.id}":
            await _hold_forever(self.journal.path.parent / f"hold-{self.run.id}")
        counts = report.counts
        result = base | {
            "done": counts["ok"] + counts["submitted"],
            "failed": counts["failed"],
            "skipped": counts["skipped"],
            "request_id": request_id,
            "applied_at": applied_at,
            "exit_code": report.exit_code,
            "outcomes": [
                {"target": o.target, "outcome": o.outcome.value, "message": o.message}
                for o in report.outcomes
            ],
            "plan": summary,
        }
        message = f"{result['done']} done, {result['failed']} failed, {result['skipped']} skipped"
        if report.error is not None or report.exit_code != 0:
            raise StepFailed(f"{message}{f': {report.error}' if report.error else ''}", result)
        return result, message

    def _request(self, step: Step, scope: Mapping[str, Any]) -> ActionRequest:
        kind = ActionKind(step.action or "")
        targets: list[ExecutionRef] = []
        raw = self.render(step.targets, scope) if step.targets is not None else []
        if isinstance(raw, str):
            raw = [t for t in raw.replace(",", " ").split() if t]
        flat: list[Any] = []
        for item in raw or []:  # a list entry may itself render to a list
            flat.extend(item if isinstance(item, list) else [item])
        for text in flat:
            try:
                targets.append(ExecutionRef.parse(str(text)))
            except ValueError as exc:
                raise StepFailed(f"targets: {exc}") from None
        params = {k: self.render(v, scope) for k, v in step.params.items()}
        reason = (
            str(self.render(step.reason, scope))
            if step.reason
            else (f"runbook {self.book.name} (run {self.run.id})")
        )
        return ActionRequest(kind, tuple(targets), reason, params)

    # decision / manual / approval ----------------------------------------------------

    async def _decision(
        self, step: Step, record: StepRecord | None, scope: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str]:
        answer = self.run.answers.get(step.id)
        if answer is None:
            raise _Wait(Waiting(step.id, "decision", step.question, tuple(step.choices)))
        if answer not in step.choices:
            raise StepFailed(
                f"answer {answer!r} is not one of: {', '.join(step.choices)}", {"answer": answer}
            )
        return {"answer": answer}, f"answered {answer!r}"

    async def _manual(
        self, step: Step, record: StepRecord | None, scope: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str]:
        if self.run.dry_run:
            return {"confirmed": False}, "dry run: manual step not confirmed"
        answer = self.run.answers.get(step.id, "")
        if answer.lower() in ("done", "yes", "y"):
            return {"confirmed": True}, "confirmed done"
        if answer:
            raise StepFailed(f"not confirmed (answer {answer!r})", {"confirmed": False})
        raise _Wait(
            Waiting(step.id, "manual", f"do step {step.id!r} by hand, then confirm", ("done",))
        )

    def _policy_approval(self, step: Step, approval_id: str | None) -> str | None:
        """The step's filed policy approval request, if any: wait while it is pending,
        fail the step if it was denied or expired."""
        if approval_id is None:
            return None
        from datetime import UTC, datetime

        request = self.session.gate.approvals.get(approval_id)
        status = request.status_at(datetime.now(UTC))
        if status == "pending":
            raise _Wait(self._approval_wait(step, approval_id, "the policy requires approval"))
        if status != "approved":
            raise StepFailed(f"policy approval request {approval_id} is {status}")
        return approval_id

    def _approval_wait(self, step: Step, approval_id: str, why: str) -> Waiting:
        return Waiting(
            step.id,
            "approval",
            f"step {step.id!r} waits for policy approval {approval_id} ({why}): "
            f"another person runs `opsdeck approvals approve {approval_id}`, then "
            f"`opsdeck runbook resume {self.run.id}`",
        )

    async def _approval(
        self, step: Step, record: StepRecord | None, scope: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str]:
        approvers = [
            a for a in self.journal.approvals(self.run.id, step.id) if a != self.run.identity
        ]
        if approvers:
            return {"approved_by": approvers[0]}, f"approved by {approvers[0]}"
        if self.run.dry_run:
            return {"approved_by": None}, "dry run: approval not waited for"
        who = f" ({step.approvers})" if step.approvers else ""
        raise _Wait(
            Waiting(
                step.id,
                "approval",
                f"step {step.id!r} needs approval by someone other than {self.run.identity}{who}: "
                f"opsdeck runbook approve {self.run.id} {step.id}",
            )
        )


def result_lines(result: Mapping[str, Any], limit: int = 10) -> list[str]:
    """A step result as a few readable lines: evidence, counts by version, plan, outcomes."""
    lines: list[str] = []
    items = result.get("items") or []
    for item in items[:limit]:
        what = item.get("rule") or item.get("status") or ""
        extra = item.get("evidence") or item.get("version") or ""
        lines.append(f"{item.get('ref')}  {what}  {extra}".rstrip())
    if len(items) > limit:
        lines.append(f"... and {len(items) - limit} more")
    if result.get("by_version"):
        counts = ", ".join(f"{v}: {n}" for v, n in result["by_version"].items())
        lines.append(f"by version: {counts}")
    if result.get("versions"):
        lines.append(
            "versions: "
            + ", ".join(
                f"{v['version']}{' (current)' if v.get('current') else ''}"
                for v in result["versions"]
            )
        )
    for series in (result.get("series") or [])[:limit]:
        lines.append(f"{series['labels']}  {series['value']}")
    outcomes = result.get("outcomes") or []
    plan = result.get("plan") or {}
    if not outcomes:
        for call in (plan.get("calls") or [])[:limit]:
            lines.append(f"plan: {call['call']}  {call['target']}")
    for o in outcomes[:limit]:
        lines.append(f"{o['outcome'].upper()}  {o['target']}  {o['message']}".rstrip())
    return lines


def approve(journal: RunJournal, run_id: str, step_id: str, identity: str) -> RunRecord:
    """Record an approval; the identity that started the run can never approve it."""
    from console.runbook.loader import parse_runbook

    run = journal.get(run_id)
    book = parse_runbook(run.source, run.path)
    step = book.step(step_id)
    if step.kind != "approval":
        raise UsageError(f"step {step_id!r} of run {run_id} is a {step.kind} step, not an approval")
    if identity == run.identity:
        raise PolicyDenied(
            f"{identity} started run {run_id} and cannot approve it",
            hint="a second person approves (their OPSDECK_IDENTITY or config `identity`)",
        )
    allowed = [a.strip() for a in step.approvers.split(",") if a.strip()]
    if allowed and identity not in allowed:
        raise PolicyDenied(
            f"{identity} may not approve step {step_id!r} (approvers: {step.approvers})"
        )
    journal.approve(run_id, step_id, identity)
    journal.note(run_id, f"{step_id}: approved by {identity}", step_id)
    return run


def pick_engine(session: Session, runbook: Runbook, name: str | None) -> str:
    candidates = [
        n for n, e in session.engines.items() if not runbook.engines or e.kind in runbook.engines
    ]
    if name:
        if name not in session.engines:
            raise UsageError(f"context {session.context.name!r} has no engine {name!r}")
        if name not in candidates:
            raise Unsupported(
                f"runbook {runbook.name!r} applies to {', '.join(runbook.engines)} engines, "
                f"and {name!r} is {session.engines[name].kind}"
            )
        return name
    if not candidates:
        raise Unsupported(
            f"runbook {runbook.name!r} applies to {', '.join(runbook.engines)} engines; context "
            f"{session.context.name!r} has none"
        )
    if len(candidates) > 1:
        raise UsageError(
            f"context {session.context.name!r} has engines {', '.join(candidates)}; pick one "
            "with --engine NAME"
        )
    return candidates[0]


def _words(value: Any) -> list[str]:
    """A list argument given as a list, or as text separated by commas or spaces."""
    if not value:
        return []
    if isinstance(value, str):
        return [w for w in value.replace(",", " ").split() if w]
    return [str(v) for v in value]


def _empty_result() -> dict[str, Any]:
    return {"count": 0, "refs": [], "items": [], "by_version": {}, "builds": [],
            "current": None, "versions": [], "value": None, "series": []}  # fmt: skip


def _list_query(args: Mapping[str, Any], limit: int | None) -> ListQuery:
    from console.model import ExecutionStatus

    try:
        parsed = tuple(ExecutionStatus(s) for s in _words(args.get("status")))
    except ValueError as exc:
        raise StepFailed(f"args.status: {exc}") from None
    started_after = None
    if args.get("since"):
        window = parse_duration(str(args["since"]))
        if window is None:
            raise StepFailed(f"args.since: {args['since']!r} is not a duration")
        from datetime import UTC, datetime

        started_after = datetime.now(UTC) - window
    return ListQuery(
        statuses=parsed,
        workflow_type=args.get("workflow_type") or None,
        started_after=started_after,
        raw=args.get("query") or None,
        limit=limit,
    )


async def run_check(
    session: Session, engine_name: str, query: str, args: Mapping[str, Any]
) -> dict[str, Any]:
    """One check through the WorkflowEngine port, as a plain result dict."""
    from console.model import Capability, StuckRules

    engine = session.engines[engine_name]
    needed = {
        "find_stuck": Capability.FIND_STUCK,
        "count": Capability.COUNT,
        "list": Capability.LIST,
        "versions": Capability.VERSIONS,
    }[query]
    if needed not in engine.capabilities:
        raise Unsupported(engine.describe_capability(needed) or f"{engine_name} cannot {query}")
    result = _empty_result()
    if query == "find_stuck":
        rules = _words(args.get("rules")) or [r.value for r in StuckRule]
        try:
            enabled = frozenset(StuckRule(r) for r in rules)
        except ValueError as exc:
            raise StepFailed(f"args.rules: {exc}") from None
        kw: dict[str, Any] = {"enabled": enabled}
        if args.get("activity_attempts") not in (None, ""):
            kw["activity_attempts"] = int(args["activity_attempts"])
        if args.get("workflow_task_attempts") not in (None, ""):
            kw["workflow_task_attempts"] = int(args["workflow_task_attempts"])
        if args.get("no_progress"):
            kw["no_progress"] = parse_duration(str(args["no_progress"])) or timedelta(minutes=30)
        query_ = ListQuery(raw=args.get("query") or None)
        seen: set[str] = set()
        async for hit in engine.find_stuck(StuckRules(**kw), query_):
            ref = str(hit.execution.ref)
            result["items"].append(
                {
                    "ref": ref,
                    "rule": hit.rule.value,
                    "evidence": hit.evidence,
                    "workflow_type": hit.execution.workflow_type,
                }
            )
            if ref not in seen:
                seen.add(ref)
                result["refs"].append(ref)
        result["count"] = len(result["refs"])
    elif query == "count":
        result["count"] = await engine.count(_list_query(args, None))
    elif query == "list":
        limit = int(args.get("limit") or 100)
        async for ex in engine.list(_list_query(args, limit)):
            version = ex.deployment_version or "unversioned"
            result["refs"].append(str(ex.ref))
            result["items"].append(
                {
                    "ref": str(ex.ref),
                    "status": ex.status.value,
                    "workflow_type": ex.workflow_type,
                    "version": version,
                }
            )
            result["by_version"][version] = result["by_version"].get(version, 0) + 1
            build = version.rsplit(":", 1)[-1]
            if ex.deployment_version and build not in result["builds"]:
                result["builds"].append(build)
        result["count"] = len(result["refs"])
    else:
        deployment = str(args.get("deployment") or "")
        if not deployment:
            raise StepFailed("a versions check needs args.deployment")
        versions = await engine.versions(deployment)
        result["versions"] = [
            {"version": v.version, "current": v.is_current, "status": v.status} for v in versions
        ]
        current = [v.version for v in versions if v.is_current]
        result["current"] = current[0] if current else None
        result["count"] = len(versions)
    return result


async def run_promql(sources: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """A PromQL range query over ``window`` (default 5m); ``value`` is the newest sample
    of the first series (None without data), ``series`` each series' labels and value."""
    from datetime import UTC, datetime

    expr = str(args.get("expr") or "")
    if not expr:
        raise StepFailed("a promql check needs args.expr")
    name = args.get("source")
    if not sources:
        raise Unsupported("the context has no metric source (add a prometheus source)")
    if name:
        if name not in sources:
            raise StepFailed(f"args.source: no metric source {name!r} ({', '.join(sources)})")
        source = sources[name]
    elif len(sources) == 1:
        source = next(iter(sources.values()))
    else:
        raise StepFailed(f"several metric sources ({', '.join(sources)}): set args.source")
    window = parse_duration(str(args.get("window") or "5m")) or timedelta(minutes=5)
    end = datetime.now(UTC)
    step = max(1.0, window.total_seconds() / 60)
    found = await source.query_range(expr, end - window, end, step)
    series = []
    for s in found:
        latest = s.samples[-1].value if s.samples else None
        series.append({"labels": dict(s.labels), "value": latest})
    value = series[0]["value"] if series else None
    return _empty_result() | {"count": len(series), "value": value, "series": series}


async def _hold_forever(marker: Any) -> None:
    """Test seam (OPSDECK_RUNBOOK_HOLD=before:STEP|after-apply:STEP): stop here to be killed."""
    marker.write_text("held\n")
    while True:
        await asyncio.sleep(3600)
