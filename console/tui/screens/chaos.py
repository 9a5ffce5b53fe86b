"""Chaos experiments in the TUI: `:chaos`.

ChaosScreen lists the experiments on the search path (the files `opsdeck chaos list`
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
from collections.abc import Sequence
from dataclasses import dataclass
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

from console.tui.format import parse_time, relative_time
from console.tui.keys import KeysScreen
from console.tui.screens.chaos_report import (
    STATUS_STYLE,
    ChaosConfirmScreen,
    ChaosRunScreen,
    met_text,
    styled_status,
    took_text,
)
from console.tui.screens.runbook_run import error_text
from console.tui.screens.two_lists import TwoListsScreen

if TYPE_CHECKING:
    from console.experiments.source import ExperimentFile
    from console.experiments.store import RunRow
    from console.experiments.watch import RunEvent, WatchedRun
    from console.tui.app import OpsdeckApp


def open_chaos(app: Any, argument: str = "") -> None:
    """`:chaos [NAME]` and the command palette: the list, or straight to one experiment."""
    screen = ChaosScreen()
    app.push_screen(screen)
    if argument.strip():
        screen.call_after_refresh(screen.open_named, argument.strip())


def experiment_names() -> list[str]:
    """Experiment names (file stems) on the search path, for `:chaos ` Tab completion."""
    from console.cli_chaos import _files

    return [path.stem for path in _files()]


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


# -- the list -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExperimentEntry:
    name: str
    path: str
    title: str
    method: int  # activities in the method
    error: str | None  # the file cannot be read or parsed


class ChaosListed(Message):
    def __init__(
        self, entries: Sequence[ExperimentEntry], runs: Sequence[RunRow], error: str | None
    ) -> None:
        super().__init__()
        self.entries = list(entries)
        self.runs = list(runs)
        self.error = error


def list_experiments() -> list[ExperimentEntry]:
    """The files `opsdeck chaos list` shows, each with its title or its error."""
    from console.cli_chaos import _files
    from console.errors import OpsdeckError
    from console.experiments.source import load_experiment_file

    out = []
    for path in _files():
        try:
            exp = load_experiment_file(str(path))
        except OpsdeckError as exc:
            out.append(ExperimentEntry(path.stem, str(path), "", 0, str(exc)))
            continue
        method = exp.data.get("method")
        count = len(method) if isinstance(method, list) else 0
        out.append(ExperimentEntry(path.stem, str(path), exp.title, count, None))
    return out


class ChaosScreen(TwoListsScreen):
    """Experiments on the search path, and this context's runs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="opsdeck.chaos.back"),
        Binding("enter", "open", "Plan / report", id="opsdeck.chaos.open"),
        Binding("tab", "switch", "Experiments/runs", id="opsdeck.chaos.switch"),
        Binding("ctrl+r", "reload", "Reload", id="opsdeck.chaos.reload"),
    ]
    CRUMB = "chaos"
    BODY_ID = "chaos-body"
    TOP = (
        "chaos-experiments",
        "Experiments (enter shows the plan)",
        ("NAME", "TITLE", "METHOD", "PATH", "PROBLEM"),
    )
    RUNS = (
        "chaos-runs",
        "Runs in this context (enter shows the report)",
        ("RUN", "TITLE", "STATUS", "STARTED", "ENDED", "EXPERIMENT"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[ExperimentEntry] = []
        self.runs: list[RunRow] = []

    @work(exclusive=True, group="chaos-list", thread=True, exit_on_error=False)
    def _load(self, context: str) -> None:
        from console.experiments.store import ChaosRunStore

        try:
            entries = list_experiments()
            store = ChaosRunStore()
            try:
                runs = [r for r in store.runs(50) if r.context == context]
            finally:
                store.close()
        except Exception as exc:  # a broken store is a notification, never a crash
            self.post_message(ChaosListed([], [], error_text(exc)))
            return
        self.post_message(ChaosListed(entries, runs, None))

    def on_chaos_listed(self, message: ChaosListed) -> None:
        if message.error is not None:
            self.notify(escape(message.error), title="chaos", severity="error")
            return
        self.entries, self.runs = message.entries, message.runs
        experiments = [
            (
                (
                    Text(e.name),
                    Text(e.title),
                    Text(str(e.method) if e.error is None else ""),
                    Text(e.path, style="dim"),
                    Text(e.error or "", style="red"),
                ),
                e.path,
            )
            for e in self.entries
        ]
        now = self.opsdeck.now()
        runs = [
            (
                (
                    Text(r.id),
                    Text(r.title),
                    Text(
                        f"{r.status}{', deviated' if r.deviated else ''}"
                        + (" (dry run)" if r.dry_run else ""),
                        STATUS_STYLE.get(r.status, ""),
                    ),
                    Text(relative_time(parse_time(r.started), now)),
                    Text(relative_time(parse_time(r.ended), now) if r.ended else "-"),
                    Text(r.experiment_path, style="dim"),
                ),
                r.id,
            )
            for r in self.runs
        ]
        self.refill(experiments, runs)

    def action_open(self) -> None:
        runs = self.query_one("#chaos-runs", DataTable)
        if runs.has_focus:
            if self.runs:
                self.app.push_screen(ChaosRunScreen(self.runs[runs.cursor_row].id))
            return
        if not self.entries:
            return
        entry = self.entries[self.query_one("#chaos-experiments", DataTable).cursor_row]
        if entry.error is not None:
            self.notify(escape(entry.error), title="invalid experiment", severity="error")
            return
        self.app.push_screen(ExperimentScreen(entry.path))

    def open_named(self, name: str) -> None:
        """`:chaos NAME`: a file path, or an experiment name on the search path."""
        from console.cli_chaos import _find
        from console.errors import OpsdeckError

        try:
            path = _find(name)
        except OpsdeckError as exc:
            self.notify(escape(str(exc)), title=exc.title, severity="error")
            return
        self.app.push_screen(ExperimentScreen(path))


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
    def __init__(self, watched: WatchedRun | None, error: str | None) -> None:
        super().__init__()
        self.watched = watched
        self.error = error


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
        if changes:
            why = policy_refusal(
                app.session, title, None, read_only=app.read_only, production=app.production
            )
            if why is not None:
                self.notify(escape(why), title="experiment not run", severity="error", timeout=10)
                return
        dialog = ChaosConfirmScreen(
            f"Run experiment {title!r}",
            context=app.context_name,
            production=app.production,
            body=plan_text(self.plan),
            apply_label="Run the experiment",
            phrase=title if production else None,
            note="Actions change the system; rollbacks undo them after the method."
            if changes
            else "Probes only: nothing is changed.",
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
        )

    @work(exclusive=True, group="chaos-run", thread=True, exit_on_error=False)
    def _run(
        self,
        experiment: ExperimentFile,
        context: str,
        config: str,
        typed: str | None,
        dry_run: bool,
    ) -> None:
        from console.experiments.store import ChaosRunStore
        from console.experiments.watch import run_watched

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
