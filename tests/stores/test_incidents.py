"""The incident store and audit tagging on both back ends (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from console.audit import AuditJournal, _record_hash
from console.incidents import store as incidents
from console.incidents.model import IncidentError
from console.runbook.journal import RunJournal
from tests.stores.conftest import Backend


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(incidents.ENV, raising=False)
    incidents.use_incident(None)


def change(journal: AuditJournal, context: str = "prod", target: str = "wf-1") -> int:
    return journal.append(
        context=context, action="terminate", engine="temporal", target=target, outcome="ok",
        parameters={"email": "bob@example.com"},
    ).id  # fmt: skip


def test_open_note_link_close_and_the_current_rule(store_backend: Backend) -> None:
    assert incidents.current_incident("prod") is None
    first = incidents.open_incident("orders stuck", "sev2", context="prod", identity="alice")
    assert first.id.startswith("INC-") and first.id.endswith("-1")
    assert (first.severity, first.status, first.opened_by) == ("sev2", "open", "alice")
    with pytest.raises(IncidentError, match="already open") as refused:
        incidents.open_incident("again", context="prod", identity="alice")
    assert refused.value.exit_code == 2
    other = incidents.open_incident("drill", context="sandbox", identity="bob")
    assert incidents.current_incident("prod") == first  # per context: a drill stays apart
    assert incidents.current_incident("sandbox") == other
    second = incidents.open_incident("more", context="prod", identity="alice", force=True)
    assert second.id.endswith("-3")
    assert incidents.current_incident("prod") == second  # the most recently opened
    incidents.use_incident(first.id)  # --incident overrides the rule
    assert incidents.current_incident("prod") == first
    incidents.use_incident(None)

    note = incidents.add_note(first.id, "customer email=bob@example.com sees 500s", who="alice")
    incidents.link(first.id, "runbook_run", "rb-1", "stuck-workflows", data={"n": 1}, who="a")
    store = incidents.IncidentStore()
    try:
        assert [n.text for n in store.notes(first.id)] == [note.text]
        links = store.links(first.id)
        assert [(x.kind, x.ref, x.data) for x in links] == [("runbook_run", "rb-1", {"n": 1})]
    finally:
        store.close()
    closed = incidents.close_incident(first.id, who="carol", summary="v3 rolled back")
    assert (closed.status, closed.closed_by, closed.summary) == (
        "closed",
        "carol",
        "v3 rolled back",
    )
    assert closed.closed and closed.closed >= closed.opened
    with pytest.raises(IncidentError, match="already closed"):
        incidents.close_incident(first.id, who="carol")
    with pytest.raises(IncidentError, match="closed"):
        incidents.use_incident(first.id)  # records cannot join a closed incident
    with pytest.raises(IncidentError, match="no incident"):
        incidents.get_incident("INC-19990101-9")
    with pytest.raises(IncidentError, match="no incident"):
        incidents.link("INC-19990101-9", "other", "x", "y")
    with pytest.raises(IncidentError, match="severity"):
        incidents.open_incident("t", "sev9", context="x", identity="a")
    assert [i.id for i in incidents.list_incidents("closed")] == [first.id]
    assert len(incidents.list_incidents()) == 3


def test_audit_records_carry_the_incident_and_the_chain_verifies(store_backend: Backend) -> None:
    journal = AuditJournal(pii_fields=("email",))
    try:
        before = change(journal)
        incident = incidents.open_incident("t", context="prod", identity="alice")
        journal._tag = None  # the 2 s lookup cache: this test opened one just now
        tagged = change(journal)
        elsewhere = change(journal, context="staging")
        records = {r.id: r for r in journal.list(None)}
        assert records[before].incident is None
        assert records[tagged].incident == incident.id
        assert records[elsewhere].incident is None
        assert [r.id for r in journal.list(None, incident=incident.id)] == [tagged]
        assert records[tagged].parameters["email"] == "***"
        assert journal.verify_detail().ok
        # The incident is covered by the hash: changing or dropping it breaks the chain.
        raw = journal._conn().execute("SELECT * FROM audit WHERE id = ?", (tagged,))[0]
        assert _record_hash(raw) == raw["hash"]
        assert _record_hash({**raw, "incident": "INC-other"}) != raw["hash"]
        assert _record_hash({**raw, "incident": None}) != raw["hash"]
    finally:
        journal.close()


def test_runbook_runs_are_linked(store_backend: Backend) -> None:
    incident = incidents.open_incident("t", context="prod", identity="alice")
    runs = RunJournal()
    try:
        run = runs.create(
            runbook="stuck-workflows", path="x.yaml", source="", context="prod",
            engine="temporal", identity="alice", params={}, answers={}, cursor=None,
            dry_run=False,
        )  # fmt: skip
        runs.create(
            runbook="other", path="x.yaml", source="", context="staging", engine="temporal",
            identity="bob", params={}, answers={}, cursor=None, dry_run=True,
        )  # fmt: skip
    finally:
        runs.close()
    store = incidents.IncidentStore()
    try:
        links = store.links(incident.id, "runbook_run")
    finally:
        store.close()
    assert [(x.ref, x.summary, x.who) for x in links] == [(run.id, "stuck-workflows", "alice")]


def test_records_written_before_the_upgrade_still_verify(tmp_path: Path) -> None:
    """An audit file at schema 1 (no incident column) migrates; old hashes still hold."""
    path = tmp_path / "old-audit.db"
    from console.audit import _SQLITE_V1  # the v1 DDL as shipped

    db = sqlite3.connect(path)
    db.executescript(_SQLITE_V1)
    db.execute(
        "CREATE TABLE schema_versions (journal TEXT PRIMARY KEY, version INTEGER NOT NULL, "
        "applied TEXT NOT NULL)"
    )
    db.execute("INSERT INTO schema_versions VALUES ('audit', 1, 'then')")
    row = {
        "id": 1, "time": "2026-01-01T00:00:00.000000Z", "os_user": "u", "identity": None,
        "context": "prod", "action": "terminate", "engine": "temporal", "target": "wf",
        "parameters": "{}", "reason": "", "outcome": "ok", "message": "", "request_id": "r",
        "run_id": None, "prev_hash": "0" * 64,
    }  # fmt: skip
    row["hash"] = _record_hash(row)
    db.execute(f"INSERT INTO audit VALUES ({', '.join('?' * len(row))})", list(row.values()))
    db.commit()
    db.close()
    journal = AuditJournal(path)
    try:
        incident = incidents.open_incident("t", context="prod", identity="alice")
        journal.append(context="prod", action="a", engine="e", target="t2", outcome="ok")
        records = journal.list(None)
        assert [r.incident for r in records] == [incident.id, None]
        assert journal.verify_detail().ok
    finally:
        journal.close()


def test_a_lookup_creates_no_store(tmp_path: Path) -> None:
    assert incidents.current_incident("prod") is None
    assert incidents.tag("prod", "other", "x", "y") is None
    assert not (tmp_path / "data" / "opsdeck" / "incidents.db").exists()
