"""Opening the project's SQLite journals (audit, runbook runs) the same way everywhere."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from console.errors import AuditError


def open_journal(path: Path, schema: str, what: str) -> sqlite3.Connection:
    """Autocommit connection in WAL mode with full fsync, schema applied.

    One connection is shared by the event loop and worker threads (callers hold a lock),
    hence check_same_thread=False. A failure names the journal and its path.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(schema)
    except (OSError, sqlite3.Error) as exc:
        raise AuditError(f"cannot open the {what} {path}: {exc}") from None
    return db
