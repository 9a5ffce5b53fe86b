"""Execution view: summary, pending work, history with failures, versions."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from textual.widgets import DataTable, Label, Static

from console.errors import NotFound
from console.model import (
    Capability,
    ExecutionDetail,
    ExecutionRef,
    HistoryEvent,
    Outcome,
    Plan,
    TargetOutcome,
)
from console.tui.format import (
    RowFilter,
    attempt_text,
    next_retry_text,
    parse_command,
    relative_time,
)
from console.tui.screens import execution as execution_module
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.execution import ExecutionScreen, deployment_name
from tests.tui.conftest import SIZE, make_app, notifications, settle, until
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
                "7 / 10",
                "in 40s",
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
    assert relative_time(NOW + timedelta(milliseconds=300), NOW) == "in 1s"  # not "0s ago"
    assert relative_time(NOW + timedelta(minutes=3), NOW) == "in 3m"
    assert next_retry_text(NOW + timedelta(seconds=3), NOW) == "in 3s"
    assert next_retry_text(NOW - timedelta(seconds=2), NOW) == "due now"  # not "2s ago"
    assert next_retry_text(None, NOW) == "-"
    assert attempt_text(3, 5) == "3 / 5"
    assert attempt_text(3, 0) == "3 (no limit)"
    assert attempt_text(3, None) == "3"  # maximum unknown
    assert relative_time(None, NOW) == "-"
    assert RowFilter("!x").inverse and not RowFilter("!").active
    assert parse_command(":q").name == "quit"
    assert parse_command("ctx  prod ").argument == "prod"


@dataclasses.dataclass
class ResetEngine(FakeEngine):
    """A reset workflow, Temporal style: the reset record, an unlimited retry policy,
    and a reset that starts a new run (its id in the outcome's details)."""

    described: list[ExecutionRef] = dataclasses.field(default_factory=list)

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail:
        self.described.append(ref)
        detail = await super().describe(ref)
        activities = tuple(
            dataclasses.replace(a, maximum_attempts=0) for a in detail.pending_activities
        )
        return dataclasses.replace(
            detail,
            pending_activities=activities,
            last_failure="workflow task failed: reset workflow: INC-7 via opsdeck",
        )

    async def history(self, ref: ExecutionRef) -> AsyncIterator[HistoryEvent]:
        async for event in super().history(ref):
            yield event
        reset = {"cause": "WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW"}
        yield HistoryEvent(
            7, NOW, "WorkflowTaskFailed", "reset workflow: INC-7", is_failure=True, details=reset
        )

    async def apply(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:
        self.applied.append((plan, request_id))
        for call in plan.calls:
            yield TargetOutcome(call.target, Outcome.OK, "reset", {"new_run_id": "run-new"})


def summary_of(screen: ExecutionScreen) -> str:
    return str(screen.query_one("#summary", Static).render())


async def test_history_length_is_the_number_of_events_listed() -> None:
    app = make_app()  # the list row says 11 events (visibility); the history has 6
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot, app)
        assert "6 events" in str(screen.query_one("#history-label", Label).render())
        line = next(x for x in summary_of(screen).splitlines() if x.startswith("History length"))
        assert line.split() == ["History", "length", "6"]


async def test_reset_record_is_not_a_failure_and_no_limit_attempts() -> None:
    app = make_app(stub_session(ResetEngine()))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot, app)
        history = screen.query_one("#history", DataTable)
        assert history.row_count == 7
        label = str(screen.query_one("#history-label", Label).render())
        assert "7 events, 1 failures" in label  # the ActivityTaskFailed only
        reset_row = history.get_row_at(6)
        assert reset_row[2].plain == "WorkflowTaskFailed"
        assert reset_row[2].style != history.style_for("row--failure")
        summary = summary_of(screen)
        assert "Last reset" in summary and "Last failure" not in summary
        assert rows(screen.query_one("#activities", DataTable))[0][3] == "7 (no limit)"
        await pilot.press("f")
        assert [r[2] for r in rows(history)] == ["ActivityTaskFailed"]


async def test_relative_times_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution_module, "TICK_SECONDS", 0.01)
    now = [NOW]

    def clock() -> datetime:
        return now[0]

    app = make_app(clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot, app)
        activities = screen.query_one("#activities", DataTable)
        assert rows(activities)[0][4] == "in 40s" and "(2m ago)" in summary_of(screen)
        now[0] = NOW + timedelta(minutes=5)  # no key pressed, nothing reloaded
        await until(pilot, lambda: "(7m ago)" in summary_of(screen), "started ticked")
        assert rows(activities)[0][4] == "due now"  # a passed retry time is not "4m ago"


async def test_a_reset_from_the_view_reloads_it_on_the_new_run() -> None:
    engine = ResetEngine()
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot, app)
        assert engine.described[-1].run_id == "run-order-1"
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen and len(engine.applied) == 1
        assert screen.ref.run_id == "run-new"
        assert engine.described[-1].run_id == "run-new"  # reloaded, on the new run
        assert "run-new" in str(screen.query_one("#detail-title", Static).render())
