"""Versioned schemas: each journal lists its steps; ``schema_versions`` records where
each store is.

A step has DDL per dialect (SQLite and PostgreSQL differ in identity columns, triggers
and types) or a function for what DDL cannot say ("add the column if missing"). Steps
run in one serialized transaction, so two migrators never apply a step twice, and a
failed step leaves the version where it was.

SQLite files migrate on open (the embedded default keeps working without a command);
a PostgreSQL store is migrated by ``opsdeck store migrate`` only, and a journal refuses
to open on an older schema, with that command as the fix.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.stores.port import Database, StoreSchemaError

# journal -> module defining its SCHEMA
JOURNALS = {
    "audit": "console.audit",
    "runbooks": "console.runbook.journal",
    "approvals": "console.approvals.store",
    "chaos": "console.experiments.store",
    "drains": "console.actions.drain_journal",
    "incidents": "console.incidents.store",
}

_VERSIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_versions "
    "(journal TEXT PRIMARY KEY, version INTEGER NOT NULL, applied TEXT NOT NULL)"
)

Ddl = str | Callable[[Database], None]


@dataclass(frozen=True)
class Step:
    version: int
    sqlite: Ddl
    postgresql: Ddl
    note: str = ""


@dataclass(frozen=True)
class Schema:
    journal: str
    steps: tuple[Step, ...]

    @property
    def version(self) -> int:
        return self.steps[-1].version if self.steps else 0


def schema_for(journal: str) -> Schema:
    schema: Schema = importlib.import_module(JOURNALS[journal]).SCHEMA
    return schema


def current_version(db: Database) -> int:
    """The store's version of the journal; 0 when it has none (new, or before versions)."""
    if db.dialect == "sqlite":
        found = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'"
        )
    else:
        # The catalog itself, not to_regclass(): that may answer from this session's cache,
        # stale when another migrator committed while we waited for the lock.
        found = db.execute(
            "SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = 'schema_versions'",
            (db.namespace,),
        )
    if not found:
        return 0
    rows = db.execute("SELECT version FROM schema_versions WHERE journal = ?", (db.journal,))
    return int(rows[0]["version"]) if rows else 0


def migrate(db: Database) -> dict[str, Any]:
    """Apply the missing steps; {"journal", "from", "to", "applied": [versions]}."""
    from console.sqlite_journal import now_text

    schema = schema_for(db.journal)
    if current_version(db) == schema.version:  # the common case: no write lock taken
        return {"journal": db.journal, "from": schema.version, "to": schema.version, "applied": []}
    with db.transaction():
        before = current_version(db)
        _refuse_newer(db, schema, before)
        applied = []
        if before < schema.version:
            if db.dialect == "postgresql":
                db.script(f"CREATE SCHEMA IF NOT EXISTS {db.namespace}")
            db.script(_VERSIONS_DDL)
            for step in schema.steps:
                if step.version <= before:
                    continue
                ddl = step.sqlite if db.dialect == "sqlite" else step.postgresql
                if callable(ddl):
                    ddl(db)
                elif ddl.strip():
                    db.script(ddl)
                applied.append(step.version)
            db.execute(
                "INSERT INTO schema_versions (journal, version, applied) VALUES (?, ?, ?) "
                "ON CONFLICT (journal) DO UPDATE SET version = excluded.version, "
                "applied = excluded.applied",
                (db.journal, schema.version, now_text()),
            )
    return {"journal": db.journal, "from": before, "to": schema.version, "applied": applied}


def check(db: Database) -> None:
    """Refuse a store whose schema is not this opsdeck's, with the fix."""
    schema = schema_for(db.journal)
    found = current_version(db)
    _refuse_newer(db, schema, found)
    if found < schema.version:
        state = "has no opsdeck schema yet" if found == 0 else f"is at schema version {found}"
        raise StoreSchemaError(
            f"the {db.journal} journal in {db.location} {state}; this opsdeck needs "
            f"version {schema.version}",
            hint="run `opsdeck store migrate`",
        )


def _refuse_newer(db: Database, schema: Schema, found: int) -> None:
    if found > schema.version:
        raise StoreSchemaError(
            f"the {db.journal} journal in {db.location} is at schema version {found}, newer "
            f"than this opsdeck knows ({schema.version})",
            hint="upgrade opsdeck; an older one must not write to it",
        )
