"""`opsdeck versions ramp`: a guarded rollout with automatic rollback (issue 14).

plan (every step: call, percentage, hold, guard) -> --dry-run stops -> policy
(``versions.ramp``) -> y/N, typed deployment name in production -> the ramp
(console.rollout.engine), journaled in the audit journal under the ramp id, which is
the request id: ``--resume RAMP_ID`` or the same ``--request-id`` continues it.

Ctrl-C during a hold asks hold / roll back / continue on a terminal; with --yes or
without a terminal it holds (exit 4) and prints how to resume or roll back.
Exit codes: 0 promoted, 1 rolled back or changed nothing, 2 usage, 3 policy, 4 held
or partly done (docs/rollout.md).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

# Light at import: `opsdeck --version` builds every verb's parser (console/cli.py).
if TYPE_CHECKING:
    from console.policy.model import ChangeRequest, Decision
    from console.ports import VersionRamp, WorkflowEngine
    from console.rollout.engine import RampEvent, RampResult
    from console.rollout.guard import RampGuard
    from console.rollout.plan import RampPlan, RampStep
    from console.session import Session

ACTION = "versions.ramp"


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `versions` subparsers (`sub` as in console.cli)."""
    from console.cli import _change_options

    p = sub(group, "ramp", "cli_ramp:cmd_ramp", "guarded rollout: ramp a version step by step")
    p.add_argument("deployment", metavar="DEPLOYMENT", nargs="?",
                   help="Temporal worker deployment, or STATE_MACHINE[:ALIAS]")  # fmt: skip
    p.add_argument("version", metavar="VERSION", nargs="?", help="the version to roll out")
    p.add_argument("--steps", default="10,50,100", help="percentages, ending at 100")
    p.add_argument("--hold", default="5m", help="how long each step soaks before the guard")
    p.add_argument("--slo", metavar="NAME", help="an SLO (opsdeck slo list) the guard checks")
    p.add_argument("--engine")
    p.add_argument("--resume", metavar="RAMP_ID", help="continue a held or interrupted ramp")
    p.add_argument("--rollback", action="store_true",
                   help="with --resume: roll the ramp back now")  # fmt: skip
    _change_options(p)


def _target(session: Session, name: str, engine: WorkflowEngine, deployment: str) -> str:
    from console.cli_common import engine_scope

    if engine.kind == "stepfunctions":
        machine, _, alias = deployment.partition(":")
        return f"{name}:{machine}/alias/{alias}" if alias else f"{name}:{machine}"
    return f"{name}:{engine_scope(session, name)}/deployment/{deployment}"


def _port(name: str, engine: WorkflowEngine) -> VersionRamp:
    from console.errors import Unsupported
    from console.ports import VersionRamp

    if not isinstance(engine, VersionRamp):
        raise Unsupported(f"engine {name!r} ({engine.kind}) cannot ramp versions")
    return engine


async def build_guard(
    session: Session, engine: WorkflowEngine, port: VersionRamp, plan_like: dict[str, Any]
) -> RampGuard:
    """Failed executions of the new version, the triage of its failures, the SLO if named."""
    from console.errors import Unsupported
    from console.rollout.guard import AllGuards, FailedExecutionsGuard, SloGuard, TriageGuard

    deployment, version = plan_like["deployment"], plan_like["version"]
    query = await port.version_query(deployment, version)
    guards: list[RampGuard] = []
    if query is not None:
        guards.append(FailedExecutionsGuard(engine, version, query))
        guards.append(TriageGuard(engine, version, query))
    if plan_like.get("slo"):
        guards.append(SloGuard(session, str(plan_like["slo"]), query))
    if not guards:
        raise Unsupported(
            f"engine {engine.name!r} ({engine.kind}) cannot select a version's executions: "
            "name an SLO with --slo for the guard to check"
        )
    return AllGuards(guards)


def _change(plan: RampPlan) -> ChangeRequest:
    from console.policy.model import ChangeRequest

    steps = [s.percentage for s in plan.steps]
    hold = plan.steps[0].hold_s if plan.steps else 0
    params = {"deployment": plan.deployment, "version": plan.version, "previous": plan.previous,
              "steps": steps, "hold_s": hold, "slo": plan.slo}  # fmt: skip
    return ChangeRequest(ACTION, plan.engine, (plan.target,), plan.reason, params=params)


def plan_data(plan: RampPlan, decision: Decision | None, resumed: dict[str, Any] | None) -> Any:
    data = plan.to_data()
    data["policy"] = decision.as_dict() if decision is not None else None
    data["resumed"] = resumed
    return data


def _print_plan(data: dict[str, Any], out: Any) -> None:
    out.write(
        f"Plan: ramp {data['version']} on {data['deployment']} (context {data['context']}, "
        f"engine {data['engine']}); ramp id {data['ramp_id']}\n"
    )
    out.write(f"Now: current {data['previous'] or 'unversioned'}; a breach restores it\n")
    if data["reason"]:
        out.write(f"Reason: {data['reason']}\n")
    for step in data["steps"]:
        out.write(
            f"  step {step['index']}: {step['call']} {step['percentage']:g}%, "
            f"hold {step['hold_s']:g}s, then guard\n"
        )
    out.write(f"Guard: {data['guard']}\n")
    if data.get("resumed"):
        r = data["resumed"]
        out.write(f"Resuming: steps {r['applied'] or 'none'} applied, {r['checked'] or 'none'} "
                  "passed the guard\n")  # fmt: skip
    policy = data.get("policy")
    if policy:
        why = f": {'; '.join(policy['reasons'])}" if policy["reasons"] else ""
        out.write(f"Policy: {policy['result']}{why}\n")


def _confirm(session: Session, args: argparse.Namespace, plan: RampPlan) -> None:
    from console.cli_common import confirm_or_abort

    confirm_or_abort(session, args, question="Start this ramp?", verb="ramp",
                     target=plan.deployment)  # fmt: skip


def cmd_ramp(args: argparse.Namespace) -> int:
    from console.cli_common import run, session_for
    from console.errors import UsageError

    session = session_for(args)
    session.runner.check_allowed()  # read-only: refuse before touching the server
    if args.rollback and not args.resume:
        raise UsageError("--rollback rolls back a ramp named by --resume RAMP_ID")
    return run(session, _ramp(session, args))


async def _ramp(session: Session, args: argparse.Namespace) -> int:
    import sys
    import uuid

    from console.cli_common import (
        output_format,
        parse_duration,
        pick_engine,
        report_approval_required,
    )
    from console.errors import ApprovalRequired, PolicyDenied, UsageError
    from console.output import dump
    from console.rollout.journal import RampJournal
    from console.rollout.plan import build_plan, parse_steps

    fmt = output_format(args)
    ramp_id = args.resume or args.request_id or str(uuid.uuid4())
    progress = RampJournal(session.audit, identity="", policy={}).load(ramp_id)
    if args.resume and progress is None:
        raise UsageError(f"no ramp {ramp_id!r} in the audit journal ({session.audit.location})")
    if progress is not None:
        plan = progress.plan
        for given, journaled in ((args.deployment, plan.deployment), (args.version, plan.version)):
            if given is not None and given != journaled:
                raise UsageError(f"ramp {ramp_id} is {plan.version} on {plan.deployment}, "
                                 f"not {given!r}")  # fmt: skip
        if plan.context != session.context.name:
            raise UsageError(
                f"ramp {ramp_id} ran in context {plan.context!r}, not "
                f"{session.context.name!r}; pass --context {plan.context}"
            )
        name, engine = pick_engine(session, plan.engine)
        port = _port(name, engine)
    else:
        if not args.deployment or not args.version:
            raise UsageError("versions ramp needs DEPLOYMENT VERSION (or --resume RAMP_ID)")
        percentages = parse_steps(args.steps)
        hold_s = parse_duration(args.hold).total_seconds()
        # As `versions rollback`: without --engine, the engine holding the deployment.
        from console.cli_targets import versions_engine

        name, versions = await versions_engine(session, args.engine, args.deployment)
        engine = session.engines[name]
        port = _port(name, engine)
        start = await port.ramp_routing(args.deployment, args.version)
        known = [v.version for v in versions]
        guard_text = (await build_guard(session, engine, port, vars(args))).describe()
        plan = build_plan(
            ramp_id=ramp_id, context=session.context.name, engine=name,
            target=_target(session, name, engine, args.deployment),
            deployment=args.deployment, version=args.version, start=start,
            known_versions=known, percentages=percentages, hold_s=hold_s,
            calls={p: port.ramp_call(p) for p in percentages}, guard=guard_text,
            slo=args.slo, reason=args.reason or f"opsdeck versions ramp {args.version}",
        )  # fmt: skip
    resumed = None
    if progress is not None:
        resumed = {"applied": sorted(progress.applied), "checked": sorted(progress.checked)}
    decision = session.gate.decide(_change(plan))
    data = plan_data(plan, decision, resumed)
    if decision.result == "deny" and not args.rollback:  # undoing is never refused
        raise PolicyDenied(
            "; ".join(decision.reasons) or f"the policy denies {ACTION}",
            hint=f"`opsdeck policy check {ACTION}` explains the decision",
        )
    if args.dry_run:
        if fmt == "table":
            _print_plan(data, sys.stdout)
            sys.stdout.write("Dry run: nothing changed.\n")
        else:
            dump({"dry_run": True, "ramp_id": ramp_id, "plan": data}, fmt)
        return 0
    if fmt == "table" or not args.yes:
        _print_plan(data, sys.stdout if fmt == "table" else sys.stderr)
    from console.policy.gate import audit_fields

    change = _change(plan)  # frozen without the ramp id: an approval outlives one run
    frozen = {"context": plan.context, "action": ACTION, "engine": plan.engine,
              "target": plan.target, **change.params}  # fmt: skip
    try:
        allowed = (
            decision
            if args.rollback
            else session.gate.authorize(change, frozen, approval_id=args.approval)
        )
    except ApprovalRequired as exc:
        return report_approval_required(exc, fmt, {"dry_run": False, "ramp_id": ramp_id,
                                                    "plan": data})  # fmt: skip
    if progress is None or not args.rollback:
        _confirm(session, args, plan)
    identity = session.gate.identity
    journal = RampJournal(session.audit, identity=identity.user,
                          policy=audit_fields(allowed, identity, args.approval))  # fmt: skip
    guard = await build_guard(session, engine, port, plan.to_data())
    result = await _drive(session, args, plan, progress, journal, port, guard, fmt)
    _report(plan, result, fmt, data)
    return result.exit_code


async def _drive(
    session: Session,
    args: argparse.Namespace,
    plan: RampPlan,
    progress: Any,
    journal: Any,
    port: VersionRamp,
    guard: RampGuard,
    fmt: str,
) -> RampResult:
    import asyncio
    import signal
    import sys

    from console.cli_common import _ask, _stdin_is_tty
    from console.errors import Aborted
    from console.rollout.engine import RampRunner
    from console.rollout.journal import RampProgress

    interactive = not args.yes and _stdin_is_tty()

    async def on_interrupt(step: RampStep) -> str:
        if not interactive:
            return "hold"
        prompt = (f"\nInterrupted at step {step.index} ({step.percentage:g}%): [h]old here "
                  "(resumable), [r]oll back now, or [c]ontinue? [h/r/c] ")  # fmt: skip
        try:
            answer = (await asyncio.to_thread(_ask, prompt)).lower()
        except Aborted:
            return "hold"
        return {"r": "rollback", "c": "continue"}.get(answer[:1], "hold")

    def on_event(event: RampEvent) -> None:
        # json/yaml: progress on stderr (a hold lasts minutes), the one document on stdout
        where = f"step {event.step}/{len(plan.steps)} " if event.step else ""
        out = sys.stdout if fmt == "table" else sys.stderr
        print(f"{event.kind.upper():<13} {where}{event.message}", file=out, flush=True)

    interrupted = asyncio.Event()
    runner = RampRunner(port, guard, journal, on_event=on_event, interrupted=interrupted,
                        on_interrupt=on_interrupt)  # fmt: skip
    if progress is None:
        runner.start(plan)
        progress = RampProgress(plan)
        if fmt == "table":
            print(f"Ramping (ramp id {plan.ramp_id})...", flush=True)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)
    try:
        if args.rollback:
            return await runner.rollback_now(plan, progress, "rolled back by the operator")
        return await runner.run(plan, progress)
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _report(plan: RampPlan, result: RampResult, fmt: str, data: dict[str, Any]) -> None:
    from console.output import dump
    from console.rollout.engine import routing_text

    resume = f"opsdeck versions ramp --resume {plan.ramp_id}"
    hints = {"resume": resume, "rollback": f"{resume} --rollback"}
    if fmt != "table":
        dump({"dry_run": False, "ramp_id": plan.ramp_id, "plan": data,
              "result": result_data(result), "hints": hints}, fmt)  # fmt: skip
        return
    words = {"promoted": "PROMOTED", "rolled_back": "ROLLED BACK", "held": "HELD",
             "stopped": "STOPPED", "unchanged": "NOTHING CHANGED",
             "rollback_failed": "ROLLBACK FAILED"}  # fmt: skip
    print(f"{words[result.status]}: {result.reason}")
    print(f"Routing now: {routing_text(result.routing)}")
    if result.status in ("held", "stopped", "rollback_failed"):
        print(f"Resume: {hints['resume']}\nRoll back: {hints['rollback']}")
    print(f"Audit: opsdeck audit list --request-id {plan.ramp_id}")


def result_data(result: RampResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "reason": result.reason,
        "exit_code": result.exit_code,
        "routing": result.routing.to_data() if result.routing is not None else None,
        "applied": list(result.applied),
        "events": [
            {"kind": e.kind, "step": e.step, "percentage": e.percentage, "message": e.message}
            for e in result.events
        ],
        "audit_ids": list(result.audit_ids),
    }
