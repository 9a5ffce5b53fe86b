"""A past chaos run in the TUI: its report from the journal, `b` to play the rollbacks
left (each claimed once), and the confirmation dialog the chaos screens share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Input, Label, Static

from console.tui.format import parse_time, relative_time
from console.tui.keys import KeysScreen
from console.tui.screens.runbook_run import error_text

if TYPE_CHECKING:
    from console.experiments.store import RunRow
    from console.tui.app import OpsdeckApp

STATUS_STYLE = {
    "succeeded": "green",
    "completed": "green",
    "done": "green",
    "failed": "red",
    "aborted": "red",
    "interrupted": "yellow",
    "running": "bold",
}


def styled_status(status: str) -> Text:
    return Text(status or "-", style=STATUS_STYLE.get(status, ""))


def met_text(value: bool | None) -> Text:
    if value is None:
        return Text("-", style="dim")
    return Text("met", style="green") if value else Text("NOT met", style="red")


def took_text(duration: Any) -> str:
    return f"{duration:.1f}s" if isinstance(duration, int | float) else "-"


# -- a past run: report, rollback --------------------------------------------------------


class ReportLoaded(Message):
    def __init__(
        self,
        row: RunRow | None,
        summary: dict[str, Any] | None,
        done: dict[int, dict[str, str]],
        rollbacks: list[str],
        error: str | None,
    ) -> None:
        super().__init__()
        self.row = row
        self.summary = summary
        self.done = done
        self.rollbacks = rollbacks
        self.error = error


class RollbackEnded(Message):
    def __init__(self, text: str, severity: SeverityLevel) -> None:
        super().__init__()
        self.text = text
        self.severity: SeverityLevel = severity


class ChaosRunScreen(KeysScreen[None]):
    """One run's report (journal_summary), and `b` to play the rollbacks left."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.chaos.report.back"),
        Binding("b", "rollback", "Roll back…", id="opsdeck.chaos.rollback"),
        Binding("ctrl+r", "reload", "Reload", id="opsdeck.chaos.report.reload"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.row: RunRow | None = None
        self.summary: dict[str, Any] | None = None
        self.done: dict[int, dict[str, str]] = {}
        self.rollbacks: list[str] = []  # names of the experiment's rollbacks, in order
        self.rolling_back = False
        self.loaded = 0

    @property
    def opsdeck(self) -> OpsdeckApp:
        return cast("OpsdeckApp", self.app)

    @property
    def left(self) -> list[str]:
        """Rollbacks not recorded as done."""
        return [
            name
            for i, name in enumerate(self.rollbacks)
            if self.done.get(i, {}).get("status") != "done"
        ]

    def compose(self) -> ComposeResult:
        yield Static(Text(f"chaos > run {self.run_id}"), id="crumbs")
        with Vertical(id="chaos-report-body"):
            yield Static("loading…", id="chaos-report-summary")
            yield DataTable(id="chaos-report", cursor_type="row")
            yield Static("", id="chaos-report-rollbacks")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#chaos-report", DataTable)
        table.add_columns("PHASE", "TYPE", "ACTIVITY", "STATUS", "TOOK", "ERROR")
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._load(self.run_id)

    @work(exclusive=True, group="chaos-report", thread=True, exit_on_error=False)
    def _load(self, run_id: str) -> None:
        from console.experiments.launcher import read_journal, stored_experiment
        from console.experiments.report import journal_summary
        from console.experiments.store import ChaosRunStore

        store = ChaosRunStore()
        try:
            row = store.get(run_id)
            done = store.rollbacks(run_id)
            summary = journal_summary(read_journal(row))
            try:
                stored = stored_experiment(row).data.get("rollbacks") or []
            except Exception:
                stored = []
            names = [
                str(a.get("name") or a.get("ref") or i) if isinstance(a, dict) else str(i)
                for i, a in enumerate(stored)
            ]
        except Exception as exc:
            self.post_message(ReportLoaded(None, None, {}, [], error_text(exc)))
            return
        finally:
            store.close()
        self.post_message(ReportLoaded(row, summary, done, names, None))

    def on_report_loaded(self, message: ReportLoaded) -> None:
        if message.error is not None or message.row is None or message.summary is None:
            problem = message.error or "no such run"
            self.query_one("#chaos-report-summary", Static).update(Text(problem, style="red"))
            self.notify(escape(problem), title="chaos run", severity="error")
            return
        self.row, self.summary = message.row, message.summary
        self.done, self.rollbacks = message.done, message.rollbacks
        row, summary = self.row, self.summary
        text = Text(f"{row.title}  ", style="bold")
        text.append_text(styled_status(row.status))
        if row.deviated:
            text.append(", deviated", style="red")
        if row.dry_run:
            text.append(" (dry run)", style="italic")
        now = self.opsdeck.now()
        started = relative_time(parse_time(row.started), now)
        text.append(f"\ncontext {row.context} · started {row.started} ({started})")
        text.append(f" · ended {row.ended or '-'}")
        text.append(f"\nexperiment {row.experiment_path} · journal {row.journal_path}")
        text.append("\nsteady state before: ")
        text.append_text(met_text(summary["hypothesis"]["before"]))
        text.append(" · after: ")
        text.append_text(met_text(summary["hypothesis"]["after"]))
        self.query_one("#chaos-report-summary", Static).update(text)
        table = self.query_one("#chaos-report", DataTable)
        table.clear()
        for a in summary["activities"] + summary["rollbacks"]:
            table.add_row(
                Text(a["phase"]),
                Text(a["type"] or ""),
                Text(a["name"] or ""),
                styled_status(a["status"] or ""),
                Text(took_text(a["duration"])),
                Text(a["error"] or "", style="red"),
            )
        self.query_one("#chaos-report-rollbacks", Static).update(self._rollback_state())
        self.loaded += 1
        self.refresh_bindings()

    def _rollback_state(self) -> Text:
        if not self.rollbacks:
            return Text("The experiment has no rollbacks.", style="dim")
        text = Text("Rollbacks: ")
        parts = []
        for i, name in enumerate(self.rollbacks):
            status = self.done.get(i, {}).get("status", "not played")
            parts.append(f"{name} {status}")
        text.append(", ".join(parts))
        if self.left and self.row is not None and not self.row.dry_run:
            text.append(f"  ({len(self.left)} left: b plays them)", style="yellow")
        return text

    def _why_no_rollback(self) -> str | None:
        row = self.row
        if row is None:
            return "the run is still loading"
        if row.status == "running":
            return f"run {row.id} is still running ({row.owner}); its own rollbacks follow"
        if row.dry_run:
            return f"run {row.id} was a dry run: it changed nothing to roll back"
        if not self.left:
            return f"nothing left to roll back for run {row.id}"
        if self.rolling_back:
            return "the rollback is running"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rollback":
            if self.opsdeck.read_only:
                return False
            return None if self._why_no_rollback() else True
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_rollback(self) -> None:
        if self.opsdeck.read_only:
            return
        why = self._why_no_rollback()
        if why is not None:
            self.notify(escape(why), title="rollback", severity="warning")
            return
        row = self.row
        assert row is not None
        body = Text(f"Plays these rollbacks of run {row.id}, each once, audited under it:\n")
        for name in self.left:
            body.append(f"  {name}\n")
        body.rstrip()

        def confirmed(answer: str | None) -> None:
            if answer is not None:
                self.rolling_back = True
                self.refresh_bindings()
                self._rollback(row)

        self.app.push_screen(
            ChaosConfirmScreen(
                f"Roll back run {row.id}",
                context=self.opsdeck.context_name,
                production=self.opsdeck.production,
                body=body,
                apply_label=f"Roll back ({len(self.left)})",
                phrase=None,
            ),
            confirmed,
        )

    @work(exclusive=True, group="chaos-rollback", thread=True, exit_on_error=False)
    def _rollback(self, row: RunRow) -> None:
        from console.experiments.launcher import rollback_run
        from console.experiments.store import ChaosRunStore

        store = ChaosRunStore()
        try:
            report = rollback_run(store, row)
        except BaseException as exc:  # the screen must hear of it
            self.post_message(RollbackEnded(f"rollback failed: {error_text(exc)}", "error"))
            return
        finally:
            store.close()
        failed = [r for r in report.ran if r.get("status") != "succeeded"]
        text = f"run {row.id}: {len(report.ran)} rollback(s) played"
        if report.skipped:
            text += f", {len(report.skipped)} already done"
        if failed:
            text += f", {len(failed)} failed"
        self.post_message(RollbackEnded(text, "warning" if failed else "information"))

    def on_rollback_ended(self, message: RollbackEnded) -> None:
        self.rolling_back = False
        self.notify(escape(message.text), title="chaos rollback", severity=message.severity)
        self.action_reload()


# -- confirmation -----------------------------------------------------------------------


class ChaosConfirmScreen(ModalScreen[str | None]):
    """Yes / no for a run, an abort or a rollback, with what it will do; in production
    (``phrase``) the apply button stays disabled until the phrase is typed. Dismisses
    with the typed text ("" when none was asked), None for no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back, change nothing", id="opsdeck.chaos.confirm.cancel"),
        Binding("ctrl+s", "apply", "Confirm", id="opsdeck.chaos.confirm.apply"),
    ]

    def __init__(
        self,
        title: str,
        *,
        context: str,
        production: bool,
        body: Text,
        apply_label: str,
        phrase: str | None,
        note: str = "",
        destructive: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.context_name = context
        self.production = production
        self.body = body
        self.apply_label = apply_label
        self.phrase = phrase
        self.note = note
        self.destructive = destructive

    def compose(self) -> ComposeResult:
        where = f"context {self.context_name}" + (" (PRODUCTION)" if self.production else "")
        classes = "-destructive" if self.destructive else ""
        with Vertical(id="chaos-confirm-dialog", classes=classes):
            yield Static(Text(self.title_text), id="chaos-confirm-title")
            yield Static(Text(where), id="chaos-confirm-context")
            with VerticalScroll(id="chaos-confirm-body"):
                yield Static(self.body, id="chaos-confirm-plan")
            if self.note:
                yield Static(Text(self.note), id="chaos-confirm-note")
            if self.phrase is not None:
                yield Label(Text(f"Type {self.phrase} to confirm"), id="chaos-confirm-label")
                yield Input(placeholder=self.phrase, id="chaos-confirm-phrase")
            with Horizontal(id="chaos-confirm-buttons"):
                yield Button("Back (esc)", id="chaos-confirm-cancel")
                yield Button(
                    self.apply_label,
                    id="chaos-confirm-apply",
                    variant="error" if self.destructive else "primary",
                    disabled=self.phrase is not None,
                )
        yield Footer()

    def on_mount(self) -> None:
        if self.phrase is not None:
            self.query_one("#chaos-confirm-phrase", Input).focus()
        else:
            self.query_one("#chaos-confirm-apply", Button).focus()

    def _typed(self) -> str:
        if self.phrase is None:
            return ""
        return self.query_one("#chaos-confirm-phrase", Input).value.strip()

    @on(Input.Changed, "#chaos-confirm-phrase")
    def _phrase_changed(self) -> None:
        self.query_one("#chaos-confirm-apply", Button).disabled = self._typed() != self.phrase

    @on(Input.Submitted, "#chaos-confirm-phrase")
    @on(Button.Pressed, "#chaos-confirm-apply")
    def action_apply(self) -> None:
        if self.phrase is not None and self._typed() != self.phrase:
            self.notify("the typed text does not match", severity="warning")
            return
        self.dismiss(self._typed())

    @on(Button.Pressed, "#chaos-confirm-cancel")
    def action_back(self) -> None:
        self.dismiss(None)
