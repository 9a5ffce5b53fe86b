"""Change keys follow the selected rows' engines, and an apply leaves no stale marks."""

from __future__ import annotations

from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

from console.model import Capability, ExecutionStatus
from console.tui.app import OpsdeckApp
from console.tui.screens.confirm import ConfirmScreen, SignalScreen
from tests.tui.conftest import (
    SIZE,
    executions,
    ids,
    make_app,
    notifications,
    settle,
    status_text,
    until,
)
from tests.tui.fakes import FakeEngine, execution, stub_session


def with_step_functions() -> OpsdeckApp:
    """A Step Functions row (cannot signal) on top of the Temporal ones."""
    sfn = FakeEngine(
        name="sfn",
        kind="stepfunctions",
        capabilities=frozenset(Capability) - {Capability.SIGNAL, Capability.BATCH},
        executions=[execution("checkout-1", "Checkout", ExecutionStatus.RUNNING, 1, engine="sfn")],
    )
    return make_app(stub_session(FakeEngine(), sfn))


def footer_actions(app: OpsdeckApp) -> set[str]:
    return {key.action for key in app.screen.query(FooterKey)}


async def test_signal_is_hidden_on_a_step_functions_row_and_says_why() -> None:
    app = with_step_functions()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")  # the cursor stayed on order-1 while sfn answered later
        assert ids(app)[0] == "checkout-1"
        assert "S" not in app.screen.active_bindings
        assert "r" in app.screen.active_bindings
        await pilot.pause()
        assert "signal" not in footer_actions(app) and "retry" in footer_actions(app)

        await pilot.press("S")
        await pilot.pause()
        assert app.screen is executions(app)  # no signal dialog
        assert any(n == "Signal: stepfunctions cannot signal" for n in notifications(app))

        await pilot.press("j")  # a Temporal row: signal is back
        await pilot.pause()
        assert "S" in app.screen.active_bindings and "signal" in footer_actions(app)
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SignalScreen), "signal dialog")


async def test_marks_across_engines_leave_out_the_one_that_cannot() -> None:
    app = with_step_functions()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g", "space", "space")  # checkout-1 (sfn) and order-1 (temporal)
        assert "S" in app.screen.active_bindings  # one of them can
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SignalScreen), "signal dialog")
        left_out = "1 on sfn left out: stepfunctions cannot signal"
        assert any(left_out in n for n in notifications(app))
        await pilot.press(*"go", "enter")
        app.screen.query_one("#signal-payload", Input).value = "{}"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        text = str(app.screen.query_one("#confirm-plan", Static).render())
        assert "order-1" in text and "checkout-1" not in text


async def test_read_only_change_key_says_why() -> None:
    app = make_app(stub_session(read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        assert any("read-only: changes are disabled" in n for n in notifications(app))


async def test_apply_clears_marks_and_refreshes() -> None:
    engine = FakeEngine()
    listed: list[int] = []
    real_list = engine.list

    def counting_list(query):  # type: ignore[no-untyped-def]
        listed.append(1)
        return real_list(query)

    engine.list = counting_list  # type: ignore[method-assign]
    session = stub_session(engine)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = executions(app)
        await pilot.press("space", "space", "x")  # cancel order-1 and order-2
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        before = len(listed)
        await pilot.press("enter")
        await settle(pilot)
        assert [a[1].split("/")[1] for a in session.runner.audit] == ["order-1", "order-2"]
        assert screen.marked == set() and "marked" not in status_text(app)
        assert len(listed) > before  # the list was fetched again
        # `r` now aims at the cursor row only, not the runs just closed.
        cursor_id = ids(app)[screen.table.cursor_row]
        assert [ref.workflow_id for ref in screen.targets()] == [cursor_id]


async def test_cancelled_confirmation_keeps_the_marks() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space", "space", "x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        await pilot.press("escape")
        await settle(pilot)
        assert len(executions(app).marked) == 2
