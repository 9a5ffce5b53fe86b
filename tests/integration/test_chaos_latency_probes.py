"""Schedule-to-start and end-to-end latency probes on the real sandbox's Prometheus,
which scrapes the dev server (its matching histograms and its system workers' SDK
histograms)."""

from __future__ import annotations

from typing import Any

import pytest

from chaos import probes
from chaos.probes_latency import p95_query
from console.errors import UsageError
from tests.conftest import eventually
from tests.integration.chaos_fixtures import chaos_sandbox, configuration, prometheus_url

__all__ = ["chaos_sandbox", "configuration", "prometheus_url"]


async def test_schedule_to_start_p95_of_the_demo_queue(configuration: dict[str, Any]) -> None:
    async def waited() -> float | None:
        return probes.schedule_to_start_p95(
            "demo", "Activity", window="1m", configuration=configuration
        )

    value = await eventually(waited, timeout=90, what="schedule-to-start p95 on demo")
    assert 0 <= value < 60
    # A queue nobody has used has no observations: None, not 0.
    assert probes.schedule_to_start_p95("no-such-queue", configuration=configuration) is None
    with pytest.raises(UsageError, match="task_type"):
        probes.schedule_to_start_p95("demo", "activity", configuration=configuration)


def test_workflow_end_to_end_p95_reads_none_without_sdk_metrics(
    configuration: dict[str, Any],
) -> None:
    # The sandbox's demo workers do not export the SDK's histograms and the dev server's
    # system workflows never close: no observation, so None (never a made-up 0).
    assert probes.workflow_end_to_end_p95("DemoCompleted", configuration=configuration) is None


def test_label_values_are_quoted() -> None:
    query = p95_query("m_bucket", {"taskqueue": 'a"b', "task_type": None}, "5m")
    assert query == 'histogram_quantile(0.95, sum by (le) (rate(m_bucket{taskqueue="a\\"b"}[5m])))'
