"""Correlation view: from a stuck execution to its trace and log lines (pilot), `:corr`,
log search that highlights without hiding, and a snapshot."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Label, Static

from console.errors import BackendUnavailable
from console.model import ExecutionDetail, ExecutionRef
from console.model_telemetry import (
    Exemplar,
    LogLine,
    MetricSample,
    MetricSeries,
    Span,
    Trace,
    TraceSummary,
)
from console.tui.screens.correlate import CorrelationScreen
from tests.tui.conftest import make_app, settle, until
from tests.tui.fakes import NOW, FakeEngine, stub_session

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER_TRACE = "aaaabbbbccccddddeeeeffff00001111"
START = NOW - timedelta(minutes=2)  # order-1 started two minutes before NOW


class TracedEngine(FakeEngine):
    """order-1 carries its trace context in the memo, as an OTel-instrumented starter does."""

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail:
        detail = await super().describe(ref)
        if ref.workflow_id == "order-1":
            memo = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}
            return dataclasses.replace(detail, memo=memo)
        return detail


class Traces:
    name = kind = "jaeger"

    async def get_trace(self, trace_id: str) -> Trace | None:
        root = Span(
            trace_id,
            "a",
            "RunWorkflow:OrderWorkflow",
            "orders",
            start=START,
            duration=timedelta(seconds=90),
        )
        charge = Span(
            trace_id,
            "b",
            "RunActivity:ChargeCard",
            "orders",
            parent_id="a",
            start=START + timedelta(seconds=10),
            duration=timedelta(seconds=2),
            error=True,
            attributes={"temporalWorkflowID": "order-1"},
        )
        ship = Span(
            trace_id,
            "c",
            "RunActivity:Reserve",
            "stock",
            parent_id="a",
            start=START + timedelta(seconds=1),
            duration=timedelta(seconds=5),
        )
        return Trace(trace_id, (root, charge, ship))

    async def search(
        self, tags: Any, start: datetime, end: datetime, limit: int = 20
    ) -> Sequence[TraceSummary]:
        return []

    async def close(self) -> None:
        pass


class Logs:
    name = kind = "loki"

    async def find(
        self, needles: Sequence[str], start: datetime, end: datetime, limit: int = 500
    ) -> Sequence[LogLine]:
        return [
            LogLine(START + timedelta(seconds=9), "charging card for order-1", {"app": "orders"}),
            LogLine(START + timedelta(seconds=11), "card declined: insufficient funds"),
            LogLine(START + timedelta(seconds=12), f"retrying ChargeCard trace={TRACE[:8]}"),
        ]

    async def close(self) -> None:
        pass


class Metrics:
    name = kind = "prometheus"
    queries = ("orders_latency_seconds_bucket",)

    async def query_range(
        self, query: str, start: datetime, end: datetime, step: float
    ) -> Sequence[MetricSeries]:
        samples = tuple(
            MetricSample(START + timedelta(seconds=15 * i), v)
            for i, v in enumerate([0.1, 0.2, 0.1, 2.4, 0.3, 0.2])
        )
        return [MetricSeries({"__name__": "orders_latency_seconds_bucket", "le": "1"}, samples)]

    async def query_exemplars(
        self, query: str, start: datetime, end: datetime
    ) -> Sequence[Exemplar]:
        return [
            Exemplar(START + timedelta(seconds=45), 2.4, {"trace_id": TRACE}),
            Exemplar(START + timedelta(seconds=60), 1.9, {"trace_id": OTHER_TRACE}),
        ]

    async def close(self) -> None:
        pass


class DownTempo:
    name = kind = "tempo"

    async def get_trace(self, trace_id: str) -> Trace | None:
        raise BackendUnavailable("tempo source 'tempo'", "http://tempo:3200", "refused")

    async def search(
        self, tags: Any, start: datetime, end: datetime, limit: int = 20
    ) -> Sequence[TraceSummary]:
        return []

    async def close(self) -> None:
        pass


def traced_app() -> Any:
    session = stub_session(TracedEngine())
    session.sources = {  # type: ignore[attr-defined]
        "jaeger": Traces(),
        "loki": Logs(),
        "prom": Metrics(),
        "tempo": DownTempo(),
    }
    return make_app(session)


async def loaded(pilot: Pilot[Any]) -> CorrelationScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, CorrelationScreen), "corr screen")
    screen = pilot.app.screen
    assert isinstance(screen, CorrelationScreen)
    await until(pilot, lambda: screen.result is not None, "correlation loaded")
    await pilot.pause()
    return screen


async def test_from_a_stuck_execution_to_its_trace_and_logs() -> None:
    app = traced_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")  # stuck only: order-1 (ChargeCard retrying) is first
        await settle(pilot)
        await pilot.press("c")
        screen = await loaded(pilot)
        result = screen.result
        assert result is not None
        assert screen.context_id == "temporal:default/order-1/run-order-1"
        assert result.trace_ids == (TRACE,)
        statuses = {s.source: s.status for s in result.statuses}
        assert statuses == {
            "temporal": "ok",
            "jaeger": "ok",
            "loki": "ok",
            "prom": "ok",
            "tempo": "failed",
        }
        status_line = str(screen.query_one("#corr-status", Static).render())
        assert "tempo failed" in status_line and "refused" in status_line
        spans = screen.query_one("#corr-spans", DataTable)
        names = [str(spans.get_row_at(i)[0]).strip() for i in range(spans.row_count)]
        assert names == [
            "orders: RunWorkflow:OrderWorkflow",
            "└ stock: RunActivity:Reserve",
            "└ orders: RunActivity:ChargeCard  ✗ error",
        ]
        timeline = screen.query_one("#corr-timeline", DataTable)
        kinds = {str(timeline.get_row_at(i)[1]) for i in range(timeline.row_count)}
        assert kinds == {"event", "span", "log", "sample", "exemplar"}

        # log search highlights the matches and keeps every line
        await pilot.press("slash")
        await pilot.press(*"card")
        await pilot.pause()
        assert screen.query_one("#corr-search", Input).value == "card"
        logs = screen.query_one("#corr-logs", Static).render()
        assert str(logs).count("\n") >= 3
        assert "charging card" in str(logs) and "retrying ChargeCard" in str(logs)
        count = str(screen.query_one("#corr-log-count", Label).render())
        assert count == "3 lines, 3 matches of 'card'"


async def test_corr_command_and_pivot_to_the_execution() -> None:
    app = traced_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.press(*f"corr {TRACE}", "enter")
        screen = await loaded(pilot)
        assert screen.result is not None and screen.result.parsed.ambiguous
        assert "order-1" in screen.result.executions  # from the span attribute
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CorrelationScreen), "back")


async def test_corr_without_an_id_says_how() -> None:
    app = traced_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"corr", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, CorrelationScreen)
        assert any("usage: :corr ID" in n.message for n in app._notifications)
        await asyncio.sleep(0)


def test_correlation_snapshot(snap_compare: Any) -> None:
    app = traced_app()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app.open_correlation("temporal:default/order-1/run-order-1")
        screen = await loaded(pilot)
        screen.query_one("#corr-tabs").active = "corr-tab-spans"  # type: ignore[attr-defined]
        await settle(pilot)

        def sized() -> bool:
            return not any(t._require_update_dimensions for t in app.screen.query(DataTable))

        await until(pilot, sized, "tables sized")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(130, 32), run_before=run_before)


async def test_enter_on_a_span_or_an_exemplar_pivots() -> None:
    from textual.widgets import TabbedContent

    app = traced_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.open_correlation(f"00-{TRACE}-00f067aa0ba902b7-01")
        screen = await loaded(pilot)
        screen.query_one(TabbedContent).active = "corr-tab-spans"
        await pilot.pause()
        spans = screen.query_one("#corr-spans", DataTable)
        spans.focus()
        spans.move_cursor(row=2)  # ChargeCard, which names its workflow
        await pilot.press("enter")
        pivot = await loaded(pilot)
        assert pivot is not screen and pivot.context_id == "order-1"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "back to the trace")

        screen.query_one(TabbedContent).active = "corr-tab-metrics"
        await pilot.pause()
        exemplars = screen.query_one("#corr-exemplars", DataTable)
        marks = [str(exemplars.get_row_at(i)[0]) for i in range(exemplars.row_count)]
        assert marks == ["★", "·"]  # ours, then another trace's
        exemplars.focus()
        exemplars.move_cursor(row=1)
        await pilot.press("enter")
        other = await loaded(pilot)
        assert other.context_id == OTHER_TRACE


async def test_tab_keys_in_the_footer_and_escape_leaves_the_search_only() -> None:
    from textual.widgets import TabbedContent
    from textual.widgets._footer import FooterKey

    app = traced_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.open_correlation(f"00-{TRACE}-00f067aa0ba902b7-01")
        screen = await loaded(pilot)
        footer = {k.key_display: k.description for k in screen.query(FooterKey)}
        assert [footer[k] for k in "1234"] == ["Timeline", "Spans", "Logs", "Metrics"]
        tabs = screen.query_one(TabbedContent)
        await pilot.press("2")
        assert tabs.active == "corr-tab-spans" and screen.focused is screen.query_one("#corr-spans")
        await pilot.press("4")
        assert tabs.active == "corr-tab-metrics"
        await pilot.press("slash", *"card 1")  # digits typed into the search are text
        search = screen.query_one("#corr-search", Input)
        assert search.has_focus and search.value == "card 1" and tabs.active == "corr-tab-logs"
        footer = {k.key_display: k.description for k in screen.query(FooterKey)}
        assert footer["esc"] == "Leave search"
        await pilot.press("escape")  # leaves the search box only
        await pilot.pause()
        assert app.screen is screen and not search.has_focus and search.value == "card 1"
        await pilot.press("1")
        assert tabs.active == "corr-tab-timeline"
        await pilot.press("escape")  # now it leaves the view
        await until(pilot, lambda: app.screen is not screen, "back")
