"""Chaos experiments in the TUI: `:chaos`.

ChaosScreen (chaos_list.py) lists the experiments on the search path (the files `opsdeck chaos list`
shows) and this context's runs from the run store (status, started "3m ago"). Enter on
an experiment opens ExperimentScreen: its plan (every activity in run order, with
provider, arguments, and for method actions the rollback that undoes it), or the
validation problems (file:line) when it is invalid. `R` runs it after a confirmation
that shows the plan (production: type the title), in a thread worker (chaoslib blocks)
through console.experiments.watch, which posts every phase and activity back as a
message; `D` is a dry run (probes only, no action nor rollback called: no confirmation,
allowed read-only too); `A` aborts: the run stops at the next activity boundary and,
once the method has begun, its rollbacks are played (see console.experiments.watch).
Enter on a run opens ChaosRunScreen (chaos_report.py), its report from the journal; `b` plays the
rollbacks not yet done (launcher.rollback_run, each claimed once). Read-only contexts
hide `R` and `b`. Files, validation, the store and the journal are read in thread
workers; chaoslib is imported there only (console.experiments), never at start-up.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import DataTable, Footer, Label, Static

from console.tui.keys import KeysScreen
from console.tui.screens.chaos_list import ChaosScreen, experiment_names, open_chaos
from console.tui.screens.chaos_report import (
    ChaosConfirmScreen,
    ChaosRunScreen,
    met_text,
    styled_status,
    took_text,
)
from console.tui.screens.runbook_run import error_text

__all__ = [
    "ChaosConfirmScreen",
    "ChaosRunScreen",
    "ChaosScreen",
    "ExperimentScreen",
    "experiment_names",
    "open_chaos",
]  # the `:chaos` screens, listed in chaos_list.py and shown here

if TYPE_CHECKING:
    from console.experiments.source import ExperimentFile
    from console.experiments.watch import RunEvent, WatchedRun
    from console.tui.app import OpsdeckApp


def _args(arguments: Any) -> str:
    if not arguments:
        return ""
    try:
        return json.dumps(arguments, default=str, sort_keys=True)
    except (TypeError, ValueError):
        return str(arguments)


def has_actions(plan: dict[str, Any]) -> bool:
    return any(a["phase"] == "method" and a["type"] == "action" for a in plan["activities"])


def plan_text(plan: dict[str, Any]) -> Text:
    """Every activity of the plan, by phase, as plain text (never markup)."""
    text = Text()
    phase = None
    for a in plan["activities"]:
        if a["phase"] != phase:
            phase = a["phase"]
            text.append(f"{phase}:\n", style="bold")
        text.append(f"  {a['type']} {a['name']}", style="bold")
        text.append(f"  [{a['provider']}]")
        if a["arguments"]:
            text.append(f"  args: {_args(a['arguments'])}", style="dim")
        if a["rollback"]:
            text.append(f"  rollback: {a['rollback']}")
        elif a["type"] == "action" and a["phase"] == "method":
            text.append("  rollback: none", style="red")
        text.append("\n")
    text.rstrip()
    return text


# -- one experiment: plan, run, abort ---------------------------------------------------


class PlanLoaded(Message):
    def __init__(
        self,
        experiment: ExperimentFile | None,
        plan: dict[str, Any] | None,
        problems: list[str],
    ) -> None:
        super().__init__()
        self.experiment = experiment
        self.plan = plan
        self.problems = problems


class RunProgress(Message):
    def __init__(self, event: RunEvent) -> None:
        super().__init__()
        self.event = event


class RunEnded(Message):
    def __init__(
        self, watched: WatchedRun | None, error: str | None, *, filed: Exception | None = None
    ) -> None:
        super().__init__()
        self.watched = watched
        self.error = error
        self.filed = filed  # ApprovalRequired: a request was filed, nothing ran


def policy_refusal(
    session: Any, title: str, typed: str | None, *, read_only: bool, production: bool
) -> str | None:
    """Why the context refuses this experiment (as `chaos run` checks before asking)."""
    from console.actions.chaos import ChaosPlan, ChaosRun, check_chaos_allowed
    from console.errors import OpsdeckError

    try:
        check_chaos_allowed(
            session.context,
            ChaosPlan("experiment", ()),
            ChaosRun("-", title, confirmed=title if production and typed is None else typed),
            read_only=read_only,
            is_rollback=False,
        )
    except OpsdeckError as exc:
        return str(exc)
    return None


def run_decision(session: Any, plan: dict[str, Any]) -> Any:
    """The policy's preview of the run (console.actions.chaos.decide_run), or None when
    the session has no policy gate (previews in tests)."""
    if not hasattr(session, "gate"):
        return None
    from console.actions.chaos import decide_run

    return decide_run(session, plan)


class ExperimentScreen(KeysScreen[None]):
    """An experiment's plan (or its problems), and a run of it with live progress."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.chaos.experiment.back"),
        Binding("R", "run", "Run…", id="opsdeck.chaos.run"),
        Binding("D", "dry_run", "Dry run", id="opsdeck.chaos.dry-run"),
        Binding("A", "abort", "Abort run…", id="opsdeck.chaos.abort"),
    ]

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.experiment: ExperimentFile | None = None
        self.plan: dict[str, Any] | None = None
        self.problems: list[str] = []
        self.running = False
        self.run_id: str | None = None
        self.abort_requested = threading.Event()
        # (phase, type, name, status, duration, error) per activity, in run order
        self.progress_rows: list[list[str]] = []
        self.hypothesis: dict[str, bool | None] = {"before": None, "after": None}
        self.result: WatchedRun | None = None

    @property
    def opsdeck(self) -> OpsdeckApp:
        return cast("OpsdeckApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(Text(f"chaos > {self.path}"), id="crumbs")
        with Vertical(id="chaos-experiment"):
            yield Static("loading…", id="chaos-title")
            yield Static("", id="chaos-problems")
            yield DataTable(id="chaos-plan", cursor_type="row")
            yield Label("Run", classes="section", id="chaos-run-label")
            yield Static("", id="chaos-hypothesis")
            yield DataTable(id="chaos-progress", cursor_type="none")
            yield Static("", id="chaos-run-status")
        yield Footer()

    def on_mount(self) -> None:
        plan = self.query_one("#chaos-plan", DataTable)
        plan.add_columns("PHASE", "TYPE", "NAME", "PROVIDER", "ARGUMENTS", "ROLLBACK", "WHERE")
        progress = self.query_one("#chaos-progress", DataTable)
        progress.add_columns("PHASE", "TYPE", "ACTIVITY", "STATUS", "TOOK", "ERROR")
        self.query_one("#chaos-problems", Static).display = False
        self._show_run_parts(False)
        plan.focus()
        self._load(self.path, tuple(getattr(self.opsdeck.session.config, "pii_fields", ())))

    def _show_run_parts(self, shown: bool) -> None:
        for selector in ("#chaos-run-label", "#chaos-hypothesis", "#chaos-progress"):
            self.query_one(selector).display = shown

    @work(exclusive=True, group="chaos-plan", thread=True, exit_on_error=False)
    def _load(self, path: str, pii: tuple[str, ...]) -> None:
        from console.experiments.plan import plan_data
        from console.experiments.source import ExperimentInvalid, load_experiment_file
        from console.experiments.validate import problems

        try:
            exp = load_experiment_file(path)
            found = problems(exp)
            plan = None if found else plan_data(exp, pii)
        except ExperimentInvalid as exc:
            self.post_message(PlanLoaded(None, None, exc.problems))
            return
        except Exception as exc:
            self.post_message(PlanLoaded(None, None, [error_text(exc)]))
            return
        self.post_message(PlanLoaded(exp, plan, found))

    def on_plan_loaded(self, message: PlanLoaded) -> None:
        self.experiment, self.plan, self.problems = (
            message.experiment,
            message.plan,
            message.problems,
        )
        title = self.query_one("#chaos-title", Static)
        name = self.experiment.title if self.experiment else self.path
        if self.problems:
            title.update(Text(f"{name}: invalid, nothing can run", style="bold red"))
            box = self.query_one("#chaos-problems", Static)
            box.update(Text("\n".join(self.problems), style="red"))
            box.display = True
            self.query_one("#chaos-plan", DataTable).display = False
        elif self.plan is not None:
            title.update(Text(f"{name}  ({self.path})", style="bold"))
            table = self.query_one("#chaos-plan", DataTable)
            for i, a in enumerate(self.plan["activities"]):
                rollback = Text(a["rollback"] or "")
                if not a["rollback"] and a["type"] == "action" and a["phase"] == "method":
                    rollback = Text("none", style="red")
                table.add_row(
                    Text(a["phase"]),
                    Text(a["type"] or ""),
                    Text(a["name"]),
                    Text(a["provider"]),
                    Text(_args(a["arguments"])),
                    rollback,
                    Text(a["location"], style="dim"),
                    key=str(i),
                )
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run" and self.opsdeck.read_only:
            return False  # read-only hides the key, as on every other view
        if action in ("run", "dry_run"):
            return None if self.running or self.plan is None else True
        if action == "abort":
            return True if self.running and not self.abort_requested.is_set() else None
        return True

    def on_unmount(self) -> None:
        """Quitting the app mid-run: the run's thread would keep the process alive until
        the run ends, unseen; abort it instead, so its rollbacks play and it ends."""
        if self.running:
            self.abort_requested.set()

    def action_back(self) -> None:
        if self.running:
            self.notify("a run is in progress: A aborts it (its rollbacks then run)")
            return
        self.app.pop_screen()

    def action_dry_run(self) -> None:
        """Chaos Toolkit's dry mode for actions: probes run, no action nor rollback is
        called, so it needs no confirmation and works in read-only contexts too."""
        if self.running or self.plan is None or self.experiment is None:
            return
        self._start(None, dry_run=True)

    def action_run(self) -> None:
        app = self.opsdeck
        if app.read_only or self.running or self.plan is None or self.experiment is None:
            return
        title = self.experiment.title
        changes = has_actions(self.plan)
        production = app.production and changes
        files_request = False
        note = "Probes only: nothing is changed."
        if changes:
            why = policy_refusal(
                app.session, title, None, read_only=app.read_only, production=app.production
            )
            decision = run_decision(app.session, self.plan) if why is None else None
            if decision is not None and decision.result == "deny":
                why = "; ".join(decision.reasons) or "the policy denies chaos.run"
            if why is not None:
                self.notify(escape(why), title="experiment not run", severity="error", timeout=10)
                return
            files_request = decision is not None and decision.result == "approve"
            note = "Actions change the system; rollbacks undo them after the method."
            if files_request and decision is not None:
                reasons = "; ".join(decision.reasons)
                note = (
                    f"policy: needs {decision.approvals} approval(s)"
                    + (f" ({reasons})" if reasons else "")
                    + ". Confirming files a request and runs nothing; once approved "
                    "(:approvals), `opsdeck approvals apply ID` runs it."
                )
        production = production and not files_request  # filing asks no typed name
        dialog = ChaosConfirmScreen(
            f"Run experiment {title!r}",
            context=app.context_name,
            production=app.production,
            body=plan_text(self.plan),
            apply_label="File the approval request" if files_request else "Run the experiment",
            phrase=title if production else None,
            note=note,
        )

        def confirmed(typed: str | None) -> None:
            if typed is None:
                return
            if production:
                why = policy_refusal(
                    app.session, title, typed, read_only=app.read_only, production=True
                )
                if why is not None:
                    self.notify(escape(why), title="experiment not run", severity="error")
                    return
            self._start(typed or None)

        app.push_screen(dialog, confirmed)

    def _start(self, typed: str | None, *, dry_run: bool = False) -> None:
        assert self.experiment is not None
        self.running = True
        self.result = None
        self.run_id = None
        self.abort_requested.clear()
        self.progress_rows = []
        self.hypothesis = {"before": None, "after": None}
        self.query_one("#chaos-progress", DataTable).clear()
        self._show_run_parts(True)
        self._render_hypothesis()
        self._status(Text("starting a dry run…" if dry_run else "starting…"))
        self.refresh_bindings()
        session = self.opsdeck.session
        self._run(
            self.experiment,
            self.opsdeck.context_name,
            str(getattr(session.config, "path", "")),
            typed,
            dry_run,
            None if dry_run or not has_actions(self.plan or {"activities": []}) else self.plan,
        )

    @work(exclusive=True, group="chaos-run", thread=True, exit_on_error=False)
    def _run(
        self,
        experiment: ExperimentFile,
        context: str,
        config: str,
        typed: str | None,
        dry_run: bool,
        plan: dict[str, Any] | None,
    ) -> None:
        """``plan``: the run changes something, so the policy authorizes it first (as
        `chaos run` does); an approval request it files is the run's only effect."""
        from console.errors import ApprovalRequired
        from console.experiments.store import ChaosRunStore
        from console.experiments.watch import run_watched

        if plan is not None:
            from console.actions.chaos import authorize_run

            command = ["--context", context, "chaos", "run", experiment.path]
            try:
                authorize_run(self.opsdeck.session, plan, command=command)
            except ApprovalRequired as exc:
                self.post_message(RunEnded(None, None, filed=exc))
                return
            except BaseException as exc:  # a denial, a broken policy: nothing ran
                self.post_message(RunEnded(None, error_text(exc)))
                return

        def emit(event: RunEvent) -> None:
            self.post_message(RunProgress(event))  # thread-safe; widgets update there

        store = ChaosRunStore()
        try:
            watched = run_watched(
                experiment,
                store,
                emit=emit,
                abort=self.abort_requested,
                context=context,
                config=config,
                confirm=typed,
                dry_run=dry_run,
            )
        except BaseException as exc:  # the screen must hear of it
            self.post_message(RunEnded(None, error_text(exc)))
            return
        finally:
            store.close()
        self.post_message(RunEnded(watched, None))

    def on_run_progress(self, message: RunProgress) -> None:
        event = message.event
        if event.kind == "created":
            self.run_id = event.run_id
            self._status(Text(f"run {event.run_id}: running · A aborts"))
        elif event.kind == "hypothesis":
            key = "before" if event.phase.endswith("before") else "after"
            self.hypothesis[key] = event.met
            self._render_hypothesis()
        elif event.kind == "aborting":
            what = (
                "the method stops here; its rollbacks follow"
                if event.phase == "method"
                else f"interrupted in {event.phase or 'the run'}"
            )
            self._status(Text(f"run {self.run_id}: aborting: {what}…", style="yellow"))
        elif event.kind == "rolling back":
            self._status(Text(f"run {self.run_id}: interrupted, playing its rollbacks…"))
        elif event.kind == "activity":
            row = [
                event.phase,
                event.type,
                event.name,
                event.status,
                took_text(event.duration),
                event.error or "",
            ]
            last = self.progress_rows[-1] if self.progress_rows else None
            if last and last[3] == "running" and last[:3] == row[:3]:
                self.progress_rows[-1] = row  # the activity that started has ended
            else:
                self.progress_rows.append(row)
            self._render_progress()

    def _render_progress(self) -> None:
        table = self.query_one("#chaos-progress", DataTable)
        table.clear()
        for phase, kind, name, status, took, error in self.progress_rows:
            table.add_row(
                Text(phase),
                Text(kind),
                Text(name),
                styled_status(status),
                Text(took),
                Text(error, style="red"),
            )
        table.move_cursor(row=max(table.row_count - 1, 0))

    def _render_hypothesis(self) -> None:
        text = Text("steady state before: ")
        text.append_text(met_text(self.hypothesis["before"]))
        text.append(" · after: ")
        text.append_text(met_text(self.hypothesis["after"]))
        self.query_one("#chaos-hypothesis", Static).update(text)

    def _status(self, text: Text) -> None:
        self.query_one("#chaos-run-status", Static).update(text)

    def on_run_ended(self, message: RunEnded) -> None:
        self.running = False
        self.refresh_bindings()
        if message.filed is not None:
            text = f"{message.filed}; :approvals shows it"
            self._status(Text(text, style="yellow"))
            self.notify(escape(text), title="approval required", severity="warning", timeout=12)
            return
        if message.watched is None:
            error = message.error or "unknown error"
            self._status(Text(f"run failed to start or crashed: {error}", style="red"))
            self.notify(escape(error), title="chaos run", severity="error", timeout=10)
            return
        self.result = watched = message.watched
        from console.experiments.launcher import hypothesis_met

        row = watched.result.row
        verdict = "met" if hypothesis_met(watched.result.journal) else "NOT met"
        text = f"run {row.id}: {row.status}{', deviated' if row.deviated else ''}"
        if row.dry_run:
            text += " (dry run: no action called)"
        text += f", hypothesis {verdict}"
        if watched.aborted:
            ran = list(watched.result.journal.get("rollbacks") or [])
            ran += watched.rollback.ran if watched.rollback else []
            failed = [r for r in ran if r.get("status") != "succeeded"]
            text += f"; aborted by you, {len(ran)} rollback(s) played"
            if failed:
                text += f", {len(failed)} failed (b on the run's report plays them again)"
        code = watched.result.exit_code
        self._status(Text(text, style="green" if code == 0 else "yellow"))
        severity: SeverityLevel = "information" if code == 0 else "warning"
        self.notify(escape(text), title="chaos run", severity=severity, timeout=8)

    def action_abort(self) -> None:
        if not self.running or self.abort_requested.is_set():
            return
        run = self.run_id or "the run"

        def confirmed(answer: str | None) -> None:
            if answer is not None and self.running:
                self.abort_requested.set()
                self._status(Text(f"{run}: aborting after the current activity…"))
                self.refresh_bindings()

        self.app.push_screen(
            ChaosConfirmScreen(
                f"Abort {run}",
                context=self.opsdeck.context_name,
                production=self.opsdeck.production,
                body=Text(
                    "The run stops when the current activity ends (a running call is not "
                    "cut short). Once the method has begun, the experiment's rollbacks "
                    "are played; before it, nothing was changed and nothing is rolled back."
                ),
                apply_label="Abort and roll back",
                phrase=None,
                destructive=True,
            ),
            confirmed,
        )
