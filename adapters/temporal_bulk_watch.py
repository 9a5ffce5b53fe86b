"""Apply a plan by query (adapters/temporal_bulk.py): start the batch job, follow it,
report one outcome per target.

The job's id is the apply's request id (a resumed apply finds it and watches it).
Progress goes to console.progress while it runs. The server gives counts, not names,
so outcomes come from visibility (``RunId IN (...)`` per 100 planned runs): closed by
the job, closed before it, or still running (failed). Runs are read back while the
job runs too: a closed run stays closed, so what was seen closed is not asked again,
and after the job only the rest is (at the server's 50/s, a 1,000-run job leaves the
last second's runs to read, not 1,000).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import BatchOperationState
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationResponse,
    StartBatchOperationRequest,
)

from adapters.temporal_actions import describe_batch, set_batch_operation
from adapters.temporal_bulk import Visibility
from adapters.temporal_client import Connection
from adapters.temporal_visibility import quote
from console.errors import OpsdeckError
from console.model import (
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

# DescribeBatchOperation every 50 ms: the end of a 20-second job is seen within 50 ms
# (a poll is one small call; 400 of them for 1,000 runs at 50/s).
POLL_SECONDS = 0.05
READ_BACK_SECONDS = 1.0  # while the job runs: the next planned runs not yet seen closed
READ_BACK_CHUNKS = 2  # lookups per read while the job runs (the job's next ~200 runs)
# How long apply follows a job: 60 s plus three times its nominal duration (the dev
# server reports counts only when a page of up to 1,000 is done, so no-progress is no
# sign of a stuck job). The server's default rate is worker.batcherRPS = 50.
WATCH_MARGIN_SECONDS = 60.0
SERVER_DEFAULT_RPS = 50.0
VISIBILITY_WAIT_SECONDS = 10.0  # visibility is eventually consistent after the job
SETTLE_POLL_SECONDS = 0.1
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


class ReadBack:
    """The planned runs as visibility shows them, by run id; closed ones are kept."""

    def __init__(self, visibility: Visibility, run_ids: list[str]) -> None:
        self.visibility = visibility
        self.run_ids = run_ids
        self.closed: dict[str, Execution] = {}
        self.lookups = 0

    def _unsettled(self) -> list[str]:
        return [r for r in self.run_ids if r not in self.closed]

    async def _lookup(self, chunk: list[str]) -> list[Execution]:
        ids = ", ".join(quote(r) for r in chunk)
        query = ListQuery(raw=f"RunId IN ({ids})", limit=len(chunk), page_size=len(chunk))
        self.lookups += 1
        return [e async for e in self.visibility.list(query)]

    async def read(self, run_ids: list[str]) -> dict[str, Execution]:
        """These runs now (chunks in parallel); the closed ones are remembered."""
        step = RUN_IDS_PER_LOOKUP
        chunks = [run_ids[i : i + step] for i in range(0, len(run_ids), step)]
        found = await asyncio.gather(*(self._lookup(c) for c in chunks))
        runs = {e.ref.run_id or "": e for rows in found for e in rows}
        self.closed.update((r, e) for r, e in runs.items() if not e.status.is_open)
        return runs

    async def follow(self, interval: float = READ_BACK_SECONDS) -> None:
        """While the job runs: the first planned runs not yet seen closed, in plan order
        (the job's own order: the same query, the same visibility sort)."""
        with contextlib.suppress(OpsdeckError):  # the read after the job reports errors
            while True:
                await asyncio.sleep(interval)
                pending = self._unsettled()[: READ_BACK_CHUNKS * RUN_IDS_PER_LOOKUP]
                if pending:
                    await self.read(pending)

    async def settled(self, changed: ExecutionStatus, expected: int) -> dict[str, Execution]:
        """Every run, once visibility shows at least ``expected`` of them ``changed``
        (or a short deadline passed: what it shows then is reported)."""
        deadline = time.monotonic() + VISIBILITY_WAIT_SECONDS
        while True:
            runs = dict(self.closed)
            runs.update(await self.read(self._unsettled()))
            done = sum(1 for e in runs.values() if e.status is changed)
            if done >= expected or time.monotonic() > deadline:
                return runs
            await asyncio.sleep(SETTLE_POLL_SECONDS)


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
    run_ids = [ExecutionRef.parse(c.target).run_id or "" for c in calls]
    runs = ReadBack(visibility, run_ids)

    async def run_job() -> DescribeBatchOperationResponse | None:
        if await describe_batch(conn, job_id) is None:  # not a resumed apply
            await conn.call(conn.service.start_batch_operation, _start_request(conn, plan, job_id),
                            retry=True)  # fmt: skip
        rps = calls[0].params.get("rps")
        seconds = wait if wait is not None else watch_seconds(len(calls), rps)
        return await _watch(conn, job_id, seconds, poll)

    following = asyncio.ensure_future(runs.follow())
    state: DescribeBatchOperationResponse | None = None
    error: OpsdeckError | None = None
    try:
        state = await run_job()
    except OpsdeckError as e:
        error = e
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    if error is not None:
        for call in calls:
            yield TargetOutcome(call.target, Outcome.FAILED, str(error), details)
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
    changed_to = _CHANGED_TO[operation]
    expected = state.complete_operation_count if operation != "cancel" else 0
    try:
        found = await runs.settled(changed_to, min(expected, len(calls)))
    except OpsdeckError as e:
        message = f"batch job {job_id} completed; outcomes not read back: {e}"
        for call in calls:
            yield TargetOutcome(call.target, Outcome.SUBMITTED, message, details)
        return
    job_start = state.start_time.ToDatetime(tzinfo=UTC) if state.HasField("start_time") else None
    for call, run_id in zip(calls, run_ids, strict=True):
        yield _outcome(call, found.get(run_id), operation, job_start, details)
