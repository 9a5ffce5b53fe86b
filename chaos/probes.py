"""Chaos Toolkit probes (``type: python``, ``module: chaos.probes``): read-only numbers.

Each reads through the context's engines, metric sources and queue backends (the same
ports as the CLI), so a probe works against any engine that implements the port, and
says which one it needs when none does. Probes change nothing and write no audit.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chaos import _context as ctx
from chaos._context import Configuration
from console.errors import Unsupported, UsageError
from console.model import ExecutionStatus, ListQuery, StuckRule, StuckRules
from console.session import Session

__all__ = [
    "dlq_depth",
    "dlq_oldest_age_s",
    "latency_p95",
    "schedule_to_start_p95",
    "stuck_count",
    "success_rate",
    "task_queue_backlog",
    "task_queue_pollers",
    "workflow_end_to_end_p95",
]

# The demo workers' activity histogram (console.sandbox.worker_telemetry).
DEFAULT_LATENCY_QUERY = (
    "histogram_quantile(0.95, sum by (le) "
    "(rate(sandbox_activity_duration_seconds_bucket[{window}])))"
)
_CLOSED = (
    ExecutionStatus.COMPLETED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELED,
    ExecutionStatus.TERMINATED,
    ExecutionStatus.TIMED_OUT,
)


def parse_window(window: str) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d``."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", window)
    if not match:
        raise UsageError(f"window {window!r}: expected a number and s, m, h or d, e.g. 10m")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _engines(session: Session, engine: str | None) -> list[Any]:
    if engine is None:
        return list(session.engines.values())
    if engine not in session.engines:
        raise UsageError(f"context {session.context.name!r} has no engine {engine!r}")
    return [session.engines[engine]]


def stuck_count(
    rule: str | None = None, engine: str | None = None, configuration: Configuration = None
) -> int:
    """Stuck executions by the default rules (engine.find_stuck); ``rule`` keeps one rule."""
    session, _ = ctx.session_and_run(configuration)
    rules = StuckRules()
    if rule is not None:
        try:
            rules = StuckRules(enabled=frozenset({StuckRule(rule)}))
        except ValueError:
            known = ", ".join(r.value for r in StuckRule)
            raise UsageError(f"unknown stuck rule {rule!r} (known: {known})") from None

    async def count() -> int:
        ids = set()
        for each in _engines(session, engine):
            async for hit in each.find_stuck(rules):
                ids.add(hit.execution.ref)
        return len(ids)

    return ctx.run(count())


def success_rate(
    workflow_type: str,
    window: str = "10m",
    engine: str | None = None,
    configuration: Configuration = None,
) -> float:
    """Completed / closed executions of ``workflow_type`` started within ``window``;
    1.0 when none closed (nothing failed)."""
    session, _ = ctx.session_and_run(configuration)
    since = datetime.now(UTC) - parse_window(window)

    async def counts(each: Any) -> tuple[int, int]:
        """(completed, closed) of one engine, consistent: two counts are two queries, and
        a run closing between them would skew the rate (closed counted before and after
        the completed count must agree; a few tries, then the rate is capped at 1)."""
        base = ListQuery(workflow_type=workflow_type, started_after=since)
        closed = await each.count(replace(base, statuses=_CLOSED))
        for _ in range(5):
            completed = await each.count(replace(base, statuses=(ExecutionStatus.COMPLETED,)))
            again = await each.count(replace(base, statuses=_CLOSED))
            if again == closed:
                break
            closed = again
        return min(completed, closed), closed

    async def rate() -> float:
        completed = closed = 0
        for each in _engines(session, engine):
            done, ended = await counts(each)
            completed, closed = completed + done, closed + ended
        return completed / closed if closed else 1.0

    return ctx.run(rate())


def latency_p95(
    query: str | None = None,
    window: str = "5m",
    source: str | None = None,
    configuration: Configuration = None,
) -> float | None:
    """The newest value of ``query`` (default: p95 of the demo activity histogram over
    ``window``) from the context's Prometheus; None when it has no data yet."""
    from console.correlate import build_sources
    from console.ports import MetricSource
    from console.session import resolve_secret

    session, _ = ctx.session_and_run(configuration)
    metrics = {
        name: s
        for name, s in build_sources(session.context, resolve_secret).items()
        if isinstance(s, MetricSource) and (source is None or name == source)
    }
    if not metrics:
        raise Unsupported(f"context {session.context.name!r} has no metric source {source or ''}")
    promql = query or DEFAULT_LATENCY_QUERY.format(window=window)
    metric = next(iter(metrics.values()))

    async def newest() -> float | None:
        end = datetime.now(UTC)
        try:
            series = await metric.query_range(promql, end - timedelta(minutes=1), end, 5)
        finally:
            await metric.close()
        values = [s.samples[-1] for s in series if s.samples]
        finite = [v.value for v in values if v.value == v.value]  # NaN: no observations
        return max(finite) if finite else None

    return ctx.run(newest())


def _queue_info(queue: str, backend: str | None, configuration: Configuration) -> Any:
    from console.actions.drain_service import pick_queue_backend, session_queues

    session, _ = ctx.session_and_run(configuration)
    picked = pick_queue_backend(session_queues(session), backend, session.context.name)
    infos = ctx.run(picked.list_queues())
    for info in infos:
        if info.name == queue:
            return info
    known = ", ".join(i.name for i in infos) or "none"
    raise UsageError(f"queue backend {picked.name!r} does not list {queue!r} (queues: {known})")


def dlq_depth(queue: str, backend: str | None = None, configuration: Configuration = None) -> int:
    """Messages in a dead-letter queue listed under the context's ``queues:``."""
    return int(_queue_info(queue, backend, configuration).depth)


def dlq_oldest_age_s(
    queue: str, backend: str | None = None, configuration: Configuration = None
) -> float:
    """Age in seconds of the oldest message (0 when empty or its time is unknown)."""
    age = _queue_info(queue, backend, configuration).oldest_age_s
    return float(age or 0.0)


def _task_queue(
    task_queue: str, kind: str, engine: str | None, configuration: Configuration
) -> Any:
    from console.ports_chaos import TaskQueueInfo

    session, _ = ctx.session_and_run(configuration)
    for each in _engines(session, engine):
        if isinstance(each, TaskQueueInfo):
            return ctx.run(each.task_queue_stats(task_queue, kind))
    raise Unsupported(f"no engine in context {session.context.name!r} describes task queues")


def task_queue_pollers(
    task_queue: str,
    kind: str = "workflow",
    engine: str | None = None,
    configuration: Configuration = None,
) -> int:
    """Workers polling ``task_queue`` (Temporal DescribeTaskQueue); 0 means nobody serves it."""
    return int(_task_queue(task_queue, kind, engine, configuration).pollers)


def task_queue_backlog(
    task_queue: str,
    kind: str = "activity",
    engine: str | None = None,
    configuration: Configuration = None,
) -> int:
    """Approximate count of tasks waiting on ``task_queue``."""
    return int(_task_queue(task_queue, kind, engine, configuration).backlog)


# Defined beside latency_p95, which they build on; imported last to avoid a cycle.
from chaos.probes_latency import schedule_to_start_p95, workflow_end_to_end_p95  # noqa: E402
