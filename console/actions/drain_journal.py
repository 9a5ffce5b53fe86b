"""The drain journal: per drain, the state of every message, keyed by ``dedup_id#redrives``.

Embedded: one SQLite file per drain (``$XDG_DATA_HOME/opsdeck/drains/<id>.db``, WAL,
synchronous=FULL), its rows under drain ``''``. Team store: one PostgreSQL table for all
drains, rows keyed by (drain id, key). One SQL serves both; see console.actions.drain
for how a drain uses the states.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from console.stores.migrations import Schema, Step

if TYPE_CHECKING:
    from console.stores.port import Database

PARK = "park"
DONE_STATES = ("sent", "parked", "dropped")

_SQLITE_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    key TEXT PRIMARY KEY,
    dedup_id TEXT NOT NULL,
    state TEXT NOT NULL,
    target TEXT,
    reason TEXT,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_state ON messages(state);
"""
# Files made before the team store: every row is this file's drain ('').
_SQLITE_V2 = """
ALTER TABLE meta ADD COLUMN drain TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN drain TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX IF NOT EXISTS meta_drain_key ON meta(drain, key);
CREATE UNIQUE INDEX IF NOT EXISTS messages_drain_key ON messages(drain, key);
"""
_POSTGRES_V1 = """
CREATE TABLE meta (
    drain TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (drain, key)
);
CREATE TABLE messages (
    drain TEXT NOT NULL,
    key TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    state TEXT NOT NULL,
    target TEXT,
    reason TEXT,
    updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (drain, key)
);
CREATE INDEX messages_state ON messages(drain, state);
"""

SCHEMA = Schema(
    "drains",
    (Step(1, _SQLITE_V1, _POSTGRES_V1), Step(2, _SQLITE_V2, "", note="drain column")),
)


def drains_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "opsdeck" / "drains"


class DrainJournal:
    """Per-drain state of every message; each write is one committed transaction."""

    def __init__(
        self, path: Path | None = None, *, store: Database | None = None, drain: str = ""
    ) -> None:
        """``path``: this drain's SQLite file; else ``store`` holding drain ``drain``."""
        if store is None:
            from console.stores.settings import open_store

            if path is None:
                raise ValueError("a drain journal needs a path or a store")
            store = open_store("drains", path)
        self.path = path
        self.db = store
        self.drain = drain
        self._lock = threading.Lock()

    @classmethod
    def open(cls, drain_id: str, journal_dir: Path | None = None) -> DrainJournal:
        """The journal of ``drain_id``: a file in ``journal_dir`` when given, else in the
        configured team store, else a file in the default drains directory."""
        if journal_dir is None:
            from console.stores.settings import current_settings, open_store

            settings = current_settings()
            if settings is not None:
                return cls(store=open_store("drains", settings=settings), drain=drain_id)
        return cls((journal_dir or drains_dir()) / f"{drain_id}.db")

    @property
    def location(self) -> str:
        if self.path is not None:
            return str(self.path)
        return f"{self.db.location}#drain={self.drain}"

    def get_meta(self, key: str) -> str | None:
        rows = self.db.execute(
            "SELECT value FROM meta WHERE drain = ? AND key = ?", (self.drain, key)
        )
        return None if not rows else str(rows[0]["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (drain, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (drain, key) DO UPDATE SET value = excluded.value",
            (self.drain, key, value),
        )

    def states(self, keys: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT key, state FROM messages WHERE drain = ? AND key IN ({marks})",
                (self.drain, *chunk),
            ):
                out[row["key"]] = row["state"]
        return out

    def mark(self, rows: Sequence[tuple[str, str, str, str | None, str | None]]) -> None:
        """(key, dedup_id, state, target, reason) rows, in one transaction."""
        now = time.time()
        with self._lock, self.db.transaction():
            self.db.executemany(
                "INSERT INTO messages (drain, key, dedup_id, state, target, reason, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (drain, key) DO UPDATE SET "
                "state = excluded.state, updated = excluded.updated",
                [(self.drain, *row, now) for row in rows],
            )

    def counts(self) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT state, COUNT(*) AS n FROM messages WHERE drain = ? GROUP BY state",
            (self.drain,),
        )
        return {row["state"]: int(row["n"]) for row in rows}

    def settle_committed(self) -> int:
        """Archived rows whose batch committed before a crash: now in their done state."""
        with self._lock, self.db.transaction():
            rows = self.db.execute(
                "SELECT key, target FROM messages WHERE drain = ? AND state = 'archived'",
                (self.drain,),
            )
            for row in rows:
                target = row["target"]
                state = "dropped" if target is None else ("parked" if target == PARK else "sent")
                self.db.execute(
                    "UPDATE messages SET state = ? WHERE drain = ? AND key = ?",
                    (state, self.drain, row["key"]),
                )
        return len(rows)

    def close(self) -> None:
        self.db.close()
