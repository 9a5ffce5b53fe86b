"""Budget and burn-rate math with exact numbers, and an evaluation through a stubbed
WorkflowEngine port (both the listing and the counting paths give the same answer)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from console.config_slo import DEFAULT_ALERTS, SloSpec
from console.model import Execution, ExecutionRef, ExecutionStatus, ListQuery
from console.slo import evaluate as evaluate_module
from console.slo.evaluate import evaluate
from console.slo.math import Counts, alert_state, budget, burn_rate, percentile

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
C, F = ExecutionStatus.COMPLETED, ExecutionStatus.FAILED


def test_burn_rate_and_budget() -> None:
    assert burn_rate(Counts(990, 1000), 0.99) == pytest.approx(1.0)
    assert burn_rate(Counts(8, 10), 0.99) == pytest.approx(20.0)
    assert burn_rate(Counts(0, 0), 0.99) == 0.0
    left = budget(Counts(997, 1000), 0.99)
    assert (left.allowed, left.left_count, left.left) == pytest.approx((10.0, 7.0, 0.7))
    over = budget(Counts(980, 1000), 0.99)
    assert (over.left_count, over.left) == pytest.approx((-10.0, -1.0))
    assert budget(Counts(0, 0), 0.99).left == 1.0


def test_alert_state_needs_both_windows() -> None:
    hour, five, six, thirty = 3600.0, 300.0, 21600.0, 1800.0
    labels = {hour: "1h", five: "5m", six: "6h", thirty: "30m"}
    burns = {hour: 15.0, five: 14.0, six: 7.0, thirty: 6.5}
    state = alert_state(DEFAULT_ALERTS, burns, labels)  # page: 5m below 14.4
    assert state.state == "ticket"
    assert state.reason == "ticket: burn rate 7.0 over 6h and 6.5 over 30m, both above 6"
    burns[five] = 14.5
    assert alert_state(DEFAULT_ALERTS, burns, labels).state == "page"
    assert alert_state(DEFAULT_ALERTS, dict.fromkeys(burns, 1.0), labels).state == "none"


def test_nearest_rank_percentile() -> None:
    values = [float(n) for n in range(1, 21)]  # 1..20
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 0.99) == 20.0
    assert percentile([], 0.95) is None


class StubEngine:
    """A WorkflowEngine that answers count and list from a fixed set of executions,
    reading the statuses and the ``CloseTime`` range the SLO code sends."""

    name = kind = "temporal"

    def __init__(self, rows: list[Execution]) -> None:
        self.rows = rows
        self.counts = 0

    def _match(self, query: ListQuery) -> list[Execution]:
        found = re.search(r"CloseTime >= '([^']+)' AND CloseTime < '([^']+)'", query.raw or "")
        assert found, query.raw
        start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in found.groups())
        return [
            r for r in self.rows
            if r.status in query.statuses and r.close_time and start <= r.close_time < end
        ]  # fmt: skip

    async def count(self, query: ListQuery) -> int:
        self.counts += 1
        return len(self._match(query))

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        for row in self._match(query)[: query.limit]:
            yield row


def _rows(spec: list[tuple[int, ExecutionStatus, timedelta, float]]) -> list[Execution]:
    out = []
    for n, status, ago, duration_s in spec:
        for i in range(n):
            closed = NOW - ago - timedelta(seconds=i)
            out.append(Execution(
                ExecutionRef("temporal", "default", f"w-{len(out)}"), "Order", status,
                start_time=closed - timedelta(seconds=duration_s), close_time=closed,
            ))  # fmt: skip
    return out


class GroupingStubEngine(StubEngine):
    """Also answers ``count_by_status`` (console.slo.sources.StatusCounter)."""

    async def count_by_status(self, query: ListQuery) -> dict[ExecutionStatus, int]:
        self.counts += 1
        found: dict[ExecutionStatus, int] = {}
        for row in self._match(query):
            found[row.status] = found.get(row.status, 0) + 1
        return found


SUCCESS = SloSpec(name="orders", kind="success_rate", objective=0.99, workflow_type="Order")
TICKET = [  # 1000 closed in 30d, 3 failed; the last hour burns at 10, the last 5m at 20
    (8, C, timedelta(minutes=1), 1.0),
    (2, F, timedelta(minutes=2), 1.0),
    (19, C, timedelta(minutes=20), 1.0),
    (1, F, timedelta(minutes=20), 1.0),
    (970, C, timedelta(days=2), 1.0),
]


@pytest.mark.parametrize(
    ("listing", "grouped"),
    [(True, False), (False, False), (False, True)],
    ids=["listing", "counting", "grouped"],
)
async def test_evaluate_success_rate(
    listing: bool, grouped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluate_module, "LIST_BELOW", 10_000 if listing else 0)
    engine = (GroupingStubEngine if grouped else StubEngine)(_rows(TICKET))
    report = await evaluate(SUCCESS, {"temporal": engine}, {}, now=NOW)  # type: ignore[dict-item]
    assert (report.counts.good, report.counts.total) == (997, 1000)
    assert report.value == pytest.approx(0.997)
    assert report.met is True
    assert report.budget is not None
    assert (report.budget.left, report.budget.left_count) == pytest.approx((0.7, 7.0))
    assert report.burn == pytest.approx({"5m": 20.0, "30m": 10.0, "1h": 10.0, "6h": 10.0})
    assert report.alert.state == "ticket"
    assert report.reason == "success rate 99.7% >= 99.0% over 1000 executions in the last 30d"
    assert len(report.series) == 24
    assert report.series[-1] == pytest.approx(27 / 30)  # the last 30h bucket
    assert report.series[-2] == 1.0  # 2 days ago: all completed
    assert report.series[0] is None  # nothing closed 29-30 days ago
    # listing: 2 counts + 1 list; counting: 2 per window (5) and per bucket (24), + 2 first;
    # grouped: 1 per window and bucket, + 1 first
    per_window = 1 if grouped else 2
    assert engine.counts == (2 if listing else per_window * (1 + 1 + 4 + 24))


async def test_evaluate_pages_when_both_page_windows_burn() -> None:
    rows = _rows([(5, F, timedelta(minutes=1), 1.0), (5, C, timedelta(minutes=40), 1.0),
                  (990, C, timedelta(days=3), 1.0)])  # fmt: skip
    report = await evaluate(SUCCESS, {"t": StubEngine(rows)}, {}, now=NOW)  # type: ignore[dict-item]
    assert report.burn["5m"] == pytest.approx(100.0)
    assert report.burn["1h"] == pytest.approx(50.0)
    assert report.alert.state == "page"
    assert report.alert.reason == (
        "page: burn rate 50.0 over 1h and 100.0 over 5m, both above 14.4"
    )
    assert report.budget is not None and report.budget.left == pytest.approx(0.5)


async def test_evaluate_completion_time_and_since() -> None:
    spec = SloSpec(name="fast", kind="completion_time", objective=0.95, threshold_s=2.0,
                   percentile="p95", workflow_type="Order")  # fmt: skip
    rows = _rows([(19, C, timedelta(minutes=10), 1.0), (1, C, timedelta(minutes=5), 3.0),
                  (2, F, timedelta(minutes=3), 9.0)])  # fmt: skip
    engine = StubEngine(rows)
    report = await evaluate(spec, {"t": engine}, {}, now=NOW)  # type: ignore[dict-item]
    # 20 completed (failures do not count for a completion time): p95 is the 19th, 1s
    assert (report.value, report.objective, report.met) == (1.0, 2.0, True)
    assert (report.counts.good, report.counts.total) == (19, 20)
    assert report.budget is not None and report.budget.left == pytest.approx(0.0)
    assert report.reason == "p95 completion time 1s <= 2s over 20 executions in the last 30d"
    since = await evaluate(spec, {"t": engine}, {}, now=NOW, since=NOW - timedelta(minutes=7))  # type: ignore[dict-item]
    assert (since.value, since.met, since.counts.total) == (3.0, False, 1)
    assert since.reason == "p95 completion time 3s > 2s over 1 execution since 11:53 UTC"
    assert since.burn["1h"] == pytest.approx(20.0)  # clipped to since: 1 slow of 1
