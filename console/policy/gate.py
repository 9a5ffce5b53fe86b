"""The policy gate every change passes before apply: decide, deny, or file an approval.

``authorize`` is called by ActionRunner.apply (engine actions and runbook steps), by
run_drain/cmd_move (queues) and by apply_chaos (chaos activities), with the change and
its frozen plan (a JSON-able mapping). The read-only guard stays in code in front of
the policy: a read-only context or session refuses whatever a policy says.

With ``approval_id`` the change must be exactly what that approved request froze: the
plan is re-made from the world as it is now and its hash compared; any difference (a
run closed, a version moved, another target) stops the apply and says what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.actions.policy import check_change_allowed
from console.errors import ApprovalRequired, PolicyDenied
from console.policy.model import ChangeRequest, Decision, Identity, policy_input

if TYPE_CHECKING:
    from console.approvals.store import ApprovalStore
    from console.config import Config, Context
    from console.ports_policy import PolicyEvaluator


class PolicyGate:
    def __init__(
        self,
        config: Config,
        context: Context,
        *,
        read_only: bool = False,
        identity: Identity | None = None,
        evaluator: PolicyEvaluator | None = None,
        approvals: ApprovalStore | None = None,
    ) -> None:
        self.config = config
        self.context = context
        self.read_only = read_only
        self._identity = identity
        self._evaluator = evaluator
        self._approvals = approvals

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            from console.identity.current import resolve_identity

            self._identity = resolve_identity(self.config)
        return self._identity

    @property
    def evaluator(self) -> PolicyEvaluator:
        if self._evaluator is None:
            from console.policy.load import load_evaluator

            self._evaluator = load_evaluator(self.config)
        return self._evaluator

    @property
    def approvals(self) -> ApprovalStore:
        if self._approvals is None:
            from console.approvals.store import ApprovalStore

            self._approvals = ApprovalStore()
        return self._approvals

    def decide(
        self,
        change: ChangeRequest,
        *,
        identity: Identity | None = None,
        now: datetime | None = None,
    ) -> Decision:
        """The policy's decision, no side effects (previews, `policy check`)."""
        document = policy_input(
            identity or self.identity, self.context, change, read_only=self.read_only, now=now
        )
        return self.evaluator.decide(document)

    def authorize(
        self,
        change: ChangeRequest,
        plan: Mapping[str, Any],
        *,
        approval_id: str | None = None,
        command: list[str] | None = None,
    ) -> Decision:
        """The allowing decision, else PolicyDenied (deny) or ApprovalRequired (filed)."""
        check_change_allowed(self.context, read_only=self.read_only)
        decision = self.decide(change)
        if decision.result == "deny":
            raise PolicyDenied(
                "; ".join(decision.reasons) or f"the policy denies {change.action}",
                hint=f"`opsdeck policy check {change.action}` explains the decision",
            )
        if approval_id is not None:
            return self._approved(change, plan, decision, approval_id)
        if decision.result == "allow":
            return decision
        request = self.approvals.create(
            context=self.context.name,
            change=change,
            plan=plan,
            decision=decision,
            requester=self.identity,
            expires_in=self._expiry_seconds(),
            command=command,
        )
        groups = f" from {', '.join(decision.approver_groups)}" if decision.approver_groups else ""
        why = "; ".join(decision.reasons) or "the policy requires approval"
        raise ApprovalRequired(
            f"{why}: needs {decision.approvals} approval(s){groups}; "
            f"filed request {request.id}, nothing changed",
            request_id=request.id,
            hint=f"another person runs `opsdeck approvals approve {request.id}`, then "
            f"`opsdeck approvals apply {request.id}`",
        )

    def _approved(
        self, change: ChangeRequest, plan: Mapping[str, Any], decision: Decision, approval_id: str
    ) -> Decision:
        from console.approvals.store import plan_difference, plan_hash

        request = self.approvals.get(approval_id)
        if request.context != self.context.name or request.action != change.action:
            raise PolicyDenied(
                f"request {approval_id} is {request.action} in context {request.context!r}, "
                f"not {change.action} in {self.context.name!r}"
            )
        status = request.status_at(datetime.now(UTC))
        if status != "approved":
            raise PolicyDenied(
                f"request {approval_id} is {status} "
                f"({len(request.approvals)}/{request.needed} approvals); nothing applied"
            )
        if plan_hash(plan) != request.plan_hash:
            raise PolicyDenied(
                f"the world changed since request {approval_id} was approved: "
                f"{plan_difference(request.plan, plan)}; nothing applied",
                hint="run the command again without --approval to file a new request",
            )
        self.approvals.mark_applied(approval_id, self.identity)
        approvers = ", ".join(a.user for a in request.approvals)
        return Decision(
            "allow",
            (*decision.reasons, f"approved in request {approval_id} by {approvers}"),
            policy_hash=decision.policy_hash,
            evaluator=decision.evaluator,
        )

    def _expiry_seconds(self) -> int:
        from console.policy.settings import DEFAULT_EXPIRY, duration_seconds

        return duration_seconds(str(self.config.policy.get("approval-expiry", DEFAULT_EXPIRY)))


def audit_fields(
    decision: Decision, identity: Identity, approval_id: str | None = None
) -> dict[str, Any]:
    """What every audit record of a change carries under parameters["policy"]."""
    fields: dict[str, Any] = {
        "decision": decision.result,
        "reasons": list(decision.reasons),
        "policy_hash": decision.policy_hash,
        "evaluator": decision.evaluator,
        "identity": identity.as_input(),
    }
    if approval_id is not None:
        fields["approval"] = approval_id
    return fields
