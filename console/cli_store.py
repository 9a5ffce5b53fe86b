"""`opsdeck store migrate|status|copy`: the journals' store (docs/stores.md).

Without a ``store:`` section the journals are SQLite files that migrate themselves;
``migrate`` then just brings every existing file up to date. With one, ``migrate`` is
the only thing that changes the PostgreSQL schema. No output ever shows a password.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.stores.port import Database
    from console.stores.settings import StoreSettings

Sub = Callable[..., argparse.ArgumentParser]

_MIGRATE_COLUMNS = [("JOURNAL", "journal"), ("FROM", "from"), ("TO", "to"), ("APPLIED", "applied")]
_STATUS_COLUMNS = [
    ("JOURNAL", "journal"),
    ("VERSION", "version"),
    ("NEEDED", "needed"),
    ("STATE", "state"),
    ("WHERE", "location"),
]


def add_verbs(verbs: Any, sub: Sub) -> None:
    st = verbs.add_parser("store", help="the journals' store: SQLite files or PostgreSQL")
    stv = st.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    sub(stv, "migrate", "cli_store:cmd_migrate", "bring every journal's schema up to date")
    sub(stv, "status", "cli_store:cmd_status", "back end, URL and schema version of each journal")
    p = sub(stv, "copy", "cli_store:cmd_copy", "copy the SQLite history into a PostgreSQL store")
    p.add_argument(
        "--to", metavar="URL", help="postgresql://USER@HOST:PORT/DB (default: the configured store)"
    )
    p.add_argument(
        "--password", metavar="REF", help="the target's password as a keyring:SERVICE/NAME ref"
    )


def _settings(args: argparse.Namespace) -> StoreSettings | None:
    from console.stores.settings import current_settings

    return current_settings(Path(args.config) if getattr(args, "config", None) else None)


def _sqlite_files(journal: str) -> list[Path]:
    from console.stores.settings import sqlite_path

    if journal != "drains":
        path = sqlite_path(journal)
        return [path] if path.exists() else []
    from console.actions.drain_journal import drains_dir

    return sorted(drains_dir().glob("*.db")) if drains_dir().is_dir() else []


def _sqlite(path: Path, journal: str) -> Database:
    """The file as it is (open_store would migrate it first)."""
    from console.stores.settings import WHAT
    from console.stores.sqlite import SqliteDatabase

    return SqliteDatabase(path, journal, WHAT[journal])


def _postgres(settings: StoreSettings, journal: str) -> Database:
    from console.stores.postgres import PostgresDatabase
    from console.stores.settings import WHAT

    return PostgresDatabase(settings, journal, WHAT[journal])


def migrate_all(settings: StoreSettings | None) -> list[dict[str, Any]]:
    from console.stores.migrations import JOURNALS, migrate

    rows = []
    for journal in JOURNALS:
        if settings is None:
            for path in _sqlite_files(journal):
                lite = _sqlite(path, journal)
                try:
                    rows.append({**migrate(lite), "location": lite.location})
                finally:
                    lite.close()
        else:
            db = _postgres(settings, journal)
            rows.append({**migrate(db), "location": db.location})
    return rows


def cmd_migrate(args: argparse.Namespace) -> int:
    from console.cli_common import output_format
    from console.output import emit

    settings = _settings(args)
    rows = migrate_all(settings)
    fmt = output_format(args)
    if fmt != "table":
        emit({"backend": _backend(settings), "journals": rows}, fmt)
        return 0
    for row in rows:
        row["applied"] = ", ".join(str(v) for v in row["applied"]) or "-"
    emit(rows, fmt, columns=_MIGRATE_COLUMNS, empty="No SQLite journals yet: nothing to migrate.")
    return 0


def _backend(settings: StoreSettings | None) -> str:
    return "sqlite" if settings is None else "postgresql"


def status_rows(settings: StoreSettings | None) -> list[dict[str, Any]]:
    from console.stores.migrations import JOURNALS, current_version, schema_for

    rows = []
    for journal in JOURNALS:
        needed = schema_for(journal).version
        if settings is None:
            found = []
            for path in _sqlite_files(journal):
                lite = _sqlite(path, journal)
                try:
                    found.append((str(path), current_version(lite)))
                finally:
                    lite.close()
        else:
            db = _postgres(settings, journal)
            found = [(db.location, current_version(db))]
        if not found:
            rows.append(_status(journal, None, needed, "not created yet (made on first use)"))
        for location, version in found:
            rows.append(_status(journal, version, needed, location))
    return rows


def _status(journal: str, version: int | None, needed: int, location: str) -> dict[str, Any]:
    if version is None:
        state = "none"
    elif version == needed:
        state = "ok"
    elif version < needed:
        state = "outdated: run opsdeck store migrate"
    else:
        state = "newer than this opsdeck"
    return {
        "journal": journal,
        "version": version,
        "needed": needed,
        "state": state,
        "location": location,
    }


def cmd_status(args: argparse.Namespace) -> int:
    from console.cli_common import output_format
    from console.output import emit

    settings = _settings(args)
    data: dict[str, Any] = {
        "backend": _backend(settings),
        "url": settings.redacted_url if settings else None,
        "journals": status_rows(settings),
    }
    fmt = output_format(args)
    if fmt != "table":
        emit(data, fmt)
    else:
        where = f" at {data['url']}" if settings else " (SQLite files, the embedded default)"
        print(f"Store: {data['backend']}{where}")
        emit(data["journals"], fmt, columns=_STATUS_COLUMNS)
    bad = [r for r in data["journals"] if r["state"] not in ("ok", "none")]
    return 2 if bad else 0


def cmd_copy(args: argparse.Namespace) -> int:
    from console.cli_common import output_format
    from console.errors import UsageError
    from console.output import emit
    from console.stores.copy import copy_history
    from console.stores.settings import StoreSettings, check_url

    configured = _settings(args)
    if args.to:
        check_url(args.to, "--to")
        same = configured is not None and configured.url == args.to
        password = args.password or (configured.password_ref if same and configured else None)
        target = StoreSettings(url=args.to, password_ref=password)
    elif configured is not None:
        target = configured
    else:
        raise UsageError(
            "no target store: pass --to postgresql://USER@HOST:PORT/DB or configure store.url"
        )
    if target.password_ref is not None and not target.password_ref.startswith("keyring:"):
        raise UsageError("--password takes a keyring reference (keyring:SERVICE/NAME)")
    migrate_all(target)
    report = copy_history(target)
    fmt = output_format(args)
    if fmt != "table":
        emit(report.as_dict(), fmt)
    else:
        for key, count in report.rows.items():
            print(f"  {key}: {count} row(s)")
        if report.audit_ok:
            print(
                f"Copied into {report.target}; audit chain intact: "
                f"{report.audit_records} record(s) verified."
            )
    if not report.audit_ok:
        print(f"opsdeck: Store copy: audit chain not intact: {report.problem}", file=sys.stderr)
        return 1
    return 0
