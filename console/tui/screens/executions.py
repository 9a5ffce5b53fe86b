"""Executions view: every engine of the context in one table, k9s style.

Each engine is listed concurrently in one exclusive worker; every engine posts its own
result, so a slow or dead engine never holds back the others, and its state (rows,
``loading``, ``unreachable (...)``) stays visible in the status bar.

Keys: j/k, g/G and home/end move as in k9s; `<` `>` pick the sort column and `I`
inverts it (htop: k9s's shift+letter would need `S`, which is signal here). A change
key the selected rows' engine cannot do is hidden, and says why when pressed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, ClassVar, cast

from rich.cells import cell_len
from rich.markup import escape
from rich.text import Text
from textual import events, on, work
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
from console.tui.completion import completions, runbook_names
from console.tui.format import CommandError, RowFilter, parse_command
from console.tui.guards import CHANGE_ACTIONS as CHANGE_ACTIONS  # execution.py imports it here
from console.tui.guards import refusal, split_targets
from console.tui.keys import KeysScreen  # footer/help show enter Open over the table
from console.tui.messages import (
    DataChanged,
    EngineLoaded,
    EngineProblem,
    ListedRow,
    RefreshFinished,
)
from console.tui.problems import explain, short_state
from console.tui.rows import DESCENDING_FIRST, SortOrder, cell_texts, columns
from console.tui.widgets.prompt import Prompt, typing_into
from console.tui.widgets.status_bar import StatusBar
from console.tui.widgets.stuck_detail import StuckDetail
from console.tui.widgets.tables import ExecutionsTable

if TYPE_CHECKING:
    from console.tui.app import OpsdeckApp

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
        Binding("j", "cursor(1)", "Down", show=False, id="opsdeck.down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="opsdeck.up"),
        Binding("g,home", "first_row", "First row", show=False, id="opsdeck.first"),
        Binding("G,end", "last_row", "Last row", show=False, id="opsdeck.last"),
        Binding(
            "greater_than_sign",
            "sort(1)",
            "Sort by next column",
            show=False,
            id="opsdeck.sort-next",
        ),
        Binding(
            "less_than_sign",
            "sort(-1)",
            "Sort by previous column",
            show=False,
            id="opsdeck.sort-previous",
        ),
        Binding("I", "invert_sort", "Invert sort", show=False, id="opsdeck.sort-invert"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.stuck_only = False
        self.row_filter = RowFilter()
        self.sort_by = SortOrder()
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
        yield ExecutionsTable(id="executions", cursor_type="row", zebra_stripes=True)
        yield StuckDetail(id="stuck-detail")
        yield Prompt(id="prompt", completer=self._complete)
        yield StatusBar(id="status")
        yield Footer()

    @property
    def table(self) -> ExecutionsTable:
        return self.query_one("#executions", ExecutionsTable)

    def on_mount(self) -> None:
        self._set_columns()
        self.reset_engines()
        interval = self.opsdeck.refresh_interval
        if interval > 0:
            self._timer = self.set_interval(interval, self._tick)
        self.action_reload()

    # -- data -------------------------------------------------------------------

    def reset_engines(self) -> None:
        """(Re)build per-engine state, e.g. after a context switch: a filter or marks
        made for the old context's rows must not silently apply to the new one."""
        self.engines = {name: EngineState() for name in self.opsdeck.session.engines}
        self.row_filter = RowFilter()
        self.marked.clear()
        self._anchor = None
        self._reported.clear()
        self.query_one(Prompt).close()
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
        # An apply changed the marked runs (closed, reset): a second `r` must not aim at
        # them again, so the marks go and the list is fetched afresh.
        self.marked.clear()
        self._anchor = None
        self._render_rows()
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.engines and not self._refreshing:
            self.action_reload()

    # -- table --------------------------------------------------------------------

    @property
    def column_keys(self) -> list[str]:
        return [key for key, _ in columns(self.stuck_only)]

    def _set_columns(self) -> None:
        """Headers, with the sort arrow on the sorted one; clears the rows too."""
        table = self.table
        table.clear(columns=True)
        self.sort_by = self.sort_by.shown_in(self.column_keys)
        table.add_column(" ", key="mark")
        for key, label in columns(self.stuck_only):
            table.add_column(self.sort_by.label(key, label), key=key)
        self.query_one(StuckDetail).set_class(self.stuck_only, "-shown")

    def _render_rows(self, cursor_key: str | None = None) -> None:
        table = self.table
        if cursor_key is None and self.current_row:
            cursor_key = self.current_row.key
        # One row per key: paging while executions change can list a run twice.
        unique = {row.key: row for state in self.engines.values() for row in state.rows}
        now = self.opsdeck.now()
        texts = {key: cell_texts(row, now) for key, row in unique.items()}
        shown = self.column_keys
        # The filter sees exactly the text on screen, every column of it.
        matching = [
            row
            for row in unique.values()
            if self.row_filter.matches(texts[row.key][key] for key in shown)
        ]
        self.shown_rows = self.sort_by.sort(matching, texts)
        self.marked &= {row.key for row in self.shown_rows}
        table.clear()
        labels = dict(columns(self.stuck_only))
        table.fix_widths(
            {
                key: max(
                    [cell_len(self.sort_by.label(key, labels[key]))]
                    + [cell_len(texts[row.key][key]) for row in self.shown_rows]
                )
                for key in shown
            }
        )
        cursor_index = 0
        for index, row in enumerate(self.shown_rows):
            text = texts[row.key]
            cells = [table.text(MARK if row.key in self.marked else "", "row--marked")]
            for key in shown:
                if key == "status":
                    cells.append(table.status_text(row.execution.status))
                else:
                    cells.append(table.text(text[key], "cell--warning" if key == "rule" else None))
            table.add_row(*cells, key=row.key)
            if row.key == cursor_key:
                cursor_index = index
        if self.shown_rows:
            table.move_cursor(row=cursor_index, animate=False)
        self._cursor_moved()
        self._update_status()

    def _rebuild(self) -> None:
        """New columns (stuck mode, sort arrow) and rows, the cursor staying on its run."""
        cursor_key = self.current_row.key if self.current_row else None
        self._set_columns()
        self._render_rows(cursor_key)

    def _cursor_moved(self) -> None:
        """What depends on the cursor row: the stuck detail line and which keys apply."""
        row = self.current_row
        if self.stuck_only:
            detail = self.query_one(StuckDetail)
            detail.show_hits(
                row.execution.ref.workflow_id if row else None, row.hits if row else ()
            )
        self.refresh_bindings()

    @property
    def current_row(self) -> ListedRow | None:
        if not self.shown_rows:  # also before the table exists (bindings are asked early)
            return None
        cursor = self.table.cursor_row
        return self.shown_rows[cursor] if 0 <= cursor < len(self.shown_rows) else None

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

    @on(DataTable.RowHighlighted, "#executions")
    def _row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._cursor_moved()

    @on(DataTable.HeaderSelected, "#executions")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        if column not in self.column_keys:
            return
        if column == self.sort_by.column:
            self.sort_by = self.sort_by.inverted()
        else:
            self.sort_by = SortOrder(column, column in DESCENDING_FIRST)
        self._rebuild()

    # -- actions --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter" and typing_into(self.app.focused):
            return None  # `/` is a character in a text field (the filter is a priority key)
        # False hides the binding everywhere (footer, help, palette), as k9s --readonly;
        # also when no selected row's engine can do it (Signal on Step Functions).
        return self._refusal(action) is None

    def _refusal(self, action: str) -> str | None:
        if action not in CHANGE_ACTIONS:
            return None
        engines = self.opsdeck.session.engines
        return refusal(action, self.targets(), engines, self.opsdeck.read_only)

    def on_key(self, event: events.Key) -> None:
        """A hidden change key was pressed: say why nothing happens (bindings run later,
        in the app, so an enabled key passes through untouched)."""
        if typing_into(self.app.focused):
            return
        for namespace, bindings in self._binding_chain:  # keys as remapped by the keymap
            if namespace is not self:
                continue
            for binding in bindings.key_to_bindings.get(event.key, ()):
                reason = self._refusal(binding.action)
                if reason is not None:
                    event.stop()
                    self.notify(escape(reason), title=binding.description, severity="warning")
                    return

    def action_cursor(self, step: int) -> None:
        table = self.table
        if self.shown_rows:
            row = max(0, min(len(self.shown_rows) - 1, table.cursor_row + step))
            table.move_cursor(row=row, animate=False)

    def action_first_row(self) -> None:
        if self.shown_rows:
            self.table.move_cursor(row=0, animate=False)

    def action_last_row(self) -> None:
        if self.shown_rows:
            self.table.move_cursor(row=len(self.shown_rows) - 1, animate=False)

    def action_sort(self, step: int) -> None:
        self.sort_by = self.sort_by.step(step, self.column_keys)
        self._rebuild()

    def action_invert_sort(self) -> None:
        self.sort_by = self.sort_by.inverted()
        self._rebuild()

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
        self.refresh_bindings()  # the targets changed: so may the keys that apply
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
        self._rebuild()
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
            if command.argument:
                self.opsdeck.switch_context(command.argument)
            else:
                self.pick_context()
        elif command.name == "runbooks":
            from console.tui.screens.runbook import open_runbooks

            open_runbooks(self.app, command.argument)
        elif command.name == "corr":
            self.opsdeck.open_correlation(command.argument)
        elif command.name == "dlq":
            from console.tui.screens.dlq import open_dlq

            open_dlq(self.app)
        elif command.name == "chaos":
            from console.tui.screens.chaos import open_chaos

            open_chaos(self.app, command.argument)
        elif command.name == "approvals":
            from console.tui.screens.approvals import open_approvals

            open_approvals(self.app, command.argument)

    def pick_context(self) -> None:
        """`:ctx` alone: choose from the config's contexts (enter switches)."""
        app = self.opsdeck
        names = app.context_names()
        if not names:
            app.switch_context("")  # says why: no config contexts, or no switching here
            return
        from console.tui.screens.context_picker import ContextPicker

        def chosen(name: str | None) -> None:
            if name and name != app.context_name:
                app.switch_context(name)

        app.push_screen(ContextPicker(names, app.context_name), chosen)

    def _complete(self, text: str) -> list[str]:
        return completions(text, self._argument_values)

    def _argument_values(self, command: str) -> list[str]:
        """What Tab offers after a command: contexts, runbooks, listed workflow ids."""
        if command == "ctx":
            return self.opsdeck.context_names()
        if command == "runbooks":
            return runbook_names()
        if command == "corr":
            return [row.execution.ref.workflow_id for row in self.shown_rows]
        if command == "refresh":
            return ["off"]
        if command == "chaos":
            from console.tui.screens.chaos import experiment_names

            return experiment_names()
        if command == "approvals":
            from console.tui.screens.approvals import open_request_ids

            return open_request_ids()
        return []

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

    def _remediate(
        self, action: str, kind: ActionKind, params: dict[str, str] | None = None
    ) -> None:
        targets = self.targets()
        if not targets:
            self.notify("no execution selected", severity="warning")
            return
        # Marked rows can span engines: leave out those whose engine cannot, and say so.
        able, refused = split_targets(action, targets, self.opsdeck.session.engines)
        for engine, reason in refused.items():
            skipped = sum(ref.engine == engine for ref in targets)
            self.notify(
                escape(f"{skipped} on {engine} left out: {reason}"),
                title=kind.value,
                severity="warning",
            )
        if able:
            self.opsdeck.start_action(kind, able, params)

    def action_retry(self) -> None:
        self._remediate("retry", ActionKind.RETRY)

    def action_retry_activity(self) -> None:
        """Reset the pending activities' attempts instead of the workflow."""
        self._remediate("retry_activity", ActionKind.RETRY, {"mode": "activity"})

    def action_cancel(self) -> None:
        self._remediate("cancel", ActionKind.CANCEL)

    def action_terminate(self) -> None:
        self._remediate("terminate", ActionKind.TERMINATE)

    def action_signal(self) -> None:
        self._remediate("signal", ActionKind.SIGNAL)
