"""Apply a plan by query (adapters/temporal_bulk.py): start the batch job, follow it,
report one outcome per target as soon as that target's run is seen closed.

The job goes through ``BatchJobs`` (adapters/temporal_batch_job.py): the HTTP API when
the engine has ``http-address`` (no temporalio import at all), else the SDK's gRPC. Its
id is the apply's request id (a resumed apply finds it and watches it). Progress goes
to console.progress while it runs.

The server gives counts, not names, so outcomes come from visibility (``RunId IN
(...)`` per 100 planned runs). While the job runs, the next ~200 planned runs not yet
seen closed are read every half second (plan order is the job's order: the same query,
the same visibility sort); a closed run stays closed, so each one seen closed is
reported then (closed by the job, or before it) and never asked again. When the job ends, the
rest are read once more (with the settle wait: visibility lags the job) and reported:
still running = failed. So the runner audits and prints outcomes DURING the job.

Decision: each target's outcome (and audit record) states that target's own result and
the job id (``batch_job_id``, ``selection``, ``status``). The job's final counts
(``total``/``completed``/``failed`` from DescribeBatchOperation) are on the LAST outcome
only, the one yielded after the job's end was seen (one outcome is held back for it),
and in the final progress line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.temporal_batch_job import BatchJobs, JobState
from adapters.temporal_bulk import Visibility
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
READ_BACK_SECONDS = 0.5  # while the job runs: the next planned runs not yet seen closed
READ_BACK_CHUNKS = 2  # lookups per read while the job runs (the job's next ~200 runs)
# How long apply follows a job: 60 s plus three times its nominal duration (the dev
# server reports counts only when a page of up to 1,000 is done, so no-progress is no
# sign of a stuck job). The server's default rate is worker.batcherRPS = 50.
WATCH_MARGIN_SECONDS = 60.0
SERVER_DEFAULT_RPS = 50.0
VISIBILITY_WAIT_SECONDS = 10.0  # visibility is eventually consistent after the job
SETTLE_POLL_SECONDS = 0.1
RUN_IDS_PER_LOOKUP = 100
# The status a run has when the job changed it (a reset terminates the base run).
_CHANGED_TO = {
    "terminate": ExecutionStatus.TERMINATED,
    "reset": ExecutionStatus.TERMINATED,
    "cancel": ExecutionStatus.CANCELED,
}


def watch_seconds(targets: int, rps: float | None) -> float:
    return WATCH_MARGIN_SECONDS + 3 * targets / (rps or SERVER_DEFAULT_RPS)


class JobWatch:
    """Start the job unless it exists (a resumed apply), then follow it to its end,
    reporting progress; ``latest`` is the last state seen (its start time dates runs)."""

    def __init__(self, jobs: BatchJobs, job_id: str, wait: float, poll: float) -> None:
        self.jobs, self.job_id, self.wait, self.poll = jobs, job_id, wait, poll
        self.latest: JobState | None = None

    async def run(self, plan: Plan) -> JobState | None:
        if await self.jobs.describe(self.job_id) is None:
            try:
                await self.jobs.start(plan, self.job_id)
            except OpsdeckError:
                # The answer may be lost, not the start (a timeout, a dropped connection,
                # a resend refused): the job id is this request's, so if it exists it is ours.
                if await self.jobs.describe(self.job_id) is None:
                    raise
        seen: JobProgress | None = None
        deadline = time.monotonic() + self.wait
        total = 0  # the server may report 0 again after a total: keep the largest seen
        while True:
            state = await self.jobs.describe(self.job_id)
            if state is not None:
                total = max(total, state.total)
                state = replace(state, total=total)
                self.latest = state
                now = JobProgress(self.job_id, state.state, total, state.completed, state.failed)
                if now != seen:
                    seen = now
                    report(now)
                if state.done:
                    return state
            if time.monotonic() > deadline:
                return state
            await asyncio.sleep(self.poll)


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

    async def read_next(self) -> None:
        """While the job runs: the first planned runs not yet seen closed, in plan order.
        An error is left to the read after the job, which reports it."""
        pending = self._unsettled()[: READ_BACK_CHUNKS * RUN_IDS_PER_LOOKUP]
        if pending:
            with contextlib.suppress(OpsdeckError):
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
    failed_in_job: int = 0,
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
        why = f"still {status.value} after batch job {job} ({failed_in_job} failed in the job)"
        return TargetOutcome(call.target, Outcome.FAILED, why, details)
    why = f"closed ({status.value}) before batch job {job} reached it; not changed"
    return TargetOutcome(call.target, Outcome.SKIPPED, why, details)


async def apply_by_query(
    jobs: BatchJobs,
    visibility: Visibility,
    plan: Plan,
    request_id: str,
    *,
    wait: float | None = None,
    poll: float = POLL_SECONDS,
    read_every: float | None = None,
) -> AsyncIterator[TargetOutcome]:
    """Start (or find, on resume) the job and follow it; yield each target's outcome when
    its run is seen closed, the rest (and the job's counts, on the last) after the job."""
    calls = plan.calls
    if not calls:
        return
    job_id = request_id
    operation = str(calls[0].params["operation"])
    details: dict[str, Any] = {"batch_job_id": job_id, "selection": calls[0].params["selection"]}
    run_ids = [ExecutionRef.parse(c.target).run_id or "" for c in calls]
    runs = ReadBack(visibility, run_ids)
    seconds = wait if wait is not None else watch_seconds(len(calls), calls[0].params.get("rps"))
    watch = JobWatch(jobs, job_id, seconds, poll)
    job = asyncio.ensure_future(watch.run(plan))
    every = READ_BACK_SECONDS if read_every is None else read_every
    reported: set[str] = set()
    held: TargetOutcome | None = None  # the last outcome waits for the job's counts
    try:
        while not job.done():
            await asyncio.wait({job}, timeout=every)
            job_start = watch.latest.start_time if watch.latest else None
            if job.done() or job_start is None:
                continue  # a run closed before the job's start time is known: not yet
            await runs.read_next()
            for call, run_id in zip(calls, run_ids, strict=True):
                closed = runs.closed.get(run_id)
                if closed is None or run_id in reported:
                    continue
                reported.add(run_id)
                if held is not None:
                    yield held
                held = _outcome(call, closed, operation, job_start, details)
        state = job.result() if job.exception() is None else None
        error = job.exception()
    finally:
        if not job.done():  # the consumer stopped early: stop following the job
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
    rest = [(c, r) for c, r in zip(calls, run_ids, strict=True) if r not in reported]
    final: list[TargetOutcome] = [held] if held is not None else []
    if error is not None:
        if not isinstance(error, OpsdeckError):
            for outcome in final:  # the held one was seen before the bug: still reported
                yield outcome
            raise error
        final += [TargetOutcome(c.target, Outcome.FAILED, str(error), details) for c, _ in rest]
    elif state is None or not state.done:
        message = f"batch job {job_id} still running on the server (temporal batch describe)"
        final += [TargetOutcome(c.target, Outcome.SUBMITTED, message, details) for c, _ in rest]
    elif state.state == "failed":
        # A job that failed or was stopped part way changed some runs first: those read
        # back closed are reported as such (not failed); the rest failed with the job.
        message = f"batch job {job_id} failed (temporal batch describe --job-id {job_id})"
        expected = state.completed if operation != "cancel" else 0
        try:
            found = await runs.settled(_CHANGED_TO[operation], min(expected, len(calls)))
        except OpsdeckError:
            found = {}
        for c, r in rest:
            execution = found.get(r)
            if execution is None or execution.status.is_open:
                final.append(TargetOutcome(c.target, Outcome.FAILED, message, details))
            else:
                final.append(_outcome(c, execution, operation, state.start_time, details))
    else:
        expected = state.completed if operation != "cancel" else 0
        try:
            found = await runs.settled(_CHANGED_TO[operation], min(expected, len(calls)))
        except OpsdeckError as e:
            message = f"batch job {job_id} completed; outcomes not read back: {e}"
            final += [TargetOutcome(c.target, Outcome.SUBMITTED, message, details) for c, _ in rest]
        else:
            final += [
                _outcome(c, found.get(r), operation, state.start_time, details, state.failed)
                for c, r in rest
            ]
    if final and state is not None and state.done:  # a job not seen ending has no final counts
        counts = {"total": state.total, "completed": state.completed, "failed": state.failed}
        final[-1] = replace(final[-1], details=dict(final[-1].details or {}) | counts)
    for outcome in final:
        yield outcome
