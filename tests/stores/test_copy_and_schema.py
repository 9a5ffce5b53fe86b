"""``opsdeck store copy|migrate|status`` and schema versions, on a real PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.actions.drain_journal import DrainJournal
from console.approvals.store import ApprovalStore
from console.audit import AuditJournal
from console.experiments.store import ChaosRunStore
from console.policy.model import ChangeRequest, Decision, Identity
from console.runbook.journal import RunJournal
from console.stores.port import StoreSchemaError
from console.stores.settings import ENV_URL, StoreSettings, open_store

pytestmark = pytest.mark.integration
EXE = str(Path(sys.executable).parent / "opsdeck")


def opsdeck(*args: str, env_url: str | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != ENV_URL}
    if env_url:
        env[ENV_URL] = env_url
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=60)


def sqlite_history() -> dict[str, int]:
    """A little of everything, through the journals' own APIs, in the SQLite files."""
    from console.incidents.store import add_note, open_incident

    incident = open_incident("copy me", context="prod", identity="alice")  # tags the audit
    add_note(incident.id, "a note", who="alice")
    audit = AuditJournal()
    for i in range(25):
        target = f"temporal:default/wf-{i}"
        audit.append(context="prod", action="retry", engine="temporal", target=target,
                     outcome="ok", request_id=f"r{i % 3}")  # fmt: skip
    runs = RunJournal()
    run = runs.create(runbook="stuck", path="s.yaml", source="x", context="prod",
                      engine="t", identity="alice", params={}, answers={}, cursor="a",
                      dry_run=False)  # fmt: skip
    runs.set_step(run.id, "a", "done", result={"n": 1})
    for text in ("first", "second", "third"):
        runs.note(run.id, text)
    approvals = ApprovalStore()
    request = approvals.create(
        context="prod", change=ChangeRequest("terminate", "temporal", ("t:1",), "r"),
        plan={"calls": []}, decision=Decision("approve", ("big",), 1, ()),
        requester=Identity("alice", ()), expires_in=600,
    )  # fmt: skip
    approvals.approve(request.id, Identity("bob", ()))
    chaos = ChaosRunStore()
    chaos_run = chaos.create(experiment_path="e.yaml", source="{}", title="t", context="s",
                             config="{}", dry_run=True)  # fmt: skip
    chaos.claim_rollback(chaos_run.id, 0, "undo")
    for drain in ("d1", "d2"):
        journal = DrainJournal.open(drain)
        journal.set_meta("spec", "{}")
        journal.mark([("m#0", "m", "sent", "work", None), ("n#0", "n", "archived", None, None)])
        journal.close()
    return {"audit": 25, "run": 1, "request": 1, "chaos": 1}


def test_copy_moves_the_whole_history_with_the_chain_intact(fresh_database: str) -> None:
    sqlite_history()
    done = opsdeck("store", "copy", "--to", fresh_database, "-o", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["audit"] == {"records": 25, "verified": True}
    assert report["rows"]["runbooks.transcript"] == 3
    assert report["rows"]["drains.messages"] == 4 and report["rows"]["approvals.verdicts"] == 1
    assert report["rows"]["incidents.incidents"] == 1 and report["rows"]["incidents.notes"] == 1
    settings = StoreSettings(fresh_database)
    audit = AuditJournal(store=open_store("audit", settings=settings))
    assert audit.verify_detail().records == 25 and audit.verify() is None
    assert audit.list(1)[0].hash == AuditJournal().list(1)[0].hash  # the same chain
    assert len(audit.list(None, request_id="r1")) == 8
    from console.incidents.store import IncidentStore

    incidents = IncidentStore(open_store("incidents", settings=settings))
    (incident,) = incidents.incidents()
    assert [n.text for n in incidents.notes(incident.id)] == ["a note"]
    assert len(audit.list(None, incident=incident.id)) == 25  # tagged, and the chain verified
    runs = RunJournal(store=open_store("runbooks", settings=settings))
    (run,) = runs.runs()
    assert [t["text"] for t in runs.transcript(run.id)] == ["first", "second", "third"]
    assert runs.steps(run.id)["a"].result == {"n": 1}
    (request,) = ApprovalStore(store=open_store("approvals", settings=settings)).list()
    assert [v.user for v in request.verdicts] == ["bob"]
    chaos = ChaosRunStore(store=open_store("chaos", settings=settings))
    assert chaos.rollbacks(chaos.runs()[0].id)[0]["name"] == "undo"
    for drain in ("d1", "d2"):
        journal = DrainJournal(store=open_store("drains", settings=settings), drain=drain)
        assert journal.counts() == {"sent": 1, "archived": 1}
        assert journal.get_meta("spec") == "{}"
    # The journals, pointed at the team store, carry on the copied chain.
    verify = opsdeck("audit", "verify", "-o", "json", env_url=fresh_database)
    assert json.loads(verify.stdout)["records"] == 25, verify.stderr
    # A second copy would fork the chain: refused, nothing written.
    again = opsdeck("store", "copy", "--to", fresh_database)
    assert again.returncode == 1
    assert "already holds 25 audit record(s)" in again.stderr
    assert audit.verify_detail().records == 25


def test_postgres_store_must_be_migrated_first(fresh_database: str) -> None:
    status = opsdeck("store", "status", "-o", "json", env_url=fresh_database)
    assert status.returncode == 2
    journals = json.loads(status.stdout)["journals"]
    assert {j["state"] for j in journals} == {"outdated: run opsdeck store migrate"}
    listed = opsdeck("audit", "list", env_url=fresh_database)
    assert listed.returncode == 2
    assert "has no opsdeck schema yet" in listed.stderr
    assert "run `opsdeck store migrate`" in listed.stderr
    assert "Traceback" not in listed.stderr
    migrated = opsdeck("store", "migrate", "-o", "json", env_url=fresh_database)
    assert migrated.returncode == 0, migrated.stderr
    assert {j["journal"]: j["to"] for j in json.loads(migrated.stdout)["journals"]} == {
        "audit": 2, "runbooks": 1, "approvals": 1, "chaos": 2, "drains": 2, "incidents": 1,
    }  # fmt: skip
    again = json.loads(opsdeck("store", "migrate", "-o", "json", env_url=fresh_database).stdout)
    assert all(j["applied"] == [] for j in again["journals"])  # idempotent
    assert opsdeck("audit", "list", env_url=fresh_database).returncode == 0


def test_a_schema_older_or_newer_than_the_code_is_a_clear_error(fresh_database: str) -> None:
    from console.cli_store import migrate_all

    settings = StoreSettings(fresh_database)
    migrate_all(settings)
    import psycopg

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("UPDATE opsdeck_chaos.schema_versions SET version = 1")
        conn.execute("UPDATE opsdeck_audit.schema_versions SET version = 7")
    with pytest.raises(StoreSchemaError, match="is at schema version 1; this opsdeck needs"):
        open_store("chaos", settings=settings)
    with pytest.raises(StoreSchemaError, match="newer than this opsdeck knows"):
        open_store("audit", settings=settings)
    shown = opsdeck("chaos", "runs", env_url=fresh_database)
    assert shown.returncode == 2 and "run `opsdeck store migrate`" in shown.stderr
    migrated = opsdeck("store", "migrate", env_url=fresh_database)
    assert migrated.returncode == 2 and "upgrade opsdeck" in migrated.stderr


def old_chaos_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)  # a store from before --var values were kept
    db.execute(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, experiment_path TEXT NOT NULL, source TEXT "
        "NOT NULL, title TEXT NOT NULL, context TEXT NOT NULL, config TEXT NOT NULL, started "
        "TEXT NOT NULL, ended TEXT, status TEXT NOT NULL, deviated INTEGER NOT NULL DEFAULT 0,"
        " dry_run INTEGER NOT NULL DEFAULT 0, journal_path TEXT NOT NULL, owner TEXT NOT NULL)"
    )
    db.execute(
        "INSERT INTO runs VALUES ('cx-1', 'e.yaml', '{}', 't', 's', '{}', "
        "'2026-01-01T00:00:00.000Z', NULL, 'completed', 0, 0, 'j.json', 'h:1')"
    )
    db.commit()
    db.close()


def test_an_old_sqlite_file_migrates_itself_on_open(tmp_path: Path) -> None:
    path = tmp_path / "chaos.db"
    old_chaos_file(path)
    store = ChaosRunStore(path)
    assert store.get("cx-1").variables == {}
    rows = sqlite3.connect(path).execute("SELECT journal, version FROM schema_versions")
    assert rows.fetchall() == [("chaos", 2)]


def test_sqlite_status_and_migrate_and_the_config_flag(fresh_database: str, tmp_path: Path) -> None:
    AuditJournal().append(context="p", action="a", engine="e", target="t", outcome="ok")
    code = opsdeck("store", "status", "-o", "json")
    status = json.loads(code.stdout)
    assert status["backend"] == "sqlite" and status["url"] is None
    states = {j["journal"]: j["state"] for j in status["journals"]}
    assert states["audit"] == "ok" and states["chaos"] == "none"
    table = opsdeck("store", "status").stdout
    assert "SQLite files, the embedded default" in table
    migrated = json.loads(opsdeck("store", "migrate", "-o", "json").stdout)
    assert [j["journal"] for j in migrated["journals"]] == ["audit"]  # the files that exist
    # --config FILE: every journal of that command uses that file's store.
    config = tmp_path / "team.yaml"
    config.write_text(f"store:\n  url: {fresh_database}\n", encoding="utf-8")
    assert opsdeck("--config", str(config), "store", "migrate").returncode == 0
    verify = json.loads(opsdeck("--config", str(config), "audit", "verify", "-o", "json").stdout)
    assert verify["path"] == fresh_database and verify["records"] == 0
    assert json.loads(opsdeck("audit", "verify", "-o", "json").stdout)["records"] == 1


def test_store_migrate_reports_what_it_did_to_old_sqlite_files(tmp_path: Path) -> None:
    old_chaos_file(tmp_path / "data" / "opsdeck" / "chaos.db")
    status = json.loads(opsdeck("store", "status", "-o", "json").stdout)
    (chaos,) = [j for j in status["journals"] if j["journal"] == "chaos"]
    assert (chaos["version"], chaos["needed"], chaos["state"]) == (
        0, 2, "outdated: run opsdeck store migrate",
    )  # fmt: skip
    migrated = json.loads(opsdeck("store", "migrate", "-o", "json").stdout)["journals"]
    assert [(j["journal"], j["from"], j["to"], j["applied"]) for j in migrated] == [
        ("chaos", 0, 2, [1, 2])
    ]
    assert ChaosRunStore().get("cx-1").variables == {}
