"""Runbooks in the TUI: the list (`:runbooks`) and the parameters dialog.

The list shows the runbooks on the search path and this context's journaled runs
(status, dry runs marked, updated "3m ago"); enter starts a runbook or resumes a run
in the guided run screen (console.tui.screens.runbook_run). The list reloads whenever
it comes back on top (a run ended or was just made) and every ``refresh_interval``
while shown; files and the journal are read in a thread worker.

A read-only context cannot apply an action step: a runbook (or the rest of a run) with
one is refused before it starts, saying which steps and why, instead of failing midway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from console.tui.format import parse_time, relative_time
from console.tui.screens.runbook_run import RunbookRunScreen, error_text, open_journal
from console.tui.screens.two_lists import TwoListsScreen

if TYPE_CHECKING:
    from console.runbook.catalog import Entry as CatalogEntry
    from console.runbook.journal import RunRecord
    from console.runbook.schema import Runbook

__all__ = ["ParamsScreen", "RunbookRunScreen", "RunbooksScreen", "open_runbooks"]


def open_runbooks(app: Any, argument: str = "") -> None:
    """`:runbooks [NAME]` and the command palette: the list, or straight to one runbook."""
    screen = RunbooksScreen()
    app.push_screen(screen)
    if argument.strip():
        screen.call_after_refresh(screen.start_named, argument.strip())


def read_only_refusal(book: Runbook, from_step: str | None = None) -> str | None:
    """Why a read-only context cannot run ``book`` (from ``from_step`` on), or None."""
    steps = list(book.steps)
    if from_step is not None and from_step in {s.id for s in steps}:
        steps = steps[book.index(from_step) :]
    actions = [s for s in steps if s.kind == "action"]
    if not actions:
        return None
    named = ", ".join(f"{s.id} ({s.action})" for s in actions)
    return (
        f"this context is read-only and runbook {book.name!r} has action steps that "
        f"change things: {named}. Run it in a writable context."
    )


def run_status(run: RunRecord) -> str:
    return f"{run.status} (dry run)" if run.dry_run else run.status


class RunbooksLoaded(Message):
    def __init__(
        self,
        entries: Sequence[CatalogEntry],
        runs: Sequence[RunRecord],
        error: str | None,
        places: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self.entries = list(entries)
        self.runs = list(runs)
        self.error = error
        self.places = places or {}


def run_place(journal: Any, run: RunRecord) -> tuple[str, str]:
    """(where the run runs, what it waits on): "local" or "temporal:QUEUE" (durable)."""
    from console.runbook.durable.client import durable_info, waiting_of
    from console.tui.screens.runbook_durable import waits_on_text, where_text

    info = durable_info(journal, run.id)
    waiting = waiting_of(run, journal.steps(run.id)) if run.status == "waiting" else None
    return where_text(info), waits_on_text(waiting)


class RunbooksScreen(TwoListsScreen):
    """Runbooks on the search path, and journaled runs to resume."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.runbooks.back"),
        Binding("enter", "open", "Run / resume", id="opsdeck.runbooks.open"),
        Binding("tab", "switch", "Runbooks/runs", id="opsdeck.runbooks.switch"),
        Binding("ctrl+r", "reload", "Reload", id="opsdeck.runbooks.reload"),
    ]
    CRUMB = "runbooks"
    BODY_ID = "runbooks-body"
    TOP = ("runbooks", "Runbooks", ("NAME", "TITLE", "SEVERITY", "STEPS", "PROBLEM"))
    RUNS = (
        "runbook-runs",
        "Runs (enter resumes)",
        ("RUN", "RUNBOOK", "STATUS", "STEP", "BY", "UPDATED", "WHERE", "WAITS ON"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[CatalogEntry] = []
        self.runs: list[RunRecord] = []
        self.places: dict[str, tuple[str, str]] = {}  # run id: (where, waits on)

    @work(exclusive=True, group="runbooks-list", thread=True, exit_on_error=False)
    def _load(self, context: str) -> None:
        from console.runbook.catalog import catalog

        try:
            entries = catalog()
            journal = open_journal()
            try:
                runs = [r for r in journal.runs(50) if not context or r.context == context]
                where = {r.id: run_place(journal, r) for r in runs}
            finally:
                journal.close()
        except Exception as exc:  # a broken journal is a notification, never a crash
            self.post_message(RunbooksLoaded([], [], error_text(exc)))
            return
        self.post_message(RunbooksLoaded(entries, runs, None, where))

    def on_runbooks_loaded(self, message: RunbooksLoaded) -> None:
        if message.error is not None:
            self.notify(escape(message.error), title="runbooks", severity="error")
            return
        self.entries, self.runs = message.entries, message.runs
        self.places = message.places
        now = self.opsdeck.now()
        books = [
            (
                (
                    Text(e.name),
                    Text(e.runbook.title if e.runbook else ""),
                    Text(e.runbook.severity if e.runbook else ""),
                    Text(str(len(e.runbook.steps)) if e.runbook else ""),
                    Text(e.error or "", style="red"),
                ),
                e.name,
            )
            for e in self.entries
        ]
        runs = [
            (
                (
                    Text(r.id),
                    Text(r.runbook),
                    Text(run_status(r), style="italic" if r.dry_run else ""),
                    Text(r.cursor or ""),
                    Text(r.identity),
                    Text(relative_time(parse_time(r.updated), now)),
                    Text(self.places.get(r.id, ("local", ""))[0]),
                    Text(self.places.get(r.id, ("local", ""))[1], style="yellow"),
                ),
                r.id,
            )
            for r in self.runs
        ]
        self.refill(books, runs)

    def action_open(self) -> None:
        runs = self.query_one("#runbook-runs", DataTable)
        if runs.has_focus and self.runs:
            run = self.runs[runs.cursor_row]
            if self.places.get(run.id, ("local", ""))[0] != "local":
                from console.tui.screens.runbook_durable import DurableRunScreen

                self.app.push_screen(DurableRunScreen(run.id))  # its steps run on a worker
                return
            self.resume(run)
            return
        if not self.entries:
            return
        entry = self.entries[self.query_one("#runbooks", DataTable).cursor_row]
        if entry.runbook is None:
            self.notify(escape(entry.error or "invalid"), title="invalid runbook", severity="error")
            return
        self.start(entry.runbook)

    def start_named(self, name: str) -> None:
        from console.errors import OpsdeckError
        from console.runbook.catalog import find

        try:
            self.start(find(name))
        except OpsdeckError as exc:
            self.notify(escape(str(exc)), title=exc.title, severity="error")

    def _refused(self, book: Runbook, from_step: str | None = None) -> bool:
        why = read_only_refusal(book, from_step) if self.opsdeck.read_only else None
        if why is not None:
            self.notify(escape(why), title="runbook not started", severity="error", timeout=10)
        return why is not None

    def start(self, book: Runbook) -> None:
        if self._refused(book):
            return

        def chosen(params: dict[str, str] | None) -> None:
            if params is not None:
                self.app.push_screen(RunbookRunScreen(book=book, params=params))

        if book.parameters:
            self.app.push_screen(ParamsScreen(book), chosen)
        else:
            chosen({})

    def resume(self, run: RunRecord) -> None:
        """Refused like a start when an action step is still ahead (even in a dry run:
        a read-only context refuses to plan changes at all)."""
        if run.status not in ("done", "failed"):
            from console.errors import OpsdeckError
            from console.runbook.loader import parse_runbook

            try:
                book = parse_runbook(run.source, run.path)
            except OpsdeckError:
                book = None  # the run screen reports it
            if book is not None and self._refused(book, run.cursor):
                return
        self.app.push_screen(RunbookRunScreen(resume=run.id))


class ParamsScreen(ModalScreen[dict[str, str] | None]):
    """One input per parameter, prefilled with its default; help text under each."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Back", id="opsdeck.runbook.params.cancel"),
    ]

    def __init__(self, book: Runbook) -> None:
        super().__init__()
        self.book = book

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="runbook-params"):
            yield Static(f"{escape(self.book.title)}: parameters", classes="section")
            for p in self.book.parameters:
                yield Label(f"{p.name} ({p.type}{', required' if p.required else ''})")
                value = "" if p.default is None else str(p.default)
                yield Input(value=value, id=f"param-{p.name}", placeholder=p.help)
                if p.help:
                    yield Static(escape(p.help), classes="help")
            yield Static("", id="params-error")
            with Horizontal(classes="buttons"):
                yield Button("Start", variant="primary", id="params-start")
                yield Button("Back (esc)", id="params-cancel")

    def values(self) -> dict[str, str]:
        return {
            p.name: self.query_one(f"#param-{p.name}", Input).value for p in self.book.parameters
        }

    @on(Input.Submitted)
    @on(Button.Pressed, "#params-start")
    def submit(self) -> None:
        from console.errors import OpsdeckError

        values = self.values()
        try:
            self.book.resolve_params(values)
        except OpsdeckError as exc:
            self.query_one("#params-error", Static).update(Text(str(exc), style="red"))
            return
        self.dismiss(values)

    @on(Button.Pressed, "#params-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
