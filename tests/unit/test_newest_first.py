"""adapters.newest_first: a lazy newest-first merge of per-container listings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from adapters.newest_first import newest_first
from console.model import Execution, ExecutionRef, ExecutionStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Stream:
    """Yields executions started at the given minutes (newest first); counts reads."""

    def __init__(self, name: str, minutes: Sequence[int | None]) -> None:
        self.name, self.minutes, self.read = name, minutes, 0

    async def __call__(self) -> AsyncIterator[Execution]:
        for i, minute in enumerate(self.minutes):
            self.read += 1
            start = None if minute is None else T0 + timedelta(minutes=minute)
            ref = ExecutionRef("e", self.name, f"{self.name}-{i}")
            yield Execution(ref, self.name, ExecutionStatus.RUNNING, start_time=start)


async def test_merges_newest_first_and_reads_lazily() -> None:
    a, b = Stream("a", [50, 30, 10]), Stream("b", [40, 35, 5, None])
    merged = newest_first([a(), b()])
    first = [await anext(merged) for _ in range(3)]
    assert [e.ref.workflow_id for e in first] == ["a-0", "b-0", "b-1"]
    assert a.read == 2 and b.read == 2  # at most one row ahead per stream
    rest = [e.ref.workflow_id async for e in merged]
    assert rest == ["a-1", "a-2", "b-2", "b-3"]  # no start time: last


async def test_empty_streams() -> None:
    assert [e async for e in newest_first([Stream("a", [])()])] == []
    assert [e async for e in newest_first([])] == []
