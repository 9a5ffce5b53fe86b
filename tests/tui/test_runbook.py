"""Guided runbook runs in the TUI, over a real Session on the stub engine (and a snapshot)."""

from __future__ import annotations

from datetime import timedelta
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
    await until(pilot, lambda: app.screen.loaded > 0, "runbooks listed")  # type: ignore[attr-defined]
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
        runs = app.screen.query_one("#runbook-runs", DataTable)
        await until(pilot, lambda: runs.row_count == 1, "the run listed, no key pressed")
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


def runs_rows(screen: Any) -> list[list[str]]:
    table = screen.query_one("#runbook-runs", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_list(pilot: Pilot[Any], app: OpsdeckApp) -> RunbooksScreen:
    await settle(pilot)
    await pilot.press("colon", *"runbooks", "enter")
    await until(pilot, lambda: isinstance(app.screen, RunbooksScreen), "runbooks view")
    screen = app.screen
    assert isinstance(screen, RunbooksScreen)
    await until(pilot, lambda: screen.loaded > 0, "runbooks listed")
    return screen


def pick(screen: RunbooksScreen, name: str) -> None:
    table = screen.query_one("#runbooks", DataTable)
    names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
    table.move_cursor(row=names.index(name))


async def test_runs_list_follows_runs_and_marks_dry_runs(
    tmp_path: Path, books: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = RunJournal()
    dry = journal.create(
        runbook="guided",
        path=str(books / "guided.yaml"),
        source=BOOK,
        context="dev",
        engine="stub",
        identity="bob",
        params={"attempts": 5},
        answers={},
        cursor="find",
        dry_run=True,
    )
    three_minutes_ago = (NOW - timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    journal._exec("UPDATE runs SET updated = ? WHERE id = ?", (three_minutes_ago, dry.id))
    journal.close()
    app, _, _ = make(tmp_path)
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await open_list(pilot, app)
        assert runs_rows(screen) == [
            ["rb-000000000001", "guided", "running (dry run)", "find", "bob", "3m ago", "local", ""]
        ]
        # A new run, left right away: the list shows it on return, without a key.
        monkeypatch.setattr(RunJournal, "new_id", staticmethod(lambda: "rb-000000000002"))
        pick(screen, "guided")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen), "parameters")
        await pilot.click("#params-start")
        await until_idle(pilot, lambda: isinstance(app.screen, RunbookRunScreen), "run")
        await until_idle(pilot, lambda: run_screen(app).progress is not None, "run opened")
        await pilot.press("escape")
        await until(pilot, lambda: len(runs_rows(screen)) == 2, "new run listed")
        assert runs_rows(screen)[0][:3] == ["rb-000000000002", "guided", "running"]


LOOK = """\
name: look
title: Look only
engines: [stub]
steps:
  - id: count
    kind: check
    title: Count executions
    text: How many?
    query: count
"""


async def test_read_only_refuses_a_runbook_with_action_steps(tmp_path: Path, books: Path) -> None:
    (books / "look.yaml").write_text(LOOK)
    app, _, session = make(tmp_path)
    session.read_only = True
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await open_list(pilot, app)
        pick(screen, "guided")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen  # not started: no parameters, no run
        messages = [n.message for n in app._notifications]
        assert any("read-only" in m and "retry (retry)" in m for m in messages), messages
        assert RunJournal().runs() == []
        pick(screen, "look")  # checks only: fine in read-only
        await pilot.press("enter")
        await until_idle(pilot, lambda: isinstance(app.screen, RunbookRunScreen), "run")
