"""`/` text that the loaded rows do not answer is searched for on the server (issue 13).

Over ScaleEngine (100,000 generated rows, every listing recorded): the filter stays
local per keystroke, the hint says what the loaded rows cannot, enter or ctrl+f asks
the engine, escape gives back the listing as it was. The real visibility server is in
test_executions_scale_temporal.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from console.model import Execution, ListQuery
from console.tui.app import OpsdeckApp
from console.tui.paging import PAGE
from console.tui.search import quoted, temporal_search
from tests.tui.conftest import (
    SIZE,
    crumbs_text,
    executions,
    ids,
    make_app,
    notifications,
    settle,
    status_text,
    until,
)
from tests.tui.fakes import ScaleEngine, stub_session

_SEARCH = re.compile(r"^WorkflowId STARTS_WITH '(?P<text>(?:[^'\\]|\\.)*)' OR ")


@dataclass
class SearchableScale(ScaleEngine):
    """ScaleEngine that also answers the search query console.tui.search builds."""

    def _prefix(self, raw: str | None) -> str | None:
        match = _SEARCH.match(raw or "")
        return re.sub(r"\\(.)", r"\1", match["text"]) if match else None

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        prefix = self._prefix(query.raw)
        if prefix is None:
            async for execution in super().list(query):
                yield execution
            return
        self.lists.append(query)
        for index in range(self.size):
            execution = self.generated(index)
            if execution.ref.workflow_id.startswith(prefix):
                self.handed_out += 1
                yield execution

    async def count(self, query: ListQuery) -> int:
        prefix = self._prefix(query.raw)
        if prefix is None:
            return await super().count(query)
        self.counts.append(query)
        return sum(self.generated(i).ref.workflow_id.startswith(prefix) for i in range(self.size))


def hint_text(app: OpsdeckApp) -> str:
    from textual.widgets import Static

    hint = executions(app).query_one("#filter-hint", Static)
    return str(hint.render()) if hint.has_class("-shown") else ""


def test_the_query_quotes_what_is_typed() -> None:
    assert quoted("o'brien\\x") == "'o\\'brien\\\\x'"
    assert temporal_search("order-4") == (
        "WorkflowId STARTS_WITH 'order-4' OR WorkflowType = 'order-4' OR RunId = 'order-4'"
    )


async def test_no_loaded_match_says_so_and_enter_searches_escape_restores() -> None:
    engine = SearchableScale()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("G")  # a second page and a cursor away from the top
        await settle(pilot)
        await pilot.press("up", "up", "up")
        before, cursor = ids(app), executions(app).table.cursor_row
        assert len(before) == 2 * PAGE

        await pilot.press("slash", *"wf-00050")  # rows 500-509: beyond the loaded 200
        assert ids(app) == [] and len(engine.lists) == 1  # no listing per keystroke
        assert hint_text(app) == (
            "no match in the 200 loaded rows of 100,000 · enter searches the server"
        )

        await pilot.press("enter")
        await settle(pilot)
        assert engine.lists[-1].raw == temporal_search("wf-00050")
        assert ids(app) == [f"wf-{n:06d}" for n in range(500, 510)]
        assert "search 'wf-00050'" in crumbs_text(app)
        assert "temporal: 10 rows" in status_text(app)
        assert hint_text(app) == "escape goes back to the listing"

        listings = len(engine.lists)
        await pilot.press("escape")  # the listing as it was, at once; top re-read
        assert ids(app) == before and executions(app).table.cursor_row == cursor
        await settle(pilot)
        assert ids(app) == before and executions(app).table.cursor_row == cursor
        assert engine.lists[-1].raw is None and len(engine.lists) == listings + 1
        assert "temporal: 200 / 100,000 rows" in status_text(app)
        assert hint_text(app) == "" and not executions(app).row_filter.active


async def test_loaded_matches_keep_enter_local_and_ctrl_f_searches() -> None:
    engine = SearchableScale()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"wf-00")  # all 100 loaded match; 9,900 more do not
        assert len(ids(app)) == PAGE
        assert hint_text(app) == (
            "100 match in the 100 loaded rows of 100,000 · ctrl+f searches the server"
        )
        await pilot.press("enter")
        await settle(pilot)
        assert len(engine.lists) == 1 and len(ids(app)) == PAGE  # local, as before

        await pilot.press("ctrl+f")
        await settle(pilot)
        assert engine.lists[-1].raw == temporal_search("wf-00")
        assert "temporal: 100 / 10,000 rows" in status_text(app)  # the server's count
        await pilot.press("escape")
        await settle(pilot)
        assert executions(app).row_filter.text == "wf-00"  # the filter it was
        assert "temporal: 100 / 100,000 rows" in status_text(app)


async def test_a_search_nothing_matches_says_so() -> None:
    app = make_app(stub_session(SearchableScale()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"nope-1", "enter")
        await settle(pilot)
        assert ids(app) == [] and "temporal: 0 rows" in status_text(app)
        assert "no execution on the server has an id starting with 'nope-1'" in hint_text(app)


async def test_a_whole_listing_without_a_match_asks_nothing() -> None:
    engine = SearchableScale(size=50)
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"wf-0500", "enter")
        await settle(pilot)
        assert len(engine.lists) == 1 and ids(app) == []
        assert hint_text(app) == "no match in the 50 rows (all there are)"


async def test_an_engine_without_server_search_says_why() -> None:
    engine = SearchableScale(name="sfn", kind="stepfunctions")
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"wf-0500")
        hint = hint_text(app)
        assert hint.startswith("no match in the 100 loaded rows of 100,000 · sfn: Step Functions")
        assert "has no name filter" in hint
        await pilot.press("enter")
        await settle(pilot)
        assert len(engine.lists) == 1
        said = notifications(app)
        assert any(n.startswith("sfn: no server search: Step Functions") for n in said), said


async def test_a_search_leaves_out_an_engine_that_cannot_and_escape_lists_it_again() -> None:
    temporal, sfn = SearchableScale(), SearchableScale(name="sfn", kind="stepfunctions")
    app = make_app(stub_session(temporal, sfn))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"wf-00050", "enter")
        await settle(pilot)
        assert len(sfn.lists) == 1 and temporal.lists[-1].raw == temporal_search("wf-00050")
        assert len(ids(app)) == 10 and "sfn: not searched" in status_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert len(ids(app)) == 2 * PAGE and "sfn: 100 / 100,000 rows" in status_text(app)


@dataclass
class SlowPages(ScaleEngine):
    """Holds every row past ``hold_after`` until ``release`` is set: a slow next page."""

    hold_after: int = PAGE
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        n = 0
        async for execution in super().list(query):
            if n == self.hold_after:
                await self.release.wait()
            n += 1
            yield execution


async def test_an_auto_refresh_waits_while_a_next_page_is_read() -> None:
    """A refresh during a slow `G` replaced the window's source and dropped the page."""
    engine = SlowPages()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("G")
        await until(pilot, lambda: executions(app).engines["temporal"].busy, "reading")
        executions(app)._tick()  # the auto refresh comes while the page is on its way
        await pilot.pause()
        assert len(engine.lists) == 1
        engine.release.set()
        await settle(pilot)
        assert len(ids(app)) == 2 * PAGE


@dataclass
class SlowRefresh(ScaleEngine):
    """Every listing after the first (a refresh) waits for ``release``."""

    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        refresh = bool(self.lists)
        async for execution in super().list(query):
            if refresh:
                await self.release.wait()
            yield execution


async def test_g_during_a_slow_auto_refresh_reads_the_page_after_it() -> None:
    """The refreshed window replaced the source `G` had read from: the page was lost."""
    engine = SlowRefresh()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        executions(app)._tick()
        await until(pilot, lambda: len(engine.lists) == 2, "refreshing")
        await pilot.press("G")
        await pilot.pause()
        engine.release.set()
        await settle(pilot)
        await until(pilot, lambda: len(ids(app)) == 2 * PAGE, "the page read after the refresh")
