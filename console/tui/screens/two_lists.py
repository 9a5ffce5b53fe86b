"""A list of definitions above a list of their runs: the runbooks and chaos views.

Both show what can be run (top) and what ran in this context (bottom), reload when they
come back on top (a run just ended or began) and on the refresh interval, switch lists
with tab, open the focused row with enter, and keep each cursor where it was on reload.
Subclasses name the tables and columns, load in a thread worker and fill the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Label, Static

from console.tui.keys import KeysScreen

if TYPE_CHECKING:
    from console.tui.app import OpsdeckApp

Row = tuple[Sequence[Text], str]  # the cells and the row key


class TwoListsScreen(KeysScreen[None]):
    CRUMB: ClassVar[str]
    BODY_ID: ClassVar[str]
    TOP: ClassVar[tuple[str, str, tuple[str, ...]]]  # table id, section label, columns
    RUNS: ClassVar[tuple[str, str, tuple[str, ...]]]

    def __init__(self) -> None:
        super().__init__()
        self.loaded = 0  # lists shown so far (tests wait on it)

    @property
    def opsdeck(self) -> OpsdeckApp:
        return cast("OpsdeckApp", self.app)

    @property
    def top_table(self) -> DataTable[Text]:
        return self.query_one(f"#{self.TOP[0]}", DataTable)

    @property
    def runs_table(self) -> DataTable[Text]:
        return self.query_one(f"#{self.RUNS[0]}", DataTable)

    def compose(self) -> ComposeResult:
        yield Static(self.CRUMB, id="crumbs")
        with Vertical(id=self.BODY_ID):
            for table_id, label, _ in (self.TOP, self.RUNS):
                yield Label(label, classes="section")
                yield DataTable(id=table_id, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.top_table.add_columns(*self.TOP[2])
        self.runs_table.add_columns(*self.RUNS[2])
        self.top_table.focus()
        interval = self.opsdeck.refresh_interval
        if interval > 0:
            self.set_interval(interval, self._auto_reload)

    def on_screen_resume(self) -> None:
        """Shown first, or back from a run: that run may have ended or just begun."""
        self.action_reload()

    def _auto_reload(self) -> None:
        if self.is_active:
            self.action_reload()

    def action_reload(self) -> None:
        self._load(self.opsdeck.context_name)

    def _load(self, context: str) -> object:  # a thread @work in each subclass
        raise NotImplementedError

    def refill(self, top: Iterable[Row], runs: Iterable[Row]) -> None:
        """Replace both lists; a reload keeps the cursors where the operator left them."""
        for table, rows in ((self.top_table, top), (self.runs_table, runs)):
            cursor = table.cursor_row
            table.clear()
            for cells, key in rows:
                table.add_row(*cells, key=key)
            table.move_cursor(row=min(cursor, max(table.row_count - 1, 0)))
        self.loaded += 1

    def action_switch(self) -> None:
        top, runs = self.top_table, self.runs_table
        (runs if top.has_focus else top).focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected)
    def _selected(self, _: DataTable.RowSelected) -> None:
        self.action_open()  # the table consumes enter; selecting a row opens it

    def action_open(self) -> None:
        raise NotImplementedError
