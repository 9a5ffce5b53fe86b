"""Virtual rows for the executions table: a bounded window over each engine's listing.

Engines page forward only (the port has no page tokens), so each engine's rows are a
window of at most ``WINDOW`` rows read from one lazy ``engine.list`` iterator. Reading
on past the window drops its oldest pages; going back before it re-lists and skips to
the wanted offset (`RowSource` with ``start``). Memory stays bounded whatever the
namespace holds: the window, plus one network page buffered inside the iterator.

No textual imports: the screen runs these in workers and applies the results.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from console.model import Execution, ListQuery
from console.ports import WorkflowEngine
from console.tui.messages import ListedRow

PAGE = 100  # rows read per step: two screens of a tall terminal
WINDOW = 500  # rows kept per engine; the table is rebuilt from these
LOAD_AHEAD = 25  # the cursor this close to a window edge reads the next page
SKIP_PAGE = 1000  # network page size while skipping to an offset (fewer round trips)

# Visibility attributes that begin a server query typed at `/`.
_KEYWORDS = (
    "WorkflowType",
    "WorkflowId",
    "RunId",
    "ExecutionStatus",
    "StartTime",
    "CloseTime",
    "ExecutionTime",
    "ExecutionDuration",
    "TaskQueue",
    "HistoryLength",
    "BuildIds",
    "TemporalWorkerDeploymentVersion",
)
_OPERATOR = re.compile(r"^\s*[A-Za-z_][\w.]*\s*(=|!=|<|>)")


def is_server_query(text: str) -> bool:
    """Whether `/` text on enter is a visibility query rather than a local filter.

    A query compares an attribute (``WorkflowType = 'X'``, ``status=FAILED`` for Step
    Functions) or starts with a visibility keyword (``ExecutionStatus IN (...)``).
    ``!text`` is the inverse local filter and never a query."""
    text = text.strip()
    if not text or text.startswith("!"):
        return False
    if _OPERATOR.match(text):
        return True
    head = re.split(r"[\s=<>!(]", text, maxsplit=1)[0]
    return head in _KEYWORDS


class RowSource:
    """Reads one engine's listing forward, a step at a time, from row ``start``.

    The rows before ``start`` are read and thrown away (no page tokens in the port),
    in network pages of ``SKIP_PAGE``."""

    def __init__(
        self, engine: WorkflowEngine, raw: str | None, start: int = 0, page_size: int = PAGE
    ) -> None:
        self.engine = engine
        self.raw = raw
        self.start = start
        size = SKIP_PAGE if start else page_size
        self._rows: AsyncIterator[Execution] = engine.list(ListQuery(raw=raw, page_size=size))
        self._skipped = start == 0
        self.exhausted = False

    async def read(self, wanted: int) -> list[ListedRow]:
        """Up to ``wanted`` more rows; fewer (and ``exhausted``) at the end."""
        if not self._skipped:
            for _ in range(self.start):
                if await self._next() is None:
                    break
            self._skipped = True
        rows: list[ListedRow] = []
        while len(rows) < wanted:
            execution = await self._next()
            if execution is None:
                break
            rows.append(ListedRow(execution))
        return rows

    async def _next(self) -> Execution | None:
        if self.exhausted:
            return None
        try:
            return await anext(self._rows)
        except StopAsyncIteration:
            self.exhausted = True
            return None


@dataclass
class EngineState:
    """One engine's part of the table and what the status bar says about it."""

    text: str = "loading…"
    ok: bool = True
    loaded: bool = False
    rows: list[ListedRow] = field(default_factory=list)
    offset: int = 0  # rows of the listing before the window (dropped or skipped)
    total: int | None = None  # the engine's count for the current query
    source: RowSource | None = None  # where the next page comes from
    busy: bool = False  # a page is being read from ``source``

    @property
    def read_through(self) -> int:
        """How far into the listing the window reaches."""
        return self.offset + len(self.rows)

    @property
    def has_more(self) -> bool:
        return self.source is not None and not self.source.exhausted

    @property
    def complete(self) -> bool:
        """Every row of the listing is in the window (as far as the count knows)."""
        if self.offset:
            return False
        return not self.has_more or (self.total is not None and len(self.rows) >= self.total)

    def replace(self, rows: list[ListedRow], source: RowSource | None) -> None:
        self.rows, self.source, self.busy = rows, source, False
        self.offset = source.start if source is not None else 0
        self.loaded, self.ok = True, True
        if source is not None and source.exhausted:
            self.total = self.read_through  # the whole listing is known: no count needed

    def append(self, rows: list[ListedRow]) -> None:
        """The next page; the oldest rows beyond ``WINDOW`` are dropped."""
        self.rows.extend(rows)
        self.busy = False
        excess = len(self.rows) - WINDOW
        if excess > 0:
            del self.rows[:excess]
            self.offset += excess
        if self.source is not None and self.source.exhausted:
            self.total = self.read_through

    def describe(self, stuck_only: bool) -> str:
        """Status bar text: ``6 rows`` when all are here, else ``500 / 100,000 rows``."""
        if stuck_only:
            return f"{len(self.rows)} stuck"
        read = self.read_through
        if self.complete:
            return f"{read:,} rows"
        total = "?" if self.total is None else f"{self.total:,}"
        return f"{read:,} / {total} rows"
