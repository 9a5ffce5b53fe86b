"""A Temporal batch job as the bulk apply sees it, whichever API carries it.

Two carriers: HTTP (adapters/temporal_http_batch.py, stdlib only, used when the engine
has ``http-address``) and gRPC through the SDK (adapters/temporal_batch_grpc.py, for an
engine without it). The watch (adapters/temporal_bulk_watch.py) speaks only this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from console.model import Plan

DONE_STATES = frozenset({"completed", "failed"})


@dataclass(frozen=True)
class JobState:
    state: str  # running, completed, failed (BATCH_OPERATION_STATE_*, lower case)
    total: int
    completed: int
    failed: int
    start_time: datetime | None = None

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES


class BatchJobs(Protocol):
    async def describe(self, job_id: str) -> JobState | None:
        """The job, or None when the server has no job by that id."""
        ...

    async def start(self, plan: Plan, job_id: str) -> None: ...


def job_reason(plan: Plan) -> str:
    return plan.request.reason or f"opsdeck {plan.request.kind.value}"


def job_rps(params: Mapping[str, Any]) -> float:
    """The job's max operations per second; 0 is the server's default."""
    return float(params.get("rps") or 0)
