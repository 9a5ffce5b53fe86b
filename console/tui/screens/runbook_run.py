"""The guided runbook run (opened from :runbooks, see console.tui.screens.runbook).

The guided run goes one step at a time (enter), or on its own until it needs the
operator (`a`; `p` pauses after the current step). The current step's Markdown is
shown with its live result: a check's count and evidence, an action's plan before the
operator confirms it. Every step is journaled by the runner, so `escape` leaves the
run and the runbooks view lists it to resume later (also from `opsdeck runbook
resume RUN`). Runner calls run in an exclusive worker; results come back as messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import (
    DataTable,
    Footer,
    Input,
    Markdown,
    OptionList,
    RichLog,
    Static,
)
from textual.widgets.option_list import Option

from console.tui.keys import KeysScreen

if TYPE_CHECKING:
    from console.runbook.journal import RunJournal
    from console.runbook.runner import Progress, RunbookRunner, Waiting
    from console.runbook.schema import Runbook

STATE_MARK = {
    "done": "✔",
    "failed": "✘",
    "skipped": "-",
    "waiting": "…",
    "running": "▶",
    "applying": "▶",
    "pending": " ",
}


def open_journal() -> RunJournal:
    from console.runbook.journal import RunJournal

    return RunJournal()


class RunUpdated(Message):
    def __init__(self, progress: Progress | None, error: str | None = None) -> None:
        super().__init__()
        self.progress = progress
        self.error = error


class RunEvent(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RunbookRunScreen(KeysScreen[None]):
    """A guided run: steps with their states, the current step, its result, a transcript."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Leave (resumable)", id="opsdeck.runbook.leave"),
        Binding("enter", "next", "Next step", id="opsdeck.runbook.next"),
        Binding("a", "auto", "Run to next stop", id="opsdeck.runbook.auto"),
        Binding("p", "pause", "Pause", id="opsdeck.runbook.pause"),
    ]

    def __init__(
        self,
        *,
        book: Runbook | None = None,
        params: dict[str, str] | None = None,
        resume: str | None = None,
    ) -> None:
        super().__init__()
        self.book = book
        self.params = params or {}
        self.resume_id = resume
        self.runner: RunbookRunner | None = None
        self.journal: RunJournal | None = None
        self.progress: Progress | None = None
        self.auto = False
        # The step on display: after running one, its result stays until enter shows
        # the next one (read, run, read the result, move on). None follows the cursor.
        self.viewing: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("runbook", id="crumbs")
        with Horizontal(id="runbook-run"):
            yield DataTable(id="runbook-steps", cursor_type="row")
            with Vertical(id="runbook-main"):
                with VerticalScroll(id="runbook-text-box"):
                    yield Markdown("", id="runbook-text")
                yield Static("", id="runbook-result")
                yield Static("", id="runbook-prompt")
                yield OptionList(id="runbook-choices")
                yield Input(id="runbook-phrase", placeholder="type the confirmation text")
                yield RichLog(id="runbook-transcript", wrap=True, markup=False)
        yield Static("", id="runbook-status")
        yield Footer()

    def on_mount(self) -> None:
        steps = self.query_one("#runbook-steps", DataTable)
        steps.add_columns(" ", "STEP", "KIND")
        # enter belongs to the screen (next step); only the answer widgets take focus
        steps.can_focus = False
        self.query_one("#runbook-transcript", RichLog).can_focus = False
        self.query_one("#runbook-text-box", VerticalScroll).can_focus = False
        self.query_one("#runbook-choices", OptionList).display = False
        self.query_one("#runbook-phrase", Input).display = False
        self.journal = open_journal()
        self.open_run()

    def on_unmount(self) -> None:
        if self.journal is not None:
            self.journal.close()

    # -- workers ------------------------------------------------------------------------

    @work(exclusive=True, group="runbook", exit_on_error=False)
    async def open_run(self) -> None:
        from console.runbook.runner import RunbookRunner

        assert self.journal is not None
        session = self.app.session  # type: ignore[attr-defined]
        try:
            if self.resume_id:
                self.runner = RunbookRunner.resume(
                    session, self.journal, self.resume_id, on_event=self._on_event
                )
            else:
                assert self.book is not None
                self.runner = RunbookRunner.start(
                    session, self.journal, self.book, self.params, on_event=self._on_event
                )
            self.post_message(RunUpdated(self.runner.progress()))
        except Exception as exc:
            self.post_message(RunUpdated(None, error_text(exc)))

    @work(exclusive=True, group="runbook", exit_on_error=False)
    async def advance(self, max_steps: int | None) -> None:
        if self.runner is None:
            return
        try:
            progress = await self.runner.advance(max_steps=max_steps)
        except Exception as exc:
            self.post_message(RunUpdated(None, error_text(exc)))
            return
        self.post_message(RunUpdated(progress))

    def _on_event(self, text: str) -> None:
        self.post_message(RunEvent(text))

    # -- messages -----------------------------------------------------------------------

    def on_run_event(self, message: RunEvent) -> None:
        self.query_one("#runbook-transcript", RichLog).write(message.text)

    def on_run_updated(self, message: RunUpdated) -> None:
        if message.error is not None:
            self.notify(escape(message.error), title="runbook", severity="error")
            self.auto = False
            self._status()
            return
        if message.progress is None or self.runner is None:
            return
        self.progress = message.progress
        self.book = self.runner.book
        self._show()
        waiting = message.progress.waiting
        running = message.progress.status in ("running", "paused")
        if self.auto and running and waiting is None:
            self.viewing = None
            self.advance(1)  # one step at a time, so `p` stops after the current one

    # -- rendering ----------------------------------------------------------------------

    def _show(self) -> None:
        assert self.progress is not None and self.runner is not None and self.book is not None
        run = self.progress.run
        crumbs = f"runbooks > {self.book.name} > run {run.id} ({run.status})"
        self.query_one("#crumbs", Static).update(Text(crumbs))
        table = self.query_one("#runbook-steps", DataTable)
        table.clear()
        current = 0
        for i, step in enumerate(self.book.steps):
            rec = self.progress.steps.get(step.id)
            state = rec.state if rec else "pending"
            if step.id == run.cursor:
                current = i
            table.add_row(Text(STATE_MARK.get(state, "?")), Text(step.title), Text(step.kind))
        if table.row_count:
            table.move_cursor(row=current)
        shown = self._shown_step()
        if shown is not None:
            step = self.book.step(shown)
            header = f"## {step.title}\n\n*{step.kind}*"
            if step.when is not None:
                header += f" — when `{step.when.source.strip()}`"
            intro = ""
            first = self.book.steps[0].id
            if shown == first and self.book.description and set(self.progress.steps) <= {first}:
                # the runbook's description comes with its first step
                intro = f"# {self.book.title}\n\n{self.book.description.strip()}\n\n---\n\n"
            self.query_one("#runbook-text", Markdown).update(
                f"{intro}{header}\n\n{self.runner.step_text(step)}"
            )
            self.query_one("#runbook-result", Static).update(self._result_text(shown))
        self._prompt(self.progress.waiting)
        self._status()

    def _shown_step(self) -> str | None:
        """The step the operator should read: the cursor, or the last one at the end."""
        assert self.progress is not None and self.book is not None
        if self.progress.waiting is not None:
            return self.progress.waiting.step
        if self.viewing is not None:
            return self.viewing
        if self.progress.run.cursor:
            return self.progress.run.cursor
        done = [s.id for s in self.book.steps if s.id in self.progress.steps]
        return done[-1] if done else self.book.steps[0].id

    def _result_text(self, step_id: str) -> Text:
        assert self.progress is not None
        text = Text()
        waiting = self.progress.waiting
        if waiting is not None and waiting.plan is not None and waiting.step == step_id:
            plan = waiting.plan
            text.append(f"Plan: {plan['action']} {len(plan['calls'])} target(s)", "bold")
            text.append(f" (engine {plan['engine']})\n")
            for call in plan["calls"][:20]:
                text.append(f"  {call['call']}  {call['target']}\n")
            if len(plan["calls"]) > 20:
                text.append(f"  … and {len(plan['calls']) - 20} more\n")
            for warning in plan["warnings"]:
                text.append(f"  Warning: {warning}\n", "yellow")
            text.rstrip()
            return text
        rec = self.progress.steps.get(step_id)
        if rec is None or rec.state in ("pending", "running"):
            return Text("not run yet", style="dim")
        style = {"done": "green", "failed": "red", "skipped": "dim"}.get(rec.state, "")
        text.append(f"{rec.state}", style)
        if rec.message:
            text.append(f": {rec.message}")
        text.append("\n")
        from console.runbook.runner import result_lines

        for line in result_lines(rec.result):
            text.append(f"  {line}\n")
        text.rstrip()
        return text

    def _prompt(self, waiting: Waiting | None) -> None:
        prompt = self.query_one("#runbook-prompt", Static)
        choices = self.query_one("#runbook-choices", OptionList)
        phrase = self.query_one("#runbook-phrase", Input)
        choices.display = False
        phrase.display = False
        if waiting is None:
            status = self.progress.status if self.progress else ""
            cursor = self.progress.run.cursor if self.progress else None
            if status == "done":
                hint = Text("Run finished.", style="green")
            elif status == "failed" and self.progress is not None:
                hint = Text(f"Run failed: {self.progress.run.message}", style="red")
            elif self.viewing is not None and self.viewing != cursor:
                hint = Text("enter: show the next step · a: run to the next stop", style="dim")
            else:
                hint = Text("enter: run this step · a: run to the next stop", style="dim")
            prompt.update(hint)
            self.set_focus(None)
            return
        prompt.update(Text(waiting.prompt, style="bold"))
        confirmation = (waiting.plan or {}).get("confirmation")
        if waiting.kind == "confirm" and confirmation:
            phrase.value = ""
            phrase.display = True
            phrase.focus()
            return
        options: list[str] = []
        if waiting.kind == "decision":
            options = list(waiting.choices)
        elif waiting.kind == "confirm":
            options = ["apply", "cancel"]
        elif waiting.kind == "manual":
            options = ["done"]
        elif waiting.kind == "approval":
            options = ["check again"]
        choices.clear_options()
        choices.add_options([Option(o, id=o) for o in options])
        choices.display = True
        choices.highlighted = 0
        choices.focus()

    def _status(self) -> None:
        if self.progress is None:
            return
        steps = self.progress.steps
        finished = sum(1 for r in steps.values() if r.state in ("done", "failed", "skipped"))
        total = len(self.book.steps) if self.book else 0
        mode = "auto" if self.auto else "step by step"
        text = f"{finished}/{total} steps · {self.progress.status} · {mode}"
        self.query_one("#runbook-status", Static).update(Text(text))

    # -- operator input -------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#runbook-choices")
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        waiting = self.progress.waiting if self.progress else None
        if waiting is None or self.runner is None:
            return
        choice = str(message.option.id)
        if waiting.kind == "approval":
            self._run_one()
            return
        answer = {"apply": "yes", "cancel": "no"}.get(choice, choice)
        self.runner.answer(waiting.step, answer)
        self._run_one()

    @on(Input.Submitted, "#runbook-phrase")
    def _typed(self, message: Input.Submitted) -> None:
        waiting = self.progress.waiting if self.progress else None
        if waiting is None or self.runner is None:
            return
        self.runner.answer(waiting.step, message.value)
        self._run_one()

    def action_next(self) -> None:
        if self.progress is None or self.progress.waiting is not None:
            return
        cursor = self.progress.run.cursor
        if self.viewing is not None and self.viewing != cursor and cursor is not None:
            self.viewing = None  # show the next step before running it
            self._show()
            return
        self._run_one()

    def _run_one(self) -> None:
        assert self.progress is not None
        self.viewing = self.progress.run.cursor
        self.advance(1)

    def action_auto(self) -> None:
        self.auto = True
        self.viewing = None
        self._status()
        if self.progress is not None and self.progress.waiting is None:
            self.advance(1)

    def action_pause(self) -> None:
        self.auto = False
        self._status()
        self.notify("paused: the run stops after the current step", timeout=3)

    def action_leave(self) -> None:
        run = self.progress.run.id if self.progress else self.resume_id
        if run and self.progress and self.progress.status not in ("done", "failed"):
            self.notify(f"run {run} kept; resume it from :runbooks", timeout=4)
        self.app.pop_screen()


def error_text(exc: BaseException) -> str:
    from console.errors import OpsdeckError

    if isinstance(exc, OpsdeckError):
        return f"{exc.title}: {exc}"
    return f"{type(exc).__name__}: {exc}"
