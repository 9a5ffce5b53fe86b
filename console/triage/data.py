"""Triage as plain data (the stable ``-o json`` shape of docs/cli.md) and the commands
an operator copies from a group: the retry through the change path, the runbook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from console.triage.check import TriageReport
from console.triage.groups import FailureGroup
from console.triage.runbooks import RunbookMatch, shell_line


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def retry_command(group: FailureGroup, *, dry_run: bool = True) -> str | None:
    """`opsdeck executions retry REF... --reason ...` for the group's failing runs (an
    activity-only group resets the pending activities: --activity). None: nothing
    left to retry (all retried through)."""
    if not group.failing:
        return None
    words = ["opsdeck", "executions", "retry", *(str(r) for r in group.failing)]
    if retry_mode(group) == "activity":
        words.append("--activity")
    words += ["--reason", f"triage: {group.signature.label()}"[:200]]
    if dry_run:
        words.append("--dry-run")
    return shell_line(words)


def retry_mode(group: FailureGroup) -> str:
    """'activity' when every failure of the group is a retrying activity of an open run
    (reset the activity, not the workflow); else 'workflow'."""
    return "activity" if group.kinds == ("activity",) else "workflow"


def group_data(
    number: int, group: FailureGroup, runbook: RunbookMatch | None = None
) -> dict[str, Any]:
    sig = group.signature
    return {
        "group": number,
        "verdict": group.verdict,
        "reason": group.reason,
        "engine": sig.engine,
        "workflow_type": sig.workflow_type,
        "activity_type": sig.activity_type,
        "error_type": sig.error_type,
        "message": sig.message,
        "version": sig.version,
        "count": group.count,
        "executions": [str(r) for r in group.executions],
        "failing": [str(r) for r in group.failing],
        "retried_through": group.retried_through,
        "kinds": list(group.kinds),
        "first_seen": _iso(group.first_seen),
        "last_seen": _iso(group.last_seen),
        "versions": list(group.versions),
        "max_attempt": group.max_attempt,
        "example": group.example,
        "retry_command": retry_command(group),
        "runbook": (
            {"name": runbook.name, "why": runbook.why, "command": runbook.command()}
            if runbook
            else None
        ),
    }


def report_data(
    reports: Sequence[TriageReport],
    groups: Sequence[FailureGroup],
    runbooks: Sequence[RunbookMatch | None],
) -> dict[str, Any]:
    first = reports[0] if reports else None
    return {
        "since": _iso(first.since) if first else None,
        "query": first.query if first else None,
        "groups": [
            group_data(n, g, rb) for n, (g, rb) in enumerate(zip(groups, runbooks, strict=True), 1)
        ],
        "scanned": {
            r.engine: {
                **r.stats.listed,
                "capped": list(r.stats.capped),
                "structured": r.stats.structured,
            }
            for r in reports
        },
    }
