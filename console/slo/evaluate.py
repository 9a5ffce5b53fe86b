"""One SLO evaluated: value, objective, error budget, burn rates, alert and a series.

Windows: the SLO's own (``window``, default 30d, or from ``since``), every alert's long
and short windows (1h/5m and 6h/30m by default), all ending now and none starting
before the SLO's window, and ``SERIES_BUCKETS`` equal buckets of the SLO window for a
sparkline.

From visibility, the executions closed in the window are counted first (one grouped
count on Temporal, else two); when there are at most ``LIST_BELOW`` of them, or the
objective is a completion time, they are listed once and every window is computed
from that list. Otherwise each window and bucket is counted (30 grouped counts).
Listing costs about 4 ms a row on the dev server, the counts a fixed ~2.4 s on a loaded
machine (bench/RESULTS.md), hence the threshold. A completion time reads at most
``LATENCY_ROWS`` newest executions and says so when it had to stop there.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from console.config_slo import SloSpec, format_duration
from console.errors import ConfigError
from console.ports import MetricSource, WorkflowEngine
from console.slo.math import AlertState, Budget, Counts, alert_state, budget, burn_rate, ratio
from console.slo.math import percentile as nearest_rank
from console.slo.sources import Closed, PromSource, VisibilitySource

SERIES_BUCKETS = 24
LIST_BELOW = 500  # measured: listing ~4 ms a row vs ~2.4 s for 30 grouped counts (RESULTS.md)
LATENCY_ROWS = 20000


@dataclass(frozen=True)
class SloReport:
    spec: SloSpec
    source: str  # "visibility" or "prometheus:NAME"
    start: datetime
    end: datetime
    counts: Counts  # over [start, end)
    # success_rate: the good fraction; completion_time: the percentile in seconds.
    value: float | None
    objective: float  # success_rate: the fraction; completion_time: the bound in seconds
    met: bool | None  # None: no data
    budget: Budget | None  # None: a PromQL latency without good/total
    burn: Mapping[str, float] = field(default_factory=dict)  # "1h" -> rate
    alert: AlertState = field(default_factory=lambda: AlertState("none", "no alert fires"))
    series: tuple[float | None, ...] = ()
    truncated: bool = False  # a completion time over the newest LATENCY_ROWS only
    calls: int = 0

    @property
    def reason(self) -> str:
        """One sentence: value against objective, over what."""
        spec = self.spec
        n = int(self.counts.total)
        over = f"over {n} execution{'s' if n != 1 else ''} {self.span()}"
        if self.value is None:
            if self.source != "visibility":
                return f"no data from {self.source} {self.span()}"
            return f"no executions closed {self.span()}"
        if spec.kind == "success_rate":
            sign = ">=" if self.met else "<"
            return f"success rate {pct_text(self.value)} {sign} {pct_text(self.objective)} {over}"
        sign = "<=" if self.met else ">"
        return (
            f"{spec.percentile} completion time {secs_text(self.value)} {sign} "
            f"{secs_text(self.objective)} {over}"
        )

    def span(self) -> str:
        length = (self.end - self.start).total_seconds()
        if abs(length - self.spec.window_s) < 1:
            return f"in the last {format_duration(self.spec.window_s)}"
        if self.end - self.start < timedelta(hours=20):
            return f"since {self.start.astimezone(UTC):%H:%M} UTC"
        return f"since {self.start.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def pct_text(value: float) -> str:
    """99.5%, 99.95%, 71.43%, 100.0%."""
    text = f"{value * 100:.2f}".rstrip("0")
    return f"{text}0%" if text.endswith(".") else f"{text}%"


def secs_text(value: float) -> str:
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}".rstrip("0").rstrip(".") + "s"


async def evaluate(
    spec: SloSpec,
    engines: Mapping[str, WorkflowEngine],
    metrics: Mapping[str, MetricSource],
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    scope_query: str | None = None,
) -> SloReport:
    """Evaluate ``spec``; PromQL when configured (and no ``scope_query``, which is a
    visibility query), else visibility over ``engines`` (only ``spec.engine`` if set)."""
    end = now or datetime.now(UTC)
    start = since or end - timedelta(seconds=spec.window_s)
    promql = spec.prometheus
    if promql is not None and scope_query is None:
        metric = metrics.get(promql.source or "")
        if metric is None:
            known = ", ".join(sorted(metrics)) or "none"
            raise ConfigError(
                f"SLO {spec.name!r} reads prometheus source {promql.source!r}, which the "
                f"context does not have (metric sources: {known})",
                location=spec.location,
            )
        return await _from_prometheus(spec, PromSource(metric, promql), start, end)
    chosen = {n: e for n, e in engines.items() if spec.engine in (None, n)}
    return await _from_visibility(spec, VisibilitySource(chosen, spec, scope_query), start, end)


def _windows(spec: SloSpec) -> list[float]:
    return sorted({s for a in spec.alerts for s in (a.long_s, a.short_s)})


def _since(start: datetime, end: datetime, window_s: float) -> datetime:
    """A burn window's start: ``window_s`` before the end, never before the SLO's start
    (with ``since``, what happened before it is not this check's business)."""
    return max(start, end - timedelta(seconds=window_s))


def _bucket_edges(start: datetime, end: datetime) -> list[datetime]:
    step = (end - start) / SERIES_BUCKETS
    return [start + step * i for i in range(SERIES_BUCKETS)] + [end]


def _finish(
    spec: SloSpec,
    source: str,
    start: datetime,
    end: datetime,
    counts: Counts,
    value: float | None,
    burns: Mapping[float, Counts],
    series: Sequence[float | None],
    *,
    calls: int,
    truncated: bool = False,
    has_counts: bool = True,
) -> SloReport:
    if spec.kind == "success_rate":
        objective = spec.objective
        met = None if value is None else value >= spec.objective
    else:
        objective = float(spec.threshold_s or 0.0)
        met = None if value is None else value <= objective
    rates = {s: burn_rate(c, spec.objective) for s, c in burns.items()}
    labels = {s: format_duration(s) for s in rates}
    alert = alert_state(spec.alerts, rates, labels) if has_counts else AlertState("none", "")
    return SloReport(
        spec=spec, source=source, start=start, end=end, counts=counts, value=value,
        objective=objective, met=met, budget=budget(counts, spec.objective) if has_counts else None,
        burn={labels[s]: round(r, 4) for s, r in sorted(rates.items())}, alert=alert,
        series=tuple(series), truncated=truncated, calls=calls,
    )  # fmt: skip


async def _from_visibility(
    spec: SloSpec, source: VisibilitySource, start: datetime, end: datetime
) -> SloReport:
    windows = _windows(spec)
    everything = await source.counts(start, end)
    if spec.kind == "completion_time" or everything.total <= LIST_BELOW:
        rows = await source.closed(start, end, LATENCY_ROWS)
        return _from_rows(spec, source, rows, start, end, truncated=len(rows) >= LATENCY_ROWS)
    edges = _bucket_edges(start, end)
    main, *rest = await asyncio.gather(
        source.counts(start, end),
        *(source.counts(_since(start, end, w), end) for w in windows),
        *(source.counts(a, b) for a, b in itertools.pairwise(edges)),
    )
    burns = dict(zip(windows, rest[: len(windows)], strict=True))
    series = [ratio(c) for c in rest[len(windows) :]]
    return _finish(spec, "visibility", start, end, main, ratio(main), burns, series,
                   calls=source.calls)  # fmt: skip


def _rows_counts(spec: SloSpec, rows: Sequence[Closed]) -> Counts:
    if spec.kind == "success_rate":
        return Counts(float(sum(r.good for r in rows)), float(len(rows)))
    done = [r for r in rows if r.completed and r.duration_s is not None]
    bound = float(spec.threshold_s or 0.0)
    return Counts(float(sum(1 for r in done if (r.duration_s or 0.0) <= bound)), float(len(done)))


def _rows_value(spec: SloSpec, rows: Sequence[Closed]) -> float | None:
    if spec.kind == "success_rate":
        return ratio(_rows_counts(spec, rows))
    durations = [r.duration_s for r in rows if r.completed and r.duration_s is not None]
    return nearest_rank(durations, spec.objective)


def _from_rows(
    spec: SloSpec,
    source: VisibilitySource,
    rows: Sequence[Closed],
    start: datetime,
    end: datetime,
    *,
    truncated: bool,
) -> SloReport:
    def within(a: datetime, b: datetime) -> list[Closed]:
        return [r for r in rows if a <= r.close_time < b]

    main = within(start, end)
    burns = {w: _rows_counts(spec, within(_since(start, end, w), end)) for w in _windows(spec)}
    edges = _bucket_edges(start, end)
    series = [_rows_value(spec, within(a, b)) for a, b in itertools.pairwise(edges)]
    return _finish(spec, "visibility", start, end, _rows_counts(spec, main),
                   _rows_value(spec, main), burns, series, calls=source.calls,
                   truncated=truncated)  # fmt: skip


async def _from_prometheus(
    spec: SloSpec, source: PromSource, start: datetime, end: datetime
) -> SloReport:
    promql = source.promql
    has_counts = promql.good is not None and promql.total is not None
    windows = _windows(spec) if has_counts else []
    main = Counts(0.0, 0.0)
    burns: dict[float, Counts] = {}
    series: list[float | None] = []
    if has_counts:
        main, *rest = await asyncio.gather(
            source.counts(start, end),
            *(source.counts(_since(start, end, w), end) for w in windows),
        )
        burns = dict(zip(windows, rest, strict=True))
        series = [ratio(c) for c in await source.series(start, end, SERIES_BUCKETS)]
    if promql.latency is not None:
        value = await source.latency(start, end)
    else:
        value = ratio(main)
    if spec.kind == "completion_time" and promql.latency is None:
        value = None  # good/total alone give the budget, not the percentile
    return _finish(spec, source.describe(), start, end, main, value, burns, series,
                   calls=source.calls, has_counts=has_counts)  # fmt: skip
