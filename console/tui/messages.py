"""Messages that carry worker results back to the widgets (workers never touch them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

from console.model import Execution, StuckHit

if TYPE_CHECKING:
    from console.tui.paging import RowSource


@dataclass(frozen=True)
class ListedRow:
    """One row of the executions table; stuck hits of one execution are merged."""

    execution: Execution
    hits: tuple[StuckHit, ...] = field(default=())

    @property
    def key(self) -> str:
        return str(self.execution.ref)


@dataclass(frozen=True)
class EngineProblem:
    """Why an engine gave no rows; plain text, never markup."""

    state: str  # a few words for the status bar
    title: str  # notification title, names the engine
    text: str  # notification body: what happened and what to check
    warning_only: bool = False  # e.g. the engine cannot do this at all


class EngineLoaded(Message):
    """One engine answered (``rows``) or failed (``error``).

    ``source`` is where its next page comes from; ``more`` says the rows are that next
    page (kept only while ``source`` is still the engine's) rather than a new window."""

    def __init__(
        self,
        generation: int,
        engine: str,
        rows: list[ListedRow],
        error: EngineProblem | None = None,
        source: RowSource | None = None,
        more: bool = False,
    ) -> None:
        super().__init__()
        self.generation = generation
        self.engine = engine
        self.rows = rows
        self.error = error
        self.source = source
        self.more = more


class EngineCounted(Message):
    """The engine's count for the listed query (None: it could not say)."""

    def __init__(self, generation: int, engine: str, total: int | None) -> None:
        super().__init__()
        self.generation = generation
        self.engine = engine
        self.total = total


class QueryRejected(Message):
    """Every engine refused a server query typed at `/`: (engine, its message) each."""

    def __init__(self, query: str, reasons: list[tuple[str, str]]) -> None:
        super().__init__()
        self.query = query
        self.reasons = reasons


class QueryAccepted(Message):
    """A server query typed at `/` is now what the table lists."""

    def __init__(self, generation: int, query: str) -> None:
        super().__init__()
        self.generation = generation
        self.query = query


class RefreshFinished(Message):
    def __init__(self, generation: int) -> None:
        super().__init__()
        self.generation = generation


class DataChanged(Message):
    """An action changed something on a backend: visible data should be reloaded.

    ``new_runs``: target ref -> the run a reset started, so a view can follow it."""

    def __init__(self, new_runs: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.new_runs: Mapping[str, str] = dict(new_runs or {})
