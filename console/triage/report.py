"""Triage of every engine of a context at once (the CLI and the TUI): one merged list
of groups, numbered in order, each with the runbook that fits it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.errors import UsageError
from console.ports import WorkflowEngine
from console.runbook.schema import Runbook
from console.triage.check import TriageReport, triage
from console.triage.data import report_data
from console.triage.groups import FailureGroup, sort_groups
from console.triage.runbooks import RunbookMatch, match_runbook


@dataclass(frozen=True)
class Triaged:
    since: datetime
    query: str | None
    reports: tuple[TriageReport, ...]
    groups: tuple[FailureGroup, ...]
    runbooks: tuple[RunbookMatch | None, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (engine, why): refused the query

    @property
    def since_text(self) -> str:
        return self.since.strftime("%Y-%m-%d %H:%M:%S UTC")

    def data(self) -> dict[str, Any]:
        data = report_data(self.reports, self.groups, self.runbooks)
        data["since"] = self.since.isoformat().replace("+00:00", "Z")
        data["query"] = self.query
        return data

    def stats_lines(self) -> list[tuple[str, str]]:
        lines = []
        for report in self.reports:
            stats = report.stats
            text = ", ".join(f"{n} {name}" for name, n in stats.listed.items())
            if stats.capped:
                text += f" (capped: {', '.join(stats.capped)}: the newest only)"
            if not stats.structured:
                text += "; failures from describe (no error types: engine lacks FailureReader)"
            lines.append((report.engine, text))
        lines += [(engine, f"skipped: {why}") for engine, why in self.skipped]
        return lines


def shipped_runbooks() -> list[Runbook]:
    """Valid runbooks on the search path (console.runbook.catalog)."""
    from console.runbook.catalog import catalog

    return [entry.runbook for entry in catalog() if entry.runbook is not None]


async def triage_engines(
    engines: Mapping[str, WorkflowEngine],
    *,
    query: str | None,
    since: datetime,
    runbooks: Sequence[Runbook] | None = None,
) -> Triaged:
    """Each engine triaged concurrently. With a query and several engines, an engine
    that refuses the query (another syntax) is left out and named; all refusing is a
    usage error."""
    names = list(engines)
    results = await asyncio.gather(
        *(triage(engines[n], query=query, since=since) for n in names), return_exceptions=True
    )
    reports: list[TriageReport] = []
    skipped: list[tuple[str, str]] = []
    for name, result in zip(names, results, strict=True):
        if isinstance(result, UsageError) and query and len(names) > 1:
            skipped.append((name, str(result)))
        elif isinstance(result, BaseException):
            raise result
        else:
            reports.append(result)
    if skipped and not reports:
        reasons = "; ".join(f"{n}: {why}" for n, why in skipped)
        raise UsageError(f"no engine takes the query {query!r} ({reasons})")
    groups = sort_groups(g for r in reports for g in r.groups)
    books = shipped_runbooks() if runbooks is None else list(runbooks)
    kinds = {name: engine.kind for name, engine in engines.items()}
    matches = tuple(match_runbook(g, books, kinds.get(g.signature.engine)) for g in groups)
    return Triaged(since, query, tuple(reports), tuple(groups), matches, tuple(skipped))
