"""Footer, `?` help and command palette list the view's own keys in opsdeck's words,
never Textual's internals (tab focus, ctrl+c copy), with opsdeck's actions first."""

from __future__ import annotations

from typing import Any

from textual.command import CommandList, CommandPalette
from textual.widgets._footer import FooterKey

from console.tui.screens.execution import ExecutionScreen
from console.tui.screens.help import HelpScreen
from tests.tui.conftest import SIZE, make_app, settle, until

TEXTUAL_INTERNALS = {"tab", "shift+tab", "^c", "super+c"}


def footer_keys(screen: Any) -> dict[str, str]:
    return {k.key_display: k.description for k in screen.query(FooterKey)}


async def help_keys(pilot: Any) -> dict[str, tuple[str, str]]:
    """Open `?` on the current screen, read it, close it: binding id -> (key, what)."""
    app = pilot.app
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
    keys = {binding_id or what: (key, what) for key, what, binding_id in app.screen.keys}
    assert not TEXTUAL_INTERNALS & {key for key, _ in keys.values()}
    await pilot.press("escape")
    await pilot.pause()
    return keys


async def test_executions_view_shows_enter_open() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.focused is not None  # the table: it binds enter itself
        assert footer_keys(app.screen)["⏎"] == "Open"
        keys = await help_keys(pilot)
        assert keys["opsdeck.open"] == ("⏎", "Open")
        assert keys["Command palette"] == ("^p", "Command palette")  # not "palette"


async def test_execution_view_lists_every_key() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionScreen)
        footer = footer_keys(app.screen)
        for key, what in {
            "c": "Correlate",
            "a": "Retry activity",
            "b": "Roll back",
            "^r": "Reload",
            "f": "Failed only",
        }.items():
            assert footer[key] == what
        keys = await help_keys(pilot)
        assert keys["opsdeck.detail-correlate"] == ("c", "Correlate")
        assert keys["opsdeck.retry-activity"] == ("a", "Retry activity")
        # v2 is current, so there is nothing to roll back to yet: listed, marked as such.
        assert keys["opsdeck.rollback"] == ("b", "Roll back (not available here)")


async def test_palette_lists_opsdeck_actions_before_system_commands() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "palette")
        palette = app.screen
        await until(pilot, lambda: palette.has_class("-ready"), "commands gathered")
        options = palette.query_one(CommandList)
        names = [
            str(options.get_option_at_index(i).prompt).split("\n")[0]
            for i in range(options.option_count)
        ]
        system = min(names.index(n) for n in ("Theme", "Screenshot"))
        assert names[0] == "Open" and system > names.index("Help: keys and commands")
        assert system > max(names.index(n) for n in ("Retry", "Terminate", "Runbooks"))
        assert "Keys" not in names and names.count("Quit") == 1
        assert "Focus Next" not in names and "Copy selected text" not in names
        await pilot.press("escape")
