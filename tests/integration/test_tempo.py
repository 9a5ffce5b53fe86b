"""Tempo against documented payloads (tests/fixtures/telemetry/SOURCE.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.tempo import TempoSource
from tests.integration.telemetry_double import local_fixture, official_fixture, serve


async def test_trace_by_id_otlp() -> None:
    with serve() as double:
        double.json("/api/traces/1", official_fixture("jaeger/v3-GetTrace.json")["result"])
        tempo = TempoSource.from_config("tempo", {"url": double.url}, lambda r: r)
        trace = await tempo.get_trace("1")
        assert await tempo.get_trace("2") is None  # 404: unknown
        await tempo.close()
    assert trace is not None and trace.spans[0].name == "foobar" and trace.spans[0].error


async def test_traceql_search() -> None:
    start = datetime(2021, 10, 20, tzinfo=UTC)
    with serve() as double:
        double.json("/api/search", local_fixture("tempo-search.json"))
        tempo = TempoSource.from_config("tempo", {"url": double.url}, lambda r: r)
        found = await tempo.search({"order.id": 'a"b'}, start, start + timedelta(days=1))
        await tempo.close()
    assert [s.trace_id for s in found] == [
        "0000000000000000d6e9329d67b6146a",
        "00000000000000001b1ba462b409200d",
    ]
    assert found[0].root_service == "frontend" and found[0].root_name == "/cart"
    assert found[0].duration == timedelta(milliseconds=611)
    assert found[0].start == datetime.fromtimestamp(1634727903.545, UTC)
    _, query = double.requests[-1]
    assert query["q"] == ['{ .order.id = "a\\"b" }']
