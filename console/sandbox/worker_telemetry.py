"""Telemetry of the sandbox demo workers (a demo part: for the sandbox only).

``setup(directory, metrics_port)`` returns Temporal interceptors that

- trace every workflow and activity with OpenTelemetry (temporalio.contrib.opentelemetry
  TracingInterceptor); finished spans are appended as JSON lines to
  ``directory/spans.jsonl``, which the demo stores (console.sandbox.demo_stores) serve
  through the Jaeger v1 API;
- write one log line per activity attempt to ``directory/logs.jsonl`` (served through
  the Loki API by the same demo stores), naming the workflow id and trace id;
- observe ``sandbox_activity_duration_seconds`` (a prometheus-client histogram with a
  ``trace_id`` exemplar) served in OpenMetrics on ``127.0.0.1:metrics_port``.

Needs opentelemetry-sdk and prometheus-client (opsdeck's [test] extras); when one is
missing, ``setup`` raises ImportError and the workers run untraced.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

SERVICE = "opsdeck-sandbox-workers"


class _JsonlWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        with self.lock, self.path.open("a", encoding="utf-8") as out:
            out.write(text)


def _span_exporter(writer: _JsonlWriter) -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class JsonlSpanExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            records = []
            for span in spans:
                ctx = span.context
                parent = span.parent
                records.append(
                    {
                        "trace_id": format(ctx.trace_id, "032x"),
                        "span_id": format(ctx.span_id, "016x"),
                        "parent_id": format(parent.span_id, "016x") if parent else None,
                        "name": span.name,
                        "service": SERVICE,
                        "start_ns": span.start_time,
                        "end_ns": span.end_time,
                        "error": span.status.status_code.name == "ERROR",
                        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
                    }
                )
            writer.write(records)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    return JsonlSpanExporter()


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else str(value)


class _Metrics(Interceptor):
    """Times each activity attempt: histogram with trace_id exemplar, one log line."""

    def __init__(self, histogram: Any, logs: _JsonlWriter) -> None:
        self.histogram = histogram
        self.logs = logs

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        outer = self

        class Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                from opentelemetry import trace

                info = activity.info()
                started = time.monotonic()
                error: BaseException | None = None
                try:
                    return await super().execute_activity(input)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    took = time.monotonic() - started
                    ctx = trace.get_current_span().get_span_context()
                    trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else ""
                    outcome = "failed" if error else "ok"
                    outer.histogram.labels(info.activity_type, outcome).observe(
                        took, exemplar={"trace_id": trace_id} if trace_id else None
                    )
                    line = (
                        f"level={'error' if error else 'info'} activity={info.activity_type} "
                        f"workflow_id={info.workflow_id} attempt={info.attempt} "
                        f"trace_id={trace_id} outcome={outcome}"
                        + (f' error="{error}"' if error else "")
                    )
                    outer.logs.write(
                        [
                            {
                                "ts_ns": time.time_ns(),
                                "labels": {
                                    "service": SERVICE,
                                    "level": "error" if error else "info",
                                    "workflow_type": info.workflow_type,
                                },
                                "line": line,
                            }
                        ]
                    )

        return Inbound(super().intercept_activity(next))


def setup(directory: Path, metrics_port: int) -> list[Interceptor]:
    """Interceptors for client and workers; starts the metrics endpoint."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from prometheus_client import CollectorRegistry, Histogram, start_http_server
    from temporalio.contrib.opentelemetry import TracingInterceptor

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(
        BatchSpanProcessor(
            _span_exporter(_JsonlWriter(directory / "spans.jsonl")), schedule_delay_millis=500
        )
    )
    registry = CollectorRegistry()
    histogram = Histogram(
        "sandbox_activity_duration_seconds",
        "Duration of demo activity attempts",
        ["activity", "outcome"],
        registry=registry,
        buckets=(0.005, 0.05, 0.5, 5),
    )
    start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
    tracer = provider.get_tracer("opsdeck.sandbox")
    return [TracingInterceptor(tracer), _Metrics(histogram, _JsonlWriter(directory / "logs.jsonl"))]
