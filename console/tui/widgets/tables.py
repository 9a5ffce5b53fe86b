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
from textual.widgets.data_table import CellKey

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

    def drop_first_rows(self, count: int) -> None:
        """Remove the first ``count`` rows in one pass. DataTable.remove_row re-indexes
        every row on each call: trimming a page off a 500-row window cost 100 x 500
        (issue 13). The same steps as remove_row, once."""
        locations = self._row_locations
        count = min(count, self.row_count)
        if count <= 0:
            return
        dropped = [locations.get_key(index) for index in range(count)]
        kept = {}
        for key in locations:
            index = locations.get(key)
            if index is not None and index >= count:
                kept[key] = index - count
        self._row_locations = type(locations)(kept)
        for row_key in dropped:
            if row_key is None:
                continue
            for column_key in self._data.get(row_key, {}):
                self._updated_cells.discard(CellKey(row_key, column_key))
            del self.rows[row_key]
            del self._data[row_key]
        self._require_update_dimensions = True
        self.check_idle()
        self.cursor_coordinate = self.cursor_coordinate  # clamped to the rows left
        self.hover_coordinate = self.hover_coordinate
        # The rows in view stay in view (rows are one line high here): without this the
        # next frame shows rows ``count`` further on, and a second one scrolls back.
        self.scroll_target_y = self.scroll_y = max(0.0, self.scroll_y - count)
        self._update_count += 1
        # Every cached render is keyed by the old update count: dead weight from now on
        # (kept, they grew RSS by ~7 MiB over 3,000 rows until the caches' LRU limits).
        self._clear_caches()
        # No layout refresh (remove_row's): the widget's size stays; the virtual size
        # is set again once idle (_update_dimensions), and a full reflow cost ~0.1 s.
        self.refresh()

    def widen(self, widths: Mapping[str, int]) -> None:
        """Widen columns to at least ``widths`` (never narrower): rows appended to a
        table whose widths were fixed (fix_widths) must not be cut off."""
        for key, column in self.columns.items():
            width = widths.get(key.value or "")
            if width is not None and width > column.width:
                column.width, column.auto_width = width, False

    def fix_widths(self, widths: Mapping[str, int]) -> None:
        """Set column widths before adding rows. DataTable measures new rows only when
        idle, and keeps what it painted before: a paint in between (likely on a busy
        machine) would leave columns as narrow as their labels."""
        for key, column in self.columns.items():
            width = widths.get(key.value or "")
            if width is not None:
                column.width, column.auto_width = width, False
