"""DataTable with named styles for statuses, failures and marks.

Colours live in opsdeck.tcss as component classes, so themes and skins can change
them; cells are built as rich Text with those styles (DataTable has no per-cell CSS).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.widgets import DataTable

from console.model import ExecutionStatus

STATUS_CLASSES = {status: f"status--{status.value.replace('_', '-')}" for status in ExecutionStatus}


class StyledTable(DataTable[Text | str]):
    """A DataTable that knows opsdeck's semantic styles."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *DataTable.COMPONENT_CLASSES,
        *STATUS_CLASSES.values(),
        "row--failure",
        "row--marked",
        "cell--dim",
        "cell--warning",
    }

    def style_for(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def status_text(self, status: ExecutionStatus) -> Text:
        return Text(status.value, style=self.style_for(STATUS_CLASSES[status]))

    def text(self, value: object, style: str | None = None) -> Text:
        """Plain cell text (never parsed as markup) with an optional semantic style."""
        return Text(str(value), style=self.style_for(style) if style else "")


class ExecutionsTable(StyledTable, inherit_bindings=False):
    """The executions list: home/end are left to the screen, where they go to the first
    and last row (k9s) under remappable ids; DataTable would scroll sideways."""

    # DataTable's own bindings (the later one wins per key, as in inheritance), less two.
    BINDINGS: ClassVar[list[BindingType]] = list(
        {
            b.key: b
            for b in [*ScrollableContainer.BINDINGS, *DataTable.BINDINGS]
            if isinstance(b, Binding) and b.key not in ("home", "end")
        }.values()
    )

    def fix_widths(self, widths: Mapping[str, int]) -> None:
        """Set column widths before adding rows. DataTable measures new rows only when
        idle, and keeps what it painted before: a paint in between (likely on a busy
        machine) would leave columns as narrow as their labels."""
        for key, column in self.columns.items():
            width = widths.get(key.value or "")
            if width is not None:
                column.width, column.auto_width = width, False
