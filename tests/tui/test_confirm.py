"""The plan confirmation: buttons that say what they do, its own footer keys, a focused
button that stands out, and parameters shown whole."""

from __future__ import annotations

import dataclasses
from typing import Any

from textual.widgets import Button, Input, Static

from console.model import ActionRequest, Plan
from console.tui.screens.confirm import ConfirmScreen
from tests.tui.conftest import SIZE, make_app, settle, until
from tests.tui.fakes import FakeEngine, stub_session


def plan_shown(app: Any) -> str:
    assert isinstance(app.screen, ConfirmScreen)
    return str(app.screen.query_one("#confirm-plan", Static).render())


def footer_keys(screen: Any) -> list[tuple[str, str]]:
    from textual.widgets._footer import FooterKey

    return [(k.key_display, k.description) for k in screen.query(FooterKey)]


async def test_buttons_and_footer_say_what_they_do() -> None:
    session = stub_session()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        await pilot.pause()
        screen = app.screen
        apply = screen.query_one("#confirm-apply", Button)
        back = screen.query_one("#confirm-cancel", Button)
        assert str(apply.label) == "Cancel 1 execution"  # what it does, not "Cancel 1"
        assert str(back.label) == "Back (esc)"
        keys = footer_keys(screen)
        assert ("esc", "Back, change nothing") in keys and ("^s", "Apply the plan") in keys
        # The focused button stands out (opsdeck.tcss); the other one does not.
        assert apply.has_focus
        assert apply.styles.border.top[0] == "thick" and back.styles.border.top[0] != "thick"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert session.runner.audit == [("cancel", "temporal:default/order-1/run-order-1", "ok")]


class ResetPlanEngine(FakeEngine):
    """Plans a reset as the Temporal adapter does: a long namespace, the run id and the
    reset point after the reason."""

    async def plan(self, request: ActionRequest) -> Plan:
        plan = await super().plan(request)
        extra = {
            "run_id": "5f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "workflow_task_finish_event_id": 12,
            "reapply": "signals",
            "namespace": "payments-production-eu-west-1",
            "reason": "INC-4711 payments stuck after the card processor outage " * 2,
        }
        calls = tuple(dataclasses.replace(c, params={**c.params, **extra}) for c in plan.calls)
        return dataclasses.replace(plan, calls=calls)


async def test_plan_parameters_are_shown_whole() -> None:
    app = make_app(stub_session(ResetPlanEngine()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        await pilot.pause()
        text = plan_shown(app)
        assert "workflow_task_finish_event_id: 12" in text  # the reset point
        assert "run_id: 5f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b" in text and "..." not in text
        calls = app.screen.query_one("#confirm-calls")
        assert calls.virtual_size.width <= calls.size.width  # wrapped, nothing off-screen
        assert app.screen.query_one("#confirm-reason", Input).value.startswith("retry via")


async def test_shared_parameters_are_listed_once() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space", "down", "space", "ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        text = plan_shown(app)
        assert text.startswith("every call:") and text.count("reason: ") == 1
        assert "payment-7" in text
        label = app.screen.query_one("#confirm-apply", Button).label
        assert str(label) == "Terminate 2 executions"


async def test_signal_dialog_buttons_say_what_they_do() -> None:
    from console.tui.screens.confirm import SignalScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SignalScreen), "signal dialog")
        labels = [str(b.label) for b in app.screen.query(Button)]
        assert labels == ["Back (esc)", "Show the plan"]
        assert ("esc", "Back, send nothing") in footer_keys(app.screen)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, SignalScreen)
