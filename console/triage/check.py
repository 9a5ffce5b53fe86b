"""Triage entry points: ``triage_failures`` (the guarded rollout calls it) and ``triage``
(the CLI and TUI: the groups plus what was read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from console.ports import WorkflowEngine
from console.triage.collect import ScanLimits, ScanStats, collect_failures
from console.triage.groups import FailureGroup, TriageThresholds, group_failures


@dataclass(frozen=True)
class TriageReport:
    engine: str
    since: datetime
    query: str | None
    groups: tuple[FailureGroup, ...]
    stats: ScanStats = field(default_factory=ScanStats)


async def triage(
    engine: WorkflowEngine,
    *,
    query: str | None = None,
    since: datetime,
    thresholds: TriageThresholds | None = None,
    limits: ScanLimits | None = None,
    now: datetime | None = None,
) -> TriageReport:
    stats = ScanStats()
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    failures = await collect_failures(engine, query=query, since=since, limits=limits, stats=stats)
    groups = group_failures(
        failures,
        since=since,
        now=now or datetime.now(UTC),
        thresholds=thresholds,
        runs_by_type=stats.runs_by_type,
    )
    return TriageReport(engine.name, since, query, tuple(groups), stats)


async def triage_failures(
    engine: WorkflowEngine,
    *,
    query: str | None = None,
    since: datetime,
    thresholds: TriageThresholds | None = None,
    limits: ScanLimits | None = None,
) -> list[FailureGroup]:
    """Failures of ``engine`` since ``since`` (within the visibility ``query``) grouped
    by signature, systemic groups first: what a guarded rollout checks at each step."""
    report = await triage(engine, query=query, since=since, thresholds=thresholds, limits=limits)
    return list(report.groups)
