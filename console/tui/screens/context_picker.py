"""`:ctx` with no name: pick one of the config file's contexts (k9s `:ctx`)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ContextPicker(ModalScreen[str | None]):
    """Dismisses with the chosen context name, or None on escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "cancel", "Cancel", id="opsdeck.ctx-picker.cancel"),
    ]

    def __init__(self, names: list[str], current: str) -> None:
        super().__init__()
        self.names = names
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="ctx-dialog"):
            yield Static("Switch context (enter)", id="ctx-title")
            options = [
                Option(Text(f"{name}  (current)" if name == self.current else name), id=name)
                for name in self.names
            ]
            yield OptionList(*options, id="ctx-options")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.names:
            options.highlighted = self.names.index(self.current)
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
