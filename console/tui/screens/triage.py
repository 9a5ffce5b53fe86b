"""`:triage [SINCE] [QUERY]`: failure groups, each systemic or transient with its reason.

The groups come from console.triage (every engine of the context, in a worker). enter
on a group opens the executions view on exactly its runs (a server query), all of them
marked, so the view's own keys act on them (r retry, a retry activities, ctrl+d
terminate), through the same plan, policy and confirmation as ever. `b` opens the
runbook that fits the group, its parameters prefilled.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from console.tui.format import relative_time
from console.tui.keys import KeysScreen

if TYPE_CHECKING:
    from console.triage.groups import FailureGroup
    from console.triage.report import Triaged
    from console.tui.app import OpsdeckApp

DEFAULT_SINCE = timedelta(hours=1)
MAX_QUERIED_RUNS = 200  # a WorkflowId IN (...) query longer than this is cut (and said)
VERDICT_STYLE = {"systemic": "bold red", "transient": "green"}


def open_triage(app: Any, argument: str = "") -> None:
    """`:triage [SINCE] [QUERY]` and the command palette: SINCE a duration (30m, 2h;
    default 1h), QUERY a visibility query that bounds what is read."""
    since, query = DEFAULT_SINCE, argument.strip() or None
    first, _, rest = (query or "").partition(" ")
    if first and first[0].isdigit():
        from console.cli_common import parse_duration
        from console.errors import UsageError

        try:
            since = parse_duration(first)
        except UsageError as exc:
            app.notify(escape(str(exc)), title="triage", severity="warning")
            return
        query = rest.strip() or None
    app.push_screen(TriageScreen(since, query))


def runs_query(group: FailureGroup) -> tuple[str, int]:
    """A Temporal visibility query listing the group's runs' workflows, and how many of
    its runs it leaves out (beyond MAX_QUERIED_RUNS)."""
    ids = list(dict.fromkeys(ref.workflow_id for ref in group.executions))
    kept = ids[:MAX_QUERIED_RUNS]
    quoted = ", ".join("'" + w.replace("\\", "\\\\").replace("'", "\\'") + "'" for w in kept)
    return f"WorkflowId IN ({quoted})", len(ids) - len(kept)


class TriageLoaded(Message):
    def __init__(self, triaged: Triaged | None, error: str | None) -> None:
        super().__init__()
        self.triaged = triaged
        self.error = error


class TriageScreen(KeysScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="opsdeck.triage.back"),
        Binding("enter", "open", "Runs (marked)", id="opsdeck.triage.open"),
        Binding("b", "runbook", "Runbook", id="opsdeck.triage.runbook"),
        Binding("ctrl+r", "reload", "Refresh", id="opsdeck.triage.reload"),
    ]

    def __init__(self, since: timedelta = DEFAULT_SINCE, query: str | None = None) -> None:
        super().__init__()
        self.since = since
        self.visibility_query = query
        self.triaged: Triaged | None = None

    @property
    def opsdeck(self) -> OpsdeckApp:
        return self.app  # type: ignore[return-value]

    @property
    def groups(self) -> tuple[FailureGroup, ...]:
        return self.triaged.groups if self.triaged else ()

    def compose(self) -> ComposeResult:
        crumbs = f"triage · failures of the last {_span(self.since)}"
        yield Static(
            crumbs + (f" · query {self.visibility_query}" if self.visibility_query else ""),
            id="crumbs",
        )
        yield DataTable(id="triage-groups", cursor_type="row", zebra_stripes=True)
        yield Static("", id="triage-detail")
        yield Static("loading…", id="triage-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#triage-groups", DataTable)
        table.add_columns(
            "#", "VERDICT", "RUNS", "ENGINE", "WORKFLOW/ACTIVITY", "ERROR", "VERSION", "LAST",
            "MESSAGE",
        )  # fmt: skip
        self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#triage-status", Static).update("loading…")
        self._load(self.opsdeck.now() - self.since)

    @work(exclusive=True, group="triage", exit_on_error=False)
    async def _load(self, since: datetime) -> None:
        from console.triage.report import triage_engines

        try:
            engines = dict(self.opsdeck.session.engines)
            triaged = await triage_engines(
                engines, query=self.visibility_query, since=since.astimezone(UTC)
            )
        except Exception as exc:  # a backend failure is a notification, never a crash
            self.post_message(TriageLoaded(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(TriageLoaded(triaged, None))

    def on_triage_loaded(self, message: TriageLoaded) -> None:
        status = self.query_one("#triage-status", Static)
        if message.error is not None:
            status.update("triage failed")
            self.notify(escape(message.error), title="triage", severity="error", timeout=8)
            return
        self.triaged = message.triaged
        table = self.query_one("#triage-groups", DataTable)
        row = table.cursor_row
        table.clear()
        now = self.opsdeck.now()
        for number, group in enumerate(self.groups, 1):
            sig = group.signature
            where = sig.workflow_type + (f"/{sig.activity_type}" if sig.activity_type else "")
            last = relative_time(group.last_seen, now) if group.last_seen else "-"
            table.add_row(
                str(number),
                Text(group.verdict, style=VERDICT_STYLE.get(group.verdict, "")),
                str(len(group.executions)),
                sig.engine,
                where,
                sig.error_type,
                sig.version or "-",
                last,
                sig.message,
                key=str(number),
            )
        if self.groups:
            table.move_cursor(row=min(max(row, 0), len(self.groups) - 1), animate=False)
        stats = self.triaged.stats_lines() if self.triaged else []
        lines = [f"{engine}: {text}" for engine, text in stats]
        count = len(self.groups)
        head = f"{count} group(s)" if count else f"no failures in the last {_span(self.since)}"
        status.update(Text(" · ".join([head, *lines])))
        self._show_detail()
        table.focus()

    @on(DataTable.RowHighlighted, "#triage-groups")
    def _highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()

    @on(DataTable.RowSelected, "#triage-groups")
    def _selected(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    def current(self) -> tuple[int, FailureGroup] | None:
        table = self.query_one("#triage-groups", DataTable)
        index = table.cursor_row
        if not self.groups or not 0 <= index < len(self.groups):
            return None
        return index, self.groups[index]

    def _show_detail(self) -> None:
        detail = self.query_one("#triage-detail", Static)
        chosen = self.current()
        if chosen is None or self.triaged is None:
            detail.update("")
            return
        index, group = chosen
        runbook = self.triaged.runbooks[index]
        text = Text()
        text.append(group.reason + "\n", style=VERDICT_STYLE.get(group.verdict, ""))
        text.append(f"example: {group.example}\n")
        failing = len(group.failing)
        text.append(f"{failing} failing, {group.retried_through} retried through")
        if runbook is not None:
            text.append(f" · runbook (b): {runbook.name}, {runbook.why}")
        detail.update(text)

    def action_open(self) -> None:
        """The executions view on the group's runs, every one of them marked."""
        chosen = self.current()
        if chosen is None:
            return
        _, group = chosen
        engine = self.opsdeck.session.engines.get(group.signature.engine)
        if engine is None or engine.kind != "temporal":
            self.notify(
                escape(
                    f"{group.signature.engine}: only Temporal can list exactly these runs "
                    "(a WorkflowId query); `opsdeck executions triage --group N` lists them"
                ),
                title="triage",
                severity="warning",
            )
            return
        query, left_out = runs_query(group)
        if left_out:
            self.notify(f"{left_out} more runs are not listed (the first {MAX_QUERIED_RUNS} are)")
        from console.tui.screens.executions import ExecutionsScreen

        root = self.app.screen_stack[0]
        if not isinstance(root, ExecutionsScreen):
            return
        while len(self.app.screen_stack) > 1:  # back to the executions view
            self.app.pop_screen()
        root.show_marked(query, {str(ref) for ref in group.executions}, group.signature.engine)

    def action_runbook(self) -> None:
        chosen = self.current()
        if chosen is None or self.triaged is None:
            return
        index, _ = chosen
        match = self.triaged.runbooks[index]
        if match is None:
            self.notify(
                "no runbook fits this group (tag one `triage:WORKFLOW_TYPE` to offer it)",
                title="runbook",
                severity="warning",
            )
            return
        from console.errors import OpsdeckError
        from console.runbook.catalog import find
        from console.tui.screens.runbook import ParamsScreen, read_only_refusal
        from console.tui.screens.runbook_run import RunbookRunScreen

        try:
            book = find(match.name)
        except OpsdeckError as exc:
            self.notify(escape(str(exc)), title=exc.title, severity="error")
            return
        why = read_only_refusal(book) if self.opsdeck.read_only else None
        if why is not None:
            self.notify(escape(why), title="runbook not started", severity="error", timeout=10)
            return
        prefilled = dataclasses.replace(
            book,
            parameters=tuple(
                dataclasses.replace(p, default=match.params[p.name])
                if p.name in match.params
                else p
                for p in book.parameters
            ),
        )

        def chosen_params(params: dict[str, str] | None) -> None:
            if params is not None:
                self.app.push_screen(RunbookRunScreen(book=book, params=params))

        self.app.push_screen(ParamsScreen(prefilled), chosen_params)


def _span(value: timedelta) -> str:
    minutes = value.total_seconds() / 60
    return f"{minutes / 60:g}h" if minutes >= 60 else f"{minutes:g}m"
