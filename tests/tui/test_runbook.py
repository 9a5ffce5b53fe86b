"""Guided runbook runs in the TUI, over a real Session on the stub engine (and a snapshot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Markdown, OptionList, Static

from console.audit import AuditJournal
from console.config import Config, Context
from console.runbook.journal import RunJournal
from console.session import Session
from console.tui.app import OpsdeckApp
from console.tui.screens.runbook import ParamsScreen, RunbookRunScreen, RunbooksScreen
from tests.tui.conftest import settle, until
from tests.tui.fakes import NOW
from tests.unit.stub_engine import StubEngine

BOOK = """\
name: guided
title: Guided demo
description: A **demo** runbook.
engines: [stub]
parameters:
  attempts: {type: int, default: 5, help: activity attempts}
steps:
  - id: find
    kind: check
    title: Find stuck executions
    text: |
      Scans with attempts >= **{{ params.attempts }}**.
    query: find_stuck
    args: {activity_attempts: "{{ params.attempts }}"}
  - id: decide
    kind: decision
    title: Retry?
    text: Retry what was found?
    question: Retry them?
    choices: {retry: retry, stop: end}
  - id: retry
    kind: action
    title: Retry them
    text: Resets each one.
    action: retry
    targets: "{{ steps.find.refs }}"
  - id: after
    kind: manual
    title: Tell the team
    text: Post in the incident channel.
"""


@pytest.fixture
def books(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "guided.yaml").write_text(BOOK)
    monkeypatch.setenv("OPSDECK_RUNBOOKS", str(folder))
    monkeypatch.delenv("OPSDECK_IDENTITY", raising=False)
    monkeypatch.setattr(RunJournal, "new_id", staticmethod(lambda: "rb-000000000001"))
    return folder


def make(tmp_path: Path) -> tuple[OpsdeckApp, StubEngine, Session]:
    engine = StubEngine()
    config = Config(path=tmp_path / "c.yaml", contexts={}, identity="alice")
    session = Session(
        config, Context(name="dev", engines=()), {"stub": engine}, audit=AuditJournal()
    )
    app = OpsdeckApp(session, refresh_interval=0, clock=lambda: NOW)
    return app, engine, session


async def until_idle(pilot: Pilot[Any], check: Any, what: str) -> None:
    await until(pilot, lambda: check() and not _busy(pilot), what, rounds=500)


def _busy(pilot: Pilot[Any]) -> bool:
    return any(w.group == "runbook" and not w.is_finished for w in pilot.app.workers)


def run_screen(app: OpsdeckApp) -> RunbookRunScreen:
    assert isinstance(app.screen, RunbookRunScreen), app.screen
    return app.screen


async def to_plan(pilot: Pilot[Any], app: OpsdeckApp) -> RunbookRunScreen:
    await settle(pilot)
    await pilot.press("colon", *"runbooks", "enter")
    await until(pilot, lambda: isinstance(app.screen, RunbooksScreen), "runbooks view")
    table = app.screen.query_one("#runbooks", DataTable)
    assert table.row_count >= 5  # ours + the shipped ones
    names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
    table.move_cursor(row=names.index("guided"))
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ParamsScreen), "parameters")
    app.screen.query_one("#param-attempts", Input).value = "3"
    await pilot.click("#params-start")
    await until_idle(pilot, lambda: isinstance(app.screen, RunbookRunScreen), "guided run")
    screen = run_screen(app)
    await until_idle(pilot, lambda: screen.progress is not None, "run opened")
    text = screen.query_one("#runbook-text", Markdown).source
    assert "Find stuck executions" in text and "attempts >= **3**" in text
    assert "# Guided demo" in text and "A **demo** runbook." in text  # the description

    await pilot.press("enter")  # run the check
    await until_idle(pilot, lambda: "find" in screen.progress.steps, "check ran")  # type: ignore[union-attr]
    result = str(screen.query_one("#runbook-result", Static).render())
    assert "done: 1 found" in result and "attempt 7 >= 3" in result
    await pilot.press("enter")  # show the decision step
    assert "Retry what was found?" in screen.query_one("#runbook-text", Markdown).source
    await pilot.press("enter")  # run it: waits for a choice
    await until_idle(pilot, lambda: screen.progress.waiting is not None, "decision")  # type: ignore[union-attr]
    choices = screen.query_one("#runbook-choices", OptionList)
    assert [choices.get_option_at_index(i).id for i in range(choices.option_count)] == [
        "retry",
        "stop",
    ]
    await pilot.press("enter")  # "retry" is highlighted
    await until_idle(
        pilot,
        lambda: screen.progress.run.cursor == "retry",  # type: ignore[union-attr]
        "decision recorded",
    )
    await pilot.press("enter", "enter")  # show the action, then plan it (no change yet)
    await until_idle(
        pilot,
        lambda: screen.progress.waiting is not None and screen.progress.waiting.kind == "confirm",  # type: ignore[union-attr]
        "plan shown",
    )
    return screen


async def test_guided_run_end_to_end_on_the_stub(tmp_path: Path, books: Path) -> None:
    app, engine, session = make(tmp_path)
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await to_plan(pilot, app)
        result = str(screen.query_one("#runbook-result", Static).render())
        assert "Plan: retry 1 target(s)" in result and "stub:default/wf-0/run-0" in result
        assert engine.applied == []
        await pilot.press("enter")  # "apply"
        await until_idle(
            pilot,
            lambda: screen.progress.run.cursor == "after",  # type: ignore[union-attr]
            "applied",
        )
        result = str(screen.query_one("#runbook-result", Static).render())
        assert "done: 1 done, 0 failed" in result and "OK  stub:default/wf-0/run-0" in result
        assert len(engine.applied) == 1
        # leave and resume later from the runs list
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunbooksScreen), "back to list")
        app.screen.action_reload()
        runs = app.screen.query_one("#runbook-runs", DataTable)
        assert str(runs.get_row_at(0)[0]) == "rb-000000000001"
        runs.focus()
        await pilot.press("enter")
        await until_idle(pilot, lambda: isinstance(app.screen, RunbookRunScreen), "resumed")
        screen = run_screen(app)
        await until_idle(pilot, lambda: screen.progress is not None, "resumed run")
        await pilot.press("a")  # run to the next stop: the manual step
        await until_idle(pilot, lambda: screen.progress.waiting is not None, "manual")  # type: ignore[union-attr]
        await pilot.press("enter")  # "done"
        await until_idle(pilot, lambda: screen.progress.status == "done", "finished")  # type: ignore[union-attr]
        transcript = "\n".join(
            str(line.text) for line in screen.query_one("#runbook-transcript").lines
        )
        assert "after: done - confirmed done" in transcript
    records = session.audit.list(run_id="rb-000000000001")
    assert [r.target for r in records] == ["stub:default/wf-0/run-0"]
    assert len(engine.applied) == 1


def test_guided_run_plan_snapshot(snap_compare: Any, tmp_path: Path, books: Path) -> None:
    app, _, _ = make(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await to_plan(pilot, app)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(130, 36), run_before=run_before)
