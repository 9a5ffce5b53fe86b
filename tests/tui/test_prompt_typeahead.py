"""Keys typed right after `:` or `/` (fast typists, paste, tmux send-keys) belong to the
prompt. Before the fix they raced to the table, where `r` opened a retry and `q` quit."""

from __future__ import annotations

import pytest
from textual import events

from console.tui.widgets.prompt import Prompt
from tests.tui.conftest import make_app, settle

KEY_NAMES = {":": "colon", "/": "slash", " ": "space"}


@pytest.mark.parametrize(("opener", "typed"), [(":", "runbooks"), ("/", "qrx demo")])
async def test_burst_after_opener_lands_in_prompt(opener: str, typed: str) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        # Queue the whole burst before the app handles any of it, as a terminal delivers it.
        for ch in opener + typed:
            app.post_message(events.Key(KEY_NAMES.get(ch, ch), ch))
        await settle(pilot)
        prompt = app.screen.query_one(Prompt)
        assert app.is_running
        assert app.focused is prompt
        assert prompt.value == typed
        assert len(app.screen_stack) == 1  # no retry/cancel dialog opened behind the prompt


async def test_colon_is_a_character_inside_a_text_field() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"ctx", "space", "a", "colon", "b")
        prompt = app.screen.query_one(Prompt)
        assert prompt.value == "ctx a:b"
