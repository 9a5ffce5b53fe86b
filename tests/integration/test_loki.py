"""Loki query_range against the documented payload (tests/fixtures/telemetry/SOURCE.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.loki import LokiSource
from console.errors import BackendError, ConfigError
from tests.integration.telemetry_double import local_fixture, serve


async def test_query_range_streams_oldest_first() -> None:
    start = datetime(2019, 9, 23, tzinfo=UTC)
    with serve() as double:
        double.json("/loki/api/v1/query_range", local_fixture("loki-query_range-streams.json"))
        loki = LokiSource.from_config(
            "loki", {"url": double.url, "selector": '{job="varlogs"}', "tenant": "t1"}, str
        )
        lines = await loki.find(["order-42", "a.b"], start, start + timedelta(days=1))
        await loki.close()
    assert [line.line for line in lines] == ["bar", "foo"]
    assert lines[0].labels["job"] == "varlogs"
    assert lines[0].time == datetime.fromtimestamp(1569266492548155000 / 1e9, UTC)
    _, query = double.requests[-1]
    assert query["query"] == ['{job="varlogs"} |~ "order-42|a\\\\.b"']
    assert query["direction"] == ["backward"]  # the newest lines, not the oldest
    assert query["start"] == [str(int(start.timestamp() * 1e9))]


async def test_matrix_result_is_refused_clearly() -> None:
    with serve() as double:
        double.json(
            "/loki/api/v1/query_range",
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
        )
        loki = LokiSource.from_config("logs", {"url": double.url, "selector": '{a="b"}'}, str)
        with pytest.raises(BackendError, match=r"loki source 'logs'.*expected streams"):
            await loki.find(["x"], datetime.now(UTC), datetime.now(UTC))
        await loki.close()


def test_selector_required() -> None:
    with pytest.raises(ConfigError, match="selector: required"):
        LokiSource.from_config("logs", {"url": "http://x"}, str)
