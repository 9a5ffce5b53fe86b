"""Which runs triage reads, and their failures, through the ports only.

Three listings, each within the caller's visibility query and capped (ScanLimits):
failed and timed-out runs closed since T (their close failure); completed runs closed
since T (activities that failed and were retried through: the transient evidence);
and running runs (retrying activities, failing workflow tasks). Each listed run is
read with console.ports_triage.FailureReader where the engine has it, else through
``describe`` (one line of failure text, no error type). Occurrences older than T are
dropped: a running run's activity may have failed yesterday.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from console.model import Execution, ExecutionStatus, ListQuery
from console.model_triage import FailureKind, ObservedFailure
from console.ports import WorkflowEngine
from console.ports_triage import FailureReader

# Failure reads in flight per engine: 64 as the stuck scan's describes (measured 16 -> 64
# on a dev server with 1,240 runs to read: bench/RESULTS.md, issue 14).
PARALLEL = 64


@dataclass(frozen=True)
class ScanLimits:
    """At most this many runs of each listing are read (newest first)."""

    failed: int = 1000
    completed: int = 200
    running: int = 500


@dataclass
class ScanStats:
    """What a triage read: runs per listing, and which listings hit their cap."""

    listed: dict[str, int] = field(default_factory=dict)
    runs_by_type: dict[tuple[str, str], int] = field(default_factory=dict)  # (engine, type)
    capped: list[str] = field(default_factory=list)
    structured: bool = True  # False: the engine has no FailureReader (describe only)


async def collect_failures(
    engine: WorkflowEngine,
    *,
    query: str | None,
    since: datetime,
    limits: ScanLimits | None = None,
    stats: ScanStats | None = None,
) -> list[ObservedFailure]:
    limits = limits or ScanLimits()
    stats = stats if stats is not None else ScanStats()
    raw = query.strip() if query and query.strip() else None
    listings = {
        "failed": (
            ListQuery(
                statuses=(ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT),
                closed_after=since,
                raw=raw,
            ),
            limits.failed,
        ),
        "completed": (
            ListQuery(statuses=(ExecutionStatus.COMPLETED,), closed_after=since, raw=raw),
            limits.completed,
        ),
        "running": (ListQuery(statuses=(ExecutionStatus.RUNNING,), raw=raw), limits.running),
    }
    runs: list[Execution] = []
    for name, (listing, cap) in listings.items():
        found = await _listed(engine, listing, cap, since)
        stats.listed[name] = len(found)
        if len(found) >= cap:
            stats.capped.append(name)
        runs += found
    # One read per run, should an engine list a run in two listings (a filter it ignores).
    runs = list({execution.ref: execution for execution in runs}.values())
    for execution in runs:
        key = (execution.ref.engine, execution.workflow_type)
        stats.runs_by_type[key] = stats.runs_by_type.get(key, 0) + 1
    reader = engine if isinstance(engine, FailureReader) else None
    stats.structured = reader is not None
    gate = asyncio.Semaphore(PARALLEL)

    async def read(execution: Execution) -> Sequence[ObservedFailure]:
        async with gate:
            if reader is not None:
                return await reader.failures(execution)
            return await described_failures(engine, execution)

    read_all = await asyncio.gather(*(read(e) for e in runs))
    return [f for items in read_all for f in items if f.time is None or f.time >= since]


async def _listed(
    engine: WorkflowEngine, query: ListQuery, cap: int, since: datetime
) -> list[Execution]:
    """Up to ``cap`` runs; closed ones checked against ``since`` here too, for engines
    that do not filter on close time."""
    sized = ListQuery(
        statuses=query.statuses,
        closed_after=query.closed_after,
        raw=query.raw,
        limit=cap,
        page_size=min(cap, 1000),
    )
    out = []
    async for execution in engine.list(sized):
        closed = execution.close_time
        if query.closed_after is not None and closed is not None and closed < since:
            continue
        out.append(execution)
        if len(out) >= cap:
            break
    return out


def _split(text: str) -> tuple[str, str]:
    """'GatewayTimeout: payment gateway timed out' -> (type, message) when the head
    is one word; else ('Failure', text)."""
    head, sep, rest = text.partition(": ")
    if sep and head and " " not in head:
        return head, rest
    return "Failure", text


async def described_failures(engine: WorkflowEngine, execution: Execution) -> list[ObservedFailure]:
    """The failures ``describe`` shows: for engines without a FailureReader."""
    detail = await engine.describe(execution.ref)
    version = execution.deployment_version or detail.build_id
    out = []
    if execution.status in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT):
        error_type, message = _split(detail.last_failure or f"execution {execution.status}")
        out.append(
            ObservedFailure(
                execution,
                FailureKind.EXECUTION,
                error_type,
                message,
                execution.close_time,
                version=version,
            )
        )
    for activity in detail.pending_activities:
        if activity.attempt > 1 and activity.last_failure:
            error_type, message = _split(activity.last_failure)
            out.append(
                ObservedFailure(
                    execution,
                    FailureKind.ACTIVITY,
                    error_type,
                    message,
                    activity.last_started_time,
                    activity.activity_type,
                    attempt=activity.attempt - 1,
                    version=version,
                )
            )
    task = detail.pending_workflow_task
    if task is not None and task.attempt > 1:
        text = (detail.last_failure or "workflow task failing").removeprefix(
            "workflow task failed: "
        )
        error_type, message = _split(text)
        out.append(
            ObservedFailure(
                execution,
                FailureKind.WORKFLOW_TASK,
                error_type,
                message,
                task.scheduled_time,
                attempt=task.attempt - 1,
                version=version,
            )
        )
    return out
