"""Server search from the `/` filter of the executions view (issue 13).

The filter matches the loaded rows only, and instantly (no server call per key). When
they hold no match, or the listing has more rows than are loaded, a hint line under
the table says so; `enter` on text with no loaded match (or `ctrl+f` at any time)
asks the engines themselves (console.tui.search builds each one's query), and the
answer replaces the table like a typed query, with its count and paging. `escape`
goes back to the listing as it was: its rows, window, query, filter, marks and cursor
(kept while the search is on screen, at most one window per engine), then re-reads
the top windows so they are fresh.

An engine that cannot search (Step Functions, Logic Apps) is left out of the result,
says why in a notification and in the status bar, and is listed again on escape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rich.markup import escape
from textual.widgets import Static

from console.tui.format import RowFilter
from console.tui.messages import ListedRow, QueryAccepted
from console.tui.paging import PAGE, EngineState
from console.tui.screens.executions_paging import PagedExecutions
from console.tui.search import Search, plan_search, search_query, searchable_text
from console.tui.widgets.prompt import Prompt


@dataclass
class Listing:
    """What the table listed before a search: escape puts it back."""

    engines: dict[str, EngineState]
    busy: set[str]  # engines whose next page was in flight: their window is re-read
    server_query: str | None
    filter_text: str
    marked: set[str]
    cursor_key: str | None


class SearchingExecutions(PagedExecutions):
    """Paged executions plus the server search offered by the `/` filter."""

    def __init__(self) -> None:
        super().__init__()
        self.search: Search | None = None  # the server search the table lists
        # generation, search, and the filter and cursor row that escape restores
        self._pending: tuple[int, Search, str, str | None] | None = None
        self._cursor_before: str | None = None  # the cursor's row when `/` opened
        self._before: Listing | None = None

    # -- what is listed -------------------------------------------------------------

    def listed(self) -> dict[str, EngineState]:
        if self.search is None:
            return self.engines
        return {n: s for n, s in self.engines.items() if n not in self.search.skipped}

    def listing_query(self, name: str) -> str | None:
        if self.search is not None:
            return self.search.queries.get(name)
        return self.server_query

    def listing_label(self) -> str | None:
        """The top line's word on what is listed: ``query ...`` or ``search '...'``."""
        if self.search is not None:
            return self.search.label
        return f"query {self.server_query}" if self.server_query else None

    def reset_engines(self) -> None:
        self.search, self._pending, self._before = None, None, None
        super().reset_engines()

    # -- starting a search ----------------------------------------------------------

    def enter_filter(self, text: str, before: str) -> None:
        """`enter` on filter text: keep it as the filter; with no loaded match while
        more rows exist, search the server (``before``: the filter escape restores)."""
        self.apply_filter(text)
        if self.shown_rows or not searchable_text(text) or self.stuck_only:
            return
        if any(not state.complete for state in self.listed().values()):
            self.search_server(text, before, self._cursor_before)

    def action_search_server(self) -> None:
        """`ctrl+f`: search the server for the filter text, even with loaded matches."""
        prompt = self.query_one(Prompt)
        if prompt.has_class("-open") and prompt.mode == "filter":
            text, before, cursor = prompt.value, self._filter_before, self._cursor_before
            prompt.close()
            self.table.focus()
            self.apply_filter(text)
        else:
            row = self.current_row
            text, before = self.row_filter.text, self.row_filter.text
            cursor = row.key if row else None
        if not searchable_text(text):
            self.notify("type the text to search for at `/` first", title="search")
            return
        self.search_server(text, before, cursor)

    def search_server(self, text: str, before: str, cursor: str | None) -> None:
        if self.stuck_only:
            self.notify("a server search lists executions: leave stuck mode (s) first")
            return
        search = plan_search(self.opsdeck.session.engines, text)
        for name, reason in search.skipped.items():
            self.notify(escape(reason), title=escape(f"{name}: no server search"))
        self.run_search(search, before, cursor)

    def run_search(self, search: Search, before: str, cursor: str | None) -> None:
        """List ``search``: each engine its own query, the skipped ones left out;
        escape restores the listing as it is now (``before``: its filter text)."""
        if not search.queries:
            return
        plan = {name: (0, PAGE) for name in search.queries}
        self._start_load(plan, True, queries=search.queries, label=search.label)
        self._pending = (self._generation, search, before, cursor)
        self._update_status()

    # -- the answer, and escape -----------------------------------------------------

    def query_accepted(self, message: QueryAccepted) -> None:
        pending, self._pending = self._pending, None
        if pending is None or pending[0] != message.generation:
            self.search, self._before = None, None  # a typed query replaces a search
            super().query_accepted(message)
            return
        _, search, before, cursor = pending
        if self._before is None:  # a search from a search goes back to the listing
            self._before = self._snapshot(before, cursor)
        super().query_accepted(message)
        self.server_query, self.search = None, search
        for name in search.skipped:
            state = self.engines[name]
            state.rows, state.source, state.offset, state.total = [], None, 0, None
            state.loaded, state.ok, state.text = True, True, "not searched"

    def query_rejected(self) -> None:
        self._pending = None

    def _snapshot(self, filter_text: str, cursor: str | None) -> Listing:
        return Listing(
            engines={n: dataclasses.replace(s, rows=list(s.rows)) for n, s in self.engines.items()},
            busy={name for name, state in self.engines.items() if state.busy},
            server_query=self.server_query,
            filter_text=filter_text,
            marked=set(self.marked),
            cursor_key=cursor,
        )

    def leave_search(self) -> bool:
        """escape: the listing from before the search, at once; False if none."""
        before = self._before
        if self.search is None or before is None:
            return False
        self.search, self._before, self._pending = None, None, None
        self.engines = before.engines
        self.server_query = before.server_query
        self.row_filter = RowFilter(before.filter_text)
        self.marked = before.marked
        for state in self.engines.values():
            state.busy = False
        self._render_rows(before.cursor_key)
        # Fresh top windows (and a new source where a page was in flight); a window
        # deep in the listing stays as it was, as on an auto refresh.
        plan = {
            name: (state.offset, max(PAGE, len(state.rows)))
            for name, state in self.engines.items()
            if state.offset == 0 or name in before.busy
        }
        self._start_load(plan, recount=False)
        return True

    # -- drawn by the screen ---------------------------------------------------------

    def apply_filter(self, text: str) -> None:
        raise NotImplementedError

    @property
    def current_row(self) -> ListedRow | None:
        raise NotImplementedError

    # -- the hint line --------------------------------------------------------------

    def filter_hint(self) -> str | None:
        """Why the filter shows what it shows, and what would find more."""
        pending = self._pending
        if pending is not None and pending[0] == self._generation:
            return f"searching the server for {pending[1].text!r}…"
        if self.search is not None:
            if not self.shown_rows and not self._refreshing:
                return (
                    f"no execution on the server has an id starting with {self.search.text!r}"
                    " (or that type or run id) · escape goes back to the listing"
                )
            return "escape goes back to the listing"
        text = self.row_filter.text
        if not self.row_filter.active or self.stuck_only:
            return None
        listed = self.listed()
        loaded = sum(len(state.rows) for state in listed.values())
        matched = len(self.shown_rows)
        partial = [name for name, state in listed.items() if not state.complete]
        if not partial:
            return None if matched else f"no match in the {loaded:,} rows (all there are)"
        totals = [state.total for state in listed.values()]
        of = "?" if None in totals else f"{sum(t or 0 for t in totals):,}"
        found = f"{matched:,} match" if matched else "no match"
        head = f"{found} in the {loaded:,} loaded rows of {of}"
        if not searchable_text(text):
            return head
        engines = self.opsdeck.session.engines
        reasons = {name: search_query(engines[name], text.strip())[1] for name in partial}
        if all(reasons.values()):
            return head + " · " + "; ".join(f"{n}: {r}" for n, r in reasons.items())
        prompt = self.query_one(Prompt)
        typing = prompt.has_class("-open") and prompt.mode == "filter"
        key = "enter" if typing and not matched else "ctrl+f"
        return f"{head} · {key} searches the server"

    def show_hint(self) -> None:
        hint = self.filter_hint()
        if hint == getattr(self, "_hint_shown", ""):
            return  # an update is a layout pass of the whole screen (~0.1 s at 500 rows)
        self._hint_shown = hint
        widget = self.query_one("#filter-hint", Static)
        widget.update(hint or "")
        widget.set_class(hint is not None, "-shown")
