"""Which run a change will hit, and whether it still should.

A plan names exact runs. A run the operator picked can be closed, or no longer be the
latest run of its workflow id (a retry created a newer one; the workflow continued as
new). Resetting such a run would terminate the healthy newer run, and cancelling or
terminating a closed one changes nothing, so those targets are skipped with the reason
the plan shows. A reset of a *closed* latest run (failed, timed out, terminated) is the
normal "retry a failed workflow" and stays, with a warning that a new run will start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from adapters.temporal_client import Connection
from adapters.temporal_visibility import status_of
from console.model import ActionKind, ExecutionRef, ExecutionStatus

DESCRIBE_CONCURRENCY = 16


@dataclass(frozen=True)
class PinnedRun:
    ref: ExecutionRef  # run id always set
    status: ExecutionStatus
    latest_run_id: str
    latest_status: ExecutionStatus

    @property
    def is_latest(self) -> bool:
        return self.ref.run_id == self.latest_run_id


async def pin(conn: Connection, ref: ExecutionRef) -> PinnedRun:
    """The run ``ref`` names (its current run when it names none) and the latest run."""
    info = (await conn.describe(ref)).workflow_execution_info
    pinned = replace(ref, run_id=info.execution.run_id)
    status = status_of(info.status)
    if ref.run_id is None:
        return PinnedRun(pinned, status, info.execution.run_id, status)
    latest = (await conn.describe(replace(ref, run_id=None))).workflow_execution_info
    return PinnedRun(pinned, status, latest.execution.run_id, status_of(latest.status))


async def pin_all(conn: Connection, refs: tuple[ExecutionRef, ...]) -> list[PinnedRun]:
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

    async def one(ref: ExecutionRef) -> PinnedRun:
        async with gate:
            return await pin(conn, ref)

    return list(await asyncio.gather(*(one(r) for r in refs)))


def _short(run_id: str) -> str:
    return run_id[:8]


def skip_reason(kind: ActionKind, retry_mode: str, run: PinnedRun) -> str | None:
    """Why this run must not be changed, or None when the change applies."""
    if not run.is_latest:
        return (
            f"run {_short(run.ref.run_id or '')} is {run.status.value} and no longer the latest "
            f"run of {run.ref.workflow_id} (latest {_short(run.latest_run_id)} is "
            f"{run.latest_status.value}); pick the latest run"
        )
    if run.status.is_open:
        return None
    if kind is not ActionKind.RETRY:
        return f"already closed ({run.status.value})"
    if retry_mode == "activity":
        return f"closed ({run.status.value}): no pending activities to reset"
    if run.status is ExecutionStatus.COMPLETED:
        return "completed: nothing to retry"
    return None


def closed_reset_warning(run: PinnedRun) -> str | None:
    if run.status.is_open:
        return None
    return f"{run.ref}: the run is closed ({run.status.value}); the reset starts a new run"


async def newer_run_since_plan(conn: Connection, ref: ExecutionRef) -> str | None:
    """At apply: the id of a run started after the plan was made, else None."""
    current = (await conn.describe(replace(ref, run_id=None))).workflow_execution_info
    run_id = current.execution.run_id
    return None if run_id == ref.run_id else run_id
