"""Executions view keys: k9s movement (j/k, g/G, home/end) and htop-style sorting."""

from __future__ import annotations

from console.model import ExecutionStatus
from console.tui.screens.executions import ExecutionsScreen
from console.tui.screens.help import HelpScreen
from tests.tui.conftest import SIZE, executions, ids, make_app, settle
from tests.tui.fakes import FakeEngine, execution, stub_session


def headers(app: object) -> list[str]:
    table = executions(app).table  # type: ignore[arg-type]
    return [str(c.label) for c in table.columns.values()][1:]  # the mark column aside


async def test_j_k_g_G_home_end_move_the_cursor() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = executions(app).table
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 5
        await pilot.press("j")  # stays on the last row
        assert table.cursor_row == 5
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("k")
        assert table.cursor_row == 0
        await pilot.press("end")  # DataTable alone would scroll sideways
        assert table.cursor_row == 5
        await pilot.press("home")
        assert table.cursor_row == 0


async def test_movement_keys_are_in_help_with_ids_and_remappable() -> None:
    app = make_app(keymap={"opsdeck.down": "n"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert executions(app).table.cursor_row == 1
        await pilot.press("j")  # remapped away: j does nothing now
        assert executions(app).table.cursor_row == 1
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = set(app.screen.keys)
        for row in [
            ("n", "Down", "opsdeck.down"),
            ("k", "Up", "opsdeck.up"),
            ("g", "First row", "opsdeck.first"),
            ("home", "First row", "opsdeck.first"),
            ("G", "Last row", "opsdeck.last"),
            ("end", "Last row", "opsdeck.last"),
            (">", "Sort by next column", "opsdeck.sort-next"),
            ("<", "Sort by previous column", "opsdeck.sort-previous"),
            ("I", "Invert sort", "opsdeck.sort-invert"),
        ]:
            assert row in keys, row


def test_no_key_is_bound_twice() -> None:
    """The new keys collide neither with each other nor with the existing ones (S)."""
    keys = [
        key.strip()
        for binding in ExecutionsScreen.BINDINGS
        for key in binding.key.split(",")  # type: ignore[union-attr]
    ]
    assert len(keys) == len(set(keys)), keys
    ids_ = [binding.id for binding in ExecutionsScreen.BINDINGS]  # type: ignore[union-attr]
    assert None not in ids_ and len(ids_) == len(set(ids_))


async def test_sort_keys_pick_the_column_and_invert_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "STARTED ▼" in headers(app)  # default: newest first
        await pilot.press("j", "j")  # cursor on payment-7
        await pilot.press("greater_than_sign")
        assert headers(app)[-1] == "TASK QUEUE ▲" and "STARTED" in headers(app)
        # A to Z by queue; rows with the same queue stay newest first.
        assert ids(app) == ["order-1", "order-2", "order-3", "payment-7", "refund-3", "ship-9"]
        assert ids(app)[executions(app).table.cursor_row] == "payment-7"  # cursor kept its run
        await pilot.press("I")
        assert headers(app)[-1] == "TASK QUEUE ▼"
        assert ids(app) == ["ship-9", "payment-7", "refund-3", "order-1", "order-2", "order-3"]
        await pilot.press("less_than_sign", "less_than_sign")  # back past STARTED to STATUS
        assert "STATUS ▲" in headers(app)
        assert ids(app) == ["order-2", "payment-7", "order-1", "refund-3", "ship-9", "order-3"]
        await pilot.press("ctrl+r")  # a refresh keeps the order
        await settle(pilot)
        assert ids(app)[0] == "order-2" and "STATUS ▲" in headers(app)


async def test_sort_wraps_and_reaches_stuck_columns() -> None:
    other = FakeEngine(
        name="backup",
        executions=[execution("late-1", "Late", ExecutionStatus.RUNNING, 1, engine="backup")],
    )
    app = make_app(stub_session(FakeEngine(), other))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(4):  # STARTED -> STATUS -> TYPE -> WORKFLOW ID -> ENGINE
            await pilot.press("less_than_sign")
        assert headers(app)[0] == "ENGINE ▲"
        assert ids(app)[0] == "late-1"  # backup < temporal
        await pilot.press("less_than_sign")  # wraps to the last column
        assert headers(app)[-1] == "TASK QUEUE ▲"
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("greater_than_sign")
        assert headers(app)[-2] == "RULE ▲"
        assert ids(app) == ["order-1", "refund-3"]  # activity_retrying < no_progress
        await pilot.press("s")  # RULE is gone: back to the default order
        await settle(pilot)
        assert "STARTED ▼" in headers(app) and ids(app)[0] == "late-1"


async def test_clicking_a_header_sorts_by_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Columns: mark (3 cells with padding), ENGINE (10), then WORKFLOW ID.
        await pilot.click("#executions", offset=(15, 0))
        await pilot.pause()
        assert headers(app)[1] == "WORKFLOW ID ▲"
        assert ids(app)[0] == "order-1" and ids(app)[-1] == "ship-9"
        await pilot.click("#executions", offset=(15, 0))  # again: the other way round
        await pilot.pause()
        assert headers(app)[1] == "WORKFLOW ID ▼" and ids(app)[0] == "ship-9"
