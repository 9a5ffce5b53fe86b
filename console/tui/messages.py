"""Messages that carry worker results back to the widgets (workers never touch them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from textual.message import Message

from console.model import Execution, StuckHit


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
    """One engine answered (``rows``) or failed (``error``)."""

    def __init__(
        self,
        generation: int,
        engine: str,
        rows: list[ListedRow],
        error: EngineProblem | None = None,
    ) -> None:
        super().__init__()
        self.generation = generation
        self.engine = engine
        self.rows = rows
        self.error = error


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
