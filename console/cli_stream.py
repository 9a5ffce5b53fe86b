"""`executions list -o jsonl`: one JSON object per line, written as each page arrives.

`-o json` must sort every row (newest first across engines) before it writes the first;
on a namespace of 10^5..10^7 executions a script wants the first rows at once and
memory that does not grow with the list. Here each engine is read concurrently and
every page is written and flushed on arrival: rows come in each engine's own order
(Temporal: running first, newest start first, then closed by close time), pages of
different engines interleaved, and ``--limit`` bounds the total. Rows already written
stay written if an engine fails later; the error still sets the exit code.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from typing import IO, cast

from console.errors import UsageError
from console.model import Execution, ListQuery
from console.output import execution_data, jsonl_text
from console.ports import PagedLister, WorkflowEngine

_DONE = object()


async def _pages(
    engine: WorkflowEngine, query: ListQuery, chunk: int
) -> AsyncIterator[Sequence[Execution]]:
    """The engine's pages; an engine without ``list_pages`` is cut into ``chunk`` rows."""
    if isinstance(engine, PagedLister):
        async for page in engine.list_pages(query):
            yield page
        return
    batch: list[Execution] = []
    async for execution in engine.list(query):
        batch.append(execution)
        if len(batch) >= chunk:
            yield batch
            batch = []
    if batch:
        yield batch


async def stream_jsonl(
    engines: dict[str, WorkflowEngine],
    query: ListQuery,
    limit: int | None,
    out: IO[str] | None = None,
) -> int:
    """Write every engine's rows as JSON lines; returns how many were written."""
    out = out or sys.stdout
    queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue(maxsize=len(engines) * 2)

    async def read(name: str, engine: WorkflowEngine) -> None:
        try:
            async for page in _pages(engine, query, query.page_size):
                await queue.put((name, page))
            await queue.put((name, _DONE))
        except Exception as exc:  # handed to the writer, which decides
            await queue.put((name, exc))

    readers = [asyncio.ensure_future(read(n, e)) for n, e in engines.items()]
    written, open_engines = 0, len(readers)
    rejected: list[tuple[str, UsageError]] = []
    try:
        while open_engines:
            name, item = await queue.get()
            if item is _DONE:
                open_engines -= 1
            elif isinstance(item, Exception):
                open_engines -= 1
                # As `-o json` does: with several engines, one rejecting a raw query is
                # left out; anything else is an error.
                if isinstance(item, UsageError) and query.raw and len(engines) > 1:
                    rejected.append((name, item))
                else:
                    raise item
            else:
                page = list(cast(Sequence[Execution], item))
                if limit is not None:
                    page = page[: limit - written]
                out.write(jsonl_text([execution_data(e) for e in page]))
                out.flush()
                written += len(page)
                if limit is not None and written >= limit:
                    break
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    if rejected and len(rejected) == len(engines):
        reasons = "; ".join(f"{n}: {e}" for n, e in rejected)
        raise UsageError(f"no engine takes the query {query.raw!r} ({reasons})")
    for name, error in rejected:
        print(f"{name}: left out: {error}", file=sys.stderr)
    return written
