"""The store port: what a journal needs from a database, whichever back end.

Journals write one SQL text with ``?`` placeholders in the subset both SQLite and
PostgreSQL accept (``INSERT ... ON CONFLICT``, no ``INSERT OR ...``); the PostgreSQL
back end translates placeholders. Rows come back as plain dicts.

``transaction()`` serializes writers of one journal: SQLite takes the write lock up
front (``BEGIN IMMEDIATE``), PostgreSQL takes ``pg_advisory_xact_lock`` on the journal's
key. Inside it, ``execute`` on the same Database (same thread) runs in that transaction,
so a journal's read-check-write helpers need no connection passed around.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from console.errors import AuditError

Row = dict[str, Any]


class StoreError(AuditError):
    """A store could not be opened, read or written; names the journal and where it is."""

    title = "Store error"


class StoreSchemaError(StoreError):
    """The store's schema does not match this opsdeck (older: migrate; newer: upgrade)."""

    title = "Store schema"
    exit_code = 2


class Database(Protocol):
    """One journal's tables on one back end."""

    dialect: str  # "sqlite" | "postgresql"
    journal: str  # the journal's name: audit, runbooks, approvals, chaos, drains
    location: str  # where it is, for messages: a path, or the URL without its password
    namespace: str  # PostgreSQL: the journal's schema; SQLite: "" (a file per journal)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; its rows (empty for statements without a result)."""
        ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def script(self, sql: str) -> None:
        """Several statements without parameters (DDL in migrations)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """The journal's one writer at a time; commits on exit, rolls back on error.
        Nested use in the same thread joins the outer transaction."""
        ...

    def close(self) -> None: ...


def lock_key(journal: str) -> int:
    """A stable signed 64-bit advisory-lock key per journal (PostgreSQL bigint)."""
    digest = hashlib.sha256(f"opsdeck:{journal}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def to_format_style(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s``; a literal ``%`` is doubled.

    Journals never put ``?`` inside string literals, so a plain scan is enough.
    """
    return sql.replace("%", "%%").replace("?", "%s")
