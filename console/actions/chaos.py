"""Chaos actions as changes: plan -> preview -> policy -> apply -> audit.

A chaos action (stop a worker, inject failures, publish poison messages, shift traffic)
changes a live system like any other remediation, so it passes the same gate: the
extension (chaos/actions.py) describes what it will touch as a ``ChaosPlan``, and
``apply_chaos`` checks policy, runs it, and writes ONE audit record for the action (or
its rollback), carrying the chaos run id so the audit links to the run's journal.

Policy, beyond the read-only rule every change obeys (console.actions.policy):
- production contexts refuse experiments unless their config says
  ``chaos: {allowed: true}``, and then need the typed confirmation (the run's
  experiment title, given once per run by the launcher);
- blast radius: a run may touch at most ``chaos: {max-targets: N}`` distinct targets
  (default 10), counted over the whole run, so many small actions cannot add up past
  the cap. Rollbacks are never refused: undoing must always be possible.

The context's policy (console.policy) is asked twice: once for the whole run
(``authorize_run``, action ``chaos.run``, before anything starts: a run the policy
marks "approve" is filed with its frozen plan and runs later with ``--approval``), and
before each action (``chaos.<function>``): a deny stops it; an "approve" passes only
inside a run that was approved. Rollbacks record the policy's decision but are never
refused by it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.actions.policy import check_change_allowed
from console.errors import ConfigError, PolicyDenied

if TYPE_CHECKING:
    from console.config import Context
    from console.policy.model import Decision
    from console.session import Session

DEFAULT_MAX_TARGETS = 10


@dataclass(frozen=True)
class ChaosPlan:
    """What one chaos action (or rollback) will do, before it does it."""

    action: str  # the provider's function name, e.g. "stop_demo_worker"
    targets: tuple[str, ...]  # what it touches, e.g. ("sandbox:demo-workers",)
    params: Mapping[str, Any] = field(default_factory=dict)
    rollback: str | None = None  # the action that undoes it (None only for rollbacks)
    summary: str = ""  # one sentence for the preview


@dataclass(frozen=True)
class ChaosSettings:
    allowed_in_production: bool = False
    max_targets: int = DEFAULT_MAX_TARGETS


def chaos_settings(context: Context) -> ChaosSettings:
    """The context's ``chaos:`` block; a malformed one is a config error naming it."""
    raw = context.extra.get("chaos")
    if raw is None:
        return ChaosSettings()
    where = f"contexts.{context.name}.chaos"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a mapping like {{allowed: true, max-targets: 5}}")
    unknown = sorted(set(raw) - {"allowed", "max-targets"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: allowed, max-targets)")
    allowed = raw.get("allowed", False)
    cap = raw.get("max-targets", DEFAULT_MAX_TARGETS)
    if not isinstance(allowed, bool):
        raise ConfigError(f"{where}.allowed: must be true or false")
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise ConfigError(f"{where}.max-targets: must be a whole number of at least 1")
    return ChaosSettings(allowed, cap)


@dataclass
class ChaosRun:
    """The state one experiment run shares across its actions (kept by the launcher)."""

    run_id: str
    experiment: str  # title, also the typed confirmation in production
    confirmed: str | None = None  # what the operator typed, for production contexts
    touched: set[str] = field(default_factory=set)
    approval: str | None = None  # the approved policy request the run was started with


def check_chaos_allowed(
    context: Context, plan: ChaosPlan, run: ChaosRun, *, read_only: bool, is_rollback: bool
) -> None:
    """PolicyDenied (exit 3) when this action may not run; rollbacks always may."""
    if is_rollback:
        return
    check_change_allowed(context, read_only=read_only)
    settings = chaos_settings(context)
    if context.production:
        if not settings.allowed_in_production:
            raise PolicyDenied(
                f"context {context.name!r} is production and does not allow chaos experiments",
                hint="set chaos: {allowed: true} for this context to allow them",
            )
        if run.confirmed is None or run.confirmed.strip() != run.experiment:
            raise PolicyDenied(
                f"context {context.name!r} is production: type the experiment title "
                f"{run.experiment!r} to confirm"
            )
    after = run.touched | set(plan.targets)
    if len(after) > settings.max_targets:
        raise PolicyDenied(
            f"blast radius: {plan.action} would bring this run to {len(after)} targets, "
            f"more than the context's cap of {settings.max_targets}",
            hint="raise chaos: {max-targets: N} for this context, or narrow the experiment",
        )


def authorize_run(
    session: Session,
    plan: Mapping[str, Any],
    *,
    approval_id: str | None = None,
    command: list[str] | None = None,
) -> Decision:
    """The policy's decision for a whole experiment run (``plan``: experiments.plan_data).

    Targets are the method's actions (``name [provider]``); the frozen plan is the whole
    plan with the experiment source's digest, so an edited file needs a new approval.
    """
    change, frozen = _run_change(session, plan)
    return session.gate.authorize(change, frozen, approval_id=approval_id, command=command)


def decide_run(session: Session, plan: Mapping[str, Any]) -> Decision:
    """What the policy says about running this experiment now (a preview: files nothing)."""
    change, _ = _run_change(session, plan)
    return session.gate.decide(change)


def _run_change(session: Session, plan: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    import hashlib
    from pathlib import Path

    from console.policy.model import ChangeRequest

    path = str(plan.get("experiment") or "")
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        digest = ""
    actions = tuple(
        f"{a['name']} [{a['provider']}]"
        for a in plan.get("activities", ())
        if a.get("type") == "action" and a.get("phase") == "method"
    )
    change = ChangeRequest("chaos.run", "chaos", actions, experiment=str(plan.get("title") or path))
    frozen = {"context": session.context.name, "action": "chaos.run", "sha256": digest, **plan}
    return change, frozen


def _decide_action(session: Session, plan: ChaosPlan, run: ChaosRun, is_rollback: bool) -> Decision:
    from console.policy.model import ChangeRequest, Decision

    change = ChangeRequest(
        f"chaos.{'rollback.' if is_rollback else ''}{plan.action}",
        "chaos",
        plan.targets,
        experiment=run.experiment,
        params=dict(plan.params),
    )
    decision = session.gate.decide(change)
    if is_rollback:
        if decision.result != "allow":  # never refused: undoing must always be possible
            reasons = (*decision.reasons, f"{decision.result} overridden: rollbacks always run")
            return Decision("allow", reasons, policy_hash=decision.policy_hash,
                            evaluator=decision.evaluator)  # fmt: skip
        return decision
    if decision.result == "deny":
        raise PolicyDenied(
            "; ".join(decision.reasons) or f"the policy denies chaos.{plan.action}",
            hint=f"`opsdeck policy check chaos.{plan.action}` explains the decision",
        )
    if decision.result == "approve" and run.approval is None:
        raise PolicyDenied(
            f"chaos.{plan.action} needs an approval: start the run with `opsdeck chaos run`, "
            "which files the request, then run it with --approval ID once approved"
        )
    return decision


def apply_chaos(
    session: Session,
    plan: ChaosPlan,
    run: ChaosRun,
    do: Callable[[], Mapping[str, Any] | None],
    *,
    is_rollback: bool = False,
) -> Mapping[str, Any]:
    """Policy, then ``do()``, then one audit record (ok or failed); returns do's result.

    A failing ``do`` is recorded as failed and re-raised, so Chaos Toolkit sees the
    activity fail and its journal says so too.
    """
    from console.policy.gate import audit_fields

    check_chaos_allowed(
        session.context, plan, run, read_only=session.read_only, is_rollback=is_rollback
    )
    decision = _decide_action(session, plan, run, is_rollback)
    outcome, message, result = "failed", "", {}
    try:
        result = dict(do() or {})
        outcome = "ok"
        return result
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise
    finally:
        if not is_rollback:
            run.touched |= set(plan.targets)
        session.audit.append(
            context=session.context.name,
            action=f"chaos.{'rollback.' if is_rollback else ''}{plan.action}",
            engine="chaos",
            target=", ".join(plan.targets) or "-",
            outcome=outcome,
            parameters={
                "params": dict(plan.params),
                "rollback": plan.rollback,
                "experiment": run.experiment,
                "result": result,
                "policy": audit_fields(decision, session.gate.identity, run.approval),
            },
            message=message,
            request_id=run.run_id,
            identity=session.gate.identity.user,
            run_id=run.run_id,
        )
