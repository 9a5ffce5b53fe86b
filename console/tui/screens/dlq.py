"""Dead-letter queues in the TUI: `:dlq`.

DlqScreen lists every queue backend's DLQs (depth, oldest age); enter opens
DlqMessagesScreen, the head of one queue (peeked, left in place) with the selected
message's detail, PII masked. ctrl-d (hidden in read-only mode) opens DrainScreen, the
wizard: the filter and destination, then the plan (counts per reason and destination),
then the drain itself with live progress (rate, ETA); escape or "Cancel" stops it after
the current batch, and the exact report is shown. Backend calls run in workers.

The queue list and the messages reload whenever they come back on top (after a drain
or an archive, their depth and head have changed) and every ``refresh_interval``
while shown, keeping the cursor row.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, Static

from console.tui.keys import KeysScreen

if TYPE_CHECKING:
    from console.actions.drain import DrainPreview, DrainProgress, DrainReport, DrainSpec
    from console.model_queues import QueueInfo, QueueMessage
    from console.ports_dlq import DeadLetterQueue
    from console.tui.app import OpsdeckApp


def backends_for(session: Any) -> dict[str, DeadLetterQueue]:
    """The session's queue backends (tests may hand them in as ``dlq_backends``)."""
    given = getattr(session, "dlq_backends", None)
    if given is not None:
        return dict(given)
    from console.actions.drain_service import session_queues

    return session_queues(session)


def open_dlq(app: Any) -> None:
    app.push_screen(DlqScreen())


def auto_refresh(screen: DlqScreen | DlqMessagesScreen) -> None:
    """Refresh every ``refresh_interval`` while on top: the depth changes on its own."""
    interval = screen.opsdeck.refresh_interval

    def tick() -> None:
        if screen.is_active:
            screen.action_refresh()

    if interval > 0:
        screen.set_interval(interval, tick)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


class QueuesLoaded(Message):
    def __init__(self, rows: list[tuple[str, QueueInfo]], errors: list[str]) -> None:
        super().__init__()
        self.rows = rows
        self.errors = errors


class DlqScreen(KeysScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="dlq.back"),
        Binding("r", "refresh", "Refresh", id="dlq.refresh"),
        Binding("enter", "open", "Messages", id="dlq.open"),
        Binding("ctrl+d", "drain", "Drain…", id="dlq.drain"),
    ]

    @property
    def opsdeck(self) -> OpsdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Label("Dead-letter queues", id="dlq-title")
        yield DataTable(id="dlq-queues", cursor_type="row", zebra_stripes=True)
        yield Static("", id="dlq-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("BACKEND", "QUEUE", "DEPTH", "OLDEST", "SOURCES")
        self.rows: list[tuple[str, QueueInfo]] = []
        auto_refresh(self)

    def on_screen_resume(self) -> None:
        self.action_refresh()  # first shown, or back from a drain

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "drain" and self.opsdeck.read_only)

    def action_refresh(self) -> None:
        self.query_one("#dlq-status", Static).update("loading…")
        self._load()

    @work(exclusive=True, group="dlq-list")
    async def _load(self) -> None:
        rows: list[tuple[str, QueueInfo]] = []
        errors: list[str] = []
        try:
            backends = await asyncio.to_thread(backends_for, self.opsdeck.session)
        except Exception as exc:
            self.post_message(QueuesLoaded([], [str(exc)]))
            return
        for name, backend in backends.items():
            try:
                rows += [(name, info) for info in await backend.list_queues()]
            except Exception as exc:
                errors.append(f"{name}: {exc}")
        self.post_message(QueuesLoaded(rows, errors))

    def on_queues_loaded(self, message: QueuesLoaded) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        self.rows = message.rows
        for name, info in message.rows:
            table.add_row(
                name, info.name, str(info.depth), _age(info.oldest_age_s), ", ".join(info.sources)
            )
        status = f"{len(message.rows)} queue(s)"
        if not message.rows and not message.errors:
            status = "no queue backends in this context (add `queues:`, see docs/dlq.md)"
        if message.errors:
            status += " — " + "; ".join(message.errors)
        self.query_one("#dlq-status", Static).update(escape(status))
        table.move_cursor(row=min(row, max(table.row_count - 1, 0)))
        table.focus()

    def _selected(self) -> tuple[str, QueueInfo] | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def action_open(self) -> None:
        chosen = self._selected()
        if chosen is not None:
            self.app.push_screen(DlqMessagesScreen(chosen[0], chosen[1].name))

    @on(DataTable.RowSelected)
    def _row_selected(self, _: DataTable.RowSelected) -> None:
        self.action_open()

    def action_drain(self) -> None:
        chosen = self._selected()
        if chosen is not None:
            self.app.push_screen(DrainScreen(chosen[0], chosen[1].name))


class MessagesLoaded(Message):
    def __init__(self, messages: list[QueueMessage], error: str | None) -> None:
        super().__init__()
        self.messages = messages
        self.error = error


class DlqMessagesScreen(KeysScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="dlq.messages.back"),
        Binding("r", "refresh", "Refresh", id="dlq.messages.refresh"),
        Binding("ctrl+d", "drain", "Drain…", id="dlq.messages.drain"),
    ]

    def __init__(self, backend: str, queue: str, limit: int = 100) -> None:
        super().__init__()
        self.backend = backend
        self.queue = queue
        self.limit = limit
        self.messages: list[QueueMessage] = []

    @property
    def opsdeck(self) -> OpsdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Label(f"{escape(self.backend)}: {escape(self.queue)} (peek, left in place)")
        with Horizontal(id="dlq-messages-body"):
            yield DataTable(id="dlq-messages", cursor_type="row", zebra_stripes=True)
            yield Static("", id="dlq-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("ID", "REASON", "FROM", "DEATHS", "REDRIVES")
        auto_refresh(self)

    def on_screen_resume(self) -> None:
        self.action_refresh()  # first shown, or back from a drain

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "drain" and self.opsdeck.read_only)

    def action_refresh(self) -> None:
        self._load()

    @work(exclusive=True, group="dlq-peek")
    async def _load(self) -> None:
        try:
            backend = (await asyncio.to_thread(backends_for, self.opsdeck.session))[self.backend]
            messages = list(await backend.peek(self.queue, self.limit))
        except Exception as exc:
            self.post_message(MessagesLoaded([], str(exc)))
            return
        self.post_message(MessagesLoaded(messages, None))

    def on_messages_loaded(self, message: MessagesLoaded) -> None:
        if message.error:
            self.notify(escape(message.error), title="peek", severity="error")
        self.messages = message.messages
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for m in self.messages:
            table.add_row(
                m.dedup_id[:40], m.reason, m.death.queue or "-", str(m.death.count), str(m.redrives)
            )
        row = min(row, max(table.row_count - 1, 0))
        table.move_cursor(row=row)
        self._show(row)
        table.focus()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    def _show(self, row: int) -> None:
        from console.actions.drain import sample_data

        detail = self.query_one("#dlq-detail", Static)
        if not 0 <= row < len(self.messages):
            detail.update("")
            return
        pii = tuple(getattr(getattr(self.opsdeck.session, "config", None), "pii_fields", ()))
        data = sample_data(self.messages[row], pii)
        detail.update(escape(json.dumps(data, indent=2, default=str)))

    def action_drain(self) -> None:
        self.app.push_screen(DrainScreen(self.backend, self.queue))


class DrainPlanned(Message):
    def __init__(self, preview: DrainPreview | None, error: str | None) -> None:
        super().__init__()
        self.preview = preview
        self.error = error


class DrainProgressed(Message):
    def __init__(self, progress: DrainProgress) -> None:
        super().__init__()
        self.progress = progress


class DrainFinished(Message):
    def __init__(self, report: DrainReport | None, audit_id: int | None, error: str | None):
        super().__init__()
        self.report = report
        self.audit_id = audit_id
        self.error = error


class DrainScreen(KeysScreen[None]):
    """The drain wizard: filter and destination -> plan -> live progress -> report."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / cancel", id="dlq.drain.back"),
    ]

    def __init__(self, backend: str, queue: str) -> None:
        super().__init__()
        self.backend_name = backend
        self.queue = queue
        self.cancel = threading.Event()
        self.running = False
        self.spec: DrainSpec | None = None

    @property
    def opsdeck(self) -> OpsdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Label(f"Drain {escape(self.queue)} ({escape(self.backend_name)})", id="drain-title")
        with Vertical(id="drain-form"):
            yield Input(placeholder="death reasons, comma separated (empty: any)", id="reasons")
            yield Input(placeholder="body contains (empty: any)", id="contains")
            yield Input(placeholder="JSONPath on the body, EXPR or EXPR=VALUE", id="jsonpath")
            yield Input(value="original", placeholder="original | none | QUEUE", id="dest")
            yield Input(placeholder="rate limit, msgs/s (empty: none)", id="rate")
            if self.opsdeck.production:
                yield Input(placeholder=f"production: type {self.queue} to confirm", id="typed")
            with Horizontal(id="drain-buttons"):
                yield Button("Preview plan", id="preview", variant="primary")
                yield Button("Start drain", id="start", variant="error", disabled=True)
                yield Button("Cancel drain", id="cancel", disabled=True)
        yield Static("", id="drain-plan")
        yield ProgressBar(id="drain-progress", show_eta=False)
        yield Static("", id="drain-rate")
        yield Footer()

    def _spec(self) -> DrainSpec:
        from console.actions.drain import DrainFilter, DrainSpec

        def value(widget_id: str) -> str:
            return self.query_one(f"#{widget_id}", Input).value.strip()

        reasons = tuple(r.strip() for r in value("reasons").split(",") if r.strip())
        rate = value("rate")
        return DrainSpec(
            adapter=self.backend_name,
            queue=self.queue,
            filter=DrainFilter(
                reasons=reasons,
                body_contains=value("contains") or None,
                jsonpath=value("jsonpath") or None,
            ),
            destination=value("dest") or "original",
            rate=float(rate) if rate else None,
        )

    @on(Button.Pressed, "#preview")
    def _preview(self) -> None:
        try:
            self.spec = self._spec()
        except ValueError as exc:
            self.notify(escape(str(exc)), severity="warning")
            return
        self.query_one("#drain-plan", Static).update("reading the head of the queue…")
        self._plan(self.spec)

    @work(exclusive=True, group="drain-plan")
    async def _plan(self, spec: DrainSpec) -> None:
        from console.actions.drain import build_preview, missing_destinations

        try:
            backend = (await asyncio.to_thread(backends_for, self.opsdeck.session))[
                self.backend_name
            ]
            messages = list(await backend.peek(spec.queue, 1000))
            source = backend.drain_source(spec.queue, batch_size=1)
            try:
                depth = await asyncio.to_thread(source.depth)
                pii = tuple(
                    getattr(getattr(self.opsdeck.session, "config", None), "pii_fields", ())
                )
                preview = build_preview(spec, depth, messages, samples=2, pii_fields=pii)
                missing = await asyncio.to_thread(missing_destinations, source, spec, preview)
            finally:
                source.close()
        except Exception as exc:
            self.post_message(DrainPlanned(None, str(exc)))
            return
        if missing:
            refused = f"drain plan refused: {'; '.join(missing)}; nothing changed"
            self.post_message(DrainPlanned(None, refused))
            return
        self.post_message(DrainPlanned(preview, None))

    def on_drain_planned(self, message: DrainPlanned) -> None:
        plan = self.query_one("#drain-plan", Static)
        if message.preview is None:
            plan.update(f"[red]{escape(message.error or 'failed')}[/red]")
            return
        p = message.preview
        lines = [
            f"Plan: {p.spec.filter.describe()} -> {p.spec.destination}; depth {p.depth}, "
            f"of the first {p.scanned} messages {p.matched} match",
            *(f"  reason {k}: {v}" for k, v in sorted(p.by_reason.items())),
            *(f"  to {k}: {v}" for k, v in sorted(p.by_destination.items())),
            *(f"  sample: {json.dumps(s, default=str)[:160]}" for s in p.samples),
        ]
        plan.update(escape("\n".join(lines)))
        self.query_one("#start", Button).disabled = self.opsdeck.read_only

    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        if self.spec is None or self.running:
            return
        if self.opsdeck.production:
            typed = self.query_one("#typed", Input).value.strip()
            if typed != self.queue:
                self.notify(f"type {escape(self.queue)} to confirm", severity="warning")
                return
        self.running = True
        self.query_one("#start", Button).disabled = True
        self.query_one("#cancel", Button).disabled = False
        self._run(self.spec)

    @work(exclusive=True, group="drain-run", thread=True)
    def _run(self, spec: DrainSpec) -> None:
        from console.actions.drain import new_drain_id
        from console.actions.drain_service import run_drain

        try:
            backend = backends_for(self.opsdeck.session)[self.backend_name]
            report, audit_id = run_drain(
                self.opsdeck.session,
                backend,
                spec,
                drain_id=new_drain_id(),
                on_progress=self._progress,
                cancel=self.cancel,
            )
        except Exception as exc:
            self.post_message(DrainFinished(None, None, str(exc)))
            return
        self.post_message(DrainFinished(report, audit_id, None))

    def _progress(self, progress: DrainProgress) -> None:
        self.post_message(DrainProgressed(progress))

    def on_drain_progressed(self, message: DrainProgressed) -> None:
        p = message.progress
        self.query_one(ProgressBar).update(total=max(p.total, 1), progress=p.done)
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        self.query_one("#drain-rate", Static).update(
            f"{p.done:,}/{p.total:,}  {p.rate:,.0f} msg/s  ETA {eta}"
        )

    def on_drain_finished(self, message: DrainFinished) -> None:
        self.running = False
        self.query_one("#cancel", Button).disabled = True
        status = self.query_one("#drain-rate", Static)
        if message.report is None:
            status.update(f"[red]{escape(message.error or 'failed')}[/red]")
            self.notify(escape(message.error or "failed"), title="drain", severity="error")
            return
        d = message.report.as_dict()
        state = "cancelled" if d["cancelled"] else ("done" if d["completed"] else "stopped")
        text = (
            f"Drain {d['drain_id']} {state}: {d['sent']} sent, {d['parked']} parked, "
            f"{d['archived_only']} archived only, "
            f"{'?' if d['left_in_dlq'] is None else d['left_in_dlq']} left in the DLQ; "
            f"{d['rate_per_s']} msg/s; audit #{message.audit_id}"
        )
        if d["error"]:
            text += f"; error: {d['error']}"
        status.update(escape(text))
        self.query_one(ProgressBar).update(total=max(d["matched"], 1), progress=d["matched"])
        self.notify(escape(text), title="drain", severity="error" if d["error"] else "information")

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.cancel.set()
        self.query_one("#drain-rate", Static).update("cancelling after the current batch…")

    def action_back(self) -> None:
        if self.running:
            self._cancel()
            return
        self.app.pop_screen()
