"""Executions view: every engine of the context in one table, k9s style.

Each engine is listed concurrently in one exclusive worker; every engine posts its own
result, so a slow or dead engine never holds back the others, and its state (rows,
``loading``, ``unreachable (...)``) stays visible in the status bar.

Rows are virtual (console.tui.paging): each engine shows a window of its listing, the
next page is read when the cursor nears the end (or `G`, or a scroll), and the window
is re-read from further back when the cursor nears its top. `/` filters the loaded
rows; on enter, text in query form lists that visibility query on the server instead,
and other text that no loaded row matches is searched for on the server
(executions_search.py; `ctrl+f` searches even when loaded rows match).

Keys: j/k, g/G and home/end move as in k9s; `<` `>` pick the sort column and `I`
inverts it (htop: k9s's shift+letter would need `S`, which is signal here). A change
key the selected rows' engine cannot do is hidden, and says why when pressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.markup import escape
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from console.model import ActionKind, ExecutionRef
from console.tui.completion import completions
from console.tui.format import RowFilter
from console.tui.guards import CHANGE_ACTIONS as CHANGE_ACTIONS  # execution.py imports it here
from console.tui.guards import refusal, split_targets
from console.tui.messages import ListedRow
from console.tui.paging import PAGE, is_server_query
from console.tui.row_diff import Appended, appended
from console.tui.rows import DESCENDING_FIRST, SortOrder, cell_texts, columns
from console.tui.screens.executions_commands import argument_values, run_command
from console.tui.screens.executions_search import SearchingExecutions
from console.tui.widgets.prompt import Prompt, typing_into
from console.tui.widgets.status_bar import StatusBar
from console.tui.widgets.stuck_detail import StuckDetail
from console.tui.widgets.tables import ExecutionsTable

MARK = "●"
FOOTER_AT_THE_LATEST = 1.0  # seconds after mount: the footer, should no engine answer


class ExecutionsScreen(SearchingExecutions):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="opsdeck.filter", priority=True),
        Binding("enter", "open", "Open", id="opsdeck.open"),
        Binding(
            "ctrl+f",
            "search_server",
            "Search server",
            show=False,
            id="opsdeck.search-server",
            priority=True,  # also while typing at `/`
        ),
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
        self.sort_by = SortOrder()
        self._keys_shown: tuple[str | None, ...] | None = None  # refusals the footer shows
        self._timer: Timer | None = None
        self._marks_drawn: set[str] = set()  # the marks the table's rows show

    def compose(self) -> ComposeResult:
        yield Static(id="crumbs")
        yield ExecutionsTable(id="executions", cursor_type="row", zebra_stripes=True)
        yield StuckDetail(id="stuck-detail")
        yield Static(id="filter-hint")
        yield Prompt(id="prompt", completer=self._complete)
        yield StatusBar(id="status")
        # No Footer yet: composing its keys (~80 ms) held back the first rows (issue 13);
        # it is mounted once the first answer is on screen (first_answer_shown).

    def on_mount(self) -> None:
        self._set_columns()
        self.reset_engines()
        self.set_timer(FOOTER_AT_THE_LATEST, self._mount_footer)  # no engine answered
        interval = self.opsdeck.refresh_interval
        if interval > 0:
            self._timer = self.set_interval(interval, self._tick)
        self.action_reload()

    async def first_answer_shown(self, rows: bool) -> None:
        await self._mount_footer()
        await super().first_answer_shown(rows)

    async def _mount_footer(self) -> None:
        if not self.query(Footer):
            await self.mount(Footer())
            self.refresh_bindings()  # a Footer composes its keys on the next refresh

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
        drawn = self.shown_rows if table.row_count == len(self.shown_rows) else []
        self.shown_rows = self.sort_by.sort(matching, texts)
        self.marked &= {row.key for row in self.shown_rows}
        change = appended(drawn, self.shown_rows)
        if change is not None and self._marks_kept(drawn, change):
            # A page at the end: add it and drop the trimmed top, no rebuild (issue 13).
            table.drop_first_rows(change.trimmed)
            table.widen(self._widths(change.added, texts, labels=False))
            self._add_rows(change.added, texts)
        else:
            table.clear()
            table.fix_widths(self._widths(self.shown_rows, texts, labels=True))
            self._add_rows(self.shown_rows, texts)
        self._marks_drawn = set(self.marked)
        if self.shown_rows:
            index = {row.key: i for i, row in enumerate(self.shown_rows)}
            table.move_cursor(row=index.get(cursor_key or "", 0), animate=False)
        self._cursor_moved()
        self._update_status()

    def _marks_kept(self, drawn: list[ListedRow], change: Appended) -> bool:
        """Whether the rows kept on screen show the marks they should (marks changed
        since the last render, e.g. escape cleared them: a full rebuild)."""
        kept = {row.key for row in drawn[change.trimmed :]}
        return self.marked & kept == self._marks_drawn & kept

    def _widths(
        self, rows: Sequence[ListedRow], texts: dict[str, dict[str, str]], labels: bool
    ) -> dict[str, int]:
        """Each data column's width for ``rows`` (and its header, with ``labels``)."""
        names = dict(columns(self.stuck_only))
        return {
            key: max(
                [cell_len(self.sort_by.label(key, names[key])) if labels else 0]
                + [cell_len(texts[row.key][key]) for row in rows]
            )
            for key in self.column_keys
        }

    def _add_rows(self, rows: Sequence[ListedRow], texts: dict[str, dict[str, str]]) -> None:
        table = self.table
        shown = self.column_keys
        for row in rows:
            text = texts[row.key]
            cells = [table.text(MARK if row.key in self.marked else "", "row--marked")]
            for key in shown:
                if key == "status":
                    cells.append(table.status_text(row.execution.status))
                else:
                    cells.append(table.text(text[key], "cell--warning" if key == "rule" else None))
            table.add_row(*cells, key=row.key)

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
        # Only when a key's availability changes: each refresh makes the Footer build its
        # keys anew, and Textual 8 keeps the old ones (~10 widgets a move, RSS grew with
        # every page read: bench/RESULTS.md, issue 13).
        keys = tuple(self._refusal(action) for action in CHANGE_ACTIONS)
        if keys != self._keys_shown:
            self._keys_shown = keys
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
        """Top line: what is listed and how much; bottom line: where and what failed."""
        app = self.opsdeck
        states = self.engines.values()
        loaded = sum(len(s.rows) for s in states)
        crumbs = ["stuck executions" if self.stuck_only else "executions"]
        listing = self.listing_label()
        if listing:
            crumbs.append(listing)
        shown = f"{loaded:,}"
        if self.row_filter.active:
            shown = f"{len(self.shown_rows):,} of {shown}"
        if not all(s.complete for s in states):
            totals = [s.total for s in states]
            known = "?" if None in totals else f"{sum(t or 0 for t in totals):,}"
            shown = f"{shown} loaded / {known}"
        crumbs.append(shown)
        if self.row_filter.active:
            crumbs.append(f"/{self.row_filter.text}")
        interval = app.refresh_interval
        auto = "auto refresh off" if self.paused or interval <= 0 else f"every {interval:g}s"
        # One line high (opsdeck.tcss): no layout pass for new text.
        self.query_one("#crumbs", Static).update(Text(" · ".join(crumbs)), layout=False)
        self.query_one(StatusBar).show(
            context=app.context_name,
            read_only=app.read_only,
            production=app.production,
            engines=[(name, s.text, s.ok) for name, s in self.engines.items()],
            marked=len(self.marked),
            refreshed=f"refreshed {self.last_refresh} ({auto})",
        )
        self.show_hint()

    @on(DataTable.RowSelected, "#executions")
    def _row_selected(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    @on(DataTable.RowHighlighted, "#executions")
    def _row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._cursor_moved()
        self._page_near_edge(self.table.cursor_row)

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
        self._armed = True  # a move this key makes may read the next page
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
        deep = {name: (0, PAGE) for name, s in self.engines.items() if s.offset}
        if deep and not self.stuck_only:  # the first rows were dropped: read them again
            self._cursor_to_top = True
            self._start_load(deep, recount=False)

    def action_last_row(self) -> None:
        """The last loaded row, and the next page behind it (k9s's `G` at scale)."""
        if self.shown_rows:
            self.table.move_cursor(row=len(self.shown_rows) - 1, animate=False)
        self.load_more()

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
        self._marks_drawn = set(self.marked)
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
        """escape: the local filter first, then a server search (back to the listing
        before it), then the server query, then the marks."""
        if self.row_filter.active:
            self.apply_filter("")
        elif self.leave_search():
            pass
        elif self.server_query:
            self.server_query = None
            self._restart()
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
        self._restart()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.notify("auto refresh paused" if self.paused else "auto refresh resumed", timeout=2)
        self._update_status()

    def action_filter(self) -> None:
        self._filter_before = self.row_filter.text
        self._cursor_before = self.current_row.key if self.current_row else None
        self.query_one(Prompt).open("filter", self.row_filter.text)

    def action_command(self) -> None:
        self.query_one(Prompt).open("command")

    def apply_filter(self, text: str) -> None:
        self.row_filter = RowFilter(text)
        self._render_rows()

    def apply_query(self, query: str) -> None:
        """List a visibility query on the server. The table changes only once an engine
        accepts it; a refused query is reported in the server's words, nothing else."""
        self.apply_filter(self._filter_before)  # the live filter typed it; undo that
        if self.stuck_only:
            self.notify("a server query lists executions: leave stuck mode (s) first")
            return
        self._start_load({name: (0, PAGE) for name in self.engines}, True, query.strip())

    def show_marked(self, query: str, keys: set[str], engine: str | None = None) -> None:
        """List a server query with the rows of ``keys`` (refs) marked: `:triage` opens
        one failure group's runs this way, ready for the change keys. With ``engine``,
        only that engine is asked (the query is in its syntax; another engine would
        refuse it), as a search: escape goes back to the listing."""
        if self.stuck_only:
            self.stuck_only = False
            self._set_columns()
        self.marks_to_come = set(keys)
        if engine is None or engine not in self.engines:
            self.apply_query(query)
            return
        from console.tui.search import EngineListing

        others = {name: "not in this listing" for name in self.engines if name != engine}
        listing = EngineListing(query, {engine: query}, others)
        row = self.current_row
        self.run_search(listing, self.row_filter.text, row.key if row else None)

    @on(Prompt.Edited)
    def _prompt_edited(self, message: Prompt.Edited) -> None:
        self.apply_filter(message.value)

    @on(Prompt.Applied)
    def _prompt_applied(self, message: Prompt.Applied) -> None:
        self.table.focus()
        if message.mode == "filter" and is_server_query(message.value):
            self.apply_query(message.value)
        elif message.mode == "filter":
            self.enter_filter(message.value, self._filter_before)
        elif message.value:
            self.run_command(message.value)

    @on(Prompt.Dismissed)
    def _prompt_dismissed(self, _: Prompt.Dismissed) -> None:
        self.table.focus()

    def run_command(self, text: str) -> None:
        run_command(self, text)

    def _complete(self, text: str) -> list[str]:
        return completions(text, lambda command: argument_values(self, command))

    def set_refresh(self, argument: str) -> None:
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
