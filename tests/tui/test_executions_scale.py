"""The executions table over a 100,000-execution namespace (issue 13): virtual rows.

ScaleEngine generates its rows as they are read, so these tests see exactly how much
the table asks for, and when.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from console.tui.paging import LOAD_AHEAD, PAGE, WINDOW
from tests.tui.conftest import (
    SIZE,
    crumbs_text,
    executions,
    ids,
    make_app,
    notifications,
    settle,
    status_text,
)
from tests.tui.fakes import FakeEngine, ScaleEngine, stub_session


async def last_row(pilot: Pilot[Any], times: int = 1) -> None:
    for _ in range(times):
        await pilot.press("G")
        await settle(pilot)


async def test_first_page_only_with_the_count_until_the_cursor_moves() -> None:
    engine = ScaleEngine()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(ids(app)) == PAGE and ids(app)[0] == "wf-000000"
        assert engine.handed_out == PAGE
        assert "temporal: 100 / 100,000 rows" in status_text(app)
        assert "100 loaded / 100,000" in crumbs_text(app)

        await pilot.press("down", "down", "j")  # moves far from the end read nothing
        await settle(pilot)
        executions(app).action_reload(recount=False, deep=False)  # an auto refresh
        await settle(pilot)
        assert len(ids(app)) == PAGE
        assert len(engine.counts) == 1  # the count is not asked again on auto refresh


async def test_the_cursor_near_the_end_reads_the_next_page() -> None:
    engine = ScaleEngine()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = executions(app).table
        table.move_cursor(row=PAGE - LOAD_AHEAD - 2)
        await pilot.press("down")  # still LOAD_AHEAD + 1 rows from the end
        await settle(pilot)
        assert len(ids(app)) == PAGE
        await pilot.press("down", "pagedown")  # within LOAD_AHEAD of the end
        await settle(pilot)
        assert len(ids(app)) == 2 * PAGE and ids(app)[PAGE] == f"wf-{PAGE:06d}"
        assert engine.handed_out == 2 * PAGE
        assert "temporal: 200 / 100,000 rows" in status_text(app)


async def test_paging_deep_keeps_a_bounded_window_and_g_reads_the_top_again() -> None:
    engine = ScaleEngine()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await last_row(pilot, 12)  # 13 pages read, 1,300 rows
        screen = executions(app)
        state = screen.engines["temporal"]
        assert engine.handed_out == 13 * PAGE
        assert len(state.rows) == WINDOW and screen.table.row_count == WINDOW
        assert state.offset == 13 * PAGE - WINDOW
        assert ids(app)[0] == f"wf-{state.offset:06d}" and ids(app)[-1] == "wf-001299"
        assert screen.current_row is not None
        # G put the cursor on the last row loaded then, and read the page after it.
        assert screen.current_row.execution.ref.workflow_id == "wf-001199"
        assert "temporal: 1,300 / 100,000 rows" in status_text(app)
        assert f"{WINDOW} loaded / 100,000" in crumbs_text(app)

        await pilot.press("g")
        await settle(pilot)
        assert ids(app)[0] == "wf-000000" and screen.table.cursor_row == 0
        assert state.offset == 0


async def test_the_cursor_near_the_window_top_reads_further_back() -> None:
    engine = ScaleEngine()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await last_row(pilot, 9)  # 1,000 rows read: the window is rows 500-999
        screen = executions(app)
        state = screen.engines["temporal"]
        assert state.offset == 500
        screen.table.move_cursor(row=LOAD_AHEAD)
        await pilot.press("up")
        await settle(pilot)
        assert state.offset == 500 - WINDOW // 2 and len(state.rows) == WINDOW
        row = screen.current_row
        assert row is not None and row.execution.ref.workflow_id == f"wf-{500 + LOAD_AHEAD - 1:06d}"
        assert engine.lists[-1].raw is None  # re-listed from the start, skipping


async def test_a_filter_hiding_new_rows_does_not_read_on_through_the_listing() -> None:
    engine = ScaleEngine()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"wf-00000", "enter")  # matches rows 0-9 only
        await settle(pilot)
        assert len(ids(app)) == 10 and len(engine.lists) == 1
        await last_row(pilot)  # reads one page, none of which matches
        await last_row(pilot)
        assert engine.handed_out == 3 * PAGE and len(ids(app)) == 10


async def test_slash_filters_loaded_rows_locally_and_enter_on_a_query_asks_the_server() -> None:
    engine = ScaleEngine()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"Refund")  # live, on the loaded rows, no listing
        assert len(ids(app)) == PAGE // 4 and len(engine.lists) == 1
        await pilot.press("escape", "escape")

        query = "WorkflowType = 'PaymentWorkflow'"
        await pilot.press("slash", *query, "enter")
        await settle(pilot)
        assert engine.lists[-1].raw == query and engine.counts[-1].raw == query
        screen = executions(app)
        assert screen.server_query == query and not screen.row_filter.active
        assert {row.execution.workflow_type for row in screen.shown_rows} == {"PaymentWorkflow"}
        assert ids(app)[0] == "wf-000001"
        assert f"query {query}" in crumbs_text(app)
        assert "temporal: 100 / 25,000 rows" in status_text(app)

        await last_row(pilot)  # the query pages like the full list
        assert engine.lists[-1].raw == query and len(ids(app)) == 2 * PAGE

        await pilot.press("escape")  # back to the whole namespace
        await settle(pilot)
        assert screen.server_query is None and engine.lists[-1].raw is None
        assert ids(app)[0] == "wf-000000" and "temporal: 100 / 100,000 rows" in status_text(app)


async def test_a_refused_query_says_the_servers_words_and_changes_nothing() -> None:
    engine = ScaleEngine()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"wf-0000", "enter")
        await settle(pilot)
        before = ids(app)
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"StartTime > ", "enter")
        await settle(pilot)
        screen = executions(app)
        assert engine.lists[-1].raw == "StartTime >"
        assert "temporal: query refused: invalid query: unable to parse 'StartTime >'" in (
            notifications(app)
        )
        assert ids(app) == before and screen.server_query is None
        assert screen.row_filter.text == "wf-0000"  # the filter typed before stays
        assert "temporal: 100 / 100,000 rows" in status_text(app)
        listings, handed_out = len(engine.lists), engine.handed_out
        await last_row(pilot)  # and the old listing still pages on from where it was
        assert len(engine.lists) == listings and engine.handed_out == handed_out + PAGE
        assert "temporal: 200 / 100,000 rows" in status_text(app)


async def test_two_engines_page_each_and_a_small_one_stays_whole() -> None:
    big, small = ScaleEngine(), FakeEngine(name="backup")
    app = make_app(stub_session(big, small))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "temporal: 100 / 100,000 rows" in status_text(app)
        assert "backup: 6 rows" in status_text(app)
        assert len(ids(app)) == PAGE + 6
        await last_row(pilot)
        assert "temporal: 200 / 100,000 rows" in status_text(app)
        assert "backup: 6 rows" in status_text(app) and len(ids(app)) == 2 * PAGE + 6
        await pilot.press("s")  # stuck mode lists find_stuck as before, unpaged
        await settle(pilot)
        assert "backup: 2 stuck" in status_text(app)


async def test_paging_does_not_pile_up_widgets() -> None:
    """Each binding refresh rebuilt the footer's keys and the old ones stayed: RSS grew
    ~9 KiB a row read. Moves over rows of one engine must not refresh the bindings."""
    import gc

    from textual.widget import Widget

    def widgets() -> int:
        gc.collect()
        return sum(isinstance(o, Widget) for o in gc.get_objects())

    app = make_app(stub_session(ScaleEngine()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await last_row(pilot, 3)
        before = widgets()
        await last_row(pilot, 10)
        await pilot.press("k", "k", "j")
        await settle(pilot)
        # The leak left ~10 widgets per page read (70 here); a toast or tooltip coming
        # and going on a loaded machine is a few, not that.
        assert widgets() <= before + 5, (before, widgets())
