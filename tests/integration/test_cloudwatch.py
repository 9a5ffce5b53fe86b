"""CloudWatch Logs FilterLogEvents against the moto_server fixture."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.cloudwatch import CloudWatchLogsSource
from console.errors import BackendError, BackendUnavailable


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


async def test_filter_log_events_finds_lines_with_the_ids(moto_server: Any, aws_env: None) -> None:
    logs = moto_server.client("logs")
    group = f"/opsdeck/test-{time.monotonic_ns()}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="worker-1")
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="worker-1",
        logEvents=[
            {"timestamp": now_ms - 3000, "message": "charging order-42 trace=abc"},
            {"timestamp": now_ms - 2000, "message": "unrelated line"},
            {"timestamp": now_ms - 1000, "message": "payment failed for order-42"},
        ],
    )
    source = CloudWatchLogsSource.from_config(
        "cw",
        {"log-group": group, "region": moto_server.region, "endpoint-url": moto_server.endpoint},
        str,
    )
    now = datetime.now(UTC)
    lines = await source.find(["order-42"], now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert [line.line for line in lines] == [
        "charging order-42 trace=abc",
        "payment failed for order-42",
    ]
    assert lines[0].labels["log_stream"] == "worker-1"
    await source.close()


async def test_missing_log_group_is_a_source_error(moto_server: Any, aws_env: None) -> None:
    source = CloudWatchLogsSource.from_config(
        "cw",
        {"log-group": "/nope", "region": moto_server.region, "endpoint-url": moto_server.endpoint},
        str,
    )
    now = datetime.now(UTC)
    with pytest.raises(BackendError, match="cloudwatch source 'cw': ResourceNotFound"):
        await source.find(["x"], now - timedelta(minutes=5), now)


async def test_unreachable_endpoint(aws_env: None) -> None:
    from console.sandbox.devserver import free_port

    url = f"http://127.0.0.1:{free_port()}"
    source = CloudWatchLogsSource.from_config(
        "cw", {"log-group": "/g", "region": "us-east-1", "endpoint-url": url, "timeout": 1}, str
    )
    now = datetime.now(UTC)
    with pytest.raises(BackendUnavailable, match="cloudwatch source 'cw'"):
        await source.find(["x"], now - timedelta(minutes=5), now)


async def test_the_newest_lines_are_kept_when_there_are_more(
    moto_server: Any, aws_env: None
) -> None:
    """FilterLogEvents pages oldest first: the source must still return the newest."""
    logs = moto_server.client("logs")
    group = f"/opsdeck/test-{time.monotonic_ns()}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="w")
    now_ms = int(time.time() * 1000)
    events = [
        {"timestamp": now_ms - 60_000 + i * 10, "message": f"order-7 #{i}"} for i in range(40)
    ]
    logs.put_log_events(logGroupName=group, logStreamName="w", logEvents=events)
    source = CloudWatchLogsSource.from_config(
        "cw",
        {"log-group": group, "region": moto_server.region, "endpoint-url": moto_server.endpoint},
        str,
    )
    now = datetime.now(UTC)
    lines = await source.find(["order-7"], now - timedelta(minutes=5), now, limit=5)
    assert [line.line for line in lines] == [f"order-7 #{i}" for i in range(35, 40)]
    await source.close()
