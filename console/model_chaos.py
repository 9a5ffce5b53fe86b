"""Chaos domain types (console.ports_chaos): frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RampState:
    """A worker deployment's routing: current build and the one ramping (if any)."""

    deployment: str
    current: str | None
    ramping: str | None
    percentage: float  # of new workflows routed to ``ramping``; 0 when none ramps

    def to_data(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TaskQueueStats:
    task_queue: str
    kind: str  # workflow | activity
    pollers: int
    backlog: int  # approximate count of tasks waiting
    backlog_age_s: float  # age of the oldest waiting task

    def to_data(self) -> dict[str, Any]:
        return asdict(self)
