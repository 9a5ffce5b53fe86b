"""no_pollers without listing every running execution (issue 13).

The rule's verdict depends only on an execution's task queue: PollerCache decides per
queue, the "unserved workflow task" signal included (it reads the queue's backlog age
and last poll from DescribeTaskQueue, not the execution). So a scan needs the distinct
task queues of the running executions in scope, one DescribeTaskQueue each, and then
the executions of the queues without live pollers only, in list order (the same hits in
the same order as checking every listed execution).

Temporal's visibility cannot group by task queue (server 1.32: "'GROUP BY' clause is not
supported for search attribute TaskQueue"; it groups by ExecutionStatus only), so the
queues are found by one-row queries ``TaskQueue NOT IN (<seen>)``, one per queue plus a
last empty one, after a first page of PROBE_PAGE rows (constants in temporal_stuck_scan).
A scope with fewer running executions than that is complete after the first page and is
answered from it alone. Past QUEUE_CAP queues the probes would cost about what the list
does: the full list is read, as before; so does a row without a task queue (a probe
cannot exclude it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from adapters import temporal_stuck_scan as scan
from adapters.temporal_stuck_scan import ScanStats
from adapters.temporal_visibility import quote
from console.model import Execution, ExecutionStatus


class ListRunning(Protocol):
    """Running executions of the scan's scope, AND ``clause`` if given, at most ``limit``."""

    def __call__(
        self, clause: str | None, limit: int | None = None
    ) -> AsyncIterator[Execution]: ...


# PollerCache.evidence: None if the queue has live pollers, else why not.
QueueEvidence = Callable[[str], Awaitable[str | None]]


def _in(names: set[str]) -> str:
    return ", ".join(quote(name) for name in sorted(names))


async def running(
    executions: AsyncIterator[Execution], stats: ScanStats
) -> AsyncIterator[Execution]:
    """The running ones of a listing, each listed row counted."""
    async for execution in executions:
        stats.listed += 1
        if execution.status == ExecutionStatus.RUNNING:
            yield execution


async def _rows(
    list_running: ListRunning, stats: ScanStats, clause: str | None, limit: int
) -> list[Execution]:
    stats.queue_probes += 1
    return [e async for e in running(list_running(clause, limit), stats)]


async def _distinct_queues(
    list_running: ListRunning, stats: ScanStats, first: list[Execution], cap: int
) -> set[str] | None:
    """Every task queue of the running executions in scope; None past ``cap`` (or when a
    row has no queue to exclude)."""
    seen = {e.task_queue for e in first if e.task_queue}
    if any(not e.task_queue for e in first):
        return None
    while len(seen) <= cap:
        clause = f"TaskQueue NOT IN ({_in(seen)})" if seen else None
        rows = await _rows(list_running, stats, clause, 1)
        if not rows:
            return seen
        queue = rows[0].task_queue
        if not queue or queue in seen:
            return None
        seen.add(queue)
    return None


async def no_pollers_candidates(
    list_running: ListRunning,
    evidence: QueueEvidence,
    stats: ScanStats,
    *,
    probe_page: int | None = None,
    cap: int | None = None,
) -> AsyncIterator[Execution]:
    """The running executions whose task queue may lack pollers, in list order: all of
    them for a small scope or past ``cap`` queues, else those of queues with evidence."""
    probe_page = scan.PROBE_PAGE if probe_page is None else probe_page
    cap = scan.QUEUE_CAP if cap is None else cap
    queues: set[str] | None = None
    if cap > 0:  # cap 0: always the full list (as before issue 13's third pass)
        first = await _rows(list_running, stats, None, probe_page)
        if len(first) < probe_page:
            stats.no_pollers_path = (
                f"the first page held all {len(first)} running executions: checked them"
            )
            for execution in first:
                yield execution
            return
        queues = await _distinct_queues(list_running, stats, first, cap)
    if queues is None:
        why = f"more than {cap} task queues (or a row without one)" if cap > 0 else "cap 0"
        stats.no_pollers_path = f"{why}: listed every running execution"
        async for execution in running(list_running(None), stats):
            yield execution
        return
    checks = {queue: evidence(queue) for queue in sorted(queues)}  # all in flight at once
    found = await asyncio.gather(*checks.values())
    unserved = {queue for queue, why in zip(checks, found, strict=True) if why}
    stats.no_pollers_path = (
        f"{stats.queue_probes} visibility queries found {len(queues)} task queues, "
        f"{len(unserved)} without live pollers: listed only their running executions"
    )
    if unserved:
        async for execution in running(list_running(f"TaskQueue IN ({_in(unserved)})"), stats):
            yield execution
