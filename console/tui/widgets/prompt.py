"""The k9s-style prompt line: `/` filter and `:` command share one input."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, TextArea

PromptMode = Literal["filter", "command"]


def typing_into(widget: Widget | None) -> bool:
    """True when keys go to a text field, where `:` and `/` are plain characters."""
    return isinstance(widget, Input | TextArea)


class Prompt(Input):
    """Hidden until `/` or `:`; filter text applies live, commands on enter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Cancel", show=False, id="opsdeck.prompt.cancel"),
        Binding("up", "history(-1)", "Previous", show=False, id="opsdeck.prompt.previous"),
        Binding("down", "history(1)", "Next", show=False, id="opsdeck.prompt.next"),
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

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.mode: PromptMode = "filter"
        self._history: list[str] = []
        self._history_pos = 0

    def open(self, mode: PromptMode, value: str = "") -> None:
        self.mode = mode
        self.placeholder = (
            "filter: regex or text on id/type/status, !text inverts"
            if mode == "filter"
            else "command: stuck, all, ctx NAME, runbooks, dlq, corr ID, refresh [N|off], help, q"
        )
        self.set_class(True, "-open")
        self.set_class(mode == "command", "-command")
        self.value = value
        self.cursor_position = len(value)
        self._history_pos = len(self._history)
        # Focus now, not on the next idle (Widget.focus defers): keys typed right after
        # `:` or `/` must land in the prompt, never on the table's action keys.
        self.screen.set_focus(self)

    def close(self) -> None:
        self.set_class(False, "-open")

    def action_dismiss(self) -> None:
        self.close()
        self.post_message(self.Dismissed(self.mode))

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
