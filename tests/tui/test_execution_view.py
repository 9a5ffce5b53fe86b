"""Execution view: summary, pending work, history with failures, versions."""

from __future__ import annotations

from textual.widgets import DataTable, Label, Static

from console.errors import NotFound
from console.model import Capability
from console.tui.format import RowFilter, parse_command, relative_time
from console.tui.screens.execution import ExecutionScreen, deployment_name
from tests.tui.conftest import SIZE, make_app, notifications, settle
from tests.tui.fakes import NOW, FakeEngine, stub_session


async def open_first(pilot, app) -> ExecutionScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, ExecutionScreen)
    return app.screen


def rows(table: DataTable) -> list[list[str]]:  # type: ignore[type-arg]
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_summary_pending_history_and_versions() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot, app)
        summary = str(screen.query_one("#summary", Static).render())
        for text in ("running", "OrderWorkflow", "orders", "build-42", "shop:v2", "2m ago"):
            assert text in summary
        assert "card declined: insufficient funds" in summary
        activities = rows(screen.query_one("#activities", DataTable))
        assert activities == [
            [
                "5",
                "ChargeCard",
                "scheduled",
                "7/10",
                "40s from now",
                "card declined: insufficient funds",
            ]
        ]
        task = str(screen.query_one("#workflow-task", Static).render())
        assert "attempt 1" in task
        history = screen.query_one("#history", DataTable)
        assert history.row_count == 6
        label = str(screen.query_one("#history-label", Label).render())
        assert "6 events, 1 failures" in label
        # The failure row carries the failure style (red in opsdeck.tcss).
        failed = history.get_row_at(4)
        assert failed[2].plain == "ActivityTaskFailed"
        assert failed[2].style == history.style_for("row--failure")
        versions = rows(screen.query_one("#versions", DataTable))
        assert versions == [
            ["v2", "current", "-", "1d ago", "-"],
            ["v1", "", "-", "7d ago", "drained"],
        ]


async def test_failed_only_toggle() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot, app)
        await pilot.press("f")
        history = screen.query_one("#history", DataTable)
        assert rows(history)[0][2] == "ActivityTaskFailed" and history.row_count == 1
        assert "failed only" in str(screen.query_one("#history-label", Label).render())
        await pilot.press("f")
        assert history.row_count == 6


async def test_no_versions_section_without_the_capability() -> None:
    engine = FakeEngine(capabilities=frozenset(Capability) - {Capability.VERSIONS})
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot, app)
        assert not screen.query("#versions")


async def test_closed_execution_disables_open_only_actions() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")  # order-2: completed
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionScreen)
        active = screen.active_bindings
        assert active["r"].enabled
        assert not active["ctrl+d"].enabled and not active["x"].enabled
        assert "no pending" not in str(screen.query_one("#workflow-task", Static).render())


async def test_unknown_execution_is_an_error_line_not_a_crash() -> None:
    engine = FakeEngine()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        engine.fail = NotFound("temporal:default/order-1 not found")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionScreen)
        assert "not found" in str(screen.query_one("#workflow-task", Static).render())
        assert any(n.startswith("temporal: Not found") for n in notifications(app))
        await pilot.press("escape")
        assert not isinstance(app.screen, ExecutionScreen)


def test_helpers() -> None:
    assert deployment_name("orders:v2") == "orders"
    assert deployment_name("orders.v2") == "orders"
    assert deployment_name(None) is None and deployment_name("plain") is None
    assert relative_time(NOW, NOW) == "0s ago"
    assert relative_time(None, NOW) == "-"
    assert RowFilter("!x").inverse and not RowFilter("!").active
    assert parse_command(":q").name == "quit"
    assert parse_command("ctx  prod ").argument == "prod"
