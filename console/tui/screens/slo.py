"""`:slo`: the context's SLOs evaluated now, with the highlighted one's trend.

Each row: value, objective, error budget left, burn rates over the alerts' long windows
(1h, 6h by default), the alert that would fire and a text trend; below the table, a
Sparkline of the highlighted SLO's series (24 buckets of its window) and the reasons.
The evaluation (console.slo) runs in a worker; an SLO that cannot be evaluated is a
notification naming it and the error, the others are still shown. `r` refreshes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Sparkline, Static

from console.tui.keys import KeysScreen

if TYPE_CHECKING:
    from console.slo.evaluate import SloReport
    from console.tui.app import OpsdeckApp

ALERT_STYLE = {"page": "bold red", "ticket": "yellow", "none": "green"}


def open_slo(app: Any, argument: str = "") -> None:
    """`:slo` and the command palette."""
    app.push_screen(SloScreen())


def sparkline_data(series: tuple[float | None, ...]) -> list[float]:
    """The Sparkline's data: the series with empty buckets filled (console.slo.present)."""
    from console.slo.present import filled

    return filled(series)


class SlosLoaded(Message):
    def __init__(
        self, reports: list[SloReport], errors: list[tuple[str, str]], failed: str | None
    ) -> None:
        super().__init__()
        self.reports = reports
        self.errors = errors  # (SLO name, error text)
        self.failed = failed  # the whole evaluation failed (e.g. a bad metric source)


class SloScreen(KeysScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="opsdeck.slo.back"),
        Binding("r", "reload", "Refresh", id="opsdeck.slo.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[SloReport] = []
        self.loaded = 0  # evaluations shown so far (tests wait on it)

    @property
    def opsdeck(self) -> OpsdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(f"slo · context {escape(self.opsdeck.context_name or '')}", id="crumbs")
        yield DataTable(id="slo-table", cursor_type="row", zebra_stripes=True)
        yield Sparkline([], id="slo-sparkline")
        yield Static("", id="slo-detail")
        yield Static("evaluating…", id="slo-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#slo-table", DataTable)
        table.add_columns(
            "NAME", "VALUE", "OBJECTIVE", "BUDGET LEFT", "BURN 1H", "BURN 6H", "ALERT", "TREND",
            "SOURCE",
        )  # fmt: skip
        self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#slo-status", Static).update("evaluating…")
        self._load()

    @work(exclusive=True, group="slo", exit_on_error=False)
    async def _load(self) -> None:
        from console.slo.check import evaluate_all

        session = self.opsdeck.session
        try:
            results = await evaluate_all(session)
        except Exception as exc:  # a backend failure is a notification, never a crash
            self.post_message(SlosLoaded([], [], f"{type(exc).__name__}: {exc}"))
            return
        reports: list[SloReport] = []
        errors: list[tuple[str, str]] = []
        for spec, result in zip(session.context.slos, results, strict=True):
            if isinstance(result, Exception):
                errors.append((spec.name, f"{type(result).__name__}: {result}"))
            elif not isinstance(result, BaseException):
                reports.append(result)
        self.post_message(SlosLoaded(reports, errors, None))

    def on_slos_loaded(self, message: SlosLoaded) -> None:
        from console.slo.present import row

        status = self.query_one("#slo-status", Static)
        self.loaded += 1
        if message.failed is not None:
            status.update("evaluation failed")
            self.notify(escape(message.failed), title="slo", severity="error", timeout=8)
            return
        for name, error in message.errors:
            self.notify(escape(error), title=f"slo {name}", severity="error", timeout=8)
        self.reports = message.reports
        table = self.query_one("#slo-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for report in self.reports:
            cells = row(report)
            table.add_row(
                cells["name"], cells["value"], cells["objective"], cells["budget"],
                cells["burn_long"], cells["burn_longer"],
                Text(cells["alert"], style=ALERT_STYLE.get(cells["alert"], "")),
                cells["trend"], report.source, key=report.spec.name,
            )  # fmt: skip
        if self.reports:
            table.move_cursor(row=min(max(cursor, 0), len(self.reports) - 1), animate=False)
        if not self.opsdeck.session.context.slos:
            status.update("no SLOs in this context: configure them under slos: (docs/slo.md)")
        else:
            firing = sum(1 for r in self.reports if r.alert.state != "none")
            failed = f" · {len(message.errors)} could not be evaluated" if message.errors else ""
            status.update(f"{len(self.reports)} SLO(s) · {firing} alerting{failed}")
        self._show_detail()
        table.focus()

    @on(DataTable.RowHighlighted, "#slo-table")
    def _highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def current(self) -> SloReport | None:
        index = self.query_one("#slo-table", DataTable).cursor_row
        return self.reports[index] if 0 <= index < len(self.reports) else None

    def _show_detail(self) -> None:
        report = self.current()
        spark = self.query_one("#slo-sparkline", Sparkline)
        detail = self.query_one("#slo-detail", Static)
        if report is None:
            spark.data = []
            detail.update("")
            return
        spark.data = sparkline_data(report.series)
        text = Text()
        text.append(report.reason + "\n")
        text.append(report.alert.reason, style=ALERT_STYLE.get(report.alert.state, ""))
        burns = "  ".join(f"{w} {r:.2f}" for w, r in report.burn.items())
        if burns:
            text.append(f"\nburn rates: {burns}")
        detail.update(text)
