"""Policy types: who is acting, what they ask to change, and what the policy decided.

No I/O here. ``policy_input`` builds the one document every evaluator sees (the
``input`` of the Rego policy); its keys are documented in docs/policy.md and stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from console.config import Context

Result = Literal["allow", "deny", "approve"]
RESULTS: tuple[Result, ...] = ("allow", "deny", "approve")


@dataclass(frozen=True)
class Identity:
    """Who is acting. ``verified``: proven by an OIDC ID token of ``issuer``."""

    user: str
    groups: tuple[str, ...] = ()
    verified: bool = False
    issuer: str | None = None

    def as_input(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "groups": list(self.groups),
            "verified": self.verified,
            "issuer": self.issuer,
        }

    def __str__(self) -> str:
        return self.user if self.verified else f"{self.user} (unverified)"


@dataclass(frozen=True)
class ChangeRequest:
    """One change the policy is asked about.

    ``action``: retry, cancel, terminate, signal, rollback (engine actions),
    dlq.drain, dlq.move, dlq.archive, chaos.<activity> (e.g. chaos.kill_workers).
    ``runbook``/``experiment``: set when the change is a runbook step or a chaos run.
    """

    action: str
    engine: str
    targets: tuple[str, ...] = ()
    reason: str = ""
    runbook: str | None = None
    experiment: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What the policy said. ``approvals``/``approver_groups`` matter for "approve"."""

    result: Result
    reasons: tuple[str, ...] = ()
    approvals: int = 0
    approver_groups: tuple[str, ...] = ()
    policy_hash: str = ""
    evaluator: str = ""  # "regorus", "opa-server", or "fail-closed"

    @property
    def allowed(self) -> bool:
        return self.result == "allow"

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "reasons": list(self.reasons),
            "approvals": self.approvals,
            "approver_groups": list(self.approver_groups),
            "policy_hash": self.policy_hash,
            "evaluator": self.evaluator,
        }

    @classmethod
    def from_result(cls, value: Any, *, policy_hash: str, evaluator: str, where: str) -> Decision:
        """A Rego ``decision`` object as a Decision; anything malformed denies (fail closed)."""
        if not isinstance(value, Mapping) or value.get("result") not in RESULTS:
            return cls(
                "deny",
                (f"{where}: the policy's decision is not an object with result "
                 f"allow|deny|approve (got {value!r}); denying",),
                policy_hash=policy_hash,
                evaluator="fail-closed",
            )  # fmt: skip
        reasons = value.get("reasons") or ()
        groups = value.get("approver_groups") or ()
        approvals = value.get("approvals") or 0
        if (
            not isinstance(reasons, list | tuple)
            or not isinstance(groups, list | tuple)
            or not isinstance(approvals, int)
            or isinstance(approvals, bool)
        ):
            return cls(
                "deny",
                (f"{where}: reasons/approver_groups must be lists and approvals a number; "
                 "denying",),
                policy_hash=policy_hash,
                evaluator="fail-closed",
            )  # fmt: skip
        result: Result = value["result"]
        if result == "approve":
            approvals = max(approvals, 1)
        return cls(
            result,
            tuple(str(r) for r in reasons),
            approvals if result == "approve" else 0,
            tuple(str(g) for g in groups),
            policy_hash,
            evaluator,
        )


def context_input(context: Context, *, read_only: bool) -> dict[str, Any]:
    """The context part of the input: name, production, read_only and config labels."""
    labels = context.extra.get("labels") or {}
    chaos = context.extra.get("chaos") or {}
    return {
        "name": context.name,
        "production": context.production,
        "read_only": bool(context.read_only or read_only),
        "sandbox": context.sandbox,
        "labels": {str(k): str(v) for k, v in dict(labels).items()},
        "chaos": {
            "allowed": bool(dict(chaos).get("allowed", False)),
            "max_targets": dict(chaos).get("max-targets"),
        },
    }


def policy_input(
    identity: Identity,
    context: Context,
    change: ChangeRequest,
    *,
    read_only: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Rego ``input`` document for one change (docs/policy.md lists every key)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "identity": identity.as_input(),
        "context": context_input(context, read_only=read_only),
        "action": change.action,
        "engine": change.engine,
        "targets": list(change.targets),
        "target_count": len(change.targets),
        "runbook": change.runbook,
        "experiment": change.experiment,
        "reason": change.reason,
        "params": dict(change.params),
        "time": {
            "iso": when.isoformat().replace("+00:00", "Z"),
            "unix": int(when.timestamp()),
            "weekday": when.strftime("%A"),
            "hour": when.hour,
        },
    }
