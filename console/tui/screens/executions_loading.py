"""Backend reads of the executions view, run inside its workers (no widgets here).

Each returns what it got, or why not, as plain values: a backend exception never
escapes into the app. A visibility query the engine refuses (UsageError) is kept
apart from other failures, so a mistyped `/` query changes nothing on screen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from console.errors import Unsupported, UsageError
from console.model import Capability, ListQuery, StuckHit, StuckRules
from console.ports import WorkflowEngine
from console.tui.messages import EngineProblem, ListedRow
from console.tui.paging import PAGE, SKIP_PAGE, RowSource
from console.tui.problems import explain, short_state


@dataclass(frozen=True)
class WindowRead:
    """One engine's rows for a fresh window, or why there are none."""

    engine: str
    rows: list[ListedRow]
    source: RowSource | None = None
    error: EngineProblem | None = None
    rejected: str | None = None  # the engine's own words on a query it refused


def problem(name: str, exc: BaseException, timeout: float) -> EngineProblem:
    title, text = explain(name, exc, timeout)
    return EngineProblem(short_state(exc, timeout), title, text, isinstance(exc, Unsupported))


def skip_timeout(timeout: float, start: int) -> float:
    """Skipping to row ``start`` takes one round trip per SKIP_PAGE rows: allow each
    its share, so a deep window is not reported as an unreachable engine."""
    return timeout * (1 + start // (SKIP_PAGE * 5))


async def read_window(
    name: str,
    engine: WorkflowEngine,
    *,
    stuck_only: bool,
    raw: str | None,
    start: int,
    wanted: int,
    timeout: float,
) -> WindowRead:
    """Rows ``start`` to ``start + wanted`` of the listing (stuck mode: every hit)."""
    try:
        if stuck_only:
            rows = await asyncio.wait_for(read_stuck(engine), timeout)
            return WindowRead(name, rows)
        page_size = min(max(wanted, PAGE), SKIP_PAGE)
        source = RowSource(engine, raw, start, page_size)
        rows = await asyncio.wait_for(source.read(wanted), skip_timeout(timeout, start))
        return WindowRead(name, rows, source)
    except asyncio.CancelledError:
        raise
    except UsageError as exc:
        return WindowRead(name, [], error=problem(name, exc, timeout), rejected=exc.message)
    except Exception as exc:  # a backend failure must never end the app
        return WindowRead(name, [], error=problem(name, exc, timeout))


async def read_stuck(engine: WorkflowEngine) -> list[ListedRow]:
    reason = engine.describe_capability(Capability.FIND_STUCK)
    if reason is not None:
        raise Unsupported(reason)
    hits: dict[str, list[StuckHit]] = {}
    async for hit in engine.find_stuck(StuckRules()):
        hits.setdefault(str(hit.execution.ref), []).append(hit)
    return [ListedRow(group[0].execution, tuple(group)) for group in hits.values()]


async def read_count(engine: WorkflowEngine, raw: str | None, timeout: float) -> int | None:
    """The engine's count, or None: the table then says ``?`` and still pages."""
    try:
        return await asyncio.wait_for(engine.count(ListQuery(raw=raw)), timeout)
    except asyncio.CancelledError:
        raise
    except Exception:  # the rows already told of a failing engine; the count is extra
        return None
