"""Bulk retry/cancel/terminate by visibility query: ONE server-side batch job.

A plan by query (``params["query"]``) counts and lists the running matches, and the
job is started with the query itself, narrowed to what the plan showed: running
executions started no later than the newest one listed, so a run started after the
plan is never touched. The job's id is the apply's request id (a resumed apply finds
it and watches it); ``params["rps"]`` is its max operations per second (the server caps
it at its ``worker.batcherRPS``). Progress goes to console.progress while it runs;
afterwards one visibility lookup per 100 planned runs (``RunId IN (...)``) turns the
job's counts into per-target outcomes: closed by the job, closed before it, or still
running (failed).

Falls back to the exact per-run plan (adapters/temporal_actions.py) when the matches
are few (<= batch threshold), for activity resets, and for a retry whose query also
matches closed runs: a query cannot tell a workflow's older runs from its latest one,
and resetting an older run would terminate the newer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from temporalio.api.enums.v1 import BatchOperationState
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationResponse,
    StartBatchOperationRequest,
)

from adapters.temporal_actions import batch_operation, describe_batch, set_batch_operation
from adapters.temporal_client import Connection
from adapters.temporal_visibility import quote, visibility_query
from console.errors import OpsdeckError, UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    Execution,
    ExecutionRef,
    ExecutionStatus,
    ListQuery,
    Outcome,
    Plan,
    PlannedCall,
    TargetOutcome,
)
from console.progress import JobProgress, report

QUERY_JOB_KINDS = frozenset({ActionKind.TERMINATE, ActionKind.CANCEL, ActionKind.RETRY})
POLL_SECONDS = 0.1
# How long apply follows a job: 60 s plus three times its nominal duration (the dev
# server reports counts only when a page of up to 1,000 is done, so no-progress is no
# sign of a stuck job). The server's default rate is worker.batcherRPS = 50.
WATCH_MARGIN_SECONDS = 60.0
SERVER_DEFAULT_RPS = 50.0
VISIBILITY_WAIT_SECONDS = 10.0  # visibility is eventually consistent after the job
RUN_IDS_PER_LOOKUP = 100
_DONE_STATES = (
    BatchOperationState.BATCH_OPERATION_STATE_COMPLETED,
    BatchOperationState.BATCH_OPERATION_STATE_FAILED,
)
# The status a run has when the job changed it (a reset terminates the base run).
_CHANGED_TO = {
    "terminate": ExecutionStatus.TERMINATED,
    "reset": ExecutionStatus.TERMINATED,
    "cancel": ExecutionStatus.CANCELED,
}


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
    matching, running = await asyncio.gather(
        visibility.count(ListQuery(raw=query)), visibility.count(running_query)
    )
    if running > limit:
        raise UsageError(
            f"limit: the query matches {running} running executions, more than the limit "
            f"{limit}; raise --limit or narrow the query (nothing changed)"
        )
    closed = max(0, matching - running)
    why_exact = None
    if request.kind is ActionKind.RETRY and request.params.get("mode") == "activity":
        why_exact = "activity resets are planned per run"
    elif request.kind is ActionKind.RETRY and closed:
        why_exact = (
            f"the query matches {closed} closed execution(s): each run is planned exactly "
            "(a query job cannot tell a workflow's older runs from its latest)"
        )
    if running <= threshold or why_exact:
        page = min(limit, 1000)
        every = ListQuery(raw=query, limit=limit, page_size=page)
        refs = tuple(dict.fromkeys([e.ref async for e in visibility.list(every)]))
        if not refs:
            return Plan(request, engine, (), warnings=("no execution matches the query",))
        plan = await exact(replace(request, targets=refs))
        return replace(plan, warnings=((why_exact,) if why_exact else ()) + plan.warnings)
    listing = replace(running_query, limit=limit, page_size=min(limit, 1000))
    listed = [e async for e in visibility.list(listing)]
    if not listed:
        return Plan(request, engine, (), warnings=("no running execution matches the query",))
    selection = f"{visibility_query(running_query)} AND StartTime <= {_bound(listed)}"
    operation = batch_operation(request)
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


def _state_name(state: DescribeBatchOperationResponse) -> str:
    name = BatchOperationState.Name(state.state)
    return name.removeprefix("BATCH_OPERATION_STATE_").lower()


def watch_seconds(targets: int, rps: float | None) -> float:
    return WATCH_MARGIN_SECONDS + 3 * targets / (rps or SERVER_DEFAULT_RPS)


async def _watch(
    conn: Connection, job_id: str, wait: float, poll: float
) -> DescribeBatchOperationResponse | None:
    """Follow the job to its end, reporting progress; give up after ``wait`` seconds."""
    seen: JobProgress | None = None
    deadline = time.monotonic() + wait
    state = None
    total = 0  # the server may report 0 again after a total: keep the largest seen
    while True:
        state = await describe_batch(conn, job_id)
        if state is not None:
            total = max(total, state.total_operation_count)
            done, failed = state.complete_operation_count, state.failure_operation_count
            now = JobProgress(job_id, _state_name(state), total, done, failed)
            if now != seen:
                seen = now
                report(now)
            if state.state in _DONE_STATES:
                return state
        if time.monotonic() > deadline:
            return state
        await asyncio.sleep(poll)


async def _runs(visibility: Visibility, run_ids: list[str]) -> dict[str, Execution]:
    """Each run's execution as visibility shows it now, by run id."""

    async def lookup(chunk: list[str]) -> list[Execution]:
        ids = ", ".join(quote(r) for r in chunk)
        query = ListQuery(raw=f"RunId IN ({ids})", limit=len(chunk), page_size=len(chunk))
        return [e async for e in visibility.list(query)]

    chunks = [
        run_ids[i : i + RUN_IDS_PER_LOOKUP] for i in range(0, len(run_ids), RUN_IDS_PER_LOOKUP)
    ]
    found = await asyncio.gather(*(lookup(c) for c in chunks))
    return {e.ref.run_id or "": e for rows in found for e in rows}


async def _settled_runs(
    visibility: Visibility, run_ids: list[str], changed: ExecutionStatus, expected: int
) -> dict[str, Execution]:
    """The runs once visibility shows at least ``expected`` of them ``changed`` (or a
    short deadline passed: what it shows then is reported)."""
    deadline = time.monotonic() + VISIBILITY_WAIT_SECONDS
    while True:
        runs = await _runs(visibility, run_ids)
        done = sum(1 for e in runs.values() if e.status is changed)
        if done >= expected or time.monotonic() > deadline:
            return runs
        await asyncio.sleep(POLL_SECONDS)


def _outcome(
    call: PlannedCall,
    execution: Execution | None,
    operation: str,
    job_start: datetime | None,
    details: dict[str, Any],
) -> TargetOutcome:
    job = details["batch_job_id"]
    if execution is None:
        return TargetOutcome(call.target, Outcome.SKIPPED, "no longer visible", details)
    status = execution.status
    details = details | {"status": status.value}
    changed_to = _CHANGED_TO[operation]
    closed_late = job_start is None or (
        execution.close_time is not None and execution.close_time >= job_start
    )
    if status is changed_to and closed_late:
        done = "reset (a new run continues)" if operation == "reset" else status.value
        return TargetOutcome(call.target, Outcome.OK, f"{done} by batch job {job}", details)
    if status.is_open:
        if operation == "cancel":
            why = f"cancellation requested by batch job {job}; the workflow has not closed yet"
            return TargetOutcome(call.target, Outcome.SUBMITTED, why, details)
        why = f"still {status.value} after batch job {job} ({details['failed']} failed in the job)"
        return TargetOutcome(call.target, Outcome.FAILED, why, details)
    why = f"closed ({status.value}) before batch job {job} reached it; not changed"
    return TargetOutcome(call.target, Outcome.SKIPPED, why, details)


def _start_request(conn: Connection, plan: Plan, job_id: str) -> StartBatchOperationRequest:
    params = plan.calls[0].params
    request = plan.request
    start = StartBatchOperationRequest(
        namespace=conn.namespace,
        job_id=job_id,
        reason=request.reason or f"opsdeck {request.kind.value}",
        visibility_query=str(params["selection"]),
        max_operations_per_second=float(params.get("rps") or 0),
    )
    set_batch_operation(start, conn, request)
    return start


async def apply_by_query(
    conn: Connection,
    visibility: Visibility,
    plan: Plan,
    request_id: str,
    *,
    wait: float | None = None,
    poll: float = POLL_SECONDS,
) -> AsyncIterator[TargetOutcome]:
    """Start (or find, on resume) the job, follow it, then yield one outcome per target."""
    calls = plan.calls
    if not calls:
        return
    job_id = request_id
    operation = str(calls[0].params["operation"])
    details: dict[str, Any] = {"batch_job_id": job_id, "selection": calls[0].params["selection"]}
    try:
        if await describe_batch(conn, job_id) is None:  # not a resumed apply
            await conn.call(conn.service.start_batch_operation, _start_request(conn, plan, job_id),
                            retry=True)  # fmt: skip
        rps = calls[0].params.get("rps")
        wait = wait if wait is not None else watch_seconds(len(calls), rps)
        state = await _watch(conn, job_id, wait, poll)
    except OpsdeckError as e:
        for call in calls:
            yield TargetOutcome(call.target, Outcome.FAILED, str(e), details)
        return
    if state is None or state.state not in _DONE_STATES:
        message = f"batch job {job_id} still running on the server (temporal batch describe)"
        for call in calls:
            yield TargetOutcome(call.target, Outcome.SUBMITTED, message, details)
        return
    details |= {
        "total": state.total_operation_count,
        "completed": state.complete_operation_count,
        "failed": state.failure_operation_count,
    }
    if state.state == BatchOperationState.BATCH_OPERATION_STATE_FAILED:
        message = f"batch job {job_id} failed (temporal batch describe --job-id {job_id})"
        for call in calls:
            yield TargetOutcome(call.target, Outcome.FAILED, message, details)
        return
    run_ids = [ExecutionRef.parse(c.target).run_id or "" for c in calls]
    changed_to = _CHANGED_TO[operation]
    expected = state.complete_operation_count if operation != "cancel" else 0
    try:
        runs = await _settled_runs(visibility, run_ids, changed_to, min(expected, len(calls)))
    except OpsdeckError as e:
        message = f"batch job {job_id} completed; outcomes not read back: {e}"
        for call in calls:
            yield TargetOutcome(call.target, Outcome.SUBMITTED, message, details)
        return
    job_start = state.start_time.ToDatetime(tzinfo=UTC) if state.HasField("start_time") else None
    for call, run_id in zip(calls, run_ids, strict=True):
        yield _outcome(call, runs.get(run_id), operation, job_start, details)
