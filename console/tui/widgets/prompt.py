"""The k9s-style prompt line: `/` filter and `:` command share one input."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, TextArea

PromptMode = Literal["filter", "command"]
Completer = Callable[[str], list[str]]


def typing_into(widget: Widget | None) -> bool:
    """True when keys go to a text field, where `:` and `/` are plain characters."""
    return isinstance(widget, Input | TextArea)


class _FirstCompletion(Suggester):
    """Shows what Tab would complete to as dim text after the cursor (`right` takes it)."""

    def __init__(self, prompt: Prompt) -> None:
        super().__init__(use_cache=False, case_sensitive=True)  # context names change
        self.prompt = prompt

    async def get_suggestion(self, value: str) -> str | None:
        candidates = self.prompt.candidates(value)
        return next((c for c in candidates if c.startswith(value) and c != value), None)


class Prompt(Input):
    """Hidden until `/` or `:`; filter text applies live, commands on enter.

    In command mode Tab cycles through the completions of the line (vim's wildmenu),
    shift+tab goes back; the screen supplies them through ``completer``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Cancel", show=False, id="opsdeck.prompt.cancel"),
        Binding("up", "history(-1)", "Previous", show=False, id="opsdeck.prompt.previous"),
        Binding("down", "history(1)", "Next", show=False, id="opsdeck.prompt.next"),
        Binding("tab", "complete(1)", "Complete", show=False, id="opsdeck.prompt.complete"),
        Binding(
            "shift+tab", "complete(-1)", "Complete (back)", show=False, id="opsdeck.prompt.back"
        ),
    ]

    class Applied(Message):
        def __init__(self, mode: PromptMode, value: str) -> None:
            super().__init__()
            self.mode = mode
            self.value = value

    class Edited(Message):
        def __init__(self, mode: PromptMode, value: str) -> None:
            super().__init__()
            self.mode = mode
            self.value = value

    class Dismissed(Message):
        def __init__(self, mode: PromptMode) -> None:
            super().__init__()
            self.mode = mode

    def __init__(self, completer: Completer | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.suggester = _FirstCompletion(self)
        self.mode: PromptMode = "filter"
        self.completer = completer
        self._history: list[str] = []
        self._history_pos = 0
        self._cycle: list[str] = []  # the completions Tab is going through
        self._cycle_pos = 0

    def candidates(self, value: str) -> list[str]:
        if self.mode != "command" or self.completer is None:
            return []
        return self.completer(value)

    def open(self, mode: PromptMode, value: str = "") -> None:
        self.mode = mode
        self.placeholder = (
            "filter: regex or text on any column, !text inverts"
            if mode == "filter"
            else "command (tab completes): stuck, all, ctx NAME, runbooks, dlq, corr ID, "
            "refresh [N|off], help, q"
        )
        self.set_class(True, "-open")
        self.set_class(mode == "command", "-command")
        self.value = value
        self.cursor_position = len(value)
        self._history_pos = len(self._history)
        self._cycle = []
        # Focus now, not on the next idle (Widget.focus defers): keys typed right after
        # `:` or `/` must land in the prompt, never on the table's action keys.
        self.screen.set_focus(self)

    def close(self) -> None:
        self.set_class(False, "-open")

    def action_dismiss(self) -> None:
        if self.mode == "command":
            self.value = ""  # an abandoned command is gone (the filter stays, k9s)
        self.close()
        self.post_message(self.Dismissed(self.mode))

    def action_complete(self, step: int) -> None:
        if self.mode != "command":
            return
        cycling = len(self._cycle) > 1 and self.value == self._cycle[self._cycle_pos]
        if cycling:
            self._cycle_pos = (self._cycle_pos + step) % len(self._cycle)
        else:
            self._cycle = self.candidates(self.value)
            if not self._cycle:
                self.app.bell()
                return
            self._cycle_pos = 0 if step > 0 else len(self._cycle) - 1
        self.value = self._cycle[self._cycle_pos]
        self.cursor_position = len(self.value)

    def action_history(self, step: int) -> None:
        if self.mode != "command" or not self._history:
            return
        self._history_pos = max(0, min(len(self._history), self._history_pos + step))
        self.value = (
            self._history[self._history_pos] if self._history_pos < len(self._history) else ""
        )
        self.cursor_position = len(self.value)

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        if event.input is self:
            event.stop()
            if self.mode == "filter":
                self.post_message(self.Edited(self.mode, event.value))

    @on(Input.Submitted)
    def _applied(self, event: Input.Submitted) -> None:
        if event.input is not self:
            return
        event.stop()
        value = event.value.strip()
        if self.mode == "command" and value and (not self._history or self._history[-1] != value):
            self._history.append(value)
        self.close()
        self.post_message(self.Applied(self.mode, value))
