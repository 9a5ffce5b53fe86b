"""Bulk retry/cancel/terminate by visibility query: ONE server-side batch job.

A plan by query (``params["query"]``) counts and lists the running matches, and the
job is started with the query itself, narrowed to what the plan showed: running
executions started no later than the newest one listed, so a run started after the
plan is never touched. Planning reads visibility only (HTTP when configured) and
imports no temporalio: the SDK is imported and connected meanwhile (TemporalEngine.plan),
ready for apply. Apply (adapters/temporal_bulk_watch.py) starts and follows the job and
reports one outcome per target.

Falls back to the exact per-run plan (adapters/temporal_actions.py) when the matches
are few (<= batch threshold), for activity resets, and for a retry whose query also
matches closed runs: a query cannot tell a workflow's older runs from its latest one,
and resetting an older run would terminate the newer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from adapters.temporal_visibility import quote, visibility_query
from console.errors import UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    Execution,
    ExecutionStatus,
    ListQuery,
    Plan,
    PlannedCall,
)

QUERY_JOB_KINDS = frozenset({ActionKind.TERMINATE, ActionKind.CANCEL, ActionKind.RETRY})
# The job's operation per kind (a retry by query is a reset to the last workflow task;
# activity resets are planned per run, adapters/temporal_actions.batch_operation).
_OPERATION = {ActionKind.TERMINATE: "terminate", ActionKind.CANCEL: "cancel",
              ActionKind.RETRY: "reset"}  # fmt: skip


class Visibility(Protocol):
    def list(self, query: ListQuery) -> AsyncIterator[Execution]: ...
    async def count(self, query: ListQuery) -> int: ...


def query_params(params: Mapping[str, Any]) -> tuple[str, float | None, int]:
    """(query, rps, limit) from a request's params; UsageError names the bad field."""
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise UsageError("query: give a visibility query, e.g. \"WorkflowType = 'Order'\"")
    rps = params.get("rps")
    if rps is not None:
        if isinstance(rps, bool) or not isinstance(rps, int | float) or not rps > 0:
            raise UsageError(f"rps: operations per second must be a number above 0, not {rps!r}")
        rps = float(rps)
    limit = params.get("limit", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UsageError(f"limit: at most how many targets, a whole number >= 1, not {limit!r}")
    return query.strip(), rps, limit


async def _all(executions: AsyncIterator[Execution]) -> list[Execution]:
    return [e async for e in executions]


async def _drop(task: asyncio.Future[list[Execution]]) -> None:
    """Stop a listing nobody needs; its error, if any, is moot."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def is_query_plan(plan: Plan) -> bool:
    return plan.batch and bool(plan.calls) and plan.calls[0].params.get("by") == "query"


def _bound(executions: list[Execution]) -> str:
    """The newest listed start time, rounded up to the microsecond visibility compares."""
    starts = [e.start_time for e in executions if e.start_time is not None]
    newest = max(starts) if starts else datetime.now(UTC)
    newest = newest.astimezone(UTC) + timedelta(microseconds=1)
    return quote(newest.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


async def plan_by_query(
    visibility: Visibility,
    engine: str,
    request: ActionRequest,
    threshold: int,
    exact: Callable[[ActionRequest], Awaitable[Plan]],
) -> Plan:
    """The plan for a change by query; ``exact`` plans named runs (the fallback)."""
    query, rps, limit = query_params(request.params)
    if request.kind not in QUERY_JOB_KINDS:
        raise UsageError(f"{request.kind.value} by query is not supported; name the execution")
    running_query = ListQuery(raw=query, statuses=(ExecutionStatus.RUNNING,))
    listing = replace(running_query, limit=limit, page_size=min(limit, 1000))
    # The listing a batch job needs goes out with the counts (one round trip less);
    # when the counts choose another plan it is dropped.
    listed_task = asyncio.ensure_future(_all(visibility.list(listing)))
    try:
        matching, running = await asyncio.gather(
            visibility.count(ListQuery(raw=query)), visibility.count(running_query)
        )
    except BaseException:
        await _drop(listed_task)
        raise
    closed = max(0, matching - running)
    why_exact = None
    if request.kind is ActionKind.RETRY and request.params.get("mode") == "activity":
        why_exact = "activity resets are planned per run"
    elif request.kind is ActionKind.RETRY and closed:
        why_exact = (
            f"the query matches {closed} closed execution(s): each run is planned exactly "
            "(a query job cannot tell a workflow's older runs from its latest)"
        )
    if running > limit or running <= threshold or why_exact:
        await _drop(listed_task)
    if running > limit:
        raise UsageError(
            f"limit: the query matches {running} running executions, more than the limit "
            f"{limit}; raise --limit or narrow the query (nothing changed)"
        )
    if running <= threshold or why_exact:
        page = min(limit, 1000)
        every = ListQuery(raw=query, limit=limit, page_size=page)
        refs = tuple(dict.fromkeys([e.ref async for e in visibility.list(every)]))
        if not refs:
            return Plan(request, engine, (), warnings=("no execution matches the query",))
        plan = await exact(replace(request, targets=refs))
        return replace(plan, warnings=((why_exact,) if why_exact else ()) + plan.warnings)
    listed = await listed_task
    if not listed:
        return Plan(request, engine, (), warnings=("no running execution matches the query",))
    selection = f"{visibility_query(running_query)} AND StartTime <= {_bound(listed)}"
    operation = _OPERATION[request.kind]
    params = {
        "by": "query",
        "operation": operation,
        "reason": request.reason,
        "selection": selection,
        "rps": rps,
    }
    targets = dict.fromkeys(str(e.ref) for e in listed)  # a page boundary may repeat a row
    calls = tuple(PlannedCall(t, f"StartBatchOperation({operation})", params) for t in targets)
    rate = f"at most {rps:g} operations per second" if rps else "the server's default rate"
    warnings = [
        f"{running} running executions match (visibility count at plan time): ONE "
        "server-side batch job selects them by the query and continues if this client "
        f"goes away; {rate} (capped by the server's worker.batcherRPS)",
        f"job selection: {selection} (a run started after this plan is not touched)",
    ]
    if len(calls) != running:
        warnings.append(f"visibility listed {len(calls)} of the {running} counted")
    if closed:
        warnings.append(f"{closed} closed execution(s) also match the query: left alone")
    if request.kind is ActionKind.RETRY:
        warnings.append(
            "each execution resets to its last completed workflow task (signals reapplied); "
            "one that never completed a workflow task fails"
        )
    return Plan(request, engine, calls, batch=True, warnings=tuple(warnings))
