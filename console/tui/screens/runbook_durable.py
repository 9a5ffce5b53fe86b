"""A durable runbook run in the TUI (opened from :runbooks; console.runbook.durable).

A durable run's steps execute on an `opsdeck worker`, not here: this screen never runs
a step. It shows where the run runs (the workflow and task queue), its status, what it
waits on and its transcript, reloading on the refresh interval. When it waits on a
person, the answer is sent to the workflow as the CLI's `runbook answer` / `approve`
does: a decision's choices, a manual step's done, an action's plan confirmation (the
plan comes from the workflow's `waiting` query; production asks the typed phrase), or
`a` for a second person's approval. The worker records the answer and goes on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Input, OptionList, RichLog, Static
from textual.widgets.option_list import Option

from console.tui.format import parse_time, relative_time
from console.tui.keys import KeysScreen
from console.tui.screens.runbook_run import error_text, open_journal

if TYPE_CHECKING:
    from console.runbook.durable.client import DurableInfo
    from console.runbook.journal import RunRecord
    from console.tui.app import OpsdeckApp


@dataclass(frozen=True)
class DurableSnapshot:
    run: RunRecord
    info: DurableInfo | None
    waiting: dict[str, Any] | None
    transcript: list[dict[str, Any]]


def read_run(run_id: str) -> DurableSnapshot:
    """The run as the journal has it (the worker mirrors every step there)."""
    from console.runbook.durable.client import durable_info, waiting_of

    journal = open_journal()
    try:
        run = journal.get(run_id)
        steps = journal.steps(run.id)
        return DurableSnapshot(
            run, durable_info(journal, run.id), waiting_of(run, steps), journal.transcript(run.id)
        )
    finally:
        journal.close()


def where_text(info: DurableInfo | None) -> str:
    return f"temporal:{info.task_queue}" if info else "local"


def waits_on_text(waiting: dict[str, Any] | None) -> str:
    return f"{waiting['kind']} {waiting['step']}" if waiting else ""


class DurableRunScreen(KeysScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.runbook.durable.back"),
        Binding("a", "approve", "Approve step…", id="opsdeck.runbook.durable.approve"),
        Binding("ctrl+r", "reload", "Reload", id="opsdeck.runbook.durable.reload"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.snapshot: DurableSnapshot | None = None
        self.plan: dict[str, Any] | None = None
        self.loaded = 0  # times shown (tests wait on it)

    @property
    def opsdeck(self) -> OpsdeckApp:
        return cast("OpsdeckApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(Text(f"runbooks > {self.run_id} (durable)"), id="crumbs")
        with Vertical(id="durable-run"):
            yield Static("loading…", id="durable-summary")
            yield Static("", id="durable-waiting")
            yield OptionList(id="durable-choices")
            yield Input(id="durable-phrase")
            yield RichLog(id="durable-transcript", wrap=True, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#durable-choices").display = False
        self.query_one("#durable-phrase").display = False
        self.reload()
        interval = self.opsdeck.refresh_interval
        if interval > 0:
            self.set_interval(interval, self._auto_reload)

    def _auto_reload(self) -> None:
        if self.is_active:
            self.reload()

    def reload(self) -> None:
        self._load()

    def action_reload(self) -> None:
        self.reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    @work(exclusive=True, group="durable-run", exit_on_error=False)
    async def _load(self) -> None:
        try:
            snapshot = await asyncio.to_thread(read_run, self.run_id)
        except Exception as exc:  # a broken journal is a notification, never a crash
            self.query_one("#durable-summary", Static).update(Text(error_text(exc), "red"))
            return
        plan = None
        waiting = snapshot.waiting
        if waiting and waiting["kind"] == "confirm" and snapshot.info is not None:
            plan = await self._queried_plan(snapshot.info)
        self._show(snapshot, plan)

    async def _queried_plan(self, info: DurableInfo) -> dict[str, Any] | None:
        """The action's plan from the workflow (the journal keeps no plan); None when no
        worker answers the query or this context cannot reach the run's cluster."""
        from console.runbook.durable import client as durable

        try:
            client = await durable.client_for(self.opsdeck.session, info.engine)
            found = await durable.query_waiting(client, info)
        except Exception:
            return None
        plan = (found or {}).get("plan")
        return plan if isinstance(plan, dict) else None

    def _show(self, snapshot: DurableSnapshot, plan: dict[str, Any] | None) -> None:
        self.snapshot, self.plan = snapshot, plan
        run, now = snapshot.run, self.opsdeck.now()
        summary = Text(f"{run.runbook}: {run.status}", style="bold")
        summary.append(f"  on {where_text(snapshot.info)}")
        if snapshot.info is not None:
            summary.append(f" (workflow {snapshot.info.workflow_id})", style="dim")
        summary.append(f"\nstarted by {run.identity} in context {run.context}")
        summary.append(f", updated {relative_time(parse_time(run.updated), now)}")
        if run.message:
            summary.append(f"\n{run.message}", style="dim")
        self.query_one("#durable-summary", Static).update(summary)
        self._show_waiting(snapshot.waiting, plan)
        log = self.query_one("#durable-transcript", RichLog)
        log.clear()
        for line in snapshot.transcript:
            step = f"[{line['step_id']}] " if line.get("step_id") else ""
            log.write(Text(f"{line['time']}  {step}{line['text']}"))
        self.loaded += 1
        self.refresh_bindings()

    def _show_waiting(self, waiting: dict[str, Any] | None, plan: dict[str, Any] | None) -> None:
        box = self.query_one("#durable-waiting", Static)
        choices = self.query_one("#durable-choices", OptionList)
        phrase_box = self.query_one("#durable-phrase", Input)
        phrase = (plan or {}).get("confirmation")
        if waiting is None:
            box.update("")
            choices.display = phrase_box.display = False
            return
        text = Text(f"waits on {waiting['kind']} {waiting['step']}: ", style="bold yellow")
        text.append(str(waiting.get("prompt") or ""))
        if waiting["kind"] == "approval":
            text.append("\na approves (a second person: not who started the run)", "yellow")
        elif waiting["kind"] == "confirm":
            if plan is None:
                text.append("\n(no worker answered for the plan: start `opsdeck worker`)", "dim")
            else:
                for call in plan.get("calls") or []:
                    text.append(f"\n  {call.get('call')}  {call.get('target')}")
            if phrase:
                text.append(f"\ntype {phrase} and enter to confirm", "yellow")
        box.update(text)
        offered = list(waiting.get("choices") or [])
        if waiting["kind"] == "confirm" and (plan is None or phrase):
            offered = ["no"] if plan is not None else []  # a yes needs the plan seen, or typed
        choices.clear_options()
        choices.add_options([Option(c, id=c) for c in offered])
        choices.display = bool(offered)
        phrase_box.display = bool(waiting["kind"] == "confirm" and phrase)
        if offered:
            choices.highlighted = 0  # enter takes the first choice at once
            choices.focus()

    @on(OptionList.OptionSelected, "#durable-choices")
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        self._answer(str(message.option.id))

    @on(Input.Submitted, "#durable-phrase")
    def _typed(self, message: Input.Submitted) -> None:
        self._answer(message.value.strip())

    def _answer(self, value: str) -> None:
        snapshot = self.snapshot
        if snapshot is None or snapshot.waiting is None or snapshot.info is None:
            return
        waiting = snapshot.waiting
        if waiting["kind"] == "confirm" and value != "no" and self.opsdeck.read_only:
            self.notify("read-only: changes are disabled in this context", severity="warning")
            return
        self._send(snapshot, waiting["step"], value, "answer")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "approve":
            waiting = self.snapshot.waiting if self.snapshot else None
            return True if waiting and waiting["kind"] == "approval" else None
        return True

    def action_approve(self) -> None:
        snapshot = self.snapshot
        if (
            snapshot
            and snapshot.waiting
            and snapshot.info
            and snapshot.waiting["kind"] == "approval"
        ):
            self._send(snapshot, snapshot.waiting["step"], "approve", "approve")

    @work(group="durable-answer", exit_on_error=False)
    async def _send(self, snapshot: DurableSnapshot, step: str, value: str, kind: str) -> None:
        from console.cli_runbook_durable import check_answer, check_approval
        from console.errors import OpsdeckError
        from console.runbook.durable import client as durable
        from console.runbook.durable.types import Answer
        from console.runbook.runner import current_identity

        info = snapshot.info
        assert info is not None
        who = current_identity(getattr(self.opsdeck.session, "config", None))
        try:
            if kind == "approve":
                check_approval(snapshot.run, step, who)
            else:
                check_answer(snapshot.run, step, value)
            client = await durable.client_for(self.opsdeck.session, info.engine)
            if not await durable.is_open(client, info):
                raise OpsdeckError(
                    f"the workflow of run {snapshot.run.id} is not running",
                    hint=f"`opsdeck runbook resume {snapshot.run.id}` starts it again",
                )
            await durable.send_answer(client, info, Answer(snapshot.run.id, step, value, who, kind))
        except Exception as exc:
            title = exc.title if isinstance(exc, OpsdeckError) else "not sent"
            self.notify(escape(error_text(exc)), title=title, severity="error", timeout=10)
            return
        verb = "approved" if kind == "approve" else f"answered {value!r}"
        self.notify(escape(f"step {step} {verb}: the worker records it and goes on"))
        self.set_timer(1.0, self.reload)
