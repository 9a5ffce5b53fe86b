"""Access review: actions used per identity and grants never used (privilege creep)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.policy.model import ChangeRequest, Decision, Identity
from console.policy.review import review


@dataclass
class Record:
    identity: str | None
    os_user: str
    context: str
    action: str
    time: str
    parameters: dict[str, Any]


def rec(user: str, action: str, groups: list[str], context: str = "prod", t: str = "T1") -> Record:
    policy = {"identity": {"user": user, "groups": groups, "verified": True, "issuer": "i"}}
    return Record(user, "root", context, action, t, {"policy": policy})


def decide(context: str, identity: Identity, change: ChangeRequest) -> Decision:
    """L2: runbooks only; oncall: everything but chaos, rollback needs approval in prod."""
    if "oncall" in identity.groups:
        if change.action == "chaos.run":
            return Decision("deny")
        if change.action == "rollback" and context == "prod":
            return Decision("approve", approvals=1)
        return Decision("allow")
    if "l2" in identity.groups and change.runbook is not None:
        return Decision("allow") if change.action == "retry" else Decision("deny")
    return Decision("deny")


def test_used_granted_and_unused_per_identity() -> None:
    records = [  # newest first, as AuditJournal.list returns them
        rec("olga", "terminate", ["oncall"], t="T3"),
        rec("olga", "terminate", ["oncall"], t="T2"),
        rec("lee", "retry", ["l2"]),
        rec("olga", "chaos.kill_workers", ["oncall"], context="staging"),
    ]
    by_user = {r.identity.user: r.as_dict() for r in review(records, ["prod"], decide)}
    olga = by_user["olga"]
    assert olga["groups"] == ["oncall"] and olga["verified"] is True
    used = {(u["context"], u["action"]): u for u in olga["used"]}
    assert used[("prod", "terminate")]["count"] == 2
    assert used[("prod", "terminate")]["last"] == "T3"
    assert ("staging", "chaos.run") in used  # chaos activities count as chaos.run
    unused = {(u["context"], u["action"]): u["how"] for u in olga["unused"]}
    assert ("prod", "terminate") not in unused
    assert unused[("prod", "rollback")] == "with approval"
    assert unused[("prod", "retry")] == "direct"
    assert ("prod", "chaos.run") not in unused  # never granted: not creep
    lee = by_user["lee"]
    assert [g["action"] for g in lee["granted"]] == ["retry"]
    assert lee["granted"][0]["how"] == "as a runbook step"
    assert lee["unused"] == []
