"""A page on `G` is appended to the table, not a rebuild of it (issue 13).

Over ScaleEngine (100,000 generated rows, newest first): once the window is full, each
page adds 100 rows at the end and drops the 100 oldest at the top. The rows kept are
the table's own row objects from before (nothing redrawn from scratch), the cursor
stays on its run, and marks, `/`, the server search and escape keep working on top.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from textual.pilot import Pilot
from textual.widgets.data_table import Row, RowKey

from console.model import ListQuery
from console.tui.app import OpsdeckApp
from console.tui.messages import ListedRow
from console.tui.paging import PAGE, WINDOW
from console.tui.row_diff import appended
from console.tui.screens.executions import MARK
from tests.tui.conftest import SIZE, executions, ids, make_app, settle, status_text, until
from tests.tui.fakes import NOW, ScaleEngine, stub_session
from tests.tui.test_executions_search import SearchableScale


def wid(index: int) -> str:
    return f"wf-{index:06d}"


def row_objects(app: OpsdeckApp) -> dict[str, Row]:
    """The table's Row objects by workflow id: the same object means never rebuilt."""
    table = executions(app).table
    return {wid_of(table, key): row for key, row in table.rows.items()}


def wid_of(table: Any, key: RowKey) -> str:
    return str(table.get_row(key)[2])


def cursor_id(app: OpsdeckApp) -> str:
    row = executions(app).current_row
    assert row is not None
    return row.execution.ref.workflow_id


def cursor_in_view(app: OpsdeckApp) -> bool:
    table = executions(app).table
    top = round(table.scroll_y)
    return top <= table.cursor_row < top + table.scrollable_content_region.height


async def fill_window(pilot: Pilot[Any]) -> None:
    """`G` until the window holds WINDOW rows from the top (rows 0-499)."""
    for _ in range(WINDOW // PAGE - 1):
        await pilot.press("G")
        await settle(pilot)


async def test_a_page_appends_trims_the_top_and_keeps_the_cursor_on_its_run() -> None:
    app = make_app(stub_session(ScaleEngine()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await fill_window(pilot)
        assert ids(app) == [wid(i) for i in range(WINDOW)]
        before = row_objects(app)
        screen = executions(app)
        screen.table.move_cursor(row=WINDOW - 1)
        await pilot.pause()
        top = screen.table.scroll_y  # the first row in view

        await pilot.press("G")  # on the last row (499): the page behind it
        await settle(pilot)
        assert ids(app) == [wid(i) for i in range(PAGE, WINDOW + PAGE)]
        assert screen.table.row_count == WINDOW
        assert screen.engines["temporal"].offset == PAGE
        # The rows kept are the very rows drawn before: no rebuild of the table.
        after = row_objects(app)
        kept = [wid(i) for i in range(PAGE, WINDOW)]
        assert all(after[k] is before[k] for k in kept)
        assert not set(after) & {wid(i) for i in range(PAGE)}
        # The cursor is on the run it was on (now 100 rows higher up), in view.
        assert cursor_id(app) == wid(WINDOW - 1)
        assert screen.table.cursor_row == WINDOW - 1 - PAGE
        assert cursor_in_view(app)
        assert screen.table.scroll_y == top - PAGE  # the same rows in view, no jump
        assert "temporal: 600 / 100,000 rows" in status_text(app)

        await pilot.press("k")
        assert cursor_id(app) == wid(WINDOW - 2)
        await pilot.press("j", "j")  # onto the first row of the page appended
        assert cursor_id(app) == wid(WINDOW)

        await pilot.press("G")  # and again: rows 200-699
        await settle(pilot)
        assert ids(app) == [wid(i) for i in range(2 * PAGE, WINDOW + 2 * PAGE)]
        assert cursor_id(app) == wid(WINDOW + PAGE - 1) and cursor_in_view(app)


async def test_marks_stay_on_kept_rows_and_go_with_the_trimmed_ones() -> None:
    app = make_app(stub_session(ScaleEngine()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await fill_window(pilot)
        screen = executions(app)
        for index in (50, 450):
            screen.table.move_cursor(row=index)
            await pilot.press("space")
        assert screen.marked == {f"temporal:default/{wid(i)}/run-{i}" for i in (50, 450)}

        await pilot.press("G")
        await settle(pilot)
        table = screen.table
        kept = ids(app).index(wid(450))
        assert str(table.get_row_at(kept)[0]) == MARK
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)].count(MARK) == 1
        assert screen.marked == {f"temporal:default/{wid(450)}/run-450"}
        assert [ref.workflow_id for ref in screen.targets()] == [wid(450)]

        await pilot.press("escape")  # clears the marks: every row drawn again, unmarked
        await pilot.press("G")
        await settle(pilot)
        assert MARK not in {str(table.get_row_at(i)[0]) for i in range(table.row_count)}


async def test_filter_search_and_escape_work_on_an_appended_window() -> None:
    engine = SearchableScale()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await fill_window(pilot)
        await pilot.press("G")
        await settle(pilot)
        window = ids(app)
        assert window == [wid(i) for i in range(PAGE, WINDOW + PAGE)]

        await pilot.press("slash", *"wf-0005", "enter")  # local: rows 500-599
        await settle(pilot)
        assert ids(app) == [wid(i) for i in range(WINDOW, WINDOW + PAGE)]
        await pilot.press("escape")
        await settle(pilot)
        assert ids(app) == window
        assert cursor_id(app) == wid(WINDOW)  # the row it was on in the filtered rows
        screen = executions(app)
        screen.table.move_cursor(row=WINDOW - 1 - PAGE)  # back onto wf-000499

        await pilot.press("slash", *wid(42), "enter")  # trimmed: a server search
        await until(pilot, lambda: ids(app) == [wid(42)], "the search's row")
        await settle(pilot)
        await pilot.press("escape")  # the window as it was, the cursor on its run
        await until(pilot, lambda: ids(app) == window, "the window restored")
        await settle(pilot)
        assert cursor_id(app) == wid(WINDOW - 1)

        before = row_objects(app)
        await pilot.press("G")  # paging on from the restored window is appended again
        await settle(pilot)
        assert ids(app) == [wid(i) for i in range(2 * PAGE, WINDOW + 2 * PAGE)]
        after = row_objects(app)
        assert all(after[wid(i)] is before[wid(i)] for i in range(2 * PAGE, WINDOW + PAGE))


@dataclass
class SlowCount(ScaleEngine):
    """ScaleEngine whose count answers only once ``release`` is set."""

    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def count(self, query: ListQuery) -> int:
        self.counts.append(query)
        await self.release.wait()
        return self.size


async def test_the_first_rows_are_on_screen_before_the_count_answers() -> None:
    engine = SlowCount()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(ids(app)) == PAGE, "the first page")
        await pilot.pause()
        assert engine.counts and not engine.release.is_set()  # asked, not answered
        assert wid(0) in app.export_screenshot()  # painted, not only in the table
        assert "temporal: 100 / ? rows" in status_text(app)

        engine.release.set()
        await until(pilot, lambda: "100 / 100,000 rows" in status_text(app), "the count")
        await settle(pilot)
        assert ids(app)[0] == wid(0) and len(ids(app)) == PAGE


async def test_pages_of_two_engines_that_sort_in_between_redraw_in_order() -> None:
    """Two engines' rows started at the same moments: the second engine's page sorts
    between the first's new rows, not after them, so the table is redrawn (no append),
    still newest first, the cursor kept on its run."""
    first, second = ScaleEngine(), ScaleEngine(name="backup")
    app = make_app(stub_session(first, second))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("G")
        await settle(pilot)
        screen = executions(app)
        starts = [row.execution.start_time or NOW for row in screen.shown_rows]
        assert len(starts) == 4 * PAGE and starts == sorted(starts, reverse=True)
        assert ids(app)[:2] == [wid(0), wid(0)]  # one row of each engine, in turn
        row = screen.current_row
        assert row is not None and row.execution.ref.workflow_id == wid(PAGE - 1)


def test_appended_is_the_new_tail_of_the_same_rows_only() -> None:
    rows = [ListedRow(ScaleEngine().generated(i)) for i in range(6)]
    change = appended(rows[:4], rows[2:])
    assert change is not None and change.trimmed == 2 and list(change.added) == rows[4:]
    unchanged = appended(rows[:4], rows[:4])
    assert unchanged is not None and unchanged.trimmed == 0 and not unchanged.added
    # A refreshed row (a new object for the same run) is drawn again: not an append.
    refreshed = [*rows[:3], ListedRow(rows[3].execution), *rows[4:]]
    assert appended(rows[:4], refreshed) is None
    assert appended(rows[:4], [rows[5], *rows[:4]]) is None  # a row sorted in front
    assert appended(rows[:4], rows[1:3]) is None  # rows gone from the end
    assert appended([], rows) is None and appended(rows, []) is None
