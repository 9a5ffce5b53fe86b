"""A PromQL-sourced SLO against a real Prometheus scraping the Temporal dev server's
metrics (``workflow_success`` / ``workflow_failed`` counters and the
``workflow_schedule_to_close_latency`` histogram, labelled by task queue).

The queries use ``max_over_time(counter[$window])``: exact for counters that never
reset (``increase`` extrapolates, and misses a series' first sample), while still
exercising the ``$window`` substitution against a real PromQL parser.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.prometheus import PrometheusSource
from console.sandbox.devserver import DevServer
from console.session import open_session
from console.slo.check import check_slo, evaluate_named
from tests.conftest import eventually
from tests.integration import test_prometheus as real
from tests.integration.slo_scenario import runs, write_config
from tests.integration.test_prometheus import RealPrometheus

pytestmark = pytest.mark.integration
exporter_port, prometheus = real.exporter_port, real.prometheus  # the module's fixtures


async def _scraped(prom: PrometheusSource, query: str, want: float) -> None:
    async def seen() -> Any:
        now = datetime.now(UTC)
        found = await prom.query_range(query, now, now, 1)
        value = sum(s.samples[-1].value for s in found if s.samples)
        return value == want or None

    await eventually(seen, timeout=90, what=f"{query} == {want}")


async def test_success_rate_from_promql(
    temporal_server: DevServer,
    prometheus: RealPrometheus,
    tmp_path: Path,
) -> None:
    async with runs(temporal_server.address) as r:
        await r.start("completed", 4)
        await r.start("failed", 3)
        label = r.queue.replace("-", "_")  # the server's metric tags use '_'
        good = f'sum(max_over_time(workflow_success{{taskqueue="{label}"}}[$window]))'
        bad = f'sum(max_over_time(workflow_failed{{taskqueue="{label}"}}[$window]))'
        latency = (
            "histogram_quantile(0.95, sum by (le) (max_over_time("
            f'workflow_schedule_to_close_latency_bucket{{taskqueue="{label}",'
            'workflowType="DemoCompleted"}[$window])))'
        )
        prom = PrometheusSource.from_config("prom", {"url": prometheus.url}, str)
        try:
            await _scraped(prom, good.replace("$window", "1h"), 4)
            await _scraped(prom, bad.replace("$window", "1h"), 3)
            direct = await prom.query_range(
                latency.replace("$window", "30d"), *[datetime.now(UTC)] * 2, 1
            )
        finally:
            await prom.close()
        sources = (
            f"    sources:\n      - kind: prometheus\n        name: prom\n"
            f"        url: {prometheus.url}\n"
        )
        slos = (
            "      orders:\n        workflow-type: DemoCompleted\n        success-rate: 99.5%\n"
            f"        prometheus:\n          good: '{good}'\n          total: '{good} + {bad}'\n"
            "      fast:\n        workflow-type: DemoCompleted\n"
            "        completion-time: {p95: 60s}\n"
            f"        prometheus:\n          latency: '{latency}'\n"
        )
        path = write_config(
            tmp_path, temporal_server.address, temporal_server.http_address, slos, extra=sources
        )
        session = open_session(config_path=path)
        try:
            report = await evaluate_named(session, "orders")
            assert report.source == "prometheus:prom"
            assert (report.counts.good, report.counts.total) == (4, 7)
            assert report.value == pytest.approx(4 / 7)
            assert report.burn["5m"] == pytest.approx((3 / 7) / 0.005)
            assert report.alert.state == "page"
            assert report.series[-1] == pytest.approx(4 / 7)
            check = await check_slo(session, "orders")
            assert not check.ok
            assert check.reason.startswith("success rate 57.14% < 99.5% over 7 executions")
            fast = await evaluate_named(session, "fast")
            assert fast.source == "prometheus:prom" and fast.budget is None
            assert fast.value == pytest.approx(direct[0].samples[-1].value)
            assert fast.met is True and fast.value < 60
        finally:
            await session.close()
