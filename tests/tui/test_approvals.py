"""`:approvals` in the TUI over the real approvals store (SQLite in the test's data dir):
pending first, closed on `c`, the detail with the frozen plan, approve and deny with
their dialogs, the store's refusals shown and nothing recorded, apply of an approved
engine action through the confirmation with its approval id."""

from __future__ import annotations

import pytest
from textual.widgets import Button, DataTable, Input, Static

from console.approvals.store import ApprovalStore
from console.model import ExecutionRef
from console.policy.model import ChangeRequest, Decision, Identity
from console.tui.app import OpsdeckApp
from console.tui.keys import view_bindings
from console.tui.screens.approvals import ApprovalScreen, ApprovalsScreen, VerdictScreen
from console.tui.screens.confirm import ConfirmScreen
from tests.tui.conftest import SIZE, make_app, notifications, settle, until
from tests.tui.fakes import FakeEngine, stub_session

ALICE = Identity("alice", ("oncall",))
BOB = Identity("bob", ("oncall",))
TARGET = "temporal:default/orders-1/run-1"


def file(store: ApprovalStore, requester: Identity, reason: str, *, needed: int = 1) -> str:
    change = ChangeRequest("terminate", "temporal", (TARGET,), reason)
    plan = {
        "action": "terminate",
        "calls": [{"target": TARGET, "call": "TerminateWorkflowExecution", "params": {}}],
    }
    decision = Decision("approve", ("terminate in production needs a second person",), needed)
    request = store.create(
        context="sandbox", change=change, plan=plan, decision=decision, requester=requester,
        expires_in=3600, command=["executions", "terminate", "orders-1"],
    )  # fmt: skip
    return request.id


@pytest.fixture
def store() -> ApprovalStore:
    return ApprovalStore()  # the test's own $XDG_DATA_HOME (tests/conftest.py)


def table(app: OpsdeckApp) -> DataTable[object]:
    return app.screen.query_one("#approvals", DataTable)


def rows(app: OpsdeckApp) -> list[tuple[str, str]]:
    t = table(app)
    return [(str(t.get_row_at(i)[0]), str(t.get_row_at(i)[1])) for i in range(t.row_count)]


async def open_list(pilot: object, app: OpsdeckApp) -> ApprovalsScreen:
    await pilot.press("colon", *"approvals", "enter")  # type: ignore[attr-defined]
    await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen), "approvals")  # type: ignore[arg-type]
    screen = app.screen
    assert isinstance(screen, ApprovalsScreen)
    await until(pilot, lambda: screen.loaded > 0, "approvals listed")  # type: ignore[arg-type]
    return screen


async def test_pending_first_closed_on_c_and_the_detail_shows_the_frozen_plan(
    store: ApprovalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDECK_IDENTITY", "bob")
    denied = file(store, ALICE, "first try")
    store.deny(denied, BOB, "wrong workflow")
    approved = file(store, ALICE, "second try")
    store.approve(approved, BOB)
    pending = file(store, ALICE, "third try")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_list(pilot, app)
        assert rows(app) == [(pending, "pending"), (approved, "approved")]
        label = str(screen.query_one("#approvals-label").render())
        assert "1 pending" in label
        await pilot.press("c")
        await until(pilot, lambda: len(rows(app)) == 3, "closed shown")
        assert rows(app)[2] == (denied, "denied")
        await pilot.press("c")
        await until(pilot, lambda: len(rows(app)) == 2, "closed hidden")

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "detail")
        detail = app.screen
        assert isinstance(detail, ApprovalScreen)
        await until(pilot, lambda: detail.request is not None, "detail loaded")
        text = str(detail.query_one("#approval-detail", Static).render())
        assert f"Request {pending}: pending" in text
        assert "requested by alice" in text and "reason: third try" in text
        assert "terminate in production needs a second person" in text
        assert "frozen plan (sha256:" in text and TARGET in text
        assert "TerminateWorkflowExecution" in text
        keys = {b.binding.action: b.enabled for b in view_bindings(detail)}
        assert keys["approve"] and keys["deny"] and not keys["apply"]  # not approved yet


async def test_approve_and_deny_record_verdicts_and_own_requests_are_refused(
    store: ApprovalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDECK_IDENTITY", "bob")
    mine = file(store, BOB, "bob's own")
    theirs = file(store, ALICE, "alice asks")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_list(pilot, app)
        assert [r for r, _ in rows(app)] == [mine, theirs]

        # Bob's own request: the store refuses, the dialog closes, nothing is recorded.
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, VerdictScreen), "approve dialog")
        await pilot.press("enter")
        await until(pilot, lambda: any("own request" in n for n in notifications(app)), "refusal")
        assert store.get(mine).approvals == []

        # Alice's request: approved with a comment.
        await pilot.press("down", "a")
        await until(pilot, lambda: isinstance(app.screen, VerdictScreen), "approve dialog")
        await pilot.press(*"looked at it", "enter")
        await until(pilot, lambda: rows(app)[1] == (theirs, "approved"), "approved row")
        verdict = store.get(theirs).approvals
        assert [(v.user, v.reason) for v in verdict] == [("bob", "looked at it")]

        # Deny needs a reason: the button stays disabled until one is typed.
        await pilot.press("up", "d")
        await until(pilot, lambda: isinstance(app.screen, VerdictScreen), "deny dialog")
        dialog = app.screen
        assert dialog.query_one("#verdict-apply", Button).disabled
        await pilot.press("enter")  # empty: refused, the dialog stays
        assert isinstance(app.screen, VerdictScreen)
        assert store.get(mine).denial is None
        dialog.query_one("#verdict-reason", Input).value = "withdrawn"
        await pilot.pause()
        assert not dialog.query_one("#verdict-apply", Button).disabled
        await pilot.press("enter")
        await until(pilot, lambda: len(rows(app)) == 1, "denied request leaves the list")
        denial = store.get(mine).denial
        assert denial is not None and (denial.user, denial.reason) == ("bob", "withdrawn")


async def test_apply_of_an_approved_request_goes_through_the_confirmation(
    store: ApprovalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDECK_IDENTITY", "alice")
    engine = FakeEngine()
    session = stub_session(engine)
    request = file(store, ALICE, "stuck for an hour")
    store.approve(request, BOB)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_list(pilot, app)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation", 500)
        plan = str(app.screen.query_one("#confirm-plan", Static).render())
        assert "orders-1" in plan
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(session.runner.audit), "applied", 500)
        await settle(pilot)
    assert session.runner.approvals_used == [request]
    applied_plan, _ = engine.applied[0]
    assert applied_plan.request.targets == (ExecutionRef.parse(TARGET),)
    assert applied_plan.request.reason == "stuck for an hour"


async def test_read_only_hides_apply_but_keeps_approving(
    store: ApprovalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDECK_IDENTITY", "bob")
    request = file(store, ALICE, "x")
    store.approve(request, Identity("carol", ("oncall",)))
    app = make_app(stub_session(read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_list(pilot, app)
        keys = {b.binding.action: b.enabled for b in view_bindings(screen)}
        assert "apply" not in keys  # hidden, as every change key in read-only
        assert keys["approve"]
        await pilot.press("A")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
