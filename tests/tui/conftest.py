"""Helpers for TUI pilot tests: build the app over a stub session, wait on workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from console.tui.app import OpsdeckApp
from console.tui.screens.executions import ExecutionsScreen
from tests.tui.fakes import NOW, StubSession, stub_session

SIZE = (140, 40)


def make_app(session: StubSession | None = None, **kwargs: Any) -> OpsdeckApp:
    kwargs.setdefault("refresh_interval", 0)  # tests refresh explicitly
    kwargs.setdefault("clock", lambda: NOW)
    return OpsdeckApp(session or stub_session(), **kwargs)


async def settle(pilot: Pilot[Any]) -> None:
    """Let workers finish and their messages be handled (no modal may be waiting)."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot: Pilot[Any], check: Callable[[], bool], what: str, rounds: int = 200) -> None:
    """Process messages until ``check`` holds; fails instead of waiting forever."""
    for _ in range(rounds):
        if check():
            return
        await pilot.pause()
    raise AssertionError(f"{what}: not reached")


def executions(app: OpsdeckApp) -> ExecutionsScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, ExecutionsScreen)
    return screen


def ids(app: OpsdeckApp) -> list[str]:
    """Workflow ids in table order."""
    table = executions(app).query_one("#executions", DataTable)
    return [str(table.get_row_at(i)[2]) for i in range(table.row_count)]


def status_text(app: OpsdeckApp) -> str:
    from console.tui.widgets.status_bar import StatusBar

    return str(executions(app).query_one(StatusBar).render())


def crumbs_text(app: OpsdeckApp) -> str:
    from textual.widgets import Static

    return str(executions(app).query_one("#crumbs", Static).render())


def notifications(app: OpsdeckApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]
