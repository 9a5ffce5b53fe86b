"""Where an SLO's numbers come from: visibility (WorkflowEngine port) or PromQL
(MetricSource port). Both answer the same two questions: good/total counts over a time
range, and (visibility only) the closed executions themselves, for completion times
and for computing every window from one listing.

Visibility counts an execution by its close time: Completed is good; Failed, TimedOut
and Terminated are bad; Canceled and ContinuedAsNew are neither (an operator's or the
workflow's own choice, not a failure). On Temporal the range is ``CloseTime``; other
engines have no close-time filter, so there the range is the start time (an
approximation: a run counts in the window it started in).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from console.config_slo import PromQuery, SloSpec, format_duration
from console.errors import Unsupported, UsageError
from console.model import Execution, ExecutionStatus, ListQuery
from console.ports import MetricSource, WorkflowEngine
from console.slo.math import Counts

GOOD = (ExecutionStatus.COMPLETED,)
BAD = (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.TERMINATED)
_IN_FLIGHT = 8  # count calls at once per SLO: enough to hide latency, gentle on the server


@dataclass(frozen=True)
class Closed:
    """One closed execution as an SLO sees it."""

    close_time: datetime
    good: bool
    duration_s: float | None  # CloseTime - StartTime
    completed: bool


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@runtime_checkable
class StatusCounter(Protocol):
    """Optional beside WorkflowEngine: counts per status in one call (Temporal: ``GROUP
    BY ExecutionStatus``), so a window's good and bad counts cost one call, not two."""

    async def count_by_status(self, query: ListQuery) -> Mapping[ExecutionStatus, int]: ...


class VisibilitySource:
    """Counts and closed executions of one SLO's scope, summed over its engines."""

    def __init__(
        self, engines: Mapping[str, WorkflowEngine], spec: SloSpec, scope_query: str | None
    ) -> None:
        self.engines = dict(engines)
        self.spec = spec
        self.scope_query = scope_query
        self._gate = asyncio.Semaphore(_IN_FLIGHT)
        self.calls = 0  # server calls made (bench and tests)
        self._ungrouped: set[str] = set()  # engines whose server refused GROUP BY

    def describe(self) -> str:
        return "visibility"

    def query(
        self,
        engine: WorkflowEngine,
        start: datetime,
        end: datetime,
        statuses: Sequence[ExecutionStatus],
    ) -> ListQuery:
        parts = [p for p in (self.spec.query, self.scope_query) if p]
        if engine.kind == "temporal":
            parts.append(f"CloseTime >= '{_stamp(start)}' AND CloseTime < '{_stamp(end)}'")
            raw = " AND ".join(f"({p})" for p in parts)
            return ListQuery(
                statuses=tuple(statuses), workflow_type=self.spec.workflow_type, raw=raw
            )
        scope = " AND ".join(f"({p})" for p in parts) or None
        return ListQuery(
            statuses=tuple(statuses), workflow_type=self.spec.workflow_type,
            started_after=start, started_before=end, raw=scope,
        )  # fmt: skip

    async def _count(self, engine: WorkflowEngine, query: ListQuery) -> int:
        async with self._gate:
            self.calls += 1
            return await engine.count(query)

    async def _engine_counts(
        self, engine: WorkflowEngine, start: datetime, end: datetime
    ) -> Counts:
        """One engine's counts: one grouped call where the engine has it, else two."""
        if isinstance(engine, StatusCounter) and engine.name not in self._ungrouped:
            query = self.query(engine, start, end, GOOD + BAD)
            try:
                async with self._gate:
                    self.calls += 1
                    by_status = await engine.count_by_status(query)
            except (UsageError, Unsupported):
                self._ungrouped.add(engine.name)  # refused (an older server?): two counts
            else:
                good = sum(by_status.get(s, 0) for s in GOOD)
                return Counts(float(good), float(good + sum(by_status.get(s, 0) for s in BAD)))
        good, bad = await asyncio.gather(
            self._count(engine, self.query(engine, start, end, GOOD)),
            self._count(engine, self.query(engine, start, end, BAD)),
        )
        return Counts(float(good), float(good + bad))

    async def counts(self, start: datetime, end: datetime) -> Counts:
        """Good and good+bad executions closed in [start, end)."""
        each = await asyncio.gather(
            *(self._engine_counts(e, start, end) for e in self.engines.values())
        )
        return sum(each, Counts(0.0, 0.0))

    async def closed(self, start: datetime, end: datetime, limit: int) -> list[Closed]:
        """Closed executions in [start, end), newest first per engine, at most ``limit``."""
        out: list[Closed] = []
        for engine in self.engines.values():
            query = self.query(engine, start, end, GOOD + BAD)
            query = replace(query, limit=limit, page_size=min(limit, 1000))
            self.calls += 1
            async for execution in engine.list(query):
                row = _closed(execution)
                if row is not None and (engine.kind != "temporal" or start <= row.close_time < end):
                    out.append(row)
        return out


def _closed(execution: Execution) -> Closed | None:
    if execution.close_time is None:
        return None
    duration = None
    if execution.start_time is not None:
        duration = max(0.0, (execution.close_time - execution.start_time).total_seconds())
    completed = execution.status is ExecutionStatus.COMPLETED
    return Closed(execution.close_time, completed, duration, completed)


class PromSource:
    """good/total (and latency) from PromQL; ``$window`` becomes the range asked about."""

    def __init__(self, metric: MetricSource, query: PromQuery) -> None:
        self.metric = metric
        self.promql = query
        self.calls = 0

    def describe(self) -> str:
        return f"prometheus:{self.metric.name}"

    async def _at(self, query: str, window_s: float, end: datetime) -> float | None:
        """The query's value at ``end`` with ``$window`` = window_s (series summed)."""
        text = query.replace("$window", _promql_duration(window_s))
        self.calls += 1
        series = await self.metric.query_range(text, end, end, 60.0)
        values = [s.samples[-1].value for s in series if s.samples]
        finite = [v for v in values if v == v]  # NaN: no observations
        return sum(finite) if finite else None

    async def counts(self, start: datetime, end: datetime) -> Counts:
        assert self.promql.good and self.promql.total  # config checks they come together
        window = max(1.0, (end - start).total_seconds())
        good, total = await asyncio.gather(
            self._at(self.promql.good, window, end), self._at(self.promql.total, window, end)
        )
        return Counts(good or 0.0, total or 0.0)

    async def latency(self, start: datetime, end: datetime) -> float | None:
        assert self.promql.latency
        return await self._at(self.promql.latency, max(1.0, (end - start).total_seconds()), end)

    async def series(self, start: datetime, end: datetime, buckets: int) -> list[Counts]:
        """good/total per bucket of [start, end): one range query each."""
        assert self.promql.good and self.promql.total
        step = max(1.0, (end - start).total_seconds() / buckets)
        first = start + timedelta(seconds=step)

        async def per_bucket(query: str) -> list[float]:
            text = query.replace("$window", _promql_duration(step))
            self.calls += 1
            series = await self.metric.query_range(text, first, end, step)
            sums = [0.0] * buckets
            for s in series:
                for sample in s.samples:
                    index = round((sample.time - first).total_seconds() / step)
                    if 0 <= index < buckets and sample.value == sample.value:
                        sums[index] += sample.value
            return sums

        good, total = await asyncio.gather(
            per_bucket(self.promql.good), per_bucket(self.promql.total)
        )
        return [Counts(g, t) for g, t in zip(good, total, strict=True)]


def _promql_duration(seconds: float) -> str:
    """PromQL durations are whole units: 30d, 5m, or whole seconds."""
    whole = max(1, round(seconds))
    text = format_duration(float(whole))
    return text if not text.endswith("ms") and "." not in text else f"{whole}s"
