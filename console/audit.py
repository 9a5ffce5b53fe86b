"""Append-only, hash-chained audit journal (SQLite, or the team's PostgreSQL store).

One record per target of every change to a live system. Each record's ``hash`` is
SHA-256 over the canonical JSON of the record (every column but ``hash``, ``prev_hash``
included) so altering, inserting or deleting a row breaks the chain from that row on;
``verify()`` recomputes it and names the first broken record. SQL triggers refuse
UPDATE and DELETE, so only someone who drops them (an attacker, or a test playing one)
can tamper, and verify() catches that.

Parameters are masked before they are written: values under configured PII field
names, and under keys that look secret (password, token, secret...), at any depth,
become ``"***"``.

A record written while an incident is current (console.incidents.store.incident_tag:
``--incident``, ``$OPSDECK_INCIDENT``, or the context's open incident) carries its id
in ``incident`` (schema version 2). The hash covers ``incident`` only when it is set,
so records written before version 2 (and untagged ones) hash exactly as they did and
the chain verifies across the upgrade.

The database lives at ``$XDG_DATA_HOME/opsdeck/audit.db`` (platformdirs' user data
dir), or in the PostgreSQL store the config names (console.stores); it is opened on
first use, so read-only commands never create it. One chain, whatever the number of
writers: an append reads the last hash and inserts inside the store's serialized
transaction (SQLite BEGIN IMMEDIATE, PostgreSQL an advisory lock).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from console.stores.migrations import Schema, Step

if TYPE_CHECKING:
    from console.stores.port import Database

MASK = "***"
GENESIS = "0" * 64
_ALWAYS_MASKED = ("password", "token", "secret")

_COLUMNS = (
    "id",
    "time",
    "os_user",
    "identity",
    "context",
    "action",
    "engine",
    "target",
    "parameters",
    "reason",
    "outcome",
    "message",
    "request_id",
    "run_id",
    "prev_hash",
)

_SQLITE_V1 = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    os_user TEXT NOT NULL,
    identity TEXT,
    context TEXT NOT NULL,
    action TEXT NOT NULL,
    engine TEXT NOT NULL,
    target TEXT NOT NULL,
    parameters TEXT NOT NULL,
    reason TEXT NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL,
    request_id TEXT NOT NULL,
    run_id TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time);
CREATE INDEX IF NOT EXISTS audit_request ON audit(request_id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END;
"""

# Same columns; ids are assigned by append() under the lock, so no identity column.
_POSTGRES_V1 = """
CREATE TABLE audit (
    id BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    os_user TEXT NOT NULL,
    identity TEXT,
    context TEXT NOT NULL,
    action TEXT NOT NULL,
    engine TEXT NOT NULL,
    target TEXT NOT NULL,
    parameters TEXT NOT NULL,
    reason TEXT NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT NOT NULL,
    request_id TEXT NOT NULL,
    run_id TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_time ON audit(time);
CREATE INDEX audit_request ON audit(request_id);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit journal is append-only'; END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"""

_V2 = """
ALTER TABLE audit ADD COLUMN incident TEXT;
CREATE INDEX audit_incident ON audit(incident);
"""

SCHEMA = Schema(
    "audit",
    (Step(1, _SQLITE_V1, _POSTGRES_V1), Step(2, _V2, _V2, "incident tag (issue 15)")),
)
_TAG_TTL = 2.0  # seconds an incident lookup is reused: a 1,000-target batch asks once


def default_audit_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "opsdeck" / "audit.db"


def mask(value: Any, pii_fields: Iterable[str] = ()) -> Any:
    """A copy of ``value`` with PII and secret-looking keys replaced by ``***``.

    Strings holding a JSON object or array (e.g. a signal's raw input) are masked
    inside too, so a PII field cannot slip through as text.
    """
    fields = {f.lower() for f in pii_fields}

    def hidden(key: str) -> bool:
        low = key.lower()
        return low in fields or any(word in low for word in _ALWAYS_MASKED)

    def walk(obj: Any) -> Any:
        if isinstance(obj, Mapping):
            return {str(k): MASK if hidden(str(k)) else walk(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [walk(v) for v in obj]
        if isinstance(obj, str) and obj[:1] in ("{", "["):
            try:
                parsed = json.loads(obj)
            except ValueError:
                return obj
            return json.dumps(walk(parsed), sort_keys=True)
        return obj

    return walk(value)


@dataclass(frozen=True)
class AuditRecord:
    id: int
    time: str
    os_user: str
    identity: str | None
    context: str
    action: str
    engine: str
    target: str
    parameters: Mapping[str, Any]
    reason: str
    outcome: str
    message: str
    request_id: str
    run_id: str | None
    prev_hash: str
    hash: str
    incident: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*_COLUMNS, "hash", "incident")} | {
            "parameters": dict(self.parameters)
        }


@dataclass(frozen=True)
class VerifyResult:
    records: int
    broken_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def _record_hash(row: Mapping[str, Any]) -> str:
    body = {name: row[name] for name in _COLUMNS}
    if row.get("incident") is not None:  # absent from the hash when unset: old records
        body["incident"] = row["incident"]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((canonical + row["prev_hash"]).encode("utf-8")).hexdigest()


def _iso(when: datetime) -> str:
    """Fixed-width UTC ISO-8601 with a Z, so text order is time order."""
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): fall back to the uid
        return f"uid:{os.getuid()}"


class AuditJournal:
    def __init__(
        self,
        path: Path | None = None,
        *,
        pii_fields: Iterable[str] = (),
        store: Database | None = None,
    ) -> None:
        """``path``: this SQLite file; ``store``: this open store; neither: the configured
        store (console.stores.settings), else the default file."""
        self._explicit_path = path
        self.path = path or default_audit_path()
        self.pii_fields = tuple(pii_fields)
        self._db: Database | None = store
        # One store object, shared by the event loop and any worker thread (the TUI).
        self._lock = threading.RLock()
        self._tag: tuple[float, str, str | None] | None = None  # (when, context, incident)

    @property
    def location(self) -> str:
        """Where the records are: the SQLite path or the store URL (password redacted)."""
        return self._conn().location

    def _conn(self) -> Database:
        with self._lock:
            if self._db is None:
                from console.stores.settings import open_store

                self._db = open_store("audit", self._explicit_path)
            return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def append(
        self,
        *,
        context: str,
        action: str,
        engine: str,
        target: str,
        outcome: str,
        parameters: Mapping[str, Any] | None = None,
        reason: str = "",
        message: str = "",
        request_id: str = "",
        identity: str | None = None,
        run_id: str | None = None,
        time: datetime | None = None,
        incident: str | None = None,
    ) -> AuditRecord:
        """Write one record, chained to the last; returns it with its id and hash.
        ``incident``: None tags it with the current incident of ``context``, if any."""
        masked = mask(dict(parameters or {}), self.pii_fields)
        fields: dict[str, Any] = {
            "time": _iso(time or datetime.now(UTC)),
            "os_user": _os_user(),
            "identity": identity,
            "context": context,
            "action": action,
            "engine": engine,
            "target": target,
            "parameters": json.dumps(masked, sort_keys=True, ensure_ascii=False, default=str),
            "reason": reason,
            "outcome": outcome,
            "message": message,
            "request_id": request_id,
            "run_id": run_id,
            "incident": incident or self._incident_tag(context),
        }
        with self._lock:
            return self._append(fields)

    def _incident_tag(self, context: str) -> str | None:
        import time as clock

        from console.incidents.store import incident_tag

        now = clock.monotonic()
        cached = self._tag
        if cached is not None and cached[1] == context and now - cached[0] < _TAG_TTL:
            return cached[2]
        found = incident_tag(context)
        self._tag = (now, context, found)
        return found

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Appends inside share one transaction: one commit (one fsync) for a batch job's
        many outcomes instead of one each; all or none of them is written."""
        with self._lock, self._conn().transaction():
            yield

    def _append(self, fields: dict[str, Any]) -> AuditRecord:
        db = self._conn()
        with db.transaction():  # one writer at a time keeps the chain linear
            last = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
            row: dict[str, Any] = {"id": (last[0]["id"] + 1) if last else 1, **fields}
            row["prev_hash"] = last[0]["hash"] if last else GENESIS
            row["hash"] = _record_hash(row)
            insert_records(db, [row])
        return _to_record(row)

    def list(
        self,
        limit: int | None = 50,
        *,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        request_id: str | None = None,
        run_id: str | None = None,
        incident: str | None = None,
    ) -> list[AuditRecord]:
        """Newest first."""
        where, args = [], []
        for column, value in (
            ("action", action),
            ("request_id", request_id),
            ("run_id", run_id),
            ("incident", incident),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if target is not None:
            where.append("target LIKE ?")
            args.append(f"%{target}%")
        if since is not None:
            where.append("time >= ?")
            args.append(_iso(since))
        sql = "SELECT * FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            return [_to_record(r) for r in self._conn().execute(sql, args)]

    def get(self, record_id: int) -> AuditRecord | None:
        with self._lock:
            rows = self._conn().execute("SELECT * FROM audit WHERE id = ?", (record_id,))
        return _to_record(rows[0]) if rows else None

    def count(self) -> int:
        with self._lock:
            return int(self._conn().execute("SELECT COUNT(*) AS n FROM audit")[0]["n"])

    def _rows(self) -> Iterator[Mapping[str, Any]]:
        with self._lock:
            rows = self._conn().execute("SELECT * FROM audit ORDER BY id")
        yield from rows

    def verify_detail(self) -> VerifyResult:
        """Recompute the chain; the first record whose hash or link is wrong is named."""
        prev_hash, expected_id, count = GENESIS, 1, 0
        for row in self._rows():
            count += 1
            if row["id"] != expected_id:
                return VerifyResult(
                    count, row["id"], f"records {expected_id}..{row['id'] - 1} are missing"
                )
            if row["prev_hash"] != prev_hash:
                return VerifyResult(count, row["id"], "not chained to the previous record")
            if _record_hash(row) != row["hash"]:
                return VerifyResult(count, row["id"], "content does not match its hash")
            prev_hash, expected_id = row["hash"], expected_id + 1
        return VerifyResult(count)

    def verify(self) -> int | None:
        """The id of the first broken record, or None when the chain is intact."""
        return self.verify_detail().broken_id

    def export_jsonl(self, fp: IO[str]) -> int:
        """Every record, oldest first, one JSON object per line; returns the count."""
        count = 0
        for row in self._rows():
            fp.write(json.dumps(_to_record(row).as_dict(), ensure_ascii=False) + "\n")
            count += 1
        return count


def insert_records(db: Database, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert finished rows (hash included) as they are; append() and store copy use it."""
    names = (*_COLUMNS, "hash", "incident")
    marks = ", ".join("?" for _ in names)
    db.executemany(
        f"INSERT INTO audit ({', '.join(names)}) VALUES ({marks})",
        [tuple(row.get(n) for n in names) for row in rows],
    )


def _to_record(row: Mapping[str, Any]) -> AuditRecord:
    data = {name: row[name] for name in (*_COLUMNS, "hash")}
    data["incident"] = row.get("incident")
    try:
        data["parameters"] = json.loads(data["parameters"])
    except ValueError:
        data["parameters"] = {"unparsable": data["parameters"]}
    return AuditRecord(**data)
