"""The run journal: every runbook run, its step states and results (SQLite, WAL).

Lives next to the audit journal, ``$XDG_DATA_HOME/opsdeck/runbooks.db``. A run stores
the runbook's source text, so a resume runs exactly what was started even if the file
changed since. Each write is its own committed transaction (synchronous=FULL): a
killed process leaves the journal at the last finished write.

Step states: pending, running, applying (an action's request id is journaled before
apply, so a resume reuses it and the ActionRunner skips targets already done), done,
failed, skipped, waiting (for an answer, confirmation or approval).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import AuditError, NotFound, UsageError
from console.sqlite_journal import data_dir, now_text, open_journal, owner_alive, owner_id

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    runbook TEXT NOT NULL,
    path TEXT NOT NULL,
    source TEXT NOT NULL,
    context TEXT NOT NULL,
    engine TEXT NOT NULL,
    identity TEXT NOT NULL,
    params TEXT NOT NULL,
    answers TEXT NOT NULL,
    status TEXT NOT NULL,
    cursor TEXT,
    dry_run INTEGER NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    owner TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT NOT NULL DEFAULT '{}',
    request_id TEXT,
    message TEXT NOT NULL DEFAULT '',
    started TEXT,
    finished TEXT,
    PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS approvals (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id, identity)
);
CREATE TABLE IF NOT EXISTS transcript (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    time TEXT NOT NULL,
    step_id TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transcript_run ON transcript(run_id);
"""


def default_journal_path() -> Path:
    return data_dir() / "runbooks.db"


@dataclass
class StepRecord:
    step_id: str
    state: str
    result: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    message: str = ""
    started: str | None = None
    finished: str | None = None


@dataclass
class RunRecord:
    id: str
    runbook: str
    path: str
    source: str
    context: str
    engine: str
    identity: str
    params: dict[str, Any]
    answers: dict[str, str]
    status: str
    cursor: str | None
    dry_run: bool
    message: str
    created: str
    updated: str

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "runbook": self.runbook,
            "status": self.status,
            "step": self.cursor,
            "context": self.context,
            "identity": self.identity,
            "dry_run": self.dry_run,
            "message": self.message,
            "created": self.created,
            "updated": self.updated,
        }


class RunJournal:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_journal_path()
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    @staticmethod
    def new_id() -> str:
        return "rb-" + uuid.uuid4().hex[:12]

    def _conn(self) -> sqlite3.Connection:
        with self._lock:
            if self._db is None:
                self._db = open_journal(self.path, _SCHEMA, "run journal")
            return self._db

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn().execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise AuditError(f"run journal {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- runs ------------------------------------------------------------------------

    def create(
        self,
        *,
        runbook: str,
        path: str,
        source: str,
        context: str,
        engine: str,
        identity: str,
        params: dict[str, Any],
        answers: dict[str, str],
        cursor: str | None,
        dry_run: bool,
    ) -> RunRecord:
        run_id = self.new_id()
        now = now_text()
        self._exec(
            "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
            (
                run_id,
                runbook,
                path,
                source,
                context,
                engine,
                identity,
                json.dumps(params, default=str),
                json.dumps(answers),
                "running",
                cursor,
                int(dry_run),
                "",
                now,
                now,
            ),
        )
        return self.get(run_id)

    def get(self, run_id: str) -> RunRecord:
        rows = self._exec("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFound(
                f"no runbook run {run_id!r}", hint="`opsdeck runbook runs` lists the runs"
            )
        r = rows[0]
        return RunRecord(
            id=r["id"],
            runbook=r["runbook"],
            path=r["path"],
            source=r["source"],
            context=r["context"],
            engine=r["engine"],
            identity=r["identity"],
            params=json.loads(r["params"]),
            answers=json.loads(r["answers"]),
            status=r["status"],
            cursor=r["cursor"],
            dry_run=bool(r["dry_run"]),
            message=r["message"],
            created=r["created"],
            updated=r["updated"],
        )

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._exec("SELECT id FROM runs ORDER BY created DESC LIMIT ?", (limit,))
        return [self.get(r["id"]) for r in rows]

    def update_run(self, run_id: str, **fields: Any) -> None:
        if "answers" in fields:
            fields["answers"] = json.dumps(fields["answers"])
        fields["updated"] = now_text()
        names = ", ".join(f"{k} = ?" for k in fields)
        self._exec(f"UPDATE runs SET {names} WHERE id = ?", (*fields.values(), run_id))

    def claim(self, run_id: str) -> None:
        """Mark the run as driven by this process; refuse if another live process drives it.

        A killed driver leaves its claim behind: a claim by a process that no longer
        exists on this host is taken over (that is how a resume after a crash works).
        """
        me = owner_id()
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute("SELECT owner FROM runs WHERE id = ?", (run_id,)).fetchone()
                owner = row["owner"] if row else None
                if owner and owner != me and owner_alive(owner):
                    db.execute("ROLLBACK")
                    raise UsageError(
                        f"run {run_id} is being run by another process ({owner})",
                        hint="wait for it, or stop that process first",
                    )
                db.execute("UPDATE runs SET owner = ? WHERE id = ?", (me, run_id))
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise AuditError(f"run journal {self.path}: {exc}") from None

    def release(self, run_id: str) -> None:
        self._exec("UPDATE runs SET owner = NULL WHERE id = ?", (run_id,))

    # -- steps -----------------------------------------------------------------------

    def steps(self, run_id: str) -> dict[str, StepRecord]:
        rows = self._exec("SELECT * FROM steps WHERE run_id = ?", (run_id,))
        return {
            r["step_id"]: StepRecord(
                r["step_id"],
                r["state"],
                json.loads(r["result"]),
                r["request_id"],
                r["message"],
                r["started"],
                r["finished"],
            )
            for r in rows
        }

    def set_step(
        self,
        run_id: str,
        step_id: str,
        state: str,
        *,
        result: dict[str, Any] | None = None,
        request_id: str | None = None,
        message: str = "",
        fresh: bool = False,
    ) -> None:
        """``fresh``: the run arrives at the step anew (a goto may repeat it), so nothing
        of an earlier pass is kept; otherwise the start time and request id are kept."""
        now = now_text()
        finished = now if state in ("done", "failed", "skipped") else None
        with self._lock:
            old = (
                []
                if fresh
                else self._exec(
                    "SELECT started, request_id FROM steps WHERE run_id = ? AND step_id = ?",
                    (run_id, step_id),
                )
            )
            started = old[0]["started"] if old and old[0]["started"] else now
            request_id = request_id or (old[0]["request_id"] if old else None)
            body = json.dumps(result if result is not None else {}, default=str)
            self._exec(
                "INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?)",
                (run_id, step_id, state, body, request_id, message, started, finished),
            )

    # -- approvals and transcript -----------------------------------------------------

    def approve(self, run_id: str, step_id: str, identity: str) -> None:
        self._exec(
            "INSERT OR IGNORE INTO approvals VALUES (?,?,?,?)",
            (run_id, step_id, identity, now_text()),
        )

    def approvals(self, run_id: str, step_id: str) -> list[str]:
        rows = self._exec(
            "SELECT identity FROM approvals WHERE run_id = ? AND step_id = ? ORDER BY time",
            (run_id, step_id),
        )
        return [r["identity"] for r in rows]

    def note(self, run_id: str, text: str, step_id: str | None = None) -> None:
        self._exec(
            "INSERT INTO transcript (run_id, time, step_id, text) VALUES (?,?,?,?)",
            (run_id, now_text(), step_id, text),
        )

    def transcript(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._exec(
            "SELECT time, step_id, text FROM transcript WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [dict(r) for r in rows]
