"""Helpers shared by the CLI verbs: sessions, references, times, and the change flow.

Every change goes plan -> print plan (--dry-run stops here, exit 0) -> y/N on the
terminal unless --yes (no terminal and no --yes: exit 2) -> production: the typed
phrase -> apply -> outcomes, exit 0/1/4.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from console.errors import Aborted, ApprovalRequired, OpsdeckError, PolicyDenied, UsageError
from console.model import ActionRequest, Plan, TargetOutcome
from console.output import cell, dump, emit, to_data

if TYPE_CHECKING:
    from console.actions.runner import ApplyReport
    from console.ports import WorkflowEngine
    from console.session import Session

T = TypeVar("T")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def output_format(args: argparse.Namespace) -> str:
    return str(getattr(args, "output", "table") or "table")


def session_for(args: argparse.Namespace) -> Session:
    from console.session import open_session

    config = getattr(args, "config", None)
    return open_session(
        getattr(args, "context", None),
        read_only=bool(getattr(args, "read_only", False)),
        config_path=Path(config) if config else None,
    )


def run(session: Session, coro: Awaitable[T]) -> T:
    """Run one coroutine and close the session's engines on the same loop."""

    async def main() -> T:
        try:
            return await coro
        finally:
            await session.close()

    return asyncio.run(main())


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise UsageError(f"{text!r} is not a duration; write e.g. 45s, 30m, 2h, 7d or 1w")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_since(text: str) -> datetime:
    """'2h' (ago) or an ISO-8601 time (UTC when no offset is given)."""
    if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*[smhdw]\s*", text):
        return datetime.now(UTC) - parse_duration(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{text!r} is neither a duration (30m, 2h, 7d) nor an ISO time (2026-01-02T03:00Z)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def engine_scope(session: Session, engine: str) -> str:
    settings = session.context.engine(engine).settings
    return str(settings.get("namespace") or settings.get("scope") or "default")


def pick_engine(session: Session, name: str | None) -> tuple[str, WorkflowEngine]:
    """The named engine, or the context's only one."""
    if name:
        if name not in session.engines:
            known = ", ".join(sorted(session.engines)) or "none"
            raise UsageError(
                f"context {session.context.name!r} has no engine {name!r} (engines: {known})"
            )
        return name, session.engines[name]
    if len(session.engines) == 1:
        return next(iter(session.engines.items()))
    if not session.engines:
        raise UsageError(f"context {session.context.name!r} has no engines")
    raise UsageError(
        f"context {session.context.name!r} has engines {', '.join(sorted(session.engines))}; "
        "pick one with --engine NAME"
    )


def parse_json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    import json

    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def plan_data(session: Session, plan: Plan) -> dict[str, Any]:
    runner = session.runner
    request = plan.request
    return {
        "context": session.context.name,
        "engine": plan.engine,
        "action": request.kind.value,
        "reason": request.reason,
        "batch": plan.batch,
        "targets": list(plan.targets),
        "calls": [
            {"target": c.target, "call": c.call, "params": runner.display_params(c.params)}
            for c in plan.calls
        ],
        "warnings": list(plan.warnings),
        "confirmation": runner.confirmation_phrase(plan),
    }


def print_plan_table(data: dict[str, Any], out: Any) -> None:
    count = len(data["calls"])
    where = f"context {data['context']}, engine {data['engine']}"
    batch = " as one server-side batch job" if data["batch"] else ""
    out.write(f"Plan: {data['action']} {count} target(s){batch} ({where})\n")
    if data["reason"]:
        out.write(f"Reason: {data['reason']}\n")
    columns = [("TARGET", "target"), ("CALL", "call"), ("PARAMS", "params")]
    calls = data["calls"]
    if len(calls) > 1 and all(c["params"] == calls[0]["params"] for c in calls):
        # A batch job's calls share their params: once above, not on each of 1,000 rows.
        out.write(f"Params (every target): {cell(calls[0]['params'], 1000)}\n")
        columns = columns[:2]
    rows = [{"target": c["target"], "call": c["call"], "params": c["params"]} for c in calls]
    emit(rows, "table", columns=columns, out=out)
    for warning in data["warnings"]:
        out.write(f"Warning: {warning}\n")
    policy = data.get("policy")
    if policy:
        why = f": {'; '.join(policy['reasons'])}" if policy["reasons"] else ""
        need = ""
        if policy["result"] == "approve":
            groups = ", ".join(policy["approver_groups"])
            need = f" ({policy['approvals']} approval(s){' from ' + groups if groups else ''})"
        out.write(f"Policy: {policy['result']}{need}{why}\n")


def outcome_line(outcome: TargetOutcome) -> str:
    message = f"  {cell(outcome.message, 200)}" if outcome.message else ""
    return f"{outcome.outcome.value.upper():<9} {outcome.target}{message}"


def report_data(report: ApplyReport) -> dict[str, Any]:
    return {
        "request_id": report.request_id,
        "exit_code": report.exit_code,
        "counts": report.counts,
        "outcomes": [to_data(o) for o in report.outcomes],
        "audit_ids": list(report.audit_ids),
        "error": str(report.error) if report.error else None,
    }


def _ask(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise Aborted("no answer (end of input); nothing changed")
    return line.strip()


def confirm_or_abort(
    session: Session, args: argparse.Namespace, *, question: str, verb: str, target: str
) -> None:
    """y/N unless --yes; in a production context also the typed ``target`` (or
    --confirm). Without a terminal to ask on, refuse rather than assume (``verb``:
    what would happen, e.g. "drain"); nothing has changed when this raises."""
    if not args.yes:
        if not _stdin_is_tty():
            raise UsageError(
                f"not {verb.removesuffix('e')}ing without confirmation: no terminal to ask on",
                hint="review with --dry-run, then pass --yes",
            )
        if _ask(f"{question} [y/N] ").lower() not in ("y", "yes"):
            raise Aborted("not confirmed; nothing changed")
    if not session.context.production:
        return
    typed = args.confirm
    if typed is None:
        if not _stdin_is_tty():
            raise PolicyDenied(
                f"context {session.context.name!r} is production: confirmation text required",
                hint=f"pass --confirm {target!r}",
            )
        typed = _ask(f"Production context: type {target!r} to {verb}: ")
    if typed.strip() != target:
        raise Aborted(f"typed confirmation {typed.strip()!r} does not match {target!r}")


async def execute_change(
    session: Session, args: argparse.Namespace, engine: str, request: ActionRequest
) -> int:
    fmt = output_format(args)
    runner = session.runner
    plan = await runner.plan(engine, request)
    if not plan.calls:  # a query that matches nothing
        why = "; ".join(plan.warnings) or "the plan has no targets"
        print(f"Nothing to do: {why}.", file=sys.stderr)
        return 0
    data = plan_data(session, plan)
    approval = getattr(args, "approval", None)
    decision = runner.decide(plan)
    data["policy"] = decision.as_dict()
    if decision.result == "deny":  # say so before asking anything
        raise PolicyDenied(
            "; ".join(decision.reasons) or f"the policy denies {request.kind.value}",
            hint=f"`opsdeck policy check {request.kind.value}` explains the decision",
        )
    needs_approval = decision.result == "approve" and approval is None
    if args.dry_run:
        if fmt == "table":
            print_plan_table(data, sys.stdout)
            sys.stdout.write("Dry run: nothing changed.\n")
        else:
            dump({"dry_run": True, "plan": data}, fmt)
        return 0
    # People read the plan before they answer; scripts get it in the final document.
    preview = sys.stdout if fmt == "table" else sys.stderr
    if fmt == "table" or not args.yes:
        print_plan_table(data, preview)
    if needs_approval:
        return await _file_approval(session, args, plan, data, fmt)
    if not args.yes:
        if not _stdin_is_tty():
            raise UsageError(
                "not applying without confirmation: no terminal to ask on",
                hint="review with --dry-run, then pass --yes",
            )
        if _ask("Apply this plan? [y/N] ").lower() not in ("y", "yes"):
            raise Aborted("not confirmed; nothing changed")
    typed = args.confirm
    phrase = data["confirmation"]
    if phrase is not None and typed is None:
        if not _stdin_is_tty():
            raise PolicyDenied(
                f"context {session.context.name!r} is production: confirmation text required",
                hint=f"pass --confirm {phrase!r}",
            )
        typed = _ask(f"Production context {session.context.name!r}: type {phrase!r} to apply: ")

    def progress(outcome: TargetOutcome) -> None:
        if fmt == "table":
            print(outcome_line(outcome), flush=True)

    request_id = args.request_id
    if request_id is None:
        import uuid

        request_id = str(uuid.uuid4())
    if fmt == "table":
        # Printed before anything changes, so an interrupted apply can be resumed.
        print(f"Applying (request id {request_id})...", flush=True)
    from console.progress import JobProgress, progress_to

    def job_progress(state: JobProgress) -> None:
        if fmt == "table":  # a batch job's progress as it goes; JSON has the final report
            print(state.line(), flush=True)

    with progress_to(job_progress):
        report = await runner.apply(
            plan,
            typed_confirmation=typed,
            on_outcome=progress,
            request_id=request_id,
            traceparent=getattr(args, "traceparent", None),
            approval_id=approval,
            command=None,  # see _file_approval
        )
    if fmt == "table":
        print(
            f"{report.summary()}; request id {report.request_id} "
            f"(audit: opsdeck audit list --request-id {report.request_id})"
        )
    else:
        dump({"dry_run": False, "plan": data, "report": report_data(report)}, fmt)
    if report.error is not None:
        print(f"opsdeck: {report.error.title}: {report.error}", file=sys.stderr)
    return report.exit_code


def report_approval_required(exc: ApprovalRequired, fmt: str, doc: dict[str, Any]) -> int:
    """A filed approval request: one line on stderr, or ``doc`` plus {"approval": ...}."""
    if fmt == "table":
        print(f"opsdeck: {exc.title}: {exc}", file=sys.stderr)
    else:
        approval = {"id": exc.request_id, "status": "pending", "message": exc.message}
        dump({**doc, "approval": approval}, fmt)
    return exc.exit_code


async def _file_approval(
    session: Session, args: argparse.Namespace, plan: Plan, data: dict[str, Any], fmt: str
) -> int:
    """The policy wants a second person: file the frozen plan as a pending request (exit 3).

    Filing changes nothing on the live system, so it asks no y/N and no typed name.
    """
    try:
        # No argv kept: `approvals apply` plans an engine action again from the request's
        # change, and a command line may carry a payload that is masked everywhere else.
        await session.runner.apply(plan)
    except ApprovalRequired as exc:
        return report_approval_required(exc, fmt, {"dry_run": False, "plan": data})
    raise PolicyDenied("the policy asked for approval, then allowed without one; nothing filed")


def fail_on(exc: OpsdeckError) -> int:
    print(f"opsdeck: {exc.title}: {exc}", file=sys.stderr)
    return exc.exit_code
