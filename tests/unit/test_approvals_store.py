"""The approvals store on a real SQLite file: who may approve, expiry, single use, and
plan hashes that see every change to a frozen plan."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.approvals.store import ApprovalStore, plan_difference, plan_hash
from console.errors import PolicyDenied, UsageError
from console.policy.model import ChangeRequest, Decision, Identity

PLAN = {
    "action": "terminate",
    "calls": [
        {"target": "temporal:default/a/r1", "call": "TerminateWorkflowExecution", "params": {}},
        {"target": "temporal:default/b/r2", "call": "TerminateWorkflowExecution", "params": {}},
    ],
}
ALICE = Identity("alice", ("oncall",), verified=True, issuer="https://idp")
BOB = Identity("bob", ("oncall",), verified=True, issuer="https://idp")
CAROL = Identity("carol", ("l2",))
DAN = Identity("dan", ("oncall",))


def file(store: ApprovalStore, *, needed: int = 1, groups: tuple[str, ...] = ("oncall",),
         expires_in: int = 3600) -> str:  # fmt: skip
    change = ChangeRequest("terminate", "temporal", ("temporal:default/a/r1",), "stuck")
    decision = Decision("approve", ("more than 10 targets",), needed, groups)
    request = store.create(
        context="prod", change=change, plan=PLAN, decision=decision, requester=ALICE,
        expires_in=expires_in, command=["executions", "terminate", "a"],
    )  # fmt: skip
    return request.id


def test_a_second_person_from_the_groups_approves(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path / "approvals.db")
    rid = file(store)
    with pytest.raises(PolicyDenied, match="own request"):
        store.approve(rid, ALICE)
    with pytest.raises(PolicyDenied, match="not in oncall"):
        store.approve(rid, CAROL)
    now = datetime.now(UTC)
    assert store.get(rid).status_at(now) == "pending"
    assert store.approve(rid, BOB).status_at(now) == "approved"
    request = store.get(rid)
    assert [a.user for a in request.approvals] == ["bob"]
    assert request.plan == PLAN and request.plan_hash == plan_hash(PLAN)
    assert request.command == ("executions", "terminate", "a")


def test_two_approvals_needed_and_one_person_counts_once(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path / "approvals.db")
    rid = file(store, needed=2)
    store.approve(rid, BOB)
    store.approve(rid, BOB)
    assert store.get(rid).status_at(datetime.now(UTC)) == "pending"
    store.approve(rid, DAN)
    assert store.get(rid).status_at(datetime.now(UTC)) == "approved"


def test_deny_expiry_and_single_use(tmp_path: Path) -> None:
    store = ApprovalStore(tmp_path / "approvals.db")
    denied = file(store)
    with pytest.raises(UsageError, match="reason"):
        store.deny(denied, BOB, " ")
    store.deny(denied, BOB, "not during the freeze")
    assert store.get(denied).status_at(datetime.now(UTC)) == "denied"
    with pytest.raises(UsageError, match="denied"):
        store.approve(denied, DAN)

    expiring = file(store, expires_in=60)
    store.approve(expiring, BOB)
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert store.get(expiring).status_at(later) == "expired"

    used = file(store)
    with pytest.raises(PolicyDenied, match="pending"):
        store.mark_applied(used, ALICE)
    store.approve(used, BOB)
    store.mark_applied(used, ALICE)
    assert store.get(used).status_at(datetime.now(UTC)) == "applied"
    with pytest.raises(PolicyDenied, match="already applied"):
        store.mark_applied(used, ALICE)
    open_ids = {r.id for r in store.list()}
    assert open_ids == {expiring}  # pending/approved only; --all lists every one
    assert len(store.list(include_closed=True)) == 3


def test_concurrent_appliers_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "approvals.db"
    rid = file(ApprovalStore(path))
    ApprovalStore(path).approve(rid, BOB)
    wins: list[str] = []
    losses: list[str] = []

    def apply(who: Identity) -> None:
        try:
            ApprovalStore(path).mark_applied(rid, who)
            wins.append(who.user)
        except PolicyDenied:
            losses.append(who.user)

    threads = [threading.Thread(target=apply, args=(w,)) for w in (ALICE, BOB, DAN, CAROL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 3


def test_plan_hash_and_difference() -> None:
    reordered = {"calls": PLAN["calls"], "action": "terminate"}
    assert plan_hash(reordered) == plan_hash(PLAN)
    moved = {"action": "terminate", "calls": [PLAN["calls"][1]]}
    assert plan_hash(moved) != plan_hash(PLAN)
    assert "temporal:default/a/r1 is no longer in the plan" in plan_difference(PLAN, moved)
    rollback = {"calls": [{"target": "orders", "call": "SetCurrent", "params": {"to": "v2"}}]}
    moved_on = {"calls": [{"target": "orders", "call": "SetCurrent", "params": {"to": "v3"}}]}
    assert 'params was {"to": "v2"}, now {"to": "v3"}' in plan_difference(rollback, moved_on)
