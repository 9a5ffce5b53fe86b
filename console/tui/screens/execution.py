"""Execution view: summary, pending work, history (failures in red) and versions.

Describe, history and versions load concurrently in one exclusive worker; each part
arrives as its own message, so a slow history never hides the summary. Relative times
tick every second; the data reloads after an action (following a reset to its new
run) and, like the list, every ``refresh_interval`` while the view is on top.

The history length shown is the number of events listed. The list row's length comes
from visibility (stale for a running workflow), describe's from another moment than the
history fetch, and a history can also carry a retried workflow task's not yet written
(transient) events: shown side by side, the numbers disagreed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar, cast

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import Footer, Label, Static

from console.model import (
    ActionKind,
    Capability,
    Execution,
    ExecutionDetail,
    ExecutionRef,
    HistoryEvent,
    Version,
)
from console.tui.format import (
    attempt_text,
    clock_time,
    counts_as_failure,
    is_reset_failure_text,
    is_reset_record,
    next_retry_text,
    relative_time,
)
from console.tui.keys import KeysScreen
from console.tui.messages import DataChanged
from console.tui.problems import explain
from console.tui.screens.executions import CHANGE_ACTIONS
from console.tui.widgets.tables import STATUS_CLASSES, StyledTable

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from console.ports import WorkflowEngine
    from console.tui.app import OpsdeckApp

# Open-only actions: shown disabled once the execution has closed.
OPEN_ONLY = frozenset({"cancel", "terminate", "signal", "retry_activity"})
HISTORY_LIMIT = 5000
TICK_SECONDS = 1.0  # relative times ("in 3s", "2m ago") are redrawn this often
NEXT_RETRY_COLUMN = 4


def deployment_name(version: str | None) -> str | None:
    """Deployment part of a Temporal deployment version (``name:build`` or ``name.build``)."""
    if not version:
        return None
    for sep in (":", "."):
        if sep in version:
            return version.split(sep, 1)[0] or None
    return None


class PartLoaded(Message):
    """One part of the view arrived; ``error`` is (title, message), plain text."""

    def __init__(
        self, part: str, value: object = None, error: tuple[str, str] | None = None
    ) -> None:
        super().__init__()
        self.part = part
        self.value = value
        self.error = error


class ExecutionScreen(KeysScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.back"),
        Binding("f", "failed_only", "Failed only", id="opsdeck.failed-only"),
        Binding("ctrl+r", "reload", "Reload", id="opsdeck.detail-refresh"),
        Binding("r", "retry", "Retry", id="opsdeck.retry"),
        Binding("a", "retry_activity", "Retry activity", id="opsdeck.retry-activity"),
        Binding("x", "cancel", "Cancel", id="opsdeck.cancel"),
        Binding("ctrl+d", "terminate", "Terminate", id="opsdeck.terminate"),
        Binding("S", "signal", "Signal", id="opsdeck.signal"),
        Binding("b", "rollback", "Roll back", id="opsdeck.rollback"),
        Binding("c", "correlate", "Correlate", id="opsdeck.detail-correlate"),
        Binding("q", "back", "Back", show=False, id="opsdeck.detail-quit"),
    ]

    def __init__(self, execution: Execution) -> None:
        super().__init__()
        self.execution = execution
        self.ref = execution.ref
        self.detail: ExecutionDetail | None = None
        self.events: list[HistoryEvent] = []
        self.failed_only = False
        self.versions: list[Version] = []
        self.deployment: str | None = None
        self.history_loaded = False
        self._shown: dict[str, Text] = {}

    @property
    def opsdeck(self) -> OpsdeckApp:
        return cast("OpsdeckApp", self.app)

    @property
    def engine(self) -> WorkflowEngine | None:
        engines: dict[str, WorkflowEngine] = self.opsdeck.session.engines
        return engines.get(self.ref.engine)

    def _has(self, capability: Capability) -> bool:
        engine = self.engine
        return engine is not None and capability in engine.capabilities

    def compose(self) -> ComposeResult:
        yield Static(Text(str(self.ref)), id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static(id="summary")
            yield Label("Pending activities", classes="section")
            yield StyledTable(id="activities", cursor_type="row")
            yield Static(id="workflow-task")
            yield Label("History", id="history-label", classes="section")
            yield StyledTable(id="history", cursor_type="row")
            if self._has(Capability.VERSIONS):
                yield Label("Versions", classes="section")
                yield StyledTable(id="versions", cursor_type="row")
        yield Footer(compact=True)  # every key of this view fits in 140 columns

    def on_mount(self) -> None:
        activities = self.query_one("#activities", StyledTable)
        for label in ("ID", "TYPE", "STATE", "ATTEMPT", "NEXT RETRY", "LAST FAILURE"):
            activities.add_column(label)
        history = self.query_one("#history", StyledTable)
        for label in ("ID", "TIME", "EVENT", "SUMMARY"):
            history.add_column(label)
        if self._has(Capability.VERSIONS):
            versions = self.query_one("#versions", StyledTable)
            for label in ("VERSION", "CURRENT", "RAMPING", "CREATED", "STATUS"):
                versions.add_column(label)
        self._show_summary()
        self._update("#workflow-task", Text("Workflow task: loading…"))
        self.set_interval(TICK_SECONDS, self._tick)
        interval = self.opsdeck.refresh_interval
        if interval > 0:
            self.set_interval(interval, self._auto_reload)
        self.action_reload()

    def _tick(self) -> None:
        """Redraw the relative times only; the data stays as loaded."""
        if not self.is_current:
            return
        self._show_summary()
        if self.detail is not None:
            self._show_workflow_task()
            self._show_next_retries()

    def _auto_reload(self) -> None:
        busy = any(w.group == "execution" and not w.is_finished for w in self.workers)
        if self.is_active and not busy:
            self.load()

    # -- loading ------------------------------------------------------------------

    def action_reload(self) -> None:
        self.load()

    def action_correlate(self) -> None:
        self.opsdeck.open_correlation(str(self.ref))

    def on_data_changed(self, message: DataChanged) -> None:
        self._follow(message.new_runs)
        self.action_reload()

    def _follow(self, new_runs: Mapping[str, str]) -> None:
        """A reset made a new run of this workflow: show that run from now on."""
        for target, run_id in new_runs.items():
            try:
                ref = ExecutionRef.parse(target)
            except ValueError:
                continue
            same = (ref.engine, ref.scope, ref.workflow_id)
            if same == (self.ref.engine, self.ref.scope, self.ref.workflow_id):
                self.ref = replace(self.ref, run_id=run_id)
                self.query_one("#detail-title", Static).update(Text(str(self.ref)))

    @work(exclusive=True, group="execution", exit_on_error=False)
    async def load(self) -> None:
        engine = self.engine
        name = self.ref.engine
        timeout = self.opsdeck.engine_timeout
        if engine is None:
            self.post_message(PartLoaded("detail", error=(name, "engine not in this context")))
            return

        async def part(label: str, fetch: Awaitable[object]) -> object:
            try:
                value = await asyncio.wait_for(fetch, timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # shown as an error line, never a crash
                self.post_message(PartLoaded(label, error=explain(name, exc, timeout)))
                return None
            self.post_message(PartLoaded(label, value))
            return value

        async def history() -> list[HistoryEvent]:
            events: list[HistoryEvent] = []
            async for event in engine.history(self.ref):
                events.append(event)
                if len(events) >= HISTORY_LIMIT:
                    break
            return events

        async def detail_and_versions() -> None:
            detail = await part("detail", engine.describe(self.ref))
            if not isinstance(detail, ExecutionDetail):
                return
            if Capability.VERSIONS not in engine.capabilities:
                return
            deployment = deployment_name(detail.execution.deployment_version)
            self.deployment = deployment
            if deployment:
                await part("versions", engine.versions(deployment))
            else:
                self.post_message(PartLoaded("versions", []))

        await asyncio.gather(detail_and_versions(), part("history", history()))

    def on_part_loaded(self, message: PartLoaded) -> None:
        if message.error is not None:
            title, text = message.error
            self.notify(escape(text), title=escape(title), severity="error", timeout=8)
            if message.part == "detail":
                self._update("#workflow-task", Text(f"{title}: {text}"))
            return
        if message.part == "detail":
            self.detail = cast(ExecutionDetail, message.value)
            self.execution = self.detail.execution
            if self.ref.run_id is None and self.execution.ref.run_id:
                self.ref = self.execution.ref  # reloads stay on the run described
            self._show_summary()
            self._show_pending()
            self.refresh_bindings()
        elif message.part == "history":
            self.events = cast("list[HistoryEvent]", message.value)
            self.history_loaded = True
            self._show_history()
            self._show_summary()
        elif message.part == "versions":
            self._show_versions(cast("list[Version]", message.value))

    # -- rendering ----------------------------------------------------------------

    def _show_summary(self) -> None:
        table = self.query_one("#history", StyledTable)
        e = self.execution
        d = self.detail
        now = self.opsdeck.now()
        text = Text()

        def line(label: str, value: object, style: str | None = None) -> None:
            text.append(f"{label:<16}", style=table.style_for("cell--dim"))
            text.append(str(value), style=table.style_for(style) if style else "")
            text.append("\n")

        line("Status", e.status.value, STATUS_CLASSES[e.status])
        line("Type", e.workflow_type)
        line("Task queue", e.task_queue or "-")
        line("Run id", e.ref.run_id or "-")
        line("Build id", (d.build_id if d else None) or "-")
        line("Deployment", e.deployment_version or "-")
        line("Started", f"{clock_time(e.start_time)} ({relative_time(e.start_time, now)})")
        if e.close_time:
            line("Closed", f"{clock_time(e.close_time)} ({relative_time(e.close_time, now)})")
        if d and d.last_event_time:
            line("Last event", relative_time(d.last_event_time, now))
        length = self._history_length()
        if length is not None:
            line("History length", length)
        if d and d.parent:
            line("Parent", str(d.parent))
        if d and d.last_failure and is_reset_failure_text(d.last_failure):
            line("Last reset", d.last_failure.removeprefix("workflow task failed: "))
        elif d and d.last_failure:
            line("Last failure", d.last_failure, "row--failure")
        text.rstrip()
        self._update("#summary", text)

    def _update(self, selector: str, text: Text) -> None:
        """Update a Static only when its text changed: the tick runs every second."""
        if self._shown.get(selector) != text:
            self._shown[selector] = text
            self.query_one(selector, Static).update(text)

    def _history_length(self) -> str | int | None:
        """The events listed, once the history is in (see the module docstring)."""
        described = self.execution.history_length
        if not self.history_loaded:
            return described
        listed = len(self.events)
        if listed >= HISTORY_LIMIT and described and described > listed:
            return f"{described} (first {listed} listed)"
        return listed

    def _show_pending(self) -> None:
        assert self.detail is not None
        table = self.query_one("#activities", StyledTable)
        row = table.cursor_row
        table.clear()
        for a in self.detail.pending_activities:
            attempt = attempt_text(a.attempt, a.maximum_attempts)
            table.add_row(
                table.text(a.activity_id),
                table.text(a.activity_type),
                table.text(a.state),
                table.text(attempt, "cell--warning" if a.attempt > 1 else None),
                table.text("-"),
                table.text(a.last_failure or "-", "row--failure" if a.last_failure else None),
            )
        if 0 < row < table.row_count:
            table.move_cursor(row=row)  # `a` acts on the row under the cursor: keep it
        self._show_next_retries()
        self._show_workflow_task()

    def _show_next_retries(self) -> None:
        assert self.detail is not None
        now = self.opsdeck.now()
        table = self.query_one("#activities", StyledTable)
        for row, a in enumerate(self.detail.pending_activities[: table.row_count]):
            when = next_retry_text(a.next_attempt_time, now)
            cell = Coordinate(row, NEXT_RETRY_COLUMN)
            if table.get_cell_at(cell) != table.text(when):
                table.update_cell_at(cell, table.text(when))

    def _show_workflow_task(self) -> None:
        assert self.detail is not None
        now = self.opsdeck.now()
        table = self.query_one("#activities", StyledTable)
        task = self.detail.pending_workflow_task
        if task is None:
            self._update("#workflow-task", Text("Workflow task: none pending"))
            return
        style = table.style_for("row--failure") if task.attempt > 1 else ""
        text = Text("Workflow task: ")
        text.append(f"{task.state}, attempt {task.attempt}", style=style)
        if task.scheduled_time:
            text.append(f", scheduled {relative_time(task.scheduled_time, now)}")
        self._update("#workflow-task", text)

    def _show_history(self) -> None:
        table = self.query_one("#history", StyledTable)
        table.clear()
        events = self.events
        if self.failed_only:
            events = [e for e in events if counts_as_failure(e)]
        for event in events:
            style = "row--failure" if counts_as_failure(event) else None
            if is_reset_record(event):
                style = "cell--warning"  # an operator's reset: worth seeing, not a failure
            table.add_row(
                table.text(event.event_id, style),
                table.text(clock_time(event.time), style),
                table.text(event.event_type, style),
                table.text(event.summary, style),
            )
        failures = sum(1 for e in self.events if counts_as_failure(e))
        label = f"History ({len(self.events)} events, {failures} failures)"
        if self.failed_only:
            label += " · failed only"
        self.query_one("#history-label", Label).update(Text(label))

    def _show_versions(self, versions: list[Version]) -> None:
        self.versions = versions
        self.refresh_bindings()
        table = self.query_one("#versions", StyledTable)
        table.clear()
        now = self.opsdeck.now()
        for v in versions:
            ramping = f"{v.ramping_percentage:g}%" if v.ramping_percentage is not None else "-"
            table.add_row(
                table.text(v.version),
                table.text(
                    "current" if v.is_current else "", "status--running" if v.is_current else None
                ),
                table.text(ramping),
                table.text(relative_time(v.created_time, now)),
                table.text(v.status or "-"),
            )

    # -- actions ------------------------------------------------------------------

    def _chosen_version(self) -> Version | None:
        if not self.versions or not self._has(Capability.VERSIONS):
            return None
        row = self.query_one("#versions", StyledTable).cursor_row
        return self.versions[row] if 0 <= row < len(self.versions) else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rollback":
            if self.opsdeck.read_only or not self._has(Capability.ROLLBACK):
                return False
            chosen = self._chosen_version()
            return None if chosen is None or chosen.is_current else True
        if action in CHANGE_ACTIONS:
            capability = Capability.RETRY if action == "retry_activity" else Capability(action)
            if self.opsdeck.read_only or not self._has(capability):
                return False
            if action == "retry_activity" and not (self.detail and self.detail.pending_activities):
                return None
            if action in OPEN_ONLY and not self.execution.status.is_open:
                return None
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_failed_only(self) -> None:
        self.failed_only = not self.failed_only
        self._show_history()

    def action_retry(self) -> None:
        self.opsdeck.start_action(ActionKind.RETRY, [self.ref])

    def action_retry_activity(self) -> None:
        """Reset the activity under the cursor (attempts back to 1), else all pending."""
        params = {"mode": "activity"}
        table = self.query_one("#activities", StyledTable)
        pending = self.detail.pending_activities if self.detail else ()
        if pending and 0 <= table.cursor_row < len(pending):
            params["activity_id"] = pending[table.cursor_row].activity_id
        self.opsdeck.start_action(ActionKind.RETRY, [self.ref], params)

    def action_rollback(self) -> None:
        """Make the version under the cursor of the versions table current again."""
        chosen = self._chosen_version()
        if chosen is None or chosen.is_current:
            self.notify("pick a version that is not current in the versions table")
            return
        self.opsdeck.start_rollback(self.ref.engine, chosen.deployment, chosen.version)

    def on_data_table_row_highlighted(self, message: StyledTable.RowHighlighted) -> None:
        if message.data_table.id == "versions":
            self.refresh_bindings()

    def action_cancel(self) -> None:
        self.opsdeck.start_action(ActionKind.CANCEL, [self.ref])

    def action_terminate(self) -> None:
        self.opsdeck.start_action(ActionKind.TERMINATE, [self.ref])

    def action_signal(self) -> None:
        self.opsdeck.start_action(ActionKind.SIGNAL, [self.ref])
