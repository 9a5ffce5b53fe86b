"""Training drills in the TUI: `:drills` (the CLI's `opsdeck sandbox drill`).

The list shows every drill; the panel beside it the highlighted drill (what it
injects, its checks, the steps of its runbook) or, while one runs, its status: start,
elapsed, the hints with this run's values, and the last check's results. `s` starts
the highlighted drill after a confirmation, `c` checks (a pass finishes the drill and
names its report), `x` stops it after a confirmation. Start and stop change the
sandbox, so read-only mode hides them. Every drill call runs in a thread worker
(they block on Temporal and RabbitMQ) and comes back as a message; errors become
notifications.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Label, Static

from console.tui.keys import KeysScreen

if TYPE_CHECKING:
    from console.drills import CheckResult, Drill, DrillRun
    from console.tui.app import OpsdeckApp


def open_drills(app: Any, argument: str = "") -> None:
    app.push_screen(DrillsScreen())


def drill_names() -> list[str]:
    from console.drills import DRILLS

    return list(DRILLS)


def _error(exc: BaseException) -> str:
    from console.errors import OpsdeckError

    if isinstance(exc, OpsdeckError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def runbook_steps(name: str) -> list[str]:
    from console.drills.catalog import runbook_steps as steps

    return steps(name)


class DrillState(Message):
    """The running drill (None: none) after a load, start, check or stop."""

    def __init__(
        self,
        run: DrillRun | None,
        *,
        done: str = "",
        results: list[CheckResult] | None = None,
        report: str | None = None,
        error: str | None = None,
    ) -> None:
        super().__init__()
        self.run = run
        self.done = done
        self.results = results
        self.report = report
        self.error = error


def drill_text(drill: Drill) -> Text:
    text = Text()
    text.append(f"{drill.title}\n", style="bold")
    text.append(f"injects: {drill.injects} (N = {drill.default_count})\n\n")
    text.append("resolved when\n", style="bold")
    for check in drill.checks:
        text.append(f"  - {check}\n")
    text.append(f"\nrunbook {drill.runbook}\n", style="bold")
    for i, title in enumerate(runbook_steps(drill.runbook), 1):
        text.append(f"  {i}. {title}\n")
    text.append("\ns starts it (needs `opsdeck sandbox up`)", style="dim")
    return text


def run_text(run: DrillRun) -> Text:
    data = run.to_data()
    text = Text()
    text.append(f"RUNNING {data['title']}", style="bold yellow")
    text.append(f"  (run {data['token']})\n")
    text.append(f"started {data['started_at']}, {data['elapsed_s']:.0f} s ago\n")
    text.append(f"injected: {data['injects']} (N = {data['count']})\n")
    if data["incident"]:
        text.append(f"incident: {data['incident']}\n")
    text.append(f"\nrunbook {data['runbook']}\n", style="bold")
    for i, title in enumerate(runbook_steps(data["runbook"]), 1):
        text.append(f"  {i}. {title}\n")
    text.append("\nhints\n", style="bold")
    for hint in data["hints"]:
        text.append(f"  - {hint}\n")
    if data["checks"]:
        text.append(f"\nlast check {data['checked_at']}\n", style="bold")
        for check in data["checks"]:
            ok = bool(check.get("ok"))
            text.append("  ok   " if ok else "  FAIL ", style="green" if ok else "red")
            text.append(f"{check.get('name')}: {check.get('detail')}\n")
    text.append("\nc checks, x stops (cleans up)", style="dim")
    return text


class DrillsScreen(KeysScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="drills.back"),
        Binding("s", "start", "Start…", id="drills.start"),
        Binding("c", "check", "Check", id="drills.check"),
        Binding("x", "stop", "Stop…", id="drills.stop"),
        Binding("r", "refresh", "Refresh", id="drills.refresh"),
    ]

    running: DrillRun | None = None

    @property
    def opsdeck(self) -> OpsdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Label("Drills in the sandbox", id="drills-title")
        with Horizontal(id="drills-body"):
            yield DataTable(id="drills-list", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="drills-detail"):
                yield Static("", id="drills-panel")
        yield Static("", id="drills-status")
        yield Footer()

    def on_mount(self) -> None:
        from console.drills import DRILLS

        table = self.query_one(DataTable)
        table.add_columns("NAME", "TITLE", "RUNBOOK", "STATE")
        self.names = list(DRILLS)
        for drill in DRILLS.values():
            table.add_row(drill.name, drill.title, drill.runbook, "", key=drill.name)
        table.focus()
        self.action_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("start", "stop") and self.opsdeck.read_only:
            return False
        if action == "start":
            return self.running is None
        if action in ("check", "stop"):
            return self.running is not None
        return True

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if 0 <= table.cursor_row < len(self.names):
            return self.names[table.cursor_row]
        return None

    def _status(self, text: str) -> None:
        self.query_one("#drills-status", Static).update(escape(text))

    def _show(self) -> None:
        from console.drills import get_drill

        panel = self.query_one("#drills-panel", Static)
        if self.running is not None:
            panel.update(run_text(self.running))
        elif (name := self._selected()) is not None:
            panel.update(drill_text(get_drill(name)))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show()

    def action_refresh(self) -> None:
        self._status("loading…")
        self._work("load")

    def action_start(self) -> None:
        name = self._selected()
        if name is None or self.running is not None:
            return
        from console.drills import get_drill
        from console.tui.screens.chaos_report import ChaosConfirmScreen

        drill = get_drill(name)
        body = Text(f"{drill.injects}\n\nRunbook to follow: {drill.runbook}")

        def chosen(answer: str | None) -> None:
            if answer is not None:
                self._status(f"starting {name}…")
                self._work("start", name)

        self.app.push_screen(
            ChaosConfirmScreen(
                f"Start drill {name}?",
                context="sandbox",
                production=False,
                body=body,
                apply_label="Start drill",
                phrase=None,
                note="It injects an incident into the local sandbox.",
                destructive=True,
            ),
            chosen,
        )

    def action_check(self) -> None:
        if self.running is not None:
            self._status("checking…")
            self._work("check")

    def action_stop(self) -> None:
        if self.running is None:
            return
        from console.tui.screens.chaos_report import ChaosConfirmScreen

        name = self.running.name

        def chosen(answer: str | None) -> None:
            if answer is not None:
                self._status(f"stopping {name}…")
                self._work("stop")

        self.app.push_screen(
            ChaosConfirmScreen(
                f"Stop drill {name}?",
                context="sandbox",
                production=False,
                body=Text("Cleans up what is left of the injection and writes the report."),
                apply_label="Stop drill",
                phrase=None,
            ),
            chosen,
        )

    @work(thread=True, exclusive=True, group="drills")
    def _work(self, kind: str, name: str = "") -> None:
        from console import drills

        data_dir = drills.sandbox_dir()
        try:
            if kind == "start":
                self.post_message(DrillState(drills.start(name, data_dir), done="start"))
            elif kind == "check":
                run, results, report = drills.check(data_dir)
                still = None if report else run
                msg = DrillState(still, done="check", results=results, report=_path(report))
                self.post_message(msg)
            elif kind == "stop":
                _run, _cleanup, report = drills.stop(data_dir)
                self.post_message(DrillState(None, done="stop", report=str(report)))
            else:
                self.post_message(DrillState(drills.status(data_dir)))
        except Exception as exc:
            self.post_message(DrillState(drills.status(data_dir), done=kind, error=_error(exc)))

    def on_drill_state(self, message: DrillState) -> None:
        self.running = message.run
        table = self.query_one(DataTable)
        for name in self.names:
            state = "running" if self.running and self.running.name == name else ""
            table.update_cell(name, table.ordered_columns[3].key, state)
        self.refresh_bindings()
        self._show()
        if message.error:
            self.notify(escape(message.error), title=f"drill {message.done}", severity="error")
            self._status(message.error)
            return
        if message.done == "check" and message.results is not None:
            failing = [r for r in message.results if not r.ok]
            if failing:
                self._status(f"{len(failing)} check(s) failing: " + failing[0].detail)
            else:
                self.notify(escape(f"resolved; report {message.report}"), title="drill check")
                self._status(f"resolved; report {message.report}")
        elif message.done == "stop":
            self._status(f"stopped; report {message.report}")
        elif message.done == "start" and self.running is not None:
            self._status(f"{self.running.name} started: follow the hints, then c to check")
        else:
            self._status("a drill is running" if self.running else "no drill is running")


def _path(report: Any) -> str | None:
    return str(report) if report is not None else None
