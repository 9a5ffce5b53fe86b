"""`:approvals` end to end on the real dev server: alice files a terminate through the CLI
(the policy wants a second person), bob approves it in the TUI and applies it there; an
approved plan whose world moved is refused in the TUI and changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from console.approvals.store import ApprovalStore
from console.sandbox.devserver import DevServer
from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.screens.approvals import ApprovalScreen, ApprovalsScreen, VerdictScreen
from console.tui.screens.confirm import ConfirmScreen
from tests.tui.conftest import notifications, settle, until

from .test_cli_executions import wait_status
from .test_policy_approvals_temporal import config, file_request, start, terminates

pytestmark = pytest.mark.integration
__all__ = ["config"]  # a fixture this module's tests use


async def approve_and_apply(pilot: Any, app: OpsdeckApp, request: str) -> None:
    await pilot.press("colon", *f"approvals {request}", "enter")
    await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "request shown", 500)
    detail = app.screen
    assert isinstance(detail, ApprovalScreen)
    await until(pilot, lambda: detail.request is not None, "request loaded", 500)
    await pilot.press("a")
    await until(pilot, lambda: isinstance(app.screen, VerdictScreen), "approve dialog")
    await pilot.press(*"checked the runs", "enter")
    await until(
        pilot,
        lambda: "approved: A applies" in str(detail.query_one("#approval-detail").render()),
        "approved",
        500,
    )
    await pilot.press("A")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation", 1000)
    await pilot.press("ctrl+s")


async def test_bob_approves_and_applies_alices_request_in_the_tui(
    config: Path, temporal_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await Client.connect(temporal_server.address, namespace="default")
    wid = await start(client)
    request = file_request(config, wid)
    monkeypatch.setenv("OPSDECK_IDENTITY", "bob")
    session = open_session("prod", config_path=config)
    app = OpsdeckApp(session, refresh_interval=0, engine_timeout=20)
    try:
        async with app.run_test(size=(150, 45)) as pilot:
            await settle(pilot)
            await approve_and_apply(pilot, app, request)
            await until(
                pilot,
                lambda: any(n.startswith("terminate on temporal") for n in notifications(app)),
                "apply reported",
                2000,
            )
            await settle(pilot)
            assert any("1 ok" in n for n in notifications(app)), notifications(app)
            detail = app.screen
            assert isinstance(detail, ApprovalScreen)
            await until(
                pilot,
                lambda: "applied by bob" in str(detail.query_one("#approval-detail").render()),
                "shown as applied",
                500,
            )
            listed = app.screen_stack[-2]
            assert isinstance(listed, ApprovalsScreen)
            before = listed.loaded
            await pilot.press("escape")  # back to the list: it reloads
            await until(pilot, lambda: listed.loaded > before, "listed again", 500)
            assert request not in [r.id for r in listed.requests]  # applied: closed
    finally:
        await session.close()
    await wait_status(client, wid, WorkflowExecutionStatus.TERMINATED)
    store = ApprovalStore()
    try:
        done = store.get(request)
    finally:
        store.close()
    assert done.applied_by == "bob"
    assert [(v.user, v.reason) for v in done.approvals] == [("bob", "checked the runs")]
    records = [r for r in session.audit.list(None) if wid in r.target]
    assert [r.action for r in records] == ["terminate"]
    assert records[0].parameters["policy"]["approval"] == request
    assert terminates(str(records[0].request_id))


async def test_an_approved_plan_whose_world_moved_is_refused_in_the_tui(
    config: Path, temporal_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await Client.connect(temporal_server.address, namespace="default")
    closed, still = await start(client), await start(client)
    request = file_request(config, closed, still)
    await client.get_workflow_handle(closed).terminate(reason="closed by someone else")
    monkeypatch.setenv("OPSDECK_IDENTITY", "bob")
    session = open_session("prod", config_path=config)
    app = OpsdeckApp(session, refresh_interval=0, engine_timeout=20)
    try:
        async with app.run_test(size=(150, 45)) as pilot:
            await settle(pilot)
            await approve_and_apply(pilot, app, request)
            await until(
                pilot,
                lambda: any("world changed" in n for n in notifications(app)),
                "refusal reported",
                2000,
            )
            text = next(n for n in notifications(app) if "world changed" in n)
            assert closed in text, text
            detail = app.screen
            assert isinstance(detail, ApprovalScreen)
            await until(
                pilot,
                lambda: "approved: A applies" in str(detail.query_one("#approval-detail").render()),
                "still approved, not applied",
                500,
            )
    finally:
        await session.close()
    await wait_status(client, still, WorkflowExecutionStatus.RUNNING)  # nothing applied
    store = ApprovalStore()
    try:
        assert store.get(request).applied_at is None  # not spent: a new plan needs a new request
    finally:
        store.close()
