"""Live progress of long server-side jobs, from an adapter to whoever shows it.

An engine's ``apply`` yields one outcome per target, which for a batch job arrives only
when the job ends. Progress in between (completed/failed/total) goes to the sink that
the caller set for the current task with ``progress_to``; with none set it goes nowhere.
A ContextVar keeps the port's ``apply(plan, request_id)`` signature unchanged and is
seen by the adapter's async generator, which runs in the caller's task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    state: str  # running, completed, failed
    total: int
    completed: int
    failed: int

    def line(self) -> str:
        total = self.total or "?"
        return (
            f"batch job {self.job_id}: {self.state}, {self.completed}/{total} done, "
            f"{self.failed} failed"
        )


Sink = Callable[[JobProgress], None]
_sink: ContextVar[Sink | None] = ContextVar("opsdeck_progress_sink", default=None)


def report(progress: JobProgress) -> None:
    sink = _sink.get()
    if sink is not None:
        sink(progress)


@contextmanager
def progress_to(sink: Sink) -> Iterator[None]:
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)
