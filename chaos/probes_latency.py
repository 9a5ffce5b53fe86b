"""Latency probes over Temporal's own histograms (re-exported by chaos.probes).

- schedule-to-start: the server's ``task_schedule_to_start_latency`` histogram (matching
  service; labels ``namespace``, ``taskqueue``, ``task_type`` Activity|Workflow): how long
  tasks wait for a worker, the first number to move when workers are lost or saturated;
- end-to-end: the SDK workers' ``temporal_workflow_endtoend_latency`` histogram (labels
  ``workflow_type``, ``task_queue``, ``namespace``), exported by workers that enable the
  SDK's Prometheus metrics.

Both are a p95 over ``window`` from the context's Prometheus, in seconds (Temporal's
Prometheus histograms are in seconds); None while there are no observations.
"""

from __future__ import annotations

from chaos._context import Configuration
from chaos.probes import latency_p95

SCHEDULE_TO_START = "task_schedule_to_start_latency_bucket"
END_TO_END = "temporal_workflow_endtoend_latency_bucket"


def _selector(labels: dict[str, str | None]) -> str:
    def quoted(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return ",".join(f'{k}="{quoted(v)}"' for k, v in labels.items() if v)


def p95_query(metric: str, labels: dict[str, str | None], window: str) -> str:
    return (
        f"histogram_quantile(0.95, sum by (le) (rate({metric}{{{_selector(labels)}}}[{window}])))"
    )


def schedule_to_start_p95(
    task_queue: str | None = None,
    task_type: str = "Activity",
    namespace: str | None = None,
    window: str = "5m",
    source: str | None = None,
    configuration: Configuration = None,
) -> float | None:
    """p95 seconds a task of ``task_type`` (Activity or Workflow) waited for a worker."""
    if task_type not in ("Activity", "Workflow"):
        from console.errors import UsageError

        raise UsageError(f"task_type {task_type!r}: expected Activity or Workflow")
    labels = {"taskqueue": task_queue, "task_type": task_type, "namespace": namespace}
    query = p95_query(SCHEDULE_TO_START, labels, window)
    return latency_p95(query, window, source, configuration=configuration)


def workflow_end_to_end_p95(
    workflow_type: str | None = None,
    task_queue: str | None = None,
    namespace: str | None = None,
    window: str = "5m",
    source: str | None = None,
    configuration: Configuration = None,
) -> float | None:
    """p95 seconds from a workflow's start to its close, as its workers measured it."""
    labels = {"workflow_type": workflow_type, "task_queue": task_queue, "namespace": namespace}
    query = p95_query(END_TO_END, labels, window)
    return latency_p95(query, window, source, configuration=configuration)
