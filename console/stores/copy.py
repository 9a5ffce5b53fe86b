"""``opsdeck store copy``: the embedded SQLite history into the team store, once.

Every journal is copied table by table in one target transaction per journal (under
that journal's lock), so a failure leaves the journal as it was. Audit records keep
their ids, hashes and order, so the chain is the same chain; it is verified on the
target after the copy, and the copy is refused when the target already holds audit
records (two histories cannot be one chain). Rows of the other journals that are
already there (same key) are left alone. Identity ids (runbook transcript lines) are
assigned by the target, in the source's order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.stores.port import Database, StoreError
from console.stores.settings import StoreSettings, open_store, sqlite_path

# journal -> tables in copy order (parents first); (table, columns the target assigns)
TABLES: Mapping[str, Sequence[tuple[str, tuple[str, ...]]]] = {
    "audit": (("audit", ()),),
    "runbooks": (("runs", ()), ("steps", ()), ("approvals", ()), ("transcript", ("id",))),
    "approvals": (("requests", ()), ("verdicts", ())),
    "chaos": (("runs", ()), ("rollbacks", ())),
    "drains": (("meta", ()), ("messages", ())),
    "incidents": (("incidents", ()), ("notes", ("id",)), ("links", ("id",))),
}


@dataclass
class CopyReport:
    target: str
    rows: dict[str, int] = field(default_factory=dict)  # "journal.table" -> rows copied
    audit_records: int = 0
    audit_ok: bool = False
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rows": dict(self.rows),
            "audit": {"records": self.audit_records, "verified": self.audit_ok},
            "problem": self.problem or None,
        }


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)  # ``user`` is reserved in PostgreSQL


def _sources(journal: str, data_dir: Path | None) -> Iterator[tuple[Database, str]]:
    """(open SQLite source, drain id) for each file of the journal that exists."""
    if journal == "drains":
        from console.actions.drain_journal import drains_dir

        directory = (data_dir / "drains") if data_dir else drains_dir()
        files = sorted(directory.glob("*.db")) if directory.is_dir() else []
        for path in files:
            yield open_store("drains", path), path.stem
        return
    path = (data_dir / sqlite_path(journal).name) if data_dir else sqlite_path(journal)
    if path.exists():
        yield open_store(journal, path), ""


def _copy_table(
    source: Database, target: Database, table: str, skip: tuple[str, ...], drain: str
) -> int:
    rows = source.execute(f"SELECT * FROM {table} ORDER BY rowid")
    if not rows:
        return 0
    names = [n for n in rows[0] if n not in skip]
    values = [[drain if (n == "drain" and drain) else row[n] for n in names] for row in rows]
    conflict = "" if table == "audit" else " ON CONFLICT DO NOTHING"
    marks = ", ".join("?" for _ in names)
    target.executemany(f"INSERT INTO {table} ({_quoted(names)}) VALUES ({marks}){conflict}", values)
    return len(rows)


def _refuse_if_audited(target: Database, settings: StoreSettings) -> None:
    existing = target.execute("SELECT COUNT(*) AS n FROM audit")[0]["n"]
    if existing:
        raise StoreError(
            f"the store {settings.redacted_url} already holds {existing} audit record(s); "
            "copying another history into it would fork the audit chain",
            hint="copy into a new store (create it, then `opsdeck store migrate`)",
        )


def copy_history(settings: StoreSettings, data_dir: Path | None = None) -> CopyReport:
    """Copy every journal's SQLite files into the store ``settings`` names (migrated)."""
    from console.audit import AuditJournal

    report = CopyReport(settings.redacted_url)
    targets = {journal: open_store(journal, settings=settings) for journal in TABLES}
    source_audit = 0
    for journal, tables in TABLES.items():  # audit first: a refusal copies nothing
        target = targets[journal]
        with target.transaction():
            if journal == "audit":
                _refuse_if_audited(target, settings)
            for source, drain in _sources(journal, data_dir):
                try:
                    for table, skip in tables:
                        copied = _copy_table(source, target, table, skip, drain)
                        key = f"{journal}.{table}"
                        report.rows[key] = report.rows.get(key, 0) + copied
                        if journal == "audit":
                            source_audit += copied
                finally:
                    source.close()
    result = AuditJournal(store=targets["audit"]).verify_detail()
    report.audit_records = result.records
    report.audit_ok = result.ok and result.records == source_audit
    if not result.ok:
        report.problem = f"audit record {result.broken_id}: {result.problem}"
    elif result.records != source_audit:
        report.problem = f"copied {source_audit} audit records, the store has {result.records}"
    return report
