"""Correlation view: one context ID -> timeline, span waterfall, logs and metrics.

Opened with `:corr ID` (`:ctx` already switches contexts, as in k9s) or `c` on an
execution. The correlation (console.correlate) runs in one exclusive worker and comes
back as one message; sources that failed or timed out are listed in the status line
next to whatever the others returned. Logs: typing in the search box highlights the
matches and keeps every line (k9s users asked for exactly that). Enter on a timeline
row with a trace or an execution pivots to that trace or execution.

Keys 1-4 pick the tabs (digits collide with nothing here, and typed into the search
box they stay text). Escape in the search box only leaves the box; the next one
leaves the view.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import (
    DataTable,
    Footer,
    Input,
    Label,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from console.correlate import WORKFLOW_ATTRS
from console.tui.format import clock_time
from console.tui.keys import KeysScreen

if TYPE_CHECKING:
    from console.correlate import Correlation
    from console.model_telemetry import Span
    from console.tui.app import OpsdeckApp

BAR_WIDTH = 32
STATUS_STYLES = {"ok": "green", "skipped": "dim", "failed": "bold red", "timeout": "bold yellow"}


class CorrelationLoaded(Message):
    def __init__(self, result: Correlation | None, error: str | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error


def waterfall_rows(result: Correlation) -> list[tuple[Text, str, Text, Span]]:
    """(indented name, duration, bar, span) per span, parents before children."""
    from console.correlate import span_tree

    rows = span_tree(result.spans)
    starts = [s.start for _, s in rows if s.start]
    ends = [s.start + s.duration for _, s in rows if s.start and s.duration]
    t0 = min(starts) if starts else None
    total = (max(ends + starts) - t0).total_seconds() if t0 and (ends or starts) else 0.0
    out = []
    for depth, span in rows:
        style = "bold red" if span.error else ""
        label = Text("  " * depth + ("└ " if depth else ""))
        label.append(f"{span.service}: " if span.service else "", style="dim")
        label.append(span.name, style=style)
        if span.error:
            label.append("  ✗ error", style="bold red")
        took = _duration(span.duration.total_seconds()) if span.duration else "?"
        bar = Text()
        if t0 and span.start and total > 0:
            offset = int((span.start - t0).total_seconds() / total * BAR_WIDTH)
            length = (span.duration.total_seconds() if span.duration else 0) / total * BAR_WIDTH
            bar.append(" " * min(offset, BAR_WIDTH - 1))
            bar.append("█" * max(1, int(length)), style="red" if span.error else "cyan")
        out.append((label, took, bar, span))
    return out


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def log_text(result: Correlation, search: str) -> tuple[Text, int]:
    """Every log line, matches of ``search`` highlighted (case-insensitive), and a count."""
    text = Text()
    for source, line in result.logs:
        when = line.time.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3] if line.time else "?"
        text.append(f"{when} ", style="dim")
        text.append(f"{source} ", style="cyan")
        text.append(line.line + "\n")
    if not search:
        return text, 0
    count = text.highlight_regex(re.compile(re.escape(search), re.IGNORECASE), "reverse yellow")
    return text, count


class LogSearch(Input):
    """The log search box: escape leaves the box, not the view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Leave search", id="opsdeck.corr-search-leave"),
    ]

    def action_leave(self) -> None:
        self.screen.query_one("#corr-log-scroll", VerticalScroll).focus()


TAB_FOCUS = {
    "timeline": "#corr-timeline",
    "spans": "#corr-spans",
    "logs": "#corr-log-scroll",
    "metrics": "#corr-metrics",
}


class CorrelationScreen(KeysScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.corr-back"),
        Binding("1", "tab('timeline')", "Timeline", id="opsdeck.corr-timeline"),
        Binding("2", "tab('spans')", "Spans", id="opsdeck.corr-spans"),
        Binding("3", "tab('logs')", "Logs", id="opsdeck.corr-logs"),
        Binding("4", "tab('metrics')", "Metrics", id="opsdeck.corr-metrics"),
        Binding("slash", "search_logs", "Search logs", id="opsdeck.corr-search"),
        Binding("ctrl+r", "reload", "Refresh", id="opsdeck.corr-refresh"),
    ]

    def __init__(self, context_id: str) -> None:
        super().__init__()
        self.context_id = context_id
        self.result: Correlation | None = None
        self._pivots: dict[str, str] = {}

    @property
    def opsdeck(self) -> OpsdeckApp:
        return cast("OpsdeckApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(Text(f"correlate {self.context_id}"), id="corr-title")
        yield Static("loading…", id="corr-status")
        with TabbedContent(id="corr-tabs"):
            with TabPane("Timeline", id="corr-tab-timeline"):
                yield DataTable(id="corr-timeline", cursor_type="row")
            with TabPane("Spans", id="corr-tab-spans"):
                yield DataTable(id="corr-spans", cursor_type="row")
            with TabPane("Logs", id="corr-tab-logs"):
                yield LogSearch(placeholder="search (highlights, hides nothing)", id="corr-search")
                yield Label("", id="corr-log-count")
                with VerticalScroll(id="corr-log-scroll"):
                    yield Static(id="corr-logs")
            with TabPane("Metrics", id="corr-tab-metrics"):
                yield VerticalScroll(id="corr-metrics")
        yield Footer()

    def on_mount(self) -> None:
        timeline = self.query_one("#corr-timeline", DataTable)
        for label in ("TIME", "KIND", "SOURCE", "SUMMARY"):
            timeline.add_column(label)
        spans = self.query_one("#corr-spans", DataTable)
        spans.add_column("SPAN")
        spans.add_column("DURATION")
        spans.add_column("WATERFALL", width=BAR_WIDTH)
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.load()

    def action_search_logs(self) -> None:
        self.query_one(TabbedContent).active = "corr-tab-logs"
        self.query_one("#corr-search", Input).focus()

    def action_tab(self, name: str) -> None:
        if name not in TAB_FOCUS:
            return
        self.query_one(TabbedContent).active = f"corr-tab-{name}"
        self.query_one(TAB_FOCUS[name]).focus()  # arrows and enter work there at once

    @work(exclusive=True, group="correlate", exit_on_error=False)
    async def load(self) -> None:
        from console.correlate import correlate, correlation_settings

        app = self.opsdeck
        session = app.session
        owned: dict[str, Any] = {}
        try:
            sources = getattr(session, "sources", None)
            if sources is None:
                sources = owned = await _build_sources(session)
            scopes = {name: _scope(session, name) for name in session.engines}
            context = getattr(session, "context", None)
            settings = correlation_settings(context) if context is not None else {}
            result = await correlate(
                self.context_id,
                engines=session.engines,
                scopes=scopes,
                sources=sources,
                timeout=app.engine_timeout,
                now=app.now(),
                correlation=settings,
            )
        except Exception as exc:  # bad id or bad config: say so, never crash the app
            self.post_message(CorrelationLoaded(None, str(exc)))
            return
        finally:
            for source in owned.values():
                await source.close()
        self.post_message(CorrelationLoaded(result))
        # While an incident is open, what was seen is saved with it (docs/incidents.md).
        await asyncio.to_thread(_save_for_incident, session, self.context_id, result)

    def on_correlation_loaded(self, message: CorrelationLoaded) -> None:
        status = self.query_one("#corr-status", Static)
        if message.result is None:
            status.update(Text(message.error or "failed", style="bold red"))
            return
        self.result = result = message.result
        head = Text(result.parsed.describe())
        if result.trace_ids:
            head.append(f"  traces: {', '.join(result.trace_ids)}", style="dim")
        if result.executions:
            head.append(f"  executions: {', '.join(result.executions)}", style="dim")
        self.query_one("#corr-title", Static).update(head)
        line = Text()
        for s in result.statuses:
            line.append(f"{s.source} ", style="bold")
            line.append(s.status, style=STATUS_STYLES.get(s.status, ""))
            line.append(f" {s.items}" if s.status == "ok" else "")
            if s.error:
                line.append(f" ({s.error})", style=STATUS_STYLES.get(s.status, "dim"))
            if s.note:
                line.append(f" [{s.note}]", style="yellow")
            line.append("   ")
        if not result.found:
            line = Text(result.nothing_found, style="bold yellow")
        status.update(line if result.statuses else Text("no engines or sources configured"))
        self._fill_timeline(result)
        self._fill_spans(result)
        self._fill_logs()
        self._fill_metrics(result)

    def _fill_timeline(self, result: Correlation) -> None:
        table = self.query_one("#corr-timeline", DataTable)
        table.clear()
        self._pivots.clear()  # timeline first: spans and exemplars add theirs after
        for index, item in enumerate(result.timeline):
            style = "bold red" if item.error else ""
            when = clock_time(item.time) if item.time else "?"
            key = str(index)
            target = item.ref or item.trace_id
            if target and target != self.context_id:
                self._pivots[key] = target
            table.add_row(
                Text(when, style="dim"),
                Text(item.kind),
                Text(item.source, style="cyan"),
                Text(item.summary, style=style),
                key=key,
            )

    def _fill_spans(self, result: Correlation) -> None:
        table = self.query_one("#corr-spans", DataTable)
        table.clear()
        for index, (label, took, bar, span) in enumerate(waterfall_rows(result)):
            key = f"span-{index}"
            workflow = next(
                (str(span.attributes[k]) for k in WORKFLOW_ATTRS if span.attributes.get(k)), None
            )
            if workflow:
                self._pivots[key] = workflow
            table.add_row(label, took, bar, key=key)

    def _fill_logs(self) -> None:
        if self.result is None:
            return
        search = self.query_one("#corr-search", Input).value
        text, count = log_text(self.result, search)
        self.query_one("#corr-logs", Static).update(text)
        lines = len(self.result.logs)
        info = f"{lines} lines" + (f", {count} matches of {search!r}" if search else "")
        self.query_one("#corr-log-count", Label).update(Text(info, style="dim"))

    def _fill_metrics(self, result: Correlation) -> None:
        box = self.query_one("#corr-metrics", VerticalScroll)
        box.remove_children()
        from console.correlate import labels_text

        widgets: list[Any] = []
        for source, query, series in result.series:
            values = [s.value for s in series.samples]
            widgets.append(Label(Text(f"{source}: {labels_text(series.labels)}  [{query}]")))
            widgets.append(Sparkline(values or [0.0], summary_function=max, classes="corr-spark"))
        if result.exemplars:
            widgets.append(Label("Exemplars (Enter: open the trace)", classes="section"))
            widgets.append(DataTable(id="corr-exemplars", cursor_type="row"))
        if not widgets:
            widgets.append(Label("no metric sources, or no samples in the window"))
        box.mount_all(widgets)
        if not result.exemplars:
            return
        table = self.query_one("#corr-exemplars", DataTable)
        for label in ("", "TIME", "SOURCE", "VALUE", "TRACE"):
            table.add_column(label)
        for index, (source, exemplar) in enumerate(result.exemplars):
            match = exemplar.trace_id in result.trace_ids
            key = f"ex-{index}"
            if exemplar.trace_id and not match:
                self._pivots[key] = exemplar.trace_id
            table.add_row(
                Text("★" if match else "·", style="bold yellow" if match else "dim"),
                clock_time(exemplar.time),
                Text(source, style="cyan"),
                f"{exemplar.value:g}",
                Text(exemplar.trace_id or "?", style="bold" if match else ""),
                key=key,
            )

    @on(Input.Changed, "#corr-search")
    def _search_changed(self, _: Input.Changed) -> None:
        self._fill_logs()

    @on(DataTable.RowSelected)
    def _pivot(self, message: DataTable.RowSelected) -> None:
        """Enter on a timeline row, a span or an exemplar: its execution or trace."""
        target = self._pivots.get(str(message.row_key.value))
        if target:
            self.app.push_screen(CorrelationScreen(target))


def _save_for_incident(session: Any, asked: str, result: Any) -> None:
    from console.incidents.snapshot import save_result

    context = getattr(getattr(session, "context", None), "name", None)
    if isinstance(context, str):
        pii = getattr(getattr(session, "config", None), "pii_fields", ())
        save_result(context, asked, result, tuple(pii or ()))


async def _build_sources(session: Any) -> dict[str, Any]:
    import asyncio

    from console.correlate import build_sources
    from console.session import resolve_secret

    context = session.context
    if not getattr(context, "sources", ()):
        return {}
    return await asyncio.to_thread(build_sources, context, resolve_secret)


def _scope(session: Any, engine: str) -> str:
    """The engine's namespace from the context settings (as the CLI does), else default."""
    try:
        settings = session.context.engine(engine).settings
    except Exception:
        return "default"
    return str(settings.get("namespace") or settings.get("scope") or "default")
