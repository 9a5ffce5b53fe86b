"""Columns of the executions table: the text each row shows, the filter, the sort.

One place computes a row's visible text, so the `/` filter matches exactly what is on
screen. No textual imports here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console.tui.format import relative_time

if TYPE_CHECKING:
    from console.tui.messages import ListedRow

BASE_COLUMNS = (
    ("engine", "ENGINE"),
    ("id", "WORKFLOW ID"),
    ("type", "TYPE"),
    ("status", "STATUS"),
    ("started", "STARTED"),
    ("queue", "TASK QUEUE"),
)
STUCK_COLUMNS = (("rule", "RULE"), ("evidence", "EVIDENCE"))
# Newest first is what matters mid-incident; text columns read best A to Z.
DESCENDING_FIRST = frozenset({"started"})
ASCENDING, DESCENDING = "▲", "▼"


def columns(stuck_only: bool) -> tuple[tuple[str, str], ...]:
    """(key, label) of the data columns shown, left to right (the mark column aside)."""
    return BASE_COLUMNS + (STUCK_COLUMNS if stuck_only else ())


def cell_texts(row: ListedRow, now: datetime) -> dict[str, str]:
    """Every data column's text for one row, as the table shows it."""
    e = row.execution
    return {
        "engine": e.ref.engine,
        "id": e.ref.workflow_id,
        "type": e.workflow_type,
        "status": e.status.value,
        "started": relative_time(e.start_time, now),
        "queue": e.task_queue or "-",
        "rule": ", ".join(hit.rule.value for hit in row.hits),
        "evidence": "; ".join(hit.evidence for hit in row.hits),
    }


@dataclass(frozen=True)
class SortOrder:
    """Which column the table is sorted by, and which way (htop style `<` `>` `I`)."""

    column: str = "started"
    descending: bool = True

    def step(self, offset: int, keys: Sequence[str]) -> SortOrder:
        """The next (or previous) column, in its natural direction."""
        index = keys.index(self.column) if self.column in keys else -offset
        column = keys[(index + offset) % len(keys)]
        return SortOrder(column, column in DESCENDING_FIRST)

    def inverted(self) -> SortOrder:
        return replace(self, descending=not self.descending)

    def shown_in(self, keys: Sequence[str]) -> SortOrder:
        """This order, or the default when its column is not on screen any more."""
        return self if self.column in keys else SortOrder()

    def label(self, key: str, label: str) -> str:
        """A column header with the sort arrow on the sorted column."""
        if key != self.column:
            return label
        return f"{label} {DESCENDING if self.descending else ASCENDING}"

    def sort(self, rows: list[ListedRow], texts: dict[str, dict[str, str]]) -> list[ListedRow]:
        """Rows in this order; ties stay newest first. ``texts`` is cell_texts by row key."""

        def started(row: ListedRow) -> float:
            start = row.execution.start_time
            return start.timestamp() if start else 0.0

        newest_first = sorted(rows, key=started, reverse=True)
        if self.column == "started":
            return newest_first if self.descending else newest_first[::-1]

        def text(row: ListedRow) -> Any:
            return texts[row.key].get(self.column, "").casefold()

        return sorted(newest_first, key=text, reverse=self.descending)
