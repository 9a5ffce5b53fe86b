"""Access review: per identity, which actions it used and which the policy grants unused.

Privilege creep shows as grants nobody exercises: for every identity seen in the audit
journal (with the groups its latest record carried), every action of the catalog is put
to the policy in every configured context, once as a direct change and once as a runbook
step; what the policy allows (or allows with approval) but the identity never did in
the window is listed as unused. No I/O here: records and the decide function come in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.policy.model import ChangeRequest, Decision, Identity

# Every change opsdeck can make, as the policy sees its ``action`` (docs/policy.md).
ACTIONS = (
    "retry",
    "cancel",
    "terminate",
    "signal",
    "rollback",
    "dlq.drain",
    "dlq.archive",
    "dlq.move.start",
    "dlq.move.cancel",
    "chaos.run",
)

Decide = Callable[[str, Identity, ChangeRequest], Decision]  # (context, identity, change)


@dataclass
class IdentityReview:
    identity: Identity
    used: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (ctx, action)
    granted: dict[tuple[str, str], str] = field(default_factory=dict)  # -> how

    def unused(self) -> list[tuple[str, str]]:
        return sorted(k for k in self.granted if k not in self.used)

    def as_dict(self) -> dict[str, Any]:
        def pair(key: tuple[str, str]) -> dict[str, str]:
            return {"context": key[0], "action": key[1]}

        return {
            "identity": self.identity.user,
            "verified": self.identity.verified,
            "groups": list(self.identity.groups),
            "used": [pair(k) | v for k, v in sorted(self.used.items())],
            "granted": [pair(k) | {"how": v} for k, v in sorted(self.granted.items())],
            "unused": [pair(k) | {"how": self.granted[k]} for k in self.unused()],
        }


def _identity_of(record: Any) -> Identity:
    seen = ((record.parameters or {}).get("policy") or {}).get("identity") or {}
    user = record.identity or seen.get("user") or record.os_user
    return Identity(
        str(user),
        tuple(str(g) for g in seen.get("groups") or ()),
        bool(seen.get("verified", False)),
        seen.get("issuer"),
    )


def review(records: Iterable[Any], contexts: Iterable[str], decide: Decide) -> list[IdentityReview]:
    """One review per identity in ``records`` (audit records, newest first)."""
    reviews: dict[str, IdentityReview] = {}
    for record in records:
        who = _identity_of(record)
        entry = reviews.setdefault(who.user, IdentityReview(who))  # newest record's groups
        key = (record.context, _base_action(record.action))
        used = entry.used.setdefault(key, {"count": 0, "last": record.time})
        used["count"] += 1
    names = list(contexts)
    for entry in reviews.values():
        for context in names:
            for action in ACTIONS:
                how = _granted(decide, context, entry.identity, action)
                if how is not None:
                    entry.granted[(context, action)] = how
    return sorted(reviews.values(), key=lambda r: r.identity.user)


def _granted(decide: Decide, context: str, identity: Identity, action: str) -> str | None:
    ways: Mapping[str, ChangeRequest] = {
        "direct": ChangeRequest(action, "review", ("review:target",)),
        "runbook": ChangeRequest(action, "review", ("review:target",), runbook="review"),
    }
    for how, change in ways.items():
        decision = decide(context, identity, change)
        if decision.result == "allow":
            return how if how == "direct" else "as a runbook step"
        if decision.result == "approve":
            return "with approval" if how == "direct" else "as a runbook step, with approval"
    return None


def _base_action(action: str) -> str:
    """chaos.kill_workers -> chaos.run for the catalog; chaos rollbacks too."""
    return "chaos.run" if action.startswith("chaos.") else action
