"""The drill's own report (Markdown): what was injected, what was done, how it ended.

Written when a drill finishes (resolved or stopped), beside its finished state. "What
was done" is the audit journal's records from the drill's start to its end: every
change made through opsdeck (parameters were PII-masked when recorded), by whom.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.drills.runner import DrillRun


def _audit_during(start: float, end: float) -> list[dict[str, Any]] | str:
    """Audit records of the drill's time span, oldest first; a sentence if unreadable."""
    try:
        from console.audit import AuditJournal

        journal = AuditJournal()
        try:
            records = journal.list(None, since=datetime.fromtimestamp(start, UTC))
        finally:
            journal.close()
    except Exception as exc:  # the report is still worth writing without them
        return f"audit journal not readable: {exc}"
    until = datetime.fromtimestamp(end, UTC).isoformat().replace("+00:00", "Z")
    rows = [r.as_dict() for r in records]
    return sorted((r for r in rows if str(r["time"]) <= until), key=lambda r: r["id"])


def _cell(value: Any) -> str:
    return str(value if value not in (None, "") else "-").replace("|", "\\|").replace("\n", " ")


def render(run: DrillRun) -> str:
    data = run.to_data()
    lines = [
        f"# Drill report: {data['title']}",
        "",
        f"- Drill: `{run.name}` (run `{run.token}`)",
        f"- Outcome: **{run.outcome}** after {data['elapsed_s']:.0f} s",
        f"- Started: {data['started_at']}; finished: {data['finished_at']}",
        f"- Injected: {data['injects']} (N = {run.count})",
        f"- Runbook: `{run.drill.runbook}`",
    ]
    if run.incident:
        drafts = ", ".join(f"`{p}`" for p in run.incident_reports.values())
        lines.append(
            f"- Incident: {run.incident}" + (f" (review draft: {drafts})" if drafts else "")
        )
    elif run.incident_error:
        lines.append(f"- Incident: none ({run.incident_error})")
    lines += ["", "## Checks at the end", ""]
    for check in run.checks:
        mark = "ok" if check.get("ok") else "FAILED"
        lines.append(f"- {mark}: {check.get('name')}: {check.get('detail')}")
    lines += ["", "## What was done (audit journal)", ""]
    audit = _audit_during(run.started_at, run.finished_at or run.started_at)
    if isinstance(audit, str):
        lines.append(audit)
    elif not audit:
        lines.append("No change went through opsdeck during the drill.")
    else:
        lines += ["| time | who | action | target | outcome | reason |", "|---" * 6 + "|"]
        for r in audit:
            who = r.get("identity") or r.get("os_user")
            lines.append(
                "| "
                + " | ".join(
                    _cell(v)
                    for v in (r["time"], who, r["action"], r["target"], r["outcome"], r["reason"])
                )
                + " |"
            )
    lines += ["", "## Hints the drill gave", ""]
    lines += [f"- {hint}" for hint in run.hints()]
    return "\n".join(lines) + "\n"


def write_report(run: DrillRun, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(run), encoding="utf-8")
    tmp.replace(path)
    return path
