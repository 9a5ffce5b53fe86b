"""console.correlate: fan-out with per-source timeouts, partial results, trace-id lookup."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from console.correlate import correlate, span_tree, trace_ids_from_start_event
from console.errors import BackendUnavailable, NotFound
from console.model import (
    Execution,
    ExecutionDetail,
    ExecutionRef,
    ExecutionStatus,
    HistoryEvent,
)
from console.model_telemetry import (
    Exemplar,
    LogLine,
    MetricSample,
    MetricSeries,
    Span,
    Trace,
    TraceSummary,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def otel_header() -> dict[str, Any]:
    """The start event's header as MessageToDict renders Temporal's OTel interceptor."""
    data = base64.b64encode(json.dumps({"traceparent": TRACEPARENT}).encode()).decode()
    encoding = base64.b64encode(b"json/plain").decode()
    return {
        "header": {"fields": {"_tracer-data": {"metadata": {"encoding": encoding}, "data": data}}}
    }


class FakeEngine:
    kind = "temporal"
    name = "temporal"

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail:
        if ref.workflow_id != "order-42":
            raise NotFound("no such workflow")
        execution = Execution(
            ExecutionRef("temporal", "default", "order-42", "run-1"),
            "Order",
            ExecutionStatus.RUNNING,
            start_time=T0,
        )
        return ExecutionDetail(execution)

    async def history(self, ref: ExecutionRef) -> AsyncIterator[HistoryEvent]:
        yield HistoryEvent(1, T0, "WorkflowExecutionStarted", "Order", details=otel_header())
        yield HistoryEvent(5, T0 + timedelta(seconds=3), "ActivityTaskFailed", "boom", True)


class FakeTraces:
    kind = "jaeger"

    def __init__(self, name: str, delay: float = 0.0, fail: bool = False) -> None:
        self.name, self.delay, self.fail = name, delay, fail

    async def get_trace(self, trace_id: str) -> Trace | None:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise BackendUnavailable(f"jaeger source {self.name!r}", "http://x", "refused")
        root = Span(trace_id, "a", "StartWorkflow:Order", "worker", start=T0)
        child = Span(
            trace_id,
            "b",
            "RunActivity:charge",
            "worker",
            parent_id="a",
            start=T0 + timedelta(seconds=2),
            duration=timedelta(milliseconds=12),
            error=True,
            attributes={"temporalWorkflowID": "order-42"},
        )
        return Trace(trace_id, (child, root))

    async def search(
        self, tags: Any, start: datetime, end: datetime, limit: int = 20
    ) -> Sequence[TraceSummary]:
        return []

    async def close(self) -> None:
        pass


class FakeLogs:
    kind = "loki"
    name = "logs"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.asked: list[str] = []

    async def find(
        self, needles: Sequence[str], start: datetime, end: datetime, limit: int = 500
    ) -> Sequence[LogLine]:
        self.asked = list(needles)
        await asyncio.sleep(self.delay)
        return [LogLine(T0 + timedelta(seconds=1), f"charging order-42 trace={TRACE}")]

    async def close(self) -> None:
        pass


OTHER_TRACE = "1" * 32


class FakeMetrics:
    kind = "prometheus"
    name = "prom"
    queries = ("latency",)

    async def query_range(
        self, query: str, start: datetime, end: datetime, step: float
    ) -> Sequence[MetricSeries]:
        return [MetricSeries({"__name__": "latency"}, (MetricSample(T0, 0.5),))]

    async def query_exemplars(
        self, query: str, start: datetime, end: datetime
    ) -> Sequence[Exemplar]:
        other = Exemplar(T0 + timedelta(seconds=3), 9.0, {"trace_id": OTHER_TRACE})
        return [other, Exemplar(T0 + timedelta(seconds=4), 2.5, {"trace_id": TRACE})]

    async def close(self) -> None:
        pass


def test_trace_id_from_the_interceptor_header() -> None:
    assert trace_ids_from_start_event(otel_header()) == [TRACE]


async def test_from_a_workflow_id_to_trace_logs_and_metrics_merged_by_time() -> None:
    logs = FakeLogs()
    result = await correlate(
        "order-42",
        engines={"temporal": FakeEngine()},  # type: ignore[dict-item]
        sources={"jaeger": FakeTraces("jaeger"), "loki": logs, "prom": FakeMetrics()},
        now=T0 + timedelta(minutes=5),
    )
    assert result.parsed.ambiguous
    assert result.executions == ("temporal:default/order-42/run-1",)
    assert result.trace_ids == (TRACE,)
    assert TRACE in logs.asked and "order-42" in logs.asked
    kinds = [(item.kind, item.source) for item in result.timeline]
    assert kinds == [
        ("event", "temporal"),
        ("span", "jaeger"),
        ("sample", "prom"),
        ("log", "loki"),
        ("span", "jaeger"),
        ("event", "temporal"),
        ("exemplar", "prom"),
    ]
    exemplar = result.timeline[-1]
    assert exemplar.trace_id == TRACE and exemplar.details["matches"] is True
    # Another trace's exemplar is listed for the metrics view, not in this story.
    assert [e.trace_id for _, e in result.exemplars] == [OTHER_TRACE, TRACE]
    assert {s.status for s in result.statuses} == {"ok"}
    assert not result.partial
    assert result.window_start == T0 - timedelta(minutes=30)


async def test_one_source_down_and_one_slow_gives_a_partial_result_in_bounded_time() -> None:
    started = time.monotonic()
    result = await correlate(
        TRACEPARENT,
        sources={
            "down": FakeTraces("down", fail=True),
            "slow": FakeTraces("slow", delay=30.0),
            "logs": FakeLogs(delay=0.1),
        },
        timeout=0.5,
    )
    took = time.monotonic() - started
    assert took < 10, took  # bounded by the 0.5 s timeout, not the slow source's 30 s
    statuses = {s.source: s for s in result.statuses}
    assert statuses["down"].status == "failed"
    assert "jaeger source 'down'" in (statuses["down"].error or "")
    assert statuses["slow"].status == "timeout"
    assert statuses["slow"].error == "no answer within 0.5 s"
    assert statuses["logs"].status == "ok" and statuses["logs"].items == 1
    assert result.partial
    assert [item.kind for item in result.timeline] == ["log"]


async def test_from_a_trace_to_its_executions() -> None:
    result = await correlate(TRACE, sources={"jaeger": FakeTraces("jaeger")})
    assert "order-42" in result.executions
    rows = span_tree(result.spans)
    assert [(depth, span.name) for depth, span in rows] == [
        (0, "StartWorkflow:Order"),
        (1, "RunActivity:charge"),
    ]


async def test_trace_source_without_a_trace_id_is_skipped() -> None:
    result = await correlate("order-7", sources={"jaeger": FakeTraces("jaeger")})
    assert [(s.source, s.status) for s in result.statuses] == [("jaeger", "skipped")]


def test_trace_ids_in_search_attributes_and_memo() -> None:
    from console.correlate import trace_ids_in

    assert trace_ids_in({"TraceId": TRACE.upper(), "CustomerId": "0" * 31 + "1"}) == [TRACE]
    assert trace_ids_in({"headers": {"traceparent": TRACEPARENT}}) == [TRACE]
    assert trace_ids_in({"note": f"see {TRACEPARENT}"}) == [TRACE]
    assert trace_ids_in({"OrderId": "4bf92f3577b34da6a3ce929d0e0e4736"}) == []


async def test_an_unknown_id_gets_no_metrics_and_says_nothing_was_found() -> None:
    result = await correlate(
        "nosuch-thing",
        engines={"temporal": FakeEngine()},  # type: ignore[dict-item]
        sources={"jaeger": FakeTraces("jaeger"), "prom": FakeMetrics()},
        now=T0,
    )
    assert result.timeline == () and result.exemplars == () and result.series == ()
    statuses = {s.source: s for s in result.statuses}
    assert statuses["prom"].status == "skipped"
    assert statuses["prom"].error == "no execution or trace found to join metrics to"
    assert not result.found
    assert result.nothing_found.startswith("nothing found for 'nosuch-thing'")
    assert "asked: temporal" in result.nothing_found


class NoTraces(FakeTraces):
    async def get_trace(self, trace_id: str) -> Trace | None:
        return None


async def test_a_trace_id_joins_only_its_own_exemplars() -> None:
    result = await correlate(TRACEPARENT, sources={"jaeger": NoTraces("j"), "prom": FakeMetrics()})
    # No span was found, but one exemplar carries the trace id: it anchors the metrics.
    assert [(i.kind, i.trace_id) for i in result.timeline if i.kind == "exemplar"] == [
        ("exemplar", TRACE)
    ]
    assert any(i.kind == "sample" for i in result.timeline) and result.found
    other = f"00-{OTHER_TRACE[:-1]}2-00f067aa0ba902b7-01"
    result = await correlate(other, sources={"jaeger": NoTraces("j"), "prom": FakeMetrics()})
    assert result.timeline == () and not result.found
    assert {s.source: s.status for s in result.statuses}["prom"] == "skipped"


class ManyLogs(FakeLogs):
    async def find(
        self, needles: Sequence[str], start: datetime, end: datetime, limit: int = 500
    ) -> Sequence[LogLine]:
        # As the port promises: the newest `limit` of 700 matching lines, oldest first.
        lines = [LogLine(T0 + timedelta(seconds=i), f"order-42 line {i}") for i in range(700)]
        return lines[-limit:]


async def test_a_cut_log_result_keeps_the_newest_lines_and_says_so() -> None:
    result = await correlate("order-42", sources={"logs": ManyLogs()}, now=T0)
    (status,) = result.statuses
    assert status.items == 500 and status.note and status.note.startswith("newest 500 of more")
    assert result.logs[0][1].line == "order-42 line 200"
    assert result.logs[-1][1].line == "order-42 line 699"
    fewer = await correlate("order-42", sources={"logs": FakeLogs()}, now=T0)
    assert fewer.statuses[0].note is None
