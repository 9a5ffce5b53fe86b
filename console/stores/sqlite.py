"""The embedded back end: one SQLite file per journal, WAL, synchronous=FULL.

One connection per Database, shared by the event loop and worker threads under an
RLock (hence check_same_thread=False); a transaction holds that lock throughout, so
other threads of this process wait and other processes wait on ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from console.stores.port import Row, StoreError
from console.stores.testing import hold_before_commit


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def split_script(script: str) -> list[str]:
    """Statements of a DDL script; a trigger's ``BEGIN ... END;`` stays whole."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


class SqliteDatabase:
    dialect = "sqlite"
    namespace = ""

    def __init__(self, path: Path, journal: str, what: str) -> None:
        self.path = path
        self.journal = journal
        self.what = what
        self.location = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
            db.row_factory = _dict_row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the {what} {path}: {exc}") from None
        self._db: sqlite3.Connection | None = db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"the {self.what} {self.path} is closed")
        return self._db

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{self.what} {self.path}: {exc}") from None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._lock, self._errors():
            return self._conn().execute(sql, tuple(args)).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock, self._errors():
            self._conn().executemany(sql, [tuple(r) for r in rows])

    def script(self, sql: str) -> None:
        # Not executescript: it commits first, and migrations run inside a transaction.
        for statement in split_script(sql):
            self.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                yield  # joins the outer transaction
                return
            db = self._conn()
            with self._errors():
                db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
                hold_before_commit(self.journal)
                with self._errors():
                    db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
