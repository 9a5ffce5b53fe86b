"""Executions view: every engine of the context in one table, k9s style.

Each engine is listed concurrently in one exclusive worker; every engine posts its own
result, so a slow or dead engine never holds back the others, and its state (rows,
``loading``, ``unreachable (...)``) stays visible in the status bar.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, ClassVar, cast

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from console.errors import Unsupported
from console.model import (
    ActionKind,
    Capability,
    ExecutionRef,
    ListQuery,
    StuckHit,
    StuckRules,
)
from console.ports import WorkflowEngine
from console.tui.format import CommandError, RowFilter, parse_command, relative_time
from console.tui.keys import KeysScreen  # footer/help show enter Open over the table
from console.tui.messages import (
    DataChanged,
    EngineLoaded,
    EngineProblem,
    ListedRow,
    RefreshFinished,
)
from console.tui.problems import explain, short_state
from console.tui.widgets.prompt import Prompt, typing_into
from console.tui.widgets.status_bar import StatusBar
from console.tui.widgets.tables import StyledTable

if TYPE_CHECKING:
    from console.tui.app import OpsdeckApp

# Actions that change a backend; hidden in read-only mode.
CHANGE_ACTIONS = frozenset({"retry", "retry_activity", "cancel", "terminate", "signal"})

BASE_COLUMNS = (
    ("mark", " "),
    ("engine", "ENGINE"),
    ("id", "WORKFLOW ID"),
    ("type", "TYPE"),
    ("status", "STATUS"),
    ("started", "STARTED"),
    ("queue", "TASK QUEUE"),
)
STUCK_COLUMNS = (("rule", "RULE"), ("evidence", "EVIDENCE"))
MARK = "●"
FIRST_PAGE = 50


class EngineState:
    """What the status bar says about one engine."""

    def __init__(self) -> None:
        self.text = "loading…"
        self.ok = True
        self.rows: list[ListedRow] = []
        self.loaded = False


class ExecutionsScreen(KeysScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="opsdeck.filter", priority=True),
        Binding("enter", "open", "Open", id="opsdeck.open"),
        Binding("space", "mark", "Mark", id="opsdeck.mark"),
        Binding("ctrl+space", "mark_range", "Mark range", show=False, id="opsdeck.mark-range"),
        Binding("s", "toggle_stuck", "Stuck only", id="opsdeck.stuck"),
        Binding("c", "correlate", "Correlate", show=False, id="opsdeck.correlate"),
        Binding("r", "retry", "Retry", id="opsdeck.retry"),
        Binding("a", "retry_activity", "Retry activities", show=False, id="opsdeck.retry-activity"),
        Binding("x", "cancel", "Cancel", id="opsdeck.cancel"),
        Binding("ctrl+d", "terminate", "Terminate", id="opsdeck.terminate"),
        Binding("S", "signal", "Signal", id="opsdeck.signal"),
        Binding("ctrl+r", "reload", "Refresh", show=False, id="opsdeck.refresh"),
        Binding("p", "pause", "Pause refresh", show=False, id="opsdeck.pause"),
        Binding("escape", "clear", "Clear filter/marks", show=False, id="opsdeck.clear"),
        Binding("q", "app.quit", "Quit", show=False, id="opsdeck.quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.stuck_only = False
        self.row_filter = RowFilter()
        self.marked: set[str] = set()
        self._anchor: str | None = None  # last row marked with space: start of a range
        self.paused = False
        self.engines: dict[str, EngineState] = {}
        self.shown_rows: list[ListedRow] = []
        self.last_refresh = "never"
        self._generation = 0
        self._refreshing = False
        self._timer: Timer | None = None
        self._reported: set[tuple[str, str]] = set()

    @property
    def opsdeck(self) -> OpsdeckApp:
        return cast("OpsdeckApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="crumbs")
        yield StyledTable(id="executions", cursor_type="row", zebra_stripes=True)
        yield Prompt(id="prompt")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def table(self) -> StyledTable:
        return self.query_one("#executions", StyledTable)

    def on_mount(self) -> None:
        self._set_columns()
        self.reset_engines()
        interval = self.opsdeck.refresh_interval
        if interval > 0:
            self._timer = self.set_interval(interval, self._tick)
        self.action_reload()

    # -- data -------------------------------------------------------------------

    def reset_engines(self) -> None:
        """(Re)build per-engine state, e.g. after a context switch."""
        self.engines = {name: EngineState() for name in self.opsdeck.session.engines}
        self.marked.clear()
        self._reported.clear()
        self._render_rows()

    def _tick(self) -> None:
        if not self.paused and not self._refreshing and self.is_current:
            self.action_reload()

    def action_reload(self) -> None:
        self._generation += 1
        self._refreshing = True
        for state in self.engines.values():
            if not state.loaded:
                state.text, state.ok = "loading…", True
        self._update_status()
        self.load(self._generation, self.stuck_only)

    @work(exclusive=True, group="executions", exit_on_error=False)
    async def load(self, generation: int, stuck_only: bool) -> None:
        app = self.opsdeck
        timeout = app.engine_timeout

        async def one(name: str, engine: WorkflowEngine) -> None:
            try:
                rows = await asyncio.wait_for(
                    self._fetch(engine, stuck_only, partial(self._first_page, generation, name)),
                    timeout,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a backend failure must never end the app
                title, text = explain(name, exc, timeout)
                state = short_state(exc, timeout)
                problem = EngineProblem(state, title, text, isinstance(exc, Unsupported))
                self.post_message(EngineLoaded(generation, name, [], problem))
            else:
                self.post_message(EngineLoaded(generation, name, rows))

        await asyncio.gather(*(one(n, e) for n, e in app.session.engines.items()))
        self.post_message(RefreshFinished(generation))

    def _first_page(self, generation: int, name: str, rows: list[ListedRow]) -> None:
        if not self.engines[name].loaded:  # only the very first load shows a partial list
            self.post_message(EngineLoaded(generation, name, rows))

    async def _fetch(
        self,
        engine: WorkflowEngine,
        stuck_only: bool,
        on_first_page: Callable[[list[ListedRow]], None],
    ) -> list[ListedRow]:
        if not stuck_only:
            # A small first page is on screen while the rest is still coming: mid-incident
            # the newest executions matter first.
            limit = self.opsdeck.list_limit
            query = ListQuery(limit=limit, page_size=min(FIRST_PAGE, limit))
            rows: list[ListedRow] = []
            async for execution in engine.list(query):
                rows.append(ListedRow(execution))
                if len(rows) == FIRST_PAGE:
                    on_first_page(list(rows))
            return rows
        reason = engine.describe_capability(Capability.FIND_STUCK)
        if reason is not None:
            raise Unsupported(reason)
        hits: dict[str, list[StuckHit]] = {}
        async for hit in engine.find_stuck(StuckRules()):
            hits.setdefault(str(hit.execution.ref), []).append(hit)
        return [ListedRow(group[0].execution, tuple(group)) for group in hits.values()]

    def on_engine_loaded(self, message: EngineLoaded) -> None:
        if message.generation != self._generation or message.engine not in self.engines:
            return
        state = self.engines[message.engine]
        if message.error is None:
            state.rows, state.loaded, state.ok = message.rows, True, True
            state.text = f"{len(message.rows)} {'stuck' if self.stuck_only else 'rows'}"
            self._reported = {r for r in self._reported if r[0] != message.engine}
        else:
            problem = message.error
            state.rows, state.loaded, state.ok, state.text = [], True, False, problem.state
            # Notify once per distinct problem, not on every auto refresh.
            if (message.engine, problem.state) not in self._reported:
                self._reported.add((message.engine, problem.state))
                self.notify(
                    escape(problem.text),
                    title=escape(problem.title),
                    severity="warning" if problem.warning_only else "error",
                    timeout=8,
                )
        self._render_rows()
        probe = self.opsdeck.on_first_table
        if probe is not None and message.error is None:
            self.opsdeck.on_first_table = None
            self.call_after_refresh(probe)

    def on_refresh_finished(self, message: RefreshFinished) -> None:
        if message.generation != self._generation:
            return
        self._refreshing = False
        self.last_refresh = self.opsdeck.now().strftime("%H:%M:%S")
        self._update_status()

    def on_data_changed(self, _: DataChanged) -> None:
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.engines and not self._refreshing:
            self.action_reload()

    # -- table --------------------------------------------------------------------

    def _set_columns(self) -> None:
        table = self.table
        table.clear(columns=True)
        columns = BASE_COLUMNS + (STUCK_COLUMNS if self.stuck_only else ())
        for key, label in columns:
            table.add_column(label, key=key)

    def _filter_fields(self, row: ListedRow) -> list[str]:
        e = row.execution
        fields = [e.ref.workflow_id, e.workflow_type, e.status.value]
        fields += [hit.rule.value for hit in row.hits]
        return fields

    def _render_rows(self) -> None:
        table = self.table
        cursor_key = self.current_row.key if self.current_row else None
        # One row per key: paging while executions change can list a run twice.
        unique = {row.key: row for state in self.engines.values() for row in state.rows}
        rows = list(unique.values())
        rows.sort(
            key=lambda r: r.execution.start_time.timestamp() if r.execution.start_time else 0.0,
            reverse=True,
        )
        self.shown_rows = [row for row in rows if self.row_filter.matches(self._filter_fields(row))]
        keys = {row.key for row in self.shown_rows}
        self.marked &= keys
        now = self.opsdeck.now()
        table.clear()
        cursor_index = 0
        for index, row in enumerate(self.shown_rows):
            e = row.execution
            cells = [
                table.text(MARK if row.key in self.marked else "", "row--marked"),
                table.text(e.ref.engine),
                table.text(e.ref.workflow_id),
                table.text(e.workflow_type),
                table.status_text(e.status),
                table.text(relative_time(e.start_time, now)),
                table.text(e.task_queue or "-"),
            ]
            if self.stuck_only:
                cells.append(table.text(", ".join(h.rule.value for h in row.hits), "cell--warning"))
                cells.append(table.text("; ".join(h.evidence for h in row.hits)))
            table.add_row(*cells, key=row.key)
            if row.key == cursor_key:
                cursor_index = index
        if self.shown_rows:
            table.move_cursor(row=cursor_index, animate=False)
        self._update_status()

    @property
    def current_row(self) -> ListedRow | None:
        table = self.table
        if not self.shown_rows or table.cursor_row < 0 or table.cursor_row >= len(self.shown_rows):
            return None
        return self.shown_rows[table.cursor_row]

    def targets(self) -> list[ExecutionRef]:
        """Marked rows if any, else the row under the cursor."""
        if self.marked:
            return [row.execution.ref for row in self.shown_rows if row.key in self.marked]
        row = self.current_row
        return [row.execution.ref] if row else []

    def _update_status(self) -> None:
        """Top line: what is listed and how fresh; bottom line: where and what failed."""
        app = self.opsdeck
        total = sum(len(s.rows) for s in self.engines.values())
        crumbs = ["stuck executions" if self.stuck_only else "executions"]
        crumbs.append(
            f"{len(self.shown_rows)} of {total}" if self.row_filter.active else str(total)
        )
        if self.row_filter.active:
            crumbs.append(f"/{self.row_filter.text}")
        interval = app.refresh_interval
        auto = "auto refresh off" if self.paused or interval <= 0 else f"every {interval:g}s"
        self.query_one("#crumbs", Static).update(Text(" · ".join(crumbs)))
        self.query_one(StatusBar).show(
            context=app.context_name,
            read_only=app.read_only,
            production=app.production,
            engines=[(name, s.text, s.ok) for name, s in self.engines.items()],
            marked=len(self.marked),
            refreshed=f"refreshed {self.last_refresh} ({auto})",
        )

    @on(DataTable.RowSelected, "#executions")
    def _row_selected(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    # -- actions --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter" and typing_into(self.app.focused):
            return None  # `/` is a character in a text field (the filter is a priority key)
        # False hides the binding everywhere (footer, help, palette), as k9s --readonly.
        return not (action in CHANGE_ACTIONS and self.opsdeck.read_only)

    def action_open(self) -> None:
        row = self.current_row
        if row is None:
            return
        from console.tui.screens.execution import ExecutionScreen

        self.app.push_screen(ExecutionScreen(row.execution))

    def action_correlate(self) -> None:
        row = self.current_row
        if row is not None:
            self.opsdeck.open_correlation(str(row.execution.ref))

    def action_mark(self) -> None:
        row = self.current_row
        if row is None:
            return
        if row.key in self.marked:
            self.marked.discard(row.key)
        else:
            self.marked.add(row.key)
            self._anchor = row.key
        table = self.table
        table.update_cell(
            row.key, "mark", table.text(MARK if row.key in self.marked else "", "row--marked")
        )
        if table.cursor_row < len(self.shown_rows) - 1:
            table.move_cursor(row=table.cursor_row + 1, animate=False)
        self._update_status()

    def action_mark_range(self) -> None:
        """Mark every row between the last row marked with space and the cursor (k9s)."""
        keys = [row.key for row in self.shown_rows]
        cursor = self.table.cursor_row
        if not keys or self._anchor not in keys:
            self.action_mark()
            return
        start = keys.index(self._anchor)
        low, high = sorted((start, cursor))
        self.marked.update(keys[low : high + 1])
        self._render_rows()

    def action_clear(self) -> None:
        if self.row_filter.active:
            self.apply_filter("")
        elif self.marked:
            self.marked.clear()
            self._render_rows()

    def action_toggle_stuck(self) -> None:
        self.set_stuck(not self.stuck_only)

    def set_stuck(self, stuck: bool) -> None:
        if stuck == self.stuck_only:
            return
        self.stuck_only = stuck
        for state in self.engines.values():
            state.rows, state.loaded = [], False
        self.marked.clear()
        self._set_columns()
        self._render_rows()
        self.action_reload()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.notify("auto refresh paused" if self.paused else "auto refresh resumed", timeout=2)
        self._update_status()

    def action_filter(self) -> None:
        self.query_one(Prompt).open("filter", self.row_filter.text)

    def action_command(self) -> None:
        self.query_one(Prompt).open("command")

    def apply_filter(self, text: str) -> None:
        self.row_filter = RowFilter(text)
        self._render_rows()

    @on(Prompt.Edited)
    def _prompt_edited(self, message: Prompt.Edited) -> None:
        self.apply_filter(message.value)

    @on(Prompt.Applied)
    def _prompt_applied(self, message: Prompt.Applied) -> None:
        self.table.focus()
        if message.mode == "filter":
            self.apply_filter(message.value)
        elif message.value:
            self.run_command(message.value)

    @on(Prompt.Dismissed)
    def _prompt_dismissed(self, _: Prompt.Dismissed) -> None:
        self.table.focus()

    def run_command(self, text: str) -> None:
        try:
            command = parse_command(text)
        except CommandError as exc:
            self.notify(escape(str(exc)), title="command", severity="warning")
            return
        if command.name == "quit":
            self.app.exit()
        elif command.name == "stuck":
            self.set_stuck(True)
        elif command.name == "all":
            self.set_stuck(False)
            if command.argument:
                self.apply_filter(command.argument)
        elif command.name == "filter":
            self.apply_filter(command.argument)
        elif command.name == "help":
            self.opsdeck.show_help()
        elif command.name == "refresh":
            self._set_refresh(command.argument)
        elif command.name == "ctx":
            self.opsdeck.switch_context(command.argument)
        elif command.name == "runbooks":
            from console.tui.screens.runbook import open_runbooks

            open_runbooks(self.app, command.argument)
        elif command.name == "corr":
            self.opsdeck.open_correlation(command.argument)
        elif command.name == "dlq":
            from console.tui.screens.dlq import open_dlq

            open_dlq(self.app)

    def _set_refresh(self, argument: str) -> None:
        app = self.opsdeck
        if argument in ("off", "0"):
            self.paused = True
        elif argument:
            try:
                seconds = float(argument)
            except ValueError:
                self.notify(
                    f"refresh: {escape(argument)} is not a number of seconds", severity="warning"
                )
                return
            app.refresh_interval = max(seconds, 0.5)
            if self._timer is not None:
                self._timer.stop()
            self._timer = self.set_interval(app.refresh_interval, self._tick)
            self.paused = False
        self._update_status()
        self.action_reload()

    def _remediate(self, kind: ActionKind, params: dict[str, str] | None = None) -> None:
        targets = self.targets()
        if not targets:
            self.notify("no execution selected", severity="warning")
            return
        self.opsdeck.start_action(kind, targets, params)

    def action_retry(self) -> None:
        self._remediate(ActionKind.RETRY)

    def action_retry_activity(self) -> None:
        """Reset the pending activities' attempts instead of the workflow."""
        self._remediate(ActionKind.RETRY, {"mode": "activity"})

    def action_cancel(self) -> None:
        self._remediate(ActionKind.CANCEL)

    def action_terminate(self) -> None:
        self._remediate(ActionKind.TERMINATE)

    def action_signal(self) -> None:
        self._remediate(ActionKind.SIGNAL)
