"""Jaeger v1 and v3 against the official payloads in tests/fixtures/jaeger/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.jaeger import JaegerSource
from tests.integration.telemetry_double import official_fixture, serve


def source(url: str, api: str) -> JaegerSource:
    return JaegerSource.from_config(
        "jaeger", {"url": url, "api": api, "service": "service-x"}, lambda ref: ref
    )


async def test_v1_trace_by_id() -> None:
    with serve() as double:
        double.json("/api/traces/1", {"data": [official_fixture("jaeger/v1-trace-ui_01.json")]})
        jaeger = source(double.url, "v1")
        trace = await jaeger.get_trace("1")
        await jaeger.close()
    assert trace is not None
    assert trace.trace_id == "00000000000000000000000000000001"
    by_id = {s.span_id: s for s in trace.spans}
    assert by_id["0000000000000003"].parent_id == "0000000000000002"
    assert by_id["0000000000000003"].service == "service-y"
    # a CHILD_OF reference into another trace is not a parent here
    assert by_id["0000000000000004"].parent_id == "0000000000000002"
    assert any(s.error for s in trace.spans)  # the `error=true` tag
    first = trace.spans[0]
    assert first.start == datetime.fromtimestamp(1485467191.639875, UTC)
    assert first.duration == timedelta(microseconds=5)


async def test_v3_trace_by_id_reads_otlp_under_result() -> None:
    with serve() as double:
        double.json("/api/v3/traces/1", official_fixture("jaeger/v3-GetTrace.json"))
        jaeger = source(double.url, "v3")
        trace = await jaeger.get_trace("1")
        await jaeger.close()
    assert trace is not None
    (span,) = trace.spans
    assert span.name == "foobar" and span.error  # status.code 2
    assert span.trace_id == "00000000000000000000000000000001"
    assert span.start is None  # the snapshot has no times; nothing is invented


async def test_unknown_trace_is_none_in_both_apis() -> None:
    with serve() as double:
        for api in ("v1", "v3"):
            jaeger = source(double.url, api)
            assert await jaeger.get_trace("abc") is None
            await jaeger.close()


async def test_v3_search_sends_required_times_and_groups_by_trace() -> None:
    start = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    with serve() as double:
        double.json("/api/v3/traces", official_fixture("jaeger/v3-FindTraces.json"))
        jaeger = source(double.url, "v3")
        found = await jaeger.search({"order": "42"}, start, start + timedelta(hours=1))
        await jaeger.close()
    assert [s.trace_id for s in found] == ["00000000000000000000000000000001"]
    assert found[0].root_name == "foobar"
    _, query = double.requests[-1]
    assert query["query.service_name"] == ["service-x"]
    assert query["query.start_time_min"] == ["2026-01-02T03:00:00Z"]
    assert query["query.start_time_max"] == ["2026-01-02T04:00:00Z"]
    assert query["query.attributes.order"] == ["42"]


async def test_v1_search_by_tags() -> None:
    start = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    with serve() as double:
        double.json("/api/traces", {"data": [official_fixture("jaeger/v1-trace-ui_01.json")]})
        jaeger = source(double.url, "v1")
        found = await jaeger.search({"order": "42"}, start, start + timedelta(hours=1))
        await jaeger.close()
    assert [s.trace_id for s in found] == ["00000000000000000000000000000001"]
    _, query = double.requests[-1]
    assert query["service"] == ["service-x"] and query["tags"] == ['{"order": "42"}']
