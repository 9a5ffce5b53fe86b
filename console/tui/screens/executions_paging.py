"""Loading of the executions view: each engine's window of rows, read in workers.

The screen (executions.py) renders and acts; this base keeps per-engine state
(console.tui.paging.EngineState), reads windows and next pages, counts, and applies
the results that come back as messages. Workers never touch widgets.

When pages load: the cursor (j/k, arrows, pgdn) or a scroll coming within LOAD_AHEAD
rows of the loaded end reads the next page; coming that near the top of a window that
left rows behind re-reads further back. Only the user's moves do this (``_armed``), so
a render that leaves the cursor near the end never reads on through the listing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from rich.markup import escape
from textual import events, work

from console.tui.format import RowFilter
from console.tui.keys import KeysScreen
from console.tui.messages import (
    DataChanged,
    EngineCounted,
    EngineLoaded,
    ListedRow,
    QueryAccepted,
    QueryRejected,
    RefreshFinished,
)
from console.tui.paging import LOAD_AHEAD, PAGE, WINDOW, EngineState, RowSource
from console.tui.screens.executions_loading import WindowRead, problem, read_count, read_window
from console.tui.widgets.prompt import Prompt
from console.tui.widgets.tables import ExecutionsTable

if TYPE_CHECKING:
    from console.tui.app import OpsdeckApp

Plan = dict[str, tuple[int, int]]  # engine -> (first row, rows wanted) of a fresh window


class PagedExecutions(KeysScreen[None]):
    """Per-engine windows of the executions listing; the subclass draws them."""

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
        self._reported: set[tuple[str, str]] = set()
        self.server_query: str | None = None  # a visibility query typed at `/`
        self.marks_to_come: set[str] = set()  # marked once a server query is accepted
        self._filter_before = ""  # the filter as it was when `/` opened
        self._cursor_to_top = False  # `g` past the window: row 0 once re-read
        # Pages load on the user's moves only: a render that leaves the cursor near the
        # end (a filter hiding the new rows) must not read on through the listing.
        self._armed = False
        self._more_after_refresh = False  # `G` came during a refresh: read on after it
        self._table: ExecutionsTable | None = None
        self._answer_shown = self._rows_shown = False  # the first answer, the first rows

    @property
    def opsdeck(self) -> OpsdeckApp:
        return cast("OpsdeckApp", self.app)

    @property
    def table(self) -> ExecutionsTable:
        # Looked up once: every cursor move asks for it (a DOM query each: ~0.7 ms).
        if self._table is None:
            self._table = self.query_one("#executions", ExecutionsTable)
        return self._table

    def reset_engines(self) -> None:
        """(Re)build per-engine state, e.g. after a context switch: a filter, a query or
        marks made for the old context's rows must not silently apply to the new one."""
        self.engines = {name: EngineState() for name in self.opsdeck.session.engines}
        self.row_filter = RowFilter()
        self.server_query = None
        self.marked.clear()
        self._anchor = None
        self._reported.clear()
        self.query_one(Prompt).close()
        self._render_rows()

    def _tick(self) -> None:
        # Not while a next page is read: the refreshed window would replace its source
        # and the page would be dropped (`G` seemed to do nothing on a slow server).
        reading = any(state.busy for state in self.engines.values())
        if not self.paused and not self._refreshing and not reading and self.is_current:
            # A window deep in the listing stays put: re-reading it means skipping to it.
            self.action_reload(recount=False, deep=False)

    def listed(self) -> dict[str, EngineState]:
        """The engines the table lists now (a server search leaves some out)."""
        return self.engines

    def listing_query(self, name: str) -> str | None:
        """What ``name`` lists now: the server query typed at `/`, if any."""
        return self.server_query

    def _window_plan(self, deep: bool = True) -> Plan:
        """Each engine's current window, to be read again (at least one page)."""
        return {
            name: (state.offset, max(PAGE, len(state.rows)))
            for name, state in self.listed().items()
            if deep or state.offset == 0
        }

    def action_reload(self, recount: bool = True, deep: bool = True) -> None:
        self._start_load(self._window_plan(deep), recount)

    def _restart(self) -> None:
        """List from the top: new query, stuck mode or context."""
        for state in self.listed().values():
            state.rows, state.loaded, state.offset, state.total = [], False, 0, None
            state.source = None
        self._start_load({name: (0, PAGE) for name in self.listed()}, recount=True)

    def _start_load(
        self,
        plan: Plan,
        recount: bool,
        query: str | None = None,
        queries: dict[str, str] | None = None,
        label: str | None = None,
    ) -> None:
        """Read ``plan``. ``query`` (one for all) or ``queries`` (per engine, named
        ``label``): a new server query, which replaces the table only once an engine
        accepts it."""
        self._generation += 1
        self._refreshing = True
        for name in plan:
            state = self.engines[name]
            if not state.loaded:
                state.text, state.ok = "loading…", True
        self._update_status()
        validate = query is not None or queries is not None
        if queries is not None:
            raws: dict[str, str | None] = {name: queries[name] for name in plan}
        elif query is not None:
            raws = dict.fromkeys(plan, query)
        else:
            raws = {name: self.listing_query(name) for name in plan}
        label = label if label is not None else query
        self.load(self._generation, self.stuck_only, raws, plan, recount, validate, label)

    @work(exclusive=True, group="executions", exit_on_error=False)
    async def load(
        self,
        generation: int,
        stuck_only: bool,
        raws: dict[str, str | None],
        plan: Plan,
        recount: bool,
        validate: bool,
        label: str | None,
    ) -> None:
        """Read the planned windows, each engine with its query in ``raws``.
        ``validate``: the queries are new (``label`` names them), and replace the table
        only if some engine accepts its own."""
        app = self.opsdeck
        timeout = app.engine_timeout
        engines = {name: app.session.engines[name] for name in plan}

        def loaded(name: str, read: WindowRead) -> EngineLoaded:
            return EngineLoaded(generation, name, read.rows, read.error, read.source)

        async def window(name: str) -> RowSource | None:
            start, wanted = plan[name]
            read = await read_window(
                name,
                engines[name],
                stuck_only=stuck_only,
                raw=raws[name],
                start=start,
                wanted=wanted,
                timeout=timeout,
            )
            results[name] = read
            if not validate:
                self.post_message(loaded(name, read))
            return read.source

        async def count(name: str, source: RowSource | None) -> None:
            if recount and source is not None and not source.exhausted:
                total = await read_count(engines[name], raws[name], timeout)
                self.post_message(EngineCounted(generation, name, total))

        async def both(name: str) -> None:
            await count(name, await window(name))

        results: dict[str, WindowRead] = {}
        if not validate:
            await asyncio.gather(*(both(name) for name in engines))
        else:
            await asyncio.gather(*(window(name) for name in engines))
            if all(read.rejected for read in results.values()):
                reasons = [(name, read.rejected or "") for name, read in results.items()]
                self.post_message(QueryRejected(label or "", reasons))
                self.post_message(RefreshFinished(generation))
                return
            self.post_message(QueryAccepted(generation, label or ""))
            for name, read in results.items():
                self.post_message(loaded(name, read))
            await asyncio.gather(*(count(name, read.source) for name, read in results.items()))
        self.post_message(RefreshFinished(generation))

    @work(group="executions-more", exit_on_error=False)
    async def read_more(self, generation: int, name: str, source: RowSource) -> None:
        """The engine's next page, from the source its window was read from."""
        timeout = self.opsdeck.engine_timeout
        try:
            rows = await asyncio.wait_for(source.read(PAGE), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a backend failure must never end the app
            self.post_message(
                EngineLoaded(generation, name, [], problem(name, exc, timeout), source, more=True)
            )
        else:
            self.post_message(EngineLoaded(generation, name, rows, None, source, more=True))

    def load_more(self) -> None:
        """The next page of every engine with more, unless one is being read."""
        self._armed = False  # one page per move of the user's
        if self.stuck_only:
            return
        if self._refreshing:
            # A window being re-read replaces the source this page would come from (the
            # page was dropped: `G` did nothing during a slow auto refresh): read it after.
            self._more_after_refresh = True
            return
        for name, state in self.engines.items():
            if state.has_more and not state.busy and state.source is not None:
                state.busy = True
                self.read_more(self._generation, name, state.source)

    def load_earlier(self) -> None:
        """Re-read further back for every engine whose window has left rows behind."""
        self._armed = False
        if self.stuck_only or self._refreshing:
            return
        plan = {
            name: (max(0, state.offset - WINDOW // 2), WINDOW)
            for name, state in self.engines.items()
            if state.offset > 0 and not state.busy
        }
        if plan:
            self._start_load(plan, recount=False)

    def on_engine_loaded(self, message: EngineLoaded) -> None:
        state = self.engines.get(message.engine)
        if state is None:
            return
        if message.more:
            if message.source is not state.source:
                return  # a page of a window read since replaced
            state.busy = False
        elif message.generation != self._generation:
            return
        if message.error is None:
            if message.more:
                state.append(message.rows)
            else:
                state.replace(message.rows, message.source)
            state.text = state.describe(self.stuck_only)
            self._reported = {r for r in self._reported if r[0] != message.engine}
        else:
            problem = message.error
            if not message.more:  # a failed next page keeps the rows already shown
                state.rows, state.source, state.offset = [], None, 0
            state.loaded, state.ok, state.text, state.busy = True, False, problem.state, False
            # Notify once per distinct problem, not on every auto refresh.
            if (message.engine, problem.state) not in self._reported:
                self._reported.add((message.engine, problem.state))
                self.notify(
                    escape(problem.text),
                    title=escape(problem.title),
                    severity="warning" if problem.warning_only else "error",
                    timeout=8,
                )
        cursor_top = self._cursor_to_top and not message.more
        self._render_rows()
        if cursor_top and self.shown_rows:
            self._cursor_to_top = False
            self.table.move_cursor(row=0, animate=False)
        if not self._answer_shown or (message.rows and not self._rows_shown):
            # Once painted, what waited for the first answer starts (app.listing_shown).
            self._answer_shown = True
            self._rows_shown = bool(message.rows)
            self.call_after_refresh(self.first_answer_shown, self._rows_shown)

    async def first_answer_shown(self, rows: bool) -> None:
        """The first answer (``rows``: the first rows) is painted; the subclass extends."""
        self.opsdeck.listing_shown(rows)

    def on_engine_counted(self, message: EngineCounted) -> None:
        state = self.engines.get(message.engine)
        if state is None or message.generation != self._generation:
            return
        if state.has_more:  # an exhausted listing knows its total better
            state.total = message.total
            if state.ok:
                state.text = state.describe(self.stuck_only)
        self._update_status()

    def on_query_accepted(self, message: QueryAccepted) -> None:
        if message.generation == self._generation:
            self.query_accepted(message)

    def query_accepted(self, message: QueryAccepted) -> None:
        """The table lists a new server query from now on (a subclass may extend this:
        Textual calls every class's ``on_`` handler, so extend this, not that)."""
        self.server_query = message.query
        self.row_filter = RowFilter()  # the query replaces what was typed to filter
        self.marked = self.marks_to_come  # usually none: `:triage` marks a group's runs
        self.marks_to_come = set()
        for state in self.engines.values():
            state.total, state.loaded = None, False

    def on_query_rejected(self, message: QueryRejected) -> None:
        self.marks_to_come = set()
        self.query_rejected()
        for engine, reason in message.reasons:
            self.notify(escape(reason), title=escape(f"{engine}: query refused"), severity="error")

    def on_refresh_finished(self, message: RefreshFinished) -> None:
        if message.generation != self._generation:
            return
        self._refreshing = False
        self.last_refresh = self.opsdeck.now().strftime("%H:%M:%S")
        self._update_status()
        if self._more_after_refresh:
            self._more_after_refresh = False
            self.load_more()

    def on_data_changed(self, _: DataChanged) -> None:
        # An apply changed the marked runs (closed, reset): a second `r` must not aim at
        # them again, so the marks go and the list is fetched afresh.
        self.marked.clear()
        self._anchor = None
        self._render_rows()
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.engines and not self._refreshing:
            self.action_reload(recount=False, deep=False)

    def _page_near_edge(self, position: int) -> None:
        """Read on when ``position`` (cursor or scroll) nears the loaded rows' end, or
        further back when it nears their top and rows were left behind."""
        if not self._armed or not self.shown_rows:
            return
        if position >= len(self.shown_rows) - LOAD_AHEAD:
            self.load_more()
        elif position < LOAD_AHEAD and any(s.offset for s in self.engines.values()):
            self.load_earlier()

    def on_mouse_scroll_down(self, _: events.MouseScrollDown) -> None:
        self._armed = True
        table = self.table
        self._page_near_edge(round(table.scroll_y) + table.scrollable_content_region.height)

    def on_mouse_scroll_up(self, _: events.MouseScrollUp) -> None:
        self._armed = True
        self._page_near_edge(round(self.table.scroll_y))

    def query_rejected(self) -> None:
        """Every engine refused the new query: nothing changes (subclasses forget it)."""

    def _render_rows(self, cursor_key: str | None = None) -> None:
        raise NotImplementedError

    def _update_status(self) -> None:
        raise NotImplementedError
