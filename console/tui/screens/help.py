"""`?` help: the bindings active on the screen it was opened from, plus `:` commands.

Built from the live bindings, so a remapped key (keymap) or a binding hidden by
read-only mode shows exactly as it behaves.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.tui.format import COMMAND_HELP


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="opsdeck.help.close"),
    ]

    def __init__(self, keys: list[tuple[str, str, str]], *, read_only: bool) -> None:
        """``keys``: (key display, description, binding id) per binding."""
        super().__init__()
        self.keys = keys
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static("Keys", classes="section")
            keys: DataTable[Text] = DataTable(id="help-keys", cursor_type="none")
            yield keys
            yield Static("Commands (type : then the command)", classes="section")
            commands: DataTable[Text] = DataTable(id="help-commands", cursor_type="none")
            yield commands
            note = "Read-only: change actions are hidden." if self.read_only else ""
            note += (" " if note else "") + "Keys can be remapped by binding id (docs/tui.md)."
            yield Static(note, id="help-note")

    def on_mount(self) -> None:
        keys = self.query_one("#help-keys", DataTable)
        keys.add_columns("KEY", "ACTION", "BINDING ID")
        for key, description, binding_id in self.keys:
            keys.add_row(Text(key), Text(description), Text(binding_id))
        commands = self.query_one("#help-commands", DataTable)
        commands.add_columns("COMMAND", "WHAT IT DOES")
        for command, what in COMMAND_HELP.items():
            commands.add_row(Text(f":{command}"), Text(what))

    def action_close(self) -> None:
        self.dismiss(None)
