"""The `:chaos` list: the experiments on the search path (the files `opsdeck chaos list`
shows) and this context's runs from the run store. Enter opens an experiment's plan
(console.tui.screens.chaos.ExperimentScreen) or a run's report (chaos_report.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from console.tui.format import parse_time, relative_time
from console.tui.screens.chaos_report import STATUS_STYLE, ChaosRunScreen
from console.tui.screens.runbook_run import error_text
from console.tui.screens.two_lists import TwoListsScreen

if TYPE_CHECKING:
    from console.experiments.store import RunRow


def open_chaos(app: Any, argument: str = "") -> None:
    """`:chaos [NAME]` and the command palette: the list, or straight to one experiment."""
    screen = ChaosScreen()
    app.push_screen(screen)
    if argument.strip():
        screen.call_after_refresh(screen.open_named, argument.strip())


def experiment_names() -> list[str]:
    """Experiment names (file stems) on the search path, for `:chaos ` Tab completion."""
    from console.cli_chaos import _files

    return [path.stem for path in _files()]


# -- the list -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExperimentEntry:
    name: str
    path: str
    title: str
    method: int  # activities in the method
    error: str | None  # the file cannot be read or parsed


class ChaosListed(Message):
    def __init__(
        self, entries: Sequence[ExperimentEntry], runs: Sequence[RunRow], error: str | None
    ) -> None:
        super().__init__()
        self.entries = list(entries)
        self.runs = list(runs)
        self.error = error


def list_experiments() -> list[ExperimentEntry]:
    """The files `opsdeck chaos list` shows, each with its title or its error."""
    from console.cli_chaos import _files
    from console.errors import OpsdeckError
    from console.experiments.source import load_experiment_file

    out = []
    for path in _files():
        try:
            exp = load_experiment_file(str(path))
        except OpsdeckError as exc:
            out.append(ExperimentEntry(path.stem, str(path), "", 0, str(exc)))
            continue
        method = exp.data.get("method")
        count = len(method) if isinstance(method, list) else 0
        out.append(ExperimentEntry(path.stem, str(path), exp.title, count, None))
    return out


class ChaosScreen(TwoListsScreen):
    """Experiments on the search path, and this context's runs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.chaos.back"),
        Binding("enter", "open", "Plan / report", id="opsdeck.chaos.open"),
        Binding("tab", "switch", "Experiments/runs", id="opsdeck.chaos.switch"),
        Binding("ctrl+r", "reload", "Reload", id="opsdeck.chaos.reload"),
    ]
    CRUMB = "chaos"
    BODY_ID = "chaos-body"
    TOP = (
        "chaos-experiments",
        "Experiments (enter shows the plan)",
        ("NAME", "TITLE", "METHOD", "PATH", "PROBLEM"),
    )
    RUNS = (
        "chaos-runs",
        "Runs in this context (enter shows the report)",
        ("RUN", "TITLE", "STATUS", "STARTED", "ENDED", "EXPERIMENT"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[ExperimentEntry] = []
        self.runs: list[RunRow] = []

    @work(exclusive=True, group="chaos-list", thread=True, exit_on_error=False)
    def _load(self, context: str) -> None:
        from console.experiments.store import ChaosRunStore

        try:
            entries = list_experiments()
            store = ChaosRunStore()
            try:
                runs = [r for r in store.runs(50) if r.context == context]
            finally:
                store.close()
        except Exception as exc:  # a broken store is a notification, never a crash
            self.post_message(ChaosListed([], [], error_text(exc)))
            return
        self.post_message(ChaosListed(entries, runs, None))

    def on_chaos_listed(self, message: ChaosListed) -> None:
        if message.error is not None:
            self.notify(escape(message.error), title="chaos", severity="error")
            return
        self.entries, self.runs = message.entries, message.runs
        experiments = [
            (
                (
                    Text(e.name),
                    Text(e.title),
                    Text(str(e.method) if e.error is None else ""),
                    Text(e.path, style="dim"),
                    Text(e.error or "", style="red"),
                ),
                e.path,
            )
            for e in self.entries
        ]
        now = self.opsdeck.now()
        runs = [
            (
                (
                    Text(r.id),
                    Text(r.title),
                    Text(
                        f"{r.status}{', deviated' if r.deviated else ''}"
                        + (" (dry run)" if r.dry_run else ""),
                        STATUS_STYLE.get(r.status, ""),
                    ),
                    Text(relative_time(parse_time(r.started), now)),
                    Text(relative_time(parse_time(r.ended), now) if r.ended else "-"),
                    Text(r.experiment_path, style="dim"),
                ),
                r.id,
            )
            for r in self.runs
        ]
        self.refill(experiments, runs)

    def action_open(self) -> None:
        runs = self.query_one("#chaos-runs", DataTable)
        if runs.has_focus:
            if self.runs:
                self.app.push_screen(ChaosRunScreen(self.runs[runs.cursor_row].id))
            return
        if not self.entries:
            return
        entry = self.entries[self.query_one("#chaos-experiments", DataTable).cursor_row]
        if entry.error is not None:
            self.notify(escape(entry.error), title="invalid experiment", severity="error")
            return
        from console.tui.screens.chaos import ExperimentScreen

        self.app.push_screen(ExperimentScreen(entry.path))

    def open_named(self, name: str) -> None:
        """`:chaos NAME`: a file path, or an experiment name on the search path."""
        from console.cli_chaos import _find
        from console.errors import OpsdeckError

        try:
            path = _find(name)
        except OpsdeckError as exc:
            self.notify(escape(str(exc)), title=exc.title, severity="error")
            return
        from console.tui.screens.chaos import ExperimentScreen

        self.app.push_screen(ExperimentScreen(path))
