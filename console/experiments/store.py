"""The chaos run store: every experiment run and the rollbacks done for it.

``$XDG_DATA_HOME/opsdeck/chaos.db``, or the configured PostgreSQL store
(console.stores); each run's Chaos Toolkit journal is written to
``$XDG_DATA_HOME/opsdeck/chaos/<run id>/journal.json``. A run keeps the experiment's
text, so ``chaos rollback RUN`` undoes exactly what was run even if the file changed.

A rollback is claimed (row inserted, ``running``) before it runs and marked ``done``
after, so two ``chaos rollback`` calls never run one twice. A run whose process is gone
while its status still says ``running`` reads as ``interrupted``.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import NotFound
from console.sqlite_journal import data_dir, now_text, owner_alive, owner_id
from console.stores.migrations import Schema, Step

if TYPE_CHECKING:
    from console.stores.port import Database, Row

STATUSES = ("running", "completed", "failed", "aborted", "interrupted")

_SQLITE_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    experiment_path TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    context TEXT NOT NULL,
    config TEXT NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    status TEXT NOT NULL,
    deviated INTEGER NOT NULL DEFAULT 0,
    dry_run INTEGER NOT NULL DEFAULT 0,
    journal_path TEXT NOT NULL,
    owner TEXT NOT NULL,
    variables TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS rollbacks (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
);
"""


@dataclass(frozen=True)
class RunRow:
    id: str
    experiment_path: str
    source: str
    title: str
    context: str
    config: str
    started: str
    ended: str | None
    status: str  # as shown: a dead 'running' run reads 'interrupted'
    deviated: bool
    dry_run: bool
    journal_path: str
    owner: str
    variables: dict[str, Any]  # the run's --var values, for its rollbacks later

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "experiment": self.experiment_path,
            "context": self.context,
            "status": self.status,
            "deviated": self.deviated,
            "dry_run": self.dry_run,
            "started": self.started,
            "ended": self.ended,
            "journal": self.journal_path,
        }


def _add_variables(db: Database) -> None:
    columns = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
    if "variables" not in columns:  # stores made before --var was kept
        db.execute("ALTER TABLE runs ADD COLUMN variables TEXT NOT NULL DEFAULT '{}'")


_POSTGRES_V1 = (
    _SQLITE_V1.replace("IF NOT EXISTS ", "")
    .replace("deviated INTEGER", "deviated SMALLINT")
    .replace("dry_run INTEGER", "dry_run SMALLINT")
)

SCHEMA = Schema(
    "chaos",
    (
        Step(1, _SQLITE_V1, _POSTGRES_V1),
        Step(2, _add_variables, "", note="runs.variables (PostgreSQL had it from 1)"),
    ),
)


class ChaosRunStore:
    def __init__(self, path: Path | None = None, *, store: Database | None = None) -> None:
        """``path``: this SQLite file; ``store``: this open store; neither: the configured
        store, else the default file. Journals of runs are files beside ``path``."""
        self._explicit_path = path
        self.path = path or data_dir() / "chaos.db"
        self._db: Database | None = store
        self._lock = threading.RLock()

    def _conn(self) -> Database:
        with self._lock:
            if self._db is None:
                from console.stores.settings import open_store

                self._db = open_store("chaos", self._explicit_path)
            return self._db

    @property
    def location(self) -> str:
        return self._conn().location

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        with self._lock:
            return self._conn().execute(sql, args)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @staticmethod
    def new_id() -> str:
        return "cx-" + uuid.uuid4().hex[:12]

    def run_dir(self, run_id: str) -> Path:
        return self.path.parent / "chaos" / run_id

    def create(
        self,
        *,
        experiment_path: str,
        source: str,
        title: str,
        context: str,
        config: str,
        dry_run: bool,
        variables: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> RunRow:
        run_id = run_id or self.new_id()
        journal = self.run_dir(run_id) / "journal.json"
        self._exec(
            "INSERT INTO runs (id, experiment_path, source, title, context, config, started,"
            " status, dry_run, journal_path, owner, variables) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                experiment_path,
                source,
                title,
                context,
                config,
                now_text(),
                "running",
                int(dry_run),
                str(journal),
                owner_id(),
                json.dumps(variables or {}, default=str),
            ),
        )
        return self.get(run_id)

    def finish(self, run_id: str, status: str, *, deviated: bool = False) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        self._exec(
            "UPDATE runs SET status = ?, deviated = ?, ended = ? WHERE id = ?",
            (status, int(deviated), now_text(), run_id),
        )

    def _row(self, r: Row) -> RunRow:
        status = r["status"]
        if status == "running" and not owner_alive(r["owner"]):
            status = "interrupted"  # kept, so a reused pid cannot make it look alive
            self._exec(
                "UPDATE runs SET status = ? WHERE id = ? AND status = 'running'",
                (status, r["id"]),
            )
        return RunRow(
            id=r["id"],
            experiment_path=r["experiment_path"],
            source=r["source"],
            title=r["title"],
            context=r["context"],
            config=r["config"],
            started=r["started"],
            ended=r["ended"],
            status=status,
            deviated=bool(r["deviated"]),
            dry_run=bool(r["dry_run"]),
            journal_path=r["journal_path"],
            owner=r["owner"],
            variables=json.loads(r["variables"] or "{}"),
        )

    def get(self, run_id: str) -> RunRow:
        rows = self._exec("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFound(f"no chaos run {run_id!r}", hint="`opsdeck chaos runs` lists them")
        return self._row(rows[0])

    def runs(self, limit: int = 50) -> list[RunRow]:
        rows = self._exec("SELECT * FROM runs ORDER BY started DESC, id LIMIT ?", (limit,))
        return [self._row(r) for r in rows]

    # -- rollbacks -----------------------------------------------------------------

    def claim_rollback(self, run_id: str, idx: int, name: str) -> bool:
        """True when this process may run rollback ``idx`` now (it is neither done nor
        being run by a live process); the claim is recorded before it runs."""
        with self._lock, self._conn().transaction():
            rows = self._exec(
                "SELECT status, owner FROM rollbacks WHERE run_id = ? AND idx = ?",
                (run_id, idx),
            )
            status = rows[0]["status"] if rows else None
            if status == "done" or (status == "running" and owner_alive(rows[0]["owner"])):
                return False
            self._exec(
                "INSERT INTO rollbacks VALUES (?,?,?,?,?,?) ON CONFLICT (run_id, idx) DO UPDATE "
                "SET name = excluded.name, status = excluded.status, owner = excluded.owner, "
                "time = excluded.time",
                (run_id, idx, name, "running", owner_id(), now_text()),
            )
            return True

    def rollback_done(self, run_id: str, idx: int, status: str = "done") -> None:
        """``done`` (ran, whatever its outcome) or ``failed`` (may be run again)."""
        self._exec(
            "UPDATE rollbacks SET status = ?, time = ? WHERE run_id = ? AND idx = ?",
            (status, now_text(), run_id, idx),
        )

    def rollbacks(self, run_id: str) -> dict[int, dict[str, str]]:
        rows = self._exec(
            "SELECT idx, name, status, time, owner FROM rollbacks WHERE run_id = ? ORDER BY idx",
            (run_id,),
        )
        out = {}
        for r in rows:
            status = r["status"]
            if status == "running" and not owner_alive(r["owner"]):
                status = "interrupted"
            out[int(r["idx"])] = {"name": r["name"], "status": status, "time": r["time"]}
        return out
