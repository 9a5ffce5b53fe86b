"""How the executions table's rows changed between two renders: a page appended at
the end (and the window's oldest rows trimmed at the top), or anything else.

A page on `G` or a scroll appends rows in the server's order and drops as many from the
top; the table then adds and removes just those instead of rebuilding all 500 rows
(issue 13). Anything else (a filter, a sort, a refresh, rows from another engine that
sort in between) is a full rebuild. No textual imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.tui.messages import ListedRow


@dataclass(frozen=True)
class Appended:
    """``new`` is ``old`` less its first ``trimmed`` rows, then ``added``."""

    trimmed: int
    added: Sequence[ListedRow]


def appended(old: Sequence[ListedRow], new: Sequence[ListedRow]) -> Appended | None:
    """The append-only change from ``old`` to ``new``, or None if it is not one.

    Rows are compared by identity: a refreshed row (a new object, maybe a new status)
    must be drawn again, so it never counts as kept."""
    if not old or not new:
        return None
    first = new[0]
    trimmed = next((i for i, row in enumerate(old) if row is first), None)
    if trimmed is None:
        return None
    kept = len(old) - trimmed
    if kept > len(new) or any(a is not b for a, b in zip(old[trimmed:], new, strict=False)):
        return None
    return Appended(trimmed, new[kept:])
