"""Every journal's API on both back ends: same answers from SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import socket
from datetime import UTC, datetime, timedelta

import pytest

from console.actions.drain_journal import DrainJournal
from console.approvals.store import ApprovalStore
from console.audit import AuditJournal
from console.errors import PolicyDenied, UsageError
from console.experiments.store import ChaosRunStore
from console.policy.model import ChangeRequest, Decision, Identity
from console.runbook.journal import RunJournal
from console.stores.port import StoreError
from tests.stores.conftest import Backend


def add(journal: AuditJournal, target: str = "temporal:default/wf-1", **params: object) -> int:
    return journal.append(
        context="prod", action="terminate", engine="temporal", target=target,
        outcome="ok", parameters=params, reason="stuck", request_id="req-1",
    ).id  # fmt: skip


def tamper(backend: Backend, sql: str) -> None:
    """An attacker with direct access: drop the append-only guard, change a row."""
    if backend.settings is None:
        import sqlite3

        db = sqlite3.connect(backend.data_dir / "audit.db")
        db.execute("DROP TRIGGER audit_no_update")
        db.execute(sql)
        db.commit()
        db.close()
        return
    import psycopg

    with psycopg.connect(backend.settings.url, autocommit=True) as conn:
        conn.execute("ALTER TABLE opsdeck_audit.audit DISABLE TRIGGER audit_no_update")
        conn.execute(sql.replace("UPDATE audit", "UPDATE opsdeck_audit.audit"))


def test_audit_append_list_verify_export(store_backend: Backend) -> None:
    journal = AuditJournal(pii_fields=["email"])
    first = add(journal, email="bob@example.com", api_token="t0k")
    for i in range(2, 5):
        add(journal, f"temporal:default/wf-{i}")
    assert journal.location.startswith("postgresql://" if store_backend.url else "/")
    assert [r.id for r in journal.list()] == [4, 3, 2, 1]
    assert [r.id for r in journal.list(target="wf-3")] == [3]
    assert len(journal.list(since=datetime.now(UTC) - timedelta(minutes=1))) == 4
    assert journal.list(request_id="nope") == []
    record = journal.get(first)
    assert record is not None and record.parameters == {"api_token": "***", "email": "***"}
    assert journal.get(99) is None
    assert journal.verify() is None and journal.verify_detail().records == 4
    out = io.StringIO()
    assert journal.export_jsonl(out) == 4
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == [1, 2, 3, 4]
    journal.close()
    tamper(store_backend, "UPDATE audit SET reason = 'nothing to see' WHERE id = 3")
    result = AuditJournal().verify_detail()
    assert (result.broken_id, result.problem) == (3, "content does not match its hash")


def test_audit_is_append_only(store_backend: Backend) -> None:
    journal = AuditJournal()
    add(journal)
    db = store_backend.open("audit")
    with pytest.raises(StoreError, match="append-only"):
        db.execute("UPDATE audit SET outcome = 'failed'")
    with pytest.raises(StoreError, match="append-only"):
        db.execute("DELETE FROM audit")
    assert journal.verify_detail().records == 1


def test_run_journal(store_backend: Backend) -> None:
    journal = RunJournal()
    run = journal.create(
        runbook="stuck", path="stuck.yaml", source="steps: []", context="prod",
        engine="temporal", identity="alice", params={"n": 3}, answers={}, cursor="a",
        dry_run=True,
    )  # fmt: skip
    assert journal.get(run.id).params == {"n": 3} and journal.get(run.id).dry_run is True
    journal.update_run(run.id, status="paused", answers={"a": "yes"})
    assert journal.get(run.id).answers == {"a": "yes"}
    assert [r.id for r in journal.runs()] == [run.id]
    journal.set_step(run.id, "a", "applying", request_id="req-9")
    journal.set_step(run.id, "a", "done", result={"ok": 1})
    step = journal.steps(run.id)["a"]
    assert (step.state, step.request_id, step.result) == ("done", "req-9", {"ok": 1})
    journal.set_step(run.id, "a", "pending", fresh=True)
    assert journal.steps(run.id)["a"].request_id is None
    journal.approve(run.id, "a", "bob")
    journal.approve(run.id, "a", "bob")
    assert journal.approvals(run.id, "a") == ["bob"]
    for text in ("one", "two", "three"):
        journal.note(run.id, text, "a")
    assert [t["text"] for t in journal.transcript(run.id)] == ["one", "two", "three"]
    journal.claim(run.id)
    journal.claim(run.id)  # this process again: fine
    journal.update_run(run.id, owner=f"{socket.gethostname()}:1")  # pid 1 is alive
    with pytest.raises(UsageError, match="another process"):
        journal.claim(run.id)
    journal.release(run.id)
    journal.claim(run.id)


ALICE = Identity("alice", ("oncall",), verified=True, issuer="https://idp")
BOB = Identity("bob", ("oncall",))


def test_approvals_store(store_backend: Backend) -> None:
    store = ApprovalStore()
    change = ChangeRequest("terminate", "temporal", ("temporal:default/a/r1",), "stuck")
    plan = {"action": "terminate", "calls": [{"target": "temporal:default/a/r1"}]}
    request = store.create(
        context="prod", change=change, plan=plan, requester=ALICE, expires_in=3600,
        decision=Decision("approve", ("big",), 1, ("oncall",)), command=["x"],
    )  # fmt: skip
    with pytest.raises(PolicyDenied, match="own request"):
        store.approve(request.id, ALICE)
    assert store.approve(request.id, BOB).status_at(datetime.now(UTC)) == "approved"
    assert store.mark_applied(request.id, BOB).applied_by == "bob"
    with pytest.raises(PolicyDenied, match="already applied"):
        store.mark_applied(request.id, BOB)
    assert [r.id for r in store.list(include_closed=True)] == [request.id]
    assert store.list() == []
    assert [v.user for v in store.get(request.id).verdicts] == ["bob"]


def test_chaos_run_store(store_backend: Backend) -> None:
    store = ChaosRunStore()
    run = store.create(
        experiment_path="x.yaml", source="{}", title="worker loss", context="sandbox",
        config="{}", dry_run=False, variables={"n": 2},
    )  # fmt: skip
    assert store.get(run.id).status == "running" and store.get(run.id).variables == {"n": 2}
    assert store.claim_rollback(run.id, 0, "restart") is True
    assert store.claim_rollback(run.id, 0, "restart") is False  # a live owner runs it
    store.rollback_done(run.id, 0, "failed")
    assert store.claim_rollback(run.id, 0, "restart") is True  # failed: may run again
    store.rollback_done(run.id, 0)
    assert store.claim_rollback(run.id, 0, "restart") is False
    assert store.rollbacks(run.id)[0]["status"] == "done"
    store.finish(run.id, "completed", deviated=True)
    row = store.runs()[0]
    assert (row.id, row.status, row.deviated) == (run.id, "completed", True)


def test_drain_journal(store_backend: Backend, tmp_path: object) -> None:
    def journal(drain: str) -> DrainJournal:
        if store_backend.settings is None:
            return DrainJournal.open(drain)
        return DrainJournal(store=store_backend.open("drains"), drain=drain)

    one, two = journal("d1"), journal("d2")
    one.set_meta("spec", "{}")
    one.set_meta("spec", '{"a": 1}')
    assert one.get_meta("spec") == '{"a": 1}' and two.get_meta("spec") is None
    one.mark([("a#0", "a", "archived", "work", "rejected")])
    one.mark([("b#0", "b", "archived", None, "rejected"), ("c#0", "c", "sent", "work", None)])
    one.mark([("p#0", "p", "archived", "park", None)])
    two.mark([("a#0", "a", "sent", "work", None)])
    assert one.states(["a#0", "c#0", "x#0"]) == {"a#0": "archived", "c#0": "sent"}
    assert one.settle_committed() == 3
    assert one.counts() == {"sent": 2, "dropped": 1, "parked": 1}
    assert two.counts() == {"sent": 1}
    one.close()
    two.close()
