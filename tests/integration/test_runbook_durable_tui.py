"""A durable run in the TUI on the real dev server and a real `opsdeck worker`: the runs
list says where it runs and what it waits on; its screen answers the decision and then
confirms the action's plan (queried from the workflow) as signals; the worker applies."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from textual.widgets import DataTable, OptionList, Static

from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.screens.runbook import RunbooksScreen
from console.tui.screens.runbook_durable import DurableRunScreen
from tests.conftest import Demo
from tests.tui.conftest import settle, until

from .runbook_helpers import audit_records, status_of
from .test_runbook_durable import (
    DECIDE_BOOK,
    Workers,
    config,
    run_json,
    running,
    wait_for_status,
    workers,
)

pytestmark = pytest.mark.integration
__all__ = ["config", "workers"]  # fixtures this module's tests use


async def waits_on(pilot: Any, screen: DurableRunScreen, kind: str, timeout: float = 60) -> None:
    """Reload (the worker moves the run) until it waits on ``kind``."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = screen.snapshot.waiting if screen.snapshot else None
        if waiting is not None and waiting["kind"] == kind:
            return
        notes = [n.message for n in screen.app._notifications]
        assert time.monotonic() < deadline, f"not waiting on {kind}: {waiting} {notes}"
        before = screen.loaded
        await pilot.pause(0.3)
        screen.reload()
        await until(pilot, lambda b=before: screen.loaded > b, "reloaded", 2000)


async def test_a_durable_run_is_answered_and_confirmed_from_the_tui(
    tmp_path: Path, config: Path, demo: Demo, workers: Workers
) -> None:
    client = await Client.connect(demo.address, namespace="default")
    (target,) = await running(client, "tui")
    book = tmp_path / "decide.yaml"
    book.write_text(DECIDE_BOOK)
    workers.start()
    code, data = run_json(
        "run", str(book), "--param", f"target={target}", "--durable", "--detach", config=config
    )
    assert code == 0, data
    run_id = data["id"]
    wait_for_status(run_id, config, "waiting")

    session = open_session("local", config_path=config)
    app = OpsdeckApp(session, refresh_interval=0, engine_timeout=20)
    try:
        async with app.run_test(size=(170, 45)) as pilot:
            await settle(pilot)
            await pilot.press("colon", *"runbooks", "enter")
            await until(pilot, lambda: isinstance(app.screen, RunbooksScreen), "runbooks", 500)
            listed = app.screen
            assert isinstance(listed, RunbooksScreen)
            await until(pilot, lambda: listed.loaded > 0, "runs listed", 500)
            runs = listed.query_one("#runbook-runs", DataTable)
            row = next(
                [str(c) for c in runs.get_row_at(i)]
                for i in range(runs.row_count)
                if str(runs.get_row_at(i)[0]) == run_id
            )
            assert row[6].startswith("temporal:rb-durable-") and row[7] == "decision decide"
            runs.focus()
            runs.move_cursor(
                row=[str(runs.get_row_at(i)[0]) for i in range(runs.row_count)].index(run_id)
            )
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DurableRunScreen), "durable run", 500)
            screen = app.screen
            assert isinstance(screen, DurableRunScreen)
            await waits_on(pilot, screen, "decision")
            summary = str(screen.query_one("#durable-summary", Static).render())
            assert (
                f"opsdeck-runbook-{run_id}" in summary and "started by alice@example.com" in summary
            )
            choices = screen.query_one("#durable-choices", OptionList)
            assert [
                str(choices.get_option_at_index(i).id) for i in range(choices.option_count)
            ] == [
                "stop",
                "leave",
            ]
            choices.focus()
            await pilot.press("enter")  # the first choice: stop
            await until(
                pilot,
                lambda: any("answered 'stop'" in n.message for n in app._notifications),
                "decision sent",
                2000,
            )

            # No --yes: the action waits for its plan to be confirmed; the plan comes from
            # the workflow's query, and yes is offered only with the plan shown.
            await waits_on(pilot, screen, "confirm")
            await until(pilot, lambda: screen.plan is not None, "plan queried", 3000)
            waiting = str(screen.query_one("#durable-waiting", Static).render())
            assert target in waiting and "TerminateWorkflowExecution" in waiting
            assert await status_of(client, target) == "RUNNING"  # nothing applied yet
            offered = [str(choices.get_option_at_index(i).id) for i in range(choices.option_count)]
            assert offered == ["yes", "no"]
            choices.focus()
            await pilot.press("enter")  # yes
            await until(
                pilot, lambda: any("answered 'yes'" in n.message for n in app._notifications),
                "sent", 500,
            )  # fmt: skip
    finally:
        await session.close()
    data = wait_for_status(run_id, config, "done")
    assert await status_of(client, target) == "TERMINATED"
    assert [r.target.split("/")[1] for r in audit_records(run_id)] == [target]
    assert [s["state"] for s in data["steps"]] == ["done", "done", "done"]
