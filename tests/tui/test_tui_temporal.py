"""End to end on the real dev server: list -> detail -> retry with confirmation -> audit.

Uses a real Session (config file, TemporalEngine, ActionRunner, AuditJournal); the
workflow is our own DemoStuckActivity run, so the shared demo workflows stay as seeded.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from console.sandbox import workflows as wf
from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.execution import ExecutionScreen
from tests.conftest import Demo
from tests.tui.conftest import executions, ids, notifications, settle, until

pytestmark = pytest.mark.integration


def write_config(demo: Demo) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "opsdeck" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "current-context: e2e\n"
        "contexts:\n"
        "  e2e:\n"
        "    engines:\n"
        "      - kind: temporal\n"
        f"        address: {demo.address}\n"
        f"        http-address: {demo.http_address}\n"
        f"        namespace: {demo.namespace}\n"
    )
    return path


async def test_list_detail_retry_confirm_audit(demo: Demo) -> None:
    from temporalio.client import Client

    client = await Client.connect(demo.address, namespace=demo.namespace)
    workflow_id = f"tui-e2e-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        "DemoStuckActivity", workflow_id, id=workflow_id, task_queue=wf.TASK_QUEUE
    )
    first_run = handle.result_run_id

    write_config(demo)
    session = open_session("e2e")
    app = OpsdeckApp(session, refresh_interval=0, engine_timeout=20)
    try:
        async with app.run_test(size=(150, 45)) as pilot:
            await settle(pilot)
            await pilot.press("slash", *workflow_id, "enter")
            deadline = time.monotonic() + 30
            while ids(app) != [workflow_id]:  # visibility is eventually consistent
                assert time.monotonic() < deadline, f"{workflow_id} never listed: {ids(app)}"
                await pilot.pause(0.3)
                executions(app).action_reload()
                await settle(pilot)
            assert "temporal: " in str(executions(app).query_one("#status").render())

            await pilot.press("enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ExecutionScreen)
            summary = str(screen.query_one("#summary", Static).render())
            assert "DemoStuckActivity" in summary and "running" in summary
            assert screen.query_one("#history", DataTable).row_count >= 3

            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation", 500)
            plan = str(app.screen.query_one("#confirm-plan", Static).render())
            assert workflow_id in plan
            await pilot.press("enter")
            await until(
                pilot,
                lambda: any(n.startswith("retry on temporal") for n in notifications(app)),
                "apply reported",
                2000,
            )
            await settle(pilot)
            assert any("1 ok" in n for n in notifications(app)), notifications(app)

        records: list[Any] = session.audit.list(limit=10)
        mine = [r for r in records if workflow_id in r.target]
        assert [(r.action, r.outcome, r.context) for r in mine] == [("retry", "ok", "e2e")]
        assert "via opsdeck TUI" in mine[0].reason

        # The server really reset it: the newest run is a new one.
        deadline = time.monotonic() + 20
        while (await client.get_workflow_handle(workflow_id).describe()).run_id == first_run:
            assert time.monotonic() < deadline, "reset not observed on the server"
            await asyncio.sleep(0.2)
    finally:
        await client.get_workflow_handle(workflow_id).terminate("tui e2e test done")
        await session.close()


async def test_stuck_view_and_versions_on_the_demo(demo: Demo) -> None:
    write_config(demo)
    session = open_session("e2e", read_only=True)
    app = OpsdeckApp(session, refresh_interval=0, engine_timeout=30)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            assert "read-only" in str(executions(app).query_one("#status").render())
            await pilot.press("s")
            await settle(pilot)
            screen = executions(app)
            deadline = time.monotonic() + 60
            wanted = {demo.ids.stuck_activity, demo.ids.wft_failing, demo.ids.no_worker}
            # Attempts grow with time: poll the server until every stuck kind shows.
            while not wanted <= set(ids(app)):
                assert time.monotonic() < deadline, f"stuck rows: {ids(app)}"
                await pilot.pause(0.5)
                screen.action_reload()
                await settle(pilot)
            rules = {row.execution.ref.workflow_id: row.hits for row in screen.shown_rows}
            assert any(h.rule.value == "activity_retrying" for h in rules[demo.ids.stuck_activity])
            assert any(h.rule.value == "no_pollers" for h in rules[demo.ids.no_worker])
            assert all(h.evidence for hits in rules.values() for h in hits)

            await pilot.press("s")
            await settle(pilot)
            # A server-side query: after the whole suite the namespace holds more runs
            # than the first page, and `/` text alone filters only the loaded rows.
            await pilot.press("slash", *f"WorkflowId = '{demo.ids.orders}'", "enter")
            await until(pilot, lambda: ids(app)[:1] == [demo.ids.orders], "queried", 2000)
            await pilot.press("enter")
            await settle(pilot)
            detail = app.screen
            assert isinstance(detail, ExecutionScreen)
            versions = detail.query_one("#versions", DataTable)
            await until(pilot, lambda: versions.row_count >= 2, "versions listed", 500)
            cells = [[str(c) for c in versions.get_row_at(i)] for i in range(versions.row_count)]
            assert [demo.ids.current_build, "current"] in [row[:2] for row in cells], cells
            # Read-only: no change key on this screen either.
            assert not {"r", "x", "ctrl+d", "S", "a"} & set(detail.active_bindings)
    finally:
        await session.close()
