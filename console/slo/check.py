"""``check_slo``: one SLO, yes or no, for a caller that gates on it (the guarded rollout).

Also the place that finds a context's SLOs and its metric sources: the CLI and the TUI
evaluate through ``evaluate_named`` and ``evaluate_all``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from console.config_slo import SloSpec
from console.errors import UsageError
from console.ports import MetricSource
from console.slo.evaluate import SloReport, evaluate

if TYPE_CHECKING:
    from console.session import Session


@dataclass(frozen=True)
class SloCheck:
    """The answer of ``check_slo``.

    ``value``/``objective``: for a success rate, fractions (0.714 vs 0.995); for a
    completion time, seconds (p95 3.2 vs 2.0). ``ok`` is False only when data shows
    the objective missed or a page alert firing; no executions at all is ``ok`` with
    ``value`` None (a caller that needs traffic checks ``total``).
    """

    name: str
    ok: bool
    value: float | None
    objective: float
    reason: str
    alert: str = "none"  # none | ticket | page (over windows ending now)
    good: float = 0.0
    total: float = 0.0
    budget_left: float | None = None
    report: SloReport | None = None


def find_spec(session: Session, name: str) -> SloSpec:
    """The context's SLO ``name``; UsageError (exit 2) lists the known ones."""
    for spec in session.context.slos:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in session.context.slos) or "none configured"
    raise UsageError(
        f"context {session.context.name!r} has no SLO {name!r} (SLOs: {known})",
        hint="SLOs are configured under the context's `slos:` (docs/slo.md)",
    )


@contextlib.asynccontextmanager
async def metric_sources(
    session: Session, specs: Sequence[SloSpec]
) -> AsyncIterator[dict[str, MetricSource]]:
    """The context's metric sources, built only when an SLO reads PromQL; closed after."""
    if not any(s.prometheus is not None for s in specs):
        yield {}
        return
    from console.correlate import build_sources
    from console.session import resolve_secret

    built = build_sources(session.context, resolve_secret)
    metrics = {n: s for n, s in built.items() if isinstance(s, MetricSource)}
    try:
        yield metrics
    finally:
        for source in built.values():
            with contextlib.suppress(Exception):
                await source.close()


async def evaluate_named(
    session: Session,
    name: str,
    *,
    scope_query: str | None = None,
    since: datetime | None = None,
) -> SloReport:
    spec = find_spec(session, name)
    async with metric_sources(session, [spec]) as metrics:
        return await evaluate(spec, session.engines, metrics, since=since, scope_query=scope_query)


async def evaluate_all(
    session: Session, *, since: datetime | None = None
) -> list[SloReport | BaseException]:
    """Every SLO of the context, concurrently; a failing one is its exception, in order."""
    import asyncio

    specs = list(session.context.slos)
    async with metric_sources(session, specs) as metrics:
        evaluations = (evaluate(s, session.engines, metrics, since=since) for s in specs)
        return list(await asyncio.gather(*evaluations, return_exceptions=True))


def to_check(report: SloReport) -> SloCheck:
    missed = report.met is False
    return SloCheck(
        name=report.spec.name,
        ok=not missed and report.alert.state != "page",
        value=report.value,
        objective=report.objective,
        reason=report.reason if report.alert.state != "page" or missed
        else f"{report.reason}; {report.alert.reason}",
        alert=report.alert.state,
        good=report.counts.good,
        total=report.counts.total,
        budget_left=report.budget.left if report.budget else None,
        report=report,
    )  # fmt: skip


async def check_slo(
    session_or_context: Session | str | None,
    name: str,
    *,
    scope_query: str | None = None,
    since: datetime | None = None,
) -> SloCheck:
    """Check SLO ``name`` of a context now.

    ``session_or_context``: an open console.session.Session (what every CLI verb holds;
    it is used and left open), or a context name (None: the current context), for which
    a session is opened and closed here.

    ``scope_query`` (a visibility query, e.g. ``TemporalWorkerDeploymentVersion =
    'orders:v3'``) is ANDed to the SLO's own scope; the SLO is then read from visibility
    even when it has PromQL, which cannot take a visibility query. ``since`` replaces the
    start of the SLO's window (the window ends now). ``ok`` is False when the objective
    is missed over that range or a page burn alert fires; the reason is one sentence,
    e.g. "success rate 71.43% < 99.5% over 7 executions since 14:02 UTC".

    Raises UsageError for an unknown SLO name (the message lists the known ones),
    ConfigError for a bad config, BackendError/BackendUnavailable from the engines.
    """
    if session_or_context is None or isinstance(session_or_context, str):
        from console.session import open_session

        session = open_session(session_or_context)
        try:
            report = await evaluate_named(session, name, scope_query=scope_query, since=since)
        finally:
            await session.close()
    else:
        report = await evaluate_named(
            session_or_context, name, scope_query=scope_query, since=since
        )
    return to_check(report)
