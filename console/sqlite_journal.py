"""The project's SQLite journals (audit, runbook runs, chaos runs): one way to open them,
where they live, their timestamps, and who holds a run (``host:pid``)."""

from __future__ import annotations

import os
import socket
import sqlite3
from datetime import UTC, datetime
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


def data_dir() -> Path:
    """$XDG_DATA_HOME/opsdeck (default ~/.local/share/opsdeck)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "opsdeck"


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def owner_id() -> str:
    """This process as a run's owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    """Whether ``host:pid`` names a running process; other hosts count as alive."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
