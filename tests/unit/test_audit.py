"""Audit journal: hash chain, tamper detection, PII masking, append-only."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from console.audit import GENESIS, AuditJournal, default_audit_path, mask


def journal(tmp_path: Path, pii: tuple[str, ...] = ("email", "card_number")) -> AuditJournal:
    return AuditJournal(tmp_path / "audit.db", pii_fields=pii)


def add(j: AuditJournal, target: str = "temporal:default/wf-1", **params: object) -> int:
    record = j.append(
        context="prod",
        action="terminate",
        engine="temporal",
        target=target,
        outcome="ok",
        parameters=params,
        reason="stuck",
        request_id="req-1",
        identity="alice@example.com",
    )
    return record.id


def test_default_path_honours_xdg(tmp_path: Path) -> None:
    # conftest points XDG_DATA_HOME at tmp_path / "data"
    assert default_audit_path() == tmp_path / "data" / "opsdeck" / "audit.db"


def test_records_are_chained(tmp_path: Path) -> None:
    j = journal(tmp_path)
    ids = [add(j, f"temporal:default/wf-{i}") for i in range(3)]
    assert ids == [1, 2, 3]
    first, second = j.get(1), j.get(2)
    assert first and second
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert first.time.endswith("Z") and len(first.time) == 27
    assert first.os_user and first.identity == "alice@example.com"
    assert j.verify() is None
    result = j.verify_detail()
    assert result.ok and result.records == 3
    assert [r.id for r in j.list(limit=2)] == [3, 2]


def test_altered_record_is_named(tmp_path: Path) -> None:
    j = journal(tmp_path)
    for i in range(4):
        add(j, f"temporal:default/wf-{i}")
    j.close()
    db = sqlite3.connect(tmp_path / "audit.db")
    db.execute("DROP TRIGGER audit_no_update")  # what an attacker would do first
    db.execute("UPDATE audit SET outcome = 'failed' WHERE id = 2")
    db.commit()
    db.close()
    j = journal(tmp_path)
    assert j.verify() == 2
    assert "hash" in j.verify_detail().problem


def test_deleted_record_is_found(tmp_path: Path) -> None:
    j = journal(tmp_path)
    for i in range(4):
        add(j, f"temporal:default/wf-{i}")
    j.close()
    db = sqlite3.connect(tmp_path / "audit.db")
    db.execute("DROP TRIGGER audit_no_delete")
    db.execute("DELETE FROM audit WHERE id = 2")
    db.commit()
    db.close()
    assert journal(tmp_path).verify() == 3


def test_rehashed_record_still_breaks_the_chain(tmp_path: Path) -> None:
    """Recomputing the altered record's own hash is not enough: the next link breaks."""
    j = journal(tmp_path)
    for i in range(3):
        add(j, f"temporal:default/wf-{i}")
    j.close()
    db = sqlite3.connect(tmp_path / "audit.db")
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("UPDATE audit SET hash = ? WHERE id = 2", ("f" * 64,))
    db.commit()
    db.close()
    assert journal(tmp_path).verify() == 2


def test_append_only(tmp_path: Path) -> None:
    j = journal(tmp_path)
    add(j)
    j.close()
    db = sqlite3.connect(tmp_path / "audit.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET outcome = 'failed'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_pii_masked_at_any_depth(tmp_path: Path) -> None:
    j = journal(tmp_path)
    params = {
        "signal": "update",
        "input": {
            "customer": {"Email": "bob@example.com", "name": "Bob"},
            "items": [{"card_number": "4111111111111111"}],
        },
        "api_token": "t0k",
        "raw": json.dumps({"email": "x@y.z"}),
    }
    record_id = add(j, **params)
    raw = (tmp_path / "audit.db").read_bytes()
    for secret in (b"bob@example.com", b"4111111111111111", b"t0k", b"x@y.z"):
        assert secret not in raw
    record = j.get(record_id)
    assert record is not None
    assert record.parameters["input"]["customer"] == {"Email": "***", "name": "Bob"}
    assert record.parameters["input"]["items"] == [{"card_number": "***"}]
    assert record.parameters["api_token"] == "***"
    assert json.loads(record.parameters["raw"]) == {"email": "***"}


def test_mask_does_not_change_input() -> None:
    original = {"password": "p", "nested": {"secret_key": "s", "ok": 1}}
    assert mask(original) == {"password": "***", "nested": {"secret_key": "***", "ok": 1}}
    assert original["password"] == "p"


def test_export_jsonl_and_filters(tmp_path: Path) -> None:
    j = journal(tmp_path)
    add(j, "temporal:default/a")
    add(j, "temporal:default/b")
    out = io.StringIO()
    assert j.export_jsonl(out) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["target"] for line in lines] == ["temporal:default/a", "temporal:default/b"]
    assert set(lines[0]) >= {"id", "time", "hash", "prev_hash", "parameters", "outcome"}
    assert [r.target for r in j.list(target="/b")] == ["temporal:default/b"]
    assert j.list(request_id="other") == []
    assert j.get(99) is None


def test_not_created_until_used(tmp_path: Path) -> None:
    j = journal(tmp_path)
    assert not (tmp_path / "audit.db").exists()
    j.list()
    assert (tmp_path / "audit.db").exists()


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    """Threads sharing a journal, and a second journal on the same file, stay linear."""
    from concurrent.futures import ThreadPoolExecutor

    shared, other = journal(tmp_path), journal(tmp_path)
    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(
            pool.map(lambda i: add(shared if i % 2 else other, f"t:default/wf-{i}"), range(30))
        )
    assert sorted(ids) == list(range(1, 31))
    assert shared.verify() is None
