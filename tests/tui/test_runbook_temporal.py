"""A guided run of `stuck-workflows` in the TUI, end to end on the real dev server.

The stuck executions are our own (tagged with a CustomerId), so the shared demo stays
as seeded; the retry goes plan -> confirm in the guided run -> ActionRunner -> audit.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from textual.widgets import DataTable, Input, Static

from console.model import ListQuery, StuckRule, StuckRules
from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.screens.runbook import ParamsScreen, RunbookRunScreen, RunbooksScreen
from tests.conftest import Demo, eventually, make_temporal_engine
from tests.tui.conftest import settle, until
from tests.tui.test_runbook import until_idle
from tests.tui.test_tui_temporal import write_config

pytestmark = pytest.mark.integration


async def test_guided_stuck_workflows_run_on_the_sandbox(demo: Demo, temporal_server: Any) -> None:
    client = await Client.connect(demo.address, namespace=demo.namespace)
    tag = f"tui-rb-{uuid.uuid4().hex[:8]}"
    attrs = TypedSearchAttributes(
        [SearchAttributePair(SearchAttributeKey.for_keyword("CustomerId"), tag)]
    )
    handle = await client.start_workflow(
        "DemoStuckActivity", tag, id=tag, task_queue="demo", search_attributes=attrs
    )
    first_run = handle.result_run_id
    query = f"CustomerId = '{tag}'"
    engine = make_temporal_engine(temporal_server)
    rules = StuckRules(activity_attempts=2, enabled=frozenset({StuckRule.ACTIVITY_RETRYING}))

    async def stuck() -> bool:
        return bool([h async for h in engine.find_stuck(rules, ListQuery(raw=query))])

    await eventually(stuck, timeout=45, what="our run stuck")

    write_config(demo)
    session = open_session("e2e")
    app = OpsdeckApp(session, refresh_interval=0, engine_timeout=20)
    try:
        async with app.run_test(size=(150, 45)) as pilot:
            await settle(pilot)
            await pilot.press("colon", *"runbooks stuck-workflows", "enter")
            await until(pilot, lambda: isinstance(app.screen, ParamsScreen), "parameters", 500)
            app.screen.query_one("#param-query", Input).value = query
            app.screen.query_one("#param-activity_attempts", Input).value = "2"
            await pilot.click("#params-start")
            await until_idle(pilot, lambda: isinstance(app.screen, RunbookRunScreen), "run")
            screen = app.screen
            assert isinstance(screen, RunbookRunScreen)
            await until_idle(pilot, lambda: screen.progress is not None, "run opened")

            await pilot.press("a")  # run on its own until the plan needs a confirmation
            await until_idle(
                pilot,
                lambda: screen.progress is not None and screen.progress.waiting is not None,
                "plan",
            )
            waiting = screen.progress.waiting  # type: ignore[union-attr]
            assert waiting is not None and waiting.kind == "confirm"
            assert waiting.plan is not None
            assert waiting.plan["targets"] == [f"temporal:default/{tag}/{first_run}"]
            steps = screen.progress.steps  # type: ignore[union-attr]
            assert steps["find"].result["count"] == 1
            assert steps["nothing-stuck"].state == "skipped"
            assert steps["pollers"].state == "done"
            result = str(screen.query_one("#runbook-result", Static).render())
            assert "Plan: retry 1 target(s)" in result

            await pilot.press("enter")  # apply
            await until_idle(
                pilot,
                lambda: screen.progress is not None and screen.progress.status == "done",
                "run finished",
            )
            steps = screen.progress.steps  # type: ignore[union-attr]
            assert steps["retry"].result["done"] == 1
            table = screen.query_one("#runbook-steps", DataTable)
            assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == [
                "✔", "-", "✔", "✔", "✔", "✔",
            ]  # fmt: skip
            run_id = screen.progress.run.id  # type: ignore[union-attr]
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, RunbooksScreen), "list")
        assert (await handle.describe()).run_id != first_run
        (record,) = session.audit.list(run_id=run_id)
        assert record.action == "retry" and record.outcome == "ok"
    finally:
        await session.close()
        await client.get_workflow_handle(tag).terminate("test cleanup")
