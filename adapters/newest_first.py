"""Merge several newest-first streams of executions into one newest-first stream.

Engines that list per container (Step Functions per state machine, Logic Apps per
workflow) page each container newest first; a limit must keep the newest N overall,
so the streams are merged lazily: one head per stream, the newest head goes next, and a
stream's next page is read only when its head is taken.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from console.model import Execution

_OLDEST = datetime.min.replace(tzinfo=UTC)


def _key(execution: Execution) -> datetime:
    return execution.start_time or _OLDEST  # no start time: after every dated row


async def newest_first(streams: Sequence[AsyncIterator[Execution]]) -> AsyncIterator[Execution]:
    heads: dict[int, Execution] = {}
    for index, stream in enumerate(streams):
        head = await anext(stream, None)
        if head is not None:
            heads[index] = head
    while heads:
        # Ties go to the earlier stream, so one stream's own order is kept.
        index = max(heads, key=lambda i: (_key(heads[i]), -i))
        yield heads.pop(index)
        following = await anext(streams[index], None)
        if following is not None:
            heads[index] = following
