"""Remediation from the keyboard: plan -> confirmation showing the plan -> apply."""

from __future__ import annotations

import asyncio

from textual.widgets import Button, Input, Static

from console.errors import Unsupported
from console.model import ActionKind
from console.tui.commands import OpsdeckCommands
from console.tui.screens.confirm import ConfirmScreen, SignalScreen
from console.tui.screens.execution import ExecutionScreen
from console.tui.screens.help import HelpScreen
from tests.tui.conftest import (
    SIZE,
    executions,
    make_app,
    notifications,
    settle,
    status_text,
    until,
)
from tests.tui.fakes import FakeEngine, StubContext, stub_session

CHANGE_KEYS = {"r", "x", "ctrl+d", "S"}


def plan_shown(app: object) -> str:
    screen = app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, ConfirmScreen)
    return str(screen.query_one("#confirm-plan", Static).render())


async def test_retry_shows_plan_then_applies_and_audits() -> None:
    session = stub_session()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        text = plan_shown(app)
        assert "ResetWorkflowExecution  temporal:default/order-1/run-order-1" in text
        assert "retry via opsdeck TUI by" in text
        assert session.runner.audit == []  # nothing happens before the operator agrees
        await pilot.press("enter")  # the apply button has focus
        await settle(pilot)
        assert session.runner.audit == [("retry", "temporal:default/order-1/run-order-1", "ok")]
        assert any(n.startswith("retry on temporal: 1 ok") for n in notifications(app))


async def test_escape_cancels_without_change() -> None:
    session = stub_session()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        assert "TerminateWorkflowExecution" in plan_shown(app)
        assert app.screen.query_one("#confirm-dialog").has_class("-destructive")
        await pilot.press("escape")
        await settle(pilot)
        assert session.runner.audit == []
        assert any("cancelled, nothing changed" in n for n in notifications(app))


async def test_marked_rows_are_the_targets() -> None:
    session = stub_session()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space", "down", "space", "x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        text = plan_shown(app)
        assert "order-1" in text and "payment-7" in text and "order-2" not in text
        assert "Cancel 2 executions on temporal" in str(
            app.screen.query_one("#confirm-title", Static).render()
        )
        await pilot.press("enter")
        await settle(pilot)
        assert [a[1].split("/")[1] for a in session.runner.audit] == ["order-1", "payment-7"]


async def test_production_requires_typing_the_phrase() -> None:
    session = stub_session(production=True)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "PRODUCTION" in status_text(app)
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        apply = app.screen.query_one("#confirm-apply", Button)
        assert apply.disabled
        assert "Type order-1 to confirm" in str(
            app.screen.query_one("#confirm-phrase-label", Static).render()
        )
        await pilot.press(*"order-2", "enter")  # wrong: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and apply.disabled
        await pilot.press(*["backspace"] * 7, *"order-1")
        assert not apply.disabled
        await pilot.press("enter")
        await settle(pilot)
        assert session.runner.audit == [("terminate", "temporal:default/order-1/run-order-1", "ok")]


async def test_edited_reason_is_planned_again() -> None:
    session = stub_session()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        reason = app.screen.query_one("#confirm-reason", Input)
        reason.value = "INC-42 stuck payment"
        await pilot.click("#confirm-apply")
        await settle(pilot)
        plan, _ = session.engines["temporal"].applied[0]
        assert plan.request.reason == "INC-42 stuck payment"


async def test_signal_asks_name_and_json_input() -> None:
    session = stub_session()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SignalScreen), "signal dialog")
        await pilot.press(*"approve", "enter", *"{bad", "enter")
        assert "input is not JSON" in str(app.screen.query_one("#signal-error", Static).render())
        app.screen.query_one("#signal-payload", Input).value = '{"ok": true}'
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        assert "signal: approve" in plan_shown(app) and 'input: {"ok": true}' in plan_shown(app)
        await pilot.press("enter")
        await settle(pilot)
        plan, _ = session.engines["temporal"].applied[0]
        assert plan.request.kind is ActionKind.SIGNAL
        assert dict(plan.request.params) == {"signal": "approve", "input": {"ok": True}}


async def test_retry_activity_from_the_detail_view() -> None:
    session = stub_session()
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        assert "activity_id: 5" in plan_shown(app) and "mode: activity" in plan_shown(app)
        await pilot.press("enter")
        await settle(pilot)
        plan, _ = session.engines["temporal"].applied[0]
        assert dict(plan.request.params) == {"mode": "activity", "activity_id": "5"}


async def test_rollback_from_the_versions_table() -> None:
    session = stub_session(production=True)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExecutionScreen)
        assert not screen.active_bindings["b"].enabled  # v2 is current: nothing to roll back
        screen.query_one("#versions").focus()
        await pilot.press("down")  # v1
        assert screen.active_bindings["b"].enabled
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        text = plan_shown(app)
        assert "SetWorkerDeploymentCurrentVersion  temporal:default/deployment/shop" in text
        assert "version: v1" in text
        await pilot.press(*"shop", "enter")
        await settle(pilot)
        assert session.runner.audit == [
            ("rollback", "temporal:default/deployment/shop", "ok"),
        ]


async def test_second_action_waits_for_a_running_apply() -> None:
    engine = FakeEngine(apply_gate=asyncio.Event())
    session = stub_session(engine)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        await pilot.press("enter")
        await until(pilot, lambda: bool(engine.applied), "apply started")
        assert any("applying to 1 target(s)" in n for n in notifications(app))
        await pilot.press("x")  # would cancel the running apply if it were let through
        await pilot.pause()
        assert any("an action is still running" in n for n in notifications(app))
        assert not isinstance(app.screen, ConfirmScreen)
        engine.apply_gate.set()  # type: ignore[union-attr]
        await settle(pilot)
        assert session.runner.audit == [("retry", "temporal:default/order-1/run-order-1", "ok")]


async def test_plan_error_is_a_notification() -> None:
    engine = FakeEngine()
    session = stub_session(engine)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # It declares signal but refuses it when planning (a missing capability hides
        # the key instead: test_executions_capabilities.py).
        engine.fail = Unsupported("temporal cannot signal")
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SignalScreen), "signal dialog")
        await pilot.press(*"go", "enter", "enter")
        await settle(pilot)
        assert any(
            "Not supported" in n and "temporal cannot signal" in n for n in notifications(app)
        )
        assert app.screen is executions(app)


async def test_read_only_session_hides_every_change() -> None:
    session = stub_session(read_only=True)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "read-only" in status_text(app)
        assert not CHANGE_KEYS & set(app.screen.active_bindings)
        await pilot.press("r", "x", "ctrl+d", "S")
        await pilot.pause()
        assert app.screen is executions(app)
        # Nor can the palette reach them.
        names = [name for name, _, _ in OpsdeckCommands(app.screen)._commands()]
        assert "Filter" in names and "Retry" not in names and "Terminate" not in names
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionScreen)
        assert not (CHANGE_KEYS | {"b", "a"}) & set(app.screen.active_bindings)
        # Even a direct call is refused before planning.
        app.start_action(ActionKind.RETRY, [app.screen.ref])
        await settle(pilot)
        assert session.runner.audit == []
        assert any("read-only" in n for n in notifications(app))


async def test_read_only_context_hides_every_change() -> None:
    session = stub_session()
    session.context = StubContext(read_only=True)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "read-only" in status_text(app)
        assert not CHANGE_KEYS & set(app.screen.active_bindings)


async def test_help_lists_bindings_with_ids() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = {binding_id: (key, what) for key, what, binding_id in app.screen.keys}
        assert keys["opsdeck.retry"] == ("r", "Retry")
        assert keys["opsdeck.terminate"] == ("^d", "Terminate")
        assert keys["opsdeck.filter"] == ("/", "Filter")
        assert keys["opsdeck.stuck"] == ("s", "Stuck only")
        await pilot.press("escape")
        assert app.screen is executions(app)


async def test_palette_lists_actions_and_navigation() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        names = [name for name, _, _ in OpsdeckCommands(app.screen)._commands()]
        for expected in ("Filter", "Mark", "Retry", "Cancel", "Terminate", "Signal"):
            assert expected in names
        assert "Show stuck executions" in names and "Help: keys and commands" in names
        commands = {name: run for name, run, _ in OpsdeckCommands(app.screen)._commands()}
        commands["Show stuck executions"]()
        await settle(pilot)
        assert executions(app).stuck_only


async def test_keymap_remaps_by_binding_id() -> None:
    session = stub_session()
    app = make_app(session, keymap={"opsdeck.retry": "R"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause()
        assert app.screen is executions(app)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")


async def test_a_policy_denial_shows_its_reason_before_any_confirmation() -> None:
    from console.policy.model import Decision

    session = stub_session()
    session.runner.decision = Decision("deny", ("L2 may run runbooks only",))
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await until(
            pilot,
            lambda: any("L2 may run runbooks only" in n for n in notifications(app)),
            "denial",
        )
        assert not isinstance(app.screen, ConfirmScreen)
        assert session.runner.audit == []


async def test_a_change_needing_approval_says_so_in_the_confirmation() -> None:
    from textual.widgets import Button, Static

    from console.policy.model import Decision

    session = stub_session(production=True)
    reasons = ("more than 10 production targets",)
    session.runner.decision = Decision("approve", reasons, 2, ("oncall",))
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        dialog = app.screen
        policy = str(dialog.query_one("#confirm-policy", Static).render())
        assert "needs 2 approval(s) from oncall" in policy
        assert "more than 10 production targets" in policy and "files a request" in policy
        button = dialog.query_one("#confirm-apply", Button)
        assert str(button.label) == "File the approval request"
        assert not button.disabled  # filing asks no typed name, even in production
        assert not dialog.query("#confirm-phrase")
