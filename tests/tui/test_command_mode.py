"""`:` command mode: Tab completion, escape, the `:ctx` picker; a context switch starts
clean (no filter, no marks from the old context)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.widgets import OptionList

from console.tui.app import OpsdeckApp
from console.tui.completion import command_names, completions
from console.tui.screens.context_picker import ContextPicker
from console.tui.widgets.prompt import Prompt
from tests.tui.conftest import (
    SIZE,
    crumbs_text,
    executions,
    ids,
    make_app,
    settle,
    status_text,
    until,
)
from tests.tui.fakes import FakeEngine, StubContext, demo_executions, stub_session

CONTEXTS = ("prod", "sandbox", "staging")


def contexts_app() -> OpsdeckApp:
    """The sandbox context of a config with three; another one lists two executions."""
    config = SimpleNamespace(contexts=dict.fromkeys(CONTEXTS), identity=None)

    def open_context(name: str) -> object:
        session = stub_session(FakeEngine(name=name, executions=demo_executions(name)[:2]))
        session.context = StubContext(name=name)
        session.config = config  # type: ignore[attr-defined]
        return session

    first = stub_session()
    first.config = config  # type: ignore[attr-defined]
    return make_app(first, session_factory=open_context)


def prompt(app: OpsdeckApp) -> Prompt:
    return executions(app).query_one(Prompt)


def test_completions_of_names_and_arguments() -> None:
    def values(command: str) -> list[str]:
        return list(CONTEXTS) if command == "ctx" else []

    assert command_names("co") == ["context", "corr"]  # not also correlate
    assert completions("ct", values) == ["ctx "]
    assert completions("st", values) == ["stuck"]  # takes no argument: no space
    assert completions("ctx s", values) == ["ctx sandbox", "ctx staging"]
    assert completions("context P", values) == ["context prod"]
    assert completions("nonsense x", values) == []


async def test_tab_completes_commands_then_context_names() -> None:
    app = contexts_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", "c")
        await pilot.press("tab")
        assert prompt(app).value == "chaos "
        await pilot.press("tab")  # several matches: Tab cycles through them
        assert prompt(app).value == "corr "
        await pilot.press("tab")
        assert prompt(app).value == "ctx "
        await pilot.press("tab")
        assert prompt(app).value == "chaos "
        await pilot.press("shift+tab")
        assert prompt(app).value == "ctx "
        await pilot.press("s", "tab")
        assert prompt(app).value == "ctx sandbox"
        await pilot.press("tab")
        assert prompt(app).value == "ctx staging"
        assert app.focused is prompt(app)  # Tab never leaves the prompt
        await pilot.press("enter")
        await settle(pilot)
        assert app.context_name == "staging"


async def test_tab_completes_runbook_names_and_listed_workflow_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "payment-stuck.yaml").write_text("name: x\n")
    monkeypatch.setenv("OPSDECK_RUNBOOKS", str(tmp_path))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"rb pay", "tab")
        assert prompt(app).value == "rb payment-stuck"
        await pilot.press("ctrl+a", "ctrl+k", *"corr pay", "tab")
        assert prompt(app).value == "corr payment-7"


async def test_the_first_completion_shows_and_right_takes_it() -> None:
    app = contexts_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"ctx pr")
        await until(pilot, lambda: prompt(app)._suggestion == "ctx prod", "suggestion shown")
        await pilot.press("right")
        assert prompt(app).value == "ctx prod"


async def test_escape_closes_and_clears_the_command() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"stu", "tab")
        assert prompt(app).value == "stuck"
        await pilot.press("escape")
        assert not prompt(app).has_class("-open")
        assert prompt(app).value == ""
        assert app.focused is executions(app).table
        assert not executions(app).stuck_only
        await pilot.press("colon")
        assert prompt(app).value == ""


async def test_tab_in_filter_mode_keeps_the_prompt() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"ord", "tab")
        assert app.focused is prompt(app) and prompt(app).value == "ord"


async def test_ctx_without_a_name_opens_a_picker() -> None:
    app = contexts_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"ctx", "enter")
        await until(pilot, lambda: isinstance(app.screen, ContextPicker), "picker")
        options = app.screen.query_one(OptionList)
        names = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert names == list(CONTEXTS)
        assert options.highlighted == 1  # the current context
        await pilot.press("escape")  # nothing changes
        await settle(pilot)
        assert app.context_name == "sandbox" and len(ids(app)) == 6

        await pilot.press("colon", *"ctx", "enter")
        await until(pilot, lambda: isinstance(app.screen, ContextPicker), "picker")
        await pilot.press("up", "enter")
        await settle(pilot)
        assert app.context_name == "prod"
        assert ids(app) == ["order-1", "order-2"]
        assert "ctx prod" in status_text(app)


async def test_context_switch_clears_filter_and_marks() -> None:
    app = contexts_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"refund", "enter", "space")
        screen = executions(app)
        assert ids(app) == ["refund-3"] and len(screen.marked) == 1
        await pilot.press("colon", *"ctx prod", "enter")
        await settle(pilot)
        assert not screen.row_filter.active and "/refund" not in crumbs_text(app)
        assert screen.marked == set() and "marked" not in status_text(app)
        assert ids(app) == ["order-1", "order-2"]
