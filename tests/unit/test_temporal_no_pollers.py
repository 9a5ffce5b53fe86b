"""The no_pollers rule's poller check (adapters.temporal_stuck.PollerCache) over
DescribeTaskQueue responses: gone pollers stay listed by Temporal for minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueueStats
from temporalio.api.workflowservice.v1 import DescribeTaskQueueResponse

from adapters.temporal_stuck import PollerCache

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


class FakeConn:
    namespace = "default"
    service = type("Service", (), {"describe_task_queue": None})()

    def __init__(self, response: DescribeTaskQueueResponse) -> None:
        self.response = response
        self.requests: list[Any] = []

    async def call(self, _method: Any, request: Any, **_: Any) -> DescribeTaskQueueResponse:
        self.requests.append(request)
        return self.response


def response(last_poll_ago_s: float | None, backlog: int = 0, age_s: float = 0) -> Any:
    pollers = []
    if last_poll_ago_s is not None:
        stamp = Timestamp()
        stamp.FromDatetime(NOW - timedelta(seconds=last_poll_ago_s))
        pollers.append(PollerInfo(last_access_time=stamp, identity="w"))
    age = Duration()
    age.FromTimedelta(timedelta(seconds=age_s))
    stats = TaskQueueStats(approximate_backlog_count=backlog, approximate_backlog_age=age)
    return DescribeTaskQueueResponse(pollers=pollers, stats=stats)


async def evidence(resp: Any) -> str | None:
    conn: Any = FakeConn(resp)
    found = await PollerCache(conn, NOW).evidence("demo")
    assert conn.requests[0].report_stats
    return found


async def test_live_pollers_and_no_pollers_at_all() -> None:
    assert await evidence(response(5)) is None
    assert await evidence(response(90, backlog=1, age_s=3)) is None  # a young task
    assert "no worker is polling" in str(await evidence(response(None)))
    assert "for 3m" in str(await evidence(response(180)))


async def test_a_task_waiting_with_no_poll_since_is_reported_at_once() -> None:
    found = await evidence(response(25, backlog=1, age_s=20))
    assert found is not None and "waited 20s" in found and "last poll 25s ago" in found
    # a poll after the task came: a worker is there (busy or matching), not reported
    assert await evidence(response(5, backlog=1, age_s=20)) is None
