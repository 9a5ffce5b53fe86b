"""find_stuck: which running executions need an operator, and why.

Rules (each hit names its rule and human evidence):
- activity_retrying: a pending activity's attempt >= N (its last failure quoted);
- workflow_task_failing: the pending workflow task's attempt >= N, i.e. workflow code
  fails on every try (bug, non-determinism); the WorkflowTaskFailed cause is quoted;
- no_progress: no history event for longer than T (note: retries of a failing
  activity or workflow task write no events, so those executions also show here);
- no_pollers: no worker polled the execution's task queue recently. The server keeps
  pollers for a few minutes after they vanish, so a poller counts as live only if it
  polled within POLLER_LIVENESS (long polls last ~60s). Faster, for workers that just
  went away: a workflow task has waited on the queue for UNSERVED_AFTER or more and no
  worker polled since it was queued (a live idle worker always has a poll open, so work
  never waits; a worker too busy to poll shows here too, and the evidence says so).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.history.v1 import HistoryEvent as ProtoEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionResponse,
)

from adapters.temporal_client import Connection
from adapters.temporal_describe import pending_activity
from adapters.temporal_format import human_duration, time_of
from adapters.temporal_history import event_type_name, workflow_task_failed_text
from adapters.temporal_stuck_queues import ListRunning, no_pollers_candidates, running
from adapters.temporal_stuck_scan import (
    DESCRIBE_RULES,
    OPTIONAL_NARROWING,
    REPORTED_AFTER,
    ScanStats,
    scan_plan,
)
from console.errors import NotFound, UsageError
from console.model import Execution, StuckHit, StuckRule, StuckRules

POLLER_LIVENESS = timedelta(minutes=2)
UNSERVED_AFTER = timedelta(seconds=10)
PARALLEL = 64  # describes in flight; measured: 16 -> 64 is ~1.2-1.6x the rate on a dev server
FAILURE_SCAN = 50  # newest events searched for the WorkflowTaskFailed cause


class PollerCache:
    """DescribeTaskQueue once per queue per scan; None means "has live pollers"."""

    def __init__(self, conn: Connection, now: datetime, stats: ScanStats | None = None) -> None:
        self.conn = conn
        self.now = now
        self.stats = stats or ScanStats()
        self._seen: dict[str, asyncio.Task[str | None]] = {}

    def evidence(self, task_queue: str) -> asyncio.Task[str | None]:
        if task_queue not in self._seen:
            self._seen[task_queue] = asyncio.ensure_future(self._check(task_queue))
        return self._seen[task_queue]

    async def _check(self, task_queue: str) -> str | None:
        self.stats.task_queues += 1
        resp = await self.conn.call(
            self.conn.service.describe_task_queue,
            DescribeTaskQueueRequest(
                namespace=self.conn.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                report_stats=True,
            ),
        )
        last_polls = [time_of(p, "last_access_time") for p in resp.pollers]
        known = [t for t in last_polls if t is not None]
        if not known:
            return f"no worker is polling task queue {task_queue!r} for workflow tasks"
        newest = max(known)
        waited = resp.stats.approximate_backlog_age.ToTimedelta()
        backlog = resp.stats.approximate_backlog_count
        # nobody polled since the oldest waiting task came
        if backlog and waited >= UNSERVED_AFTER and self.now - newest >= waited:
            return (
                f"a workflow task has waited {human_duration(waited)} on task queue "
                f"{task_queue!r} and no worker polled since (last poll "
                f"{human_duration(self.now - newest)} ago: workers gone or too busy)"
            )
        if self.now - newest <= POLLER_LIVENESS:
            return None
        return (
            f"no worker polled task queue {task_queue!r} for "
            f"{human_duration(self.now - newest)} (pollers seen before have gone)"
        )


def _hit(execution: Execution, rule: StuckRule, evidence: str, **details: Any) -> StuckHit:
    return StuckHit(execution=execution, rule=rule, evidence=evidence, details=details)


def _activity_hits(
    execution: Execution, resp: DescribeWorkflowExecutionResponse, rules: StuckRules
) -> list[StuckHit]:
    hits = []
    for info in resp.pending_activities:
        activity = pending_activity(info)
        if activity.attempt < rules.activity_attempts:
            continue
        limit = f"/{activity.maximum_attempts}" if activity.maximum_attempts else " (no limit)"
        evidence = (
            f"activity {activity.activity_type} (id {activity.activity_id}) is on attempt "
            f"{activity.attempt}{limit}, threshold {rules.activity_attempts}"
        )
        if activity.last_failure:
            evidence += f"; last failure: {activity.last_failure}"
        hits.append(
            _hit(
                execution,
                StuckRule.ACTIVITY_RETRYING,
                evidence,
                activity_id=activity.activity_id,
                activity_type=activity.activity_type,
                attempt=activity.attempt,
                last_failure=activity.last_failure,
            )
        )
    return hits


def _last_wft_failure(newest_first: list[ProtoEvent]) -> str | None:
    for event in newest_first:
        if event_type_name(event) == "WorkflowTaskFailed":
            return workflow_task_failed_text(event.workflow_task_failed_event_attributes)
    return None


async def _check(
    conn: Connection,
    execution: Execution,
    rules: StuckRules,
    pollers: PollerCache,
    now: datetime,
) -> list[StuckHit]:
    hits: list[StuckHit] = []
    if StuckRule.NO_POLLERS in rules.enabled and execution.task_queue:
        evidence = await pollers.evidence(execution.task_queue)
        if evidence:
            hits.append(
                _hit(execution, StuckRule.NO_POLLERS, evidence, task_queue=execution.task_queue)
            )
    if not rules.enabled & DESCRIBE_RULES:
        return hits
    stats = pollers.stats
    stats.describes += 1
    try:
        resp = await conn.describe(execution.ref)
    except NotFound:
        return hits  # deleted since it was listed
    if resp.workflow_execution_info.status != 1:  # closed since it was listed
        return hits
    if StuckRule.ACTIVITY_RETRYING in rules.enabled:
        hits += _activity_hits(execution, resp, rules)
    newest: list[ProtoEvent] | None = None
    wft = resp.pending_workflow_task if resp.HasField("pending_workflow_task") else None
    if (
        StuckRule.WORKFLOW_TASK_FAILING in rules.enabled
        and wft is not None
        and wft.attempt >= rules.workflow_task_attempts
    ):
        stats.histories += 1
        newest = await conn.newest_events(execution.ref, FAILURE_SCAN)
        cause = _last_wft_failure(newest) or "failing without a recorded cause (timing out?)"
        hits.append(
            _hit(
                execution,
                StuckRule.WORKFLOW_TASK_FAILING,
                f"workflow task is on attempt {wft.attempt}, threshold "
                f"{rules.workflow_task_attempts}; {cause}",
                attempt=wft.attempt,
                cause=cause,
            )
        )
    started = execution.start_time
    # Its newest event is no older than its start: a young execution cannot qualify.
    young = started is not None and now - started <= rules.no_progress
    if StuckRule.NO_PROGRESS in rules.enabled and not young:
        if newest is None:
            stats.histories += 1
            newest = await conn.newest_events(execution.ref, 1)
        last = time_of(newest[0], "event_time") if newest else None
        if last is not None and now - last > rules.no_progress:
            hits.append(
                _hit(
                    execution,
                    StuckRule.NO_PROGRESS,
                    f"no new history event for {human_duration(now - last)} "
                    f"(threshold {human_duration(rules.no_progress)}); last event: "
                    f"{event_type_name(newest[0])} #{newest[0].event_id}",
                    last_event_time=last.isoformat(),
                    last_event_type=event_type_name(newest[0]),
                )
            )
    return hits


async def _each(items: AsyncIterator[Execution] | Iterable[Execution]) -> AsyncIterator[Execution]:
    if isinstance(items, AsyncIterator):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def _in_order(
    items: AsyncIterator[Execution] | Iterable[Execution],
    work: Callable[[Execution], Awaitable[list[StuckHit]]],
) -> AsyncIterator[StuckHit]:
    """``work`` on up to PARALLEL items at once (a sliding window); hits in item order."""
    window: deque[asyncio.Future[list[StuckHit]]] = deque()
    try:
        async for item in _each(items):
            window.append(asyncio.ensure_future(work(item)))
            while len(window) >= PARALLEL:
                for hit in await window.popleft():
                    yield hit
        while window:
            for hit in await window.popleft():
                yield hit
    finally:
        for task in window:
            task.cancel()


async def find_stuck(
    conn: Connection,
    list_running: ListRunning,
    rules: StuckRules,
    stats: ScanStats | None = None,
    reported_after: int = REPORTED_AFTER,
) -> AsyncIterator[StuckHit]:
    """Hits for the running executions of the scope, describing only the candidates
    visibility cannot rule out (adapters/temporal_stuck_scan.py says which)."""
    stats = stats if stats is not None else ScanStats()
    started = time.monotonic()
    try:
        async for hit in _scan(conn, list_running, rules, stats, reported_after):
            yield hit
    finally:
        stats.seconds = time.monotonic() - started


async def _scan(
    conn: Connection,
    list_running: ListRunning,
    rules: StuckRules,
    stats: ScanStats,
    reported_after: int,
) -> AsyncIterator[StuckHit]:
    now = datetime.now(UTC)
    plan = scan_plan(rules, now, reported_after)
    pollers = PollerCache(conn, now, stats)

    def check(with_rules: StuckRules) -> Callable[[Execution], Awaitable[list[StuckHit]]]:
        return lambda execution: _check(conn, execution, with_rules, pollers, now)

    if plan.describe_all:
        if StuckRule.NO_POLLERS in rules.enabled:
            stats.no_pollers_path = "checked on the full list the describes read anyway"
        async for hit in _in_order(running(list_running(None), stats), check(rules)):
            yield hit
        stats.candidates = stats.listed  # every one listed was described
        return
    if plan.list_all:  # no_pollers: visibility and the poller cache, no describes
        only_pollers = replace(rules, enabled=frozenset({StuckRule.NO_POLLERS}))
        queued = no_pollers_candidates(list_running, pollers.evidence, stats)
        async for hit in _in_order(queued, check(only_pollers)):
            yield hit
    described = replace(rules, enabled=rules.enabled - {StuckRule.NO_POLLERS})
    async for hit in _in_order(_candidates(plan.narrowed, list_running, stats), check(described)):
        yield hit


async def _candidates(
    narrowed: dict[StuckRule, str], list_running: ListRunning, stats: ScanStats
) -> AsyncIterator[Execution]:
    """Each narrowed rule's candidates, once each, as their pages arrive: describing
    overlaps listing (where a rule's candidates are nearly every running execution, as
    activity_retrying's are in production, the list is ten pages per 10,000)."""
    seen: set[tuple[str, str | None]] = set()

    async def rows(clause: str | None) -> AsyncIterator[Execution]:
        async for execution in running(list_running(clause), stats):
            stats.by_rule[rule.value] += 1
            key = (execution.ref.workflow_id, execution.ref.run_id)
            if key not in seen:
                seen.add(key)
                stats.candidates = len(seen)
                yield execution

    for rule, clause in narrowed.items():
        stats.by_rule[rule.value] = 0
        try:
            async for execution in rows(clause):
                yield execution
        except UsageError:
            if rule not in OPTIONAL_NARROWING:
                raise
            # A server without the search attribute: every running one is a candidate.
            stats.fallbacks.append(f"{rule.value}: the server rejects {clause}; described all")
            async for execution in rows(None):
                yield execution
