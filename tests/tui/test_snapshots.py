"""Snapshots of the key screens over the fake engine with a fixed clock.

Update after an intended change with:
    .venv/bin/pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from tests.tui.conftest import make_app, settle, until
from tests.tui.fakes import FakeEngine, stub_session, unreachable

SIZE = (130, 32)


async def painted(pilot: Pilot[Any]) -> None:
    """Tables size their columns on idle: wait until every table has done so."""

    def done() -> bool:
        tables = pilot.app.screen.query(DataTable)
        return not any(t._require_update_dimensions for t in tables)

    await until(pilot, done, "tables sized")
    await pilot.pause()


def test_executions_view(snap_compare: Any) -> None:
    dead = FakeEngine(name="eu-temporal", fail=unreachable("eu-temporal"))
    app = make_app(stub_session(FakeEngine(), dead, production=True))

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app.clear_notifications()
        await pilot.press("down", "space", "down", "space")
        await painted(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_stuck_view(snap_compare: Any) -> None:
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        await painted(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_execution_view(snap_compare: Any) -> None:
    app = make_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        await until(
            pilot,
            lambda: (
                screen.query_one("#history", DataTable).row_count == 6
                and screen.query_one("#versions", DataTable).row_count == 2
            ),
            "detail loaded",
        )
        await painted(pilot)

    assert snap_compare(app, terminal_size=(130, 48), run_before=run_before)


def test_confirmation_in_production(snap_compare: Any) -> None:
    app = make_app(stub_session(production=True))

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("ctrl+d")
        for _ in range(50):
            await pilot.pause()
            if app.screen.id != app.screen_stack[0].id and app.screen.query("#confirm-phrase"):
                break
        await pilot.press(*"order")
        await painted(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
