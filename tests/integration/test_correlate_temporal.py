"""Trace id of a real Temporal execution, from the OTel interceptor header of its start
event, and the correlation of that execution with a log source (HTTP double).

The client interceptor below writes the header exactly as
temporalio.contrib.opentelemetry does (``_tracer-data`` = the default payload converter's
encoding of the propagator carrier ``{"traceparent": ...}``), without needing the
OpenTelemetry SDK in the test environment.
"""

from __future__ import annotations

import uuid
from typing import Any

import temporalio.converter
from temporalio.client import Client, Interceptor, OutboundInterceptor, StartWorkflowInput

from adapters.loki import LokiSource
from console.correlate import correlate
from console.sandbox.devserver import DevServer
from tests.conftest import make_temporal_engine
from tests.integration.telemetry_double import local_fixture, serve

TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"


class _Outbound(OutboundInterceptor):
    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        carrier = {"traceparent": TRACEPARENT}
        payload = temporalio.converter.PayloadConverter.default.to_payloads([carrier])[0]
        input.headers = {**input.headers, "_tracer-data": payload}
        return await super().start_workflow(input)


class OtelLikeInterceptor(Interceptor):
    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next)


async def test_execution_to_trace_id_and_logs(temporal_server: DevServer) -> None:
    client = await Client.connect(temporal_server.address, interceptors=[OtelLikeInterceptor()])
    workflow_id = f"corr-{uuid.uuid4().hex[:8]}"
    # No worker polls this queue: the run stays open with its start event written.
    await client.start_workflow("OrderWorkflow", id=workflow_id, task_queue="corr-nobody")
    engine = make_temporal_engine(temporal_server)
    with serve() as double:
        double.json("/loki/api/v1/query_range", local_fixture("loki-query_range-streams.json"))
        loki = LokiSource("logs", double.url, selector='{job="varlogs"}')
        try:
            result = await correlate(
                workflow_id, engines={"temporal": engine}, sources={"logs": loki}
            )
        finally:
            await loki.close()
            await engine.close()
    assert result.trace_ids == (TRACE,)
    assert result.executions[0].startswith(f"temporal:default/{workflow_id}/")
    events = [i for i in result.timeline if i.kind == "event"]
    assert events[0].summary.startswith("WorkflowExecutionStarted")
    assert {s.source: s.status for s in result.statuses} == {"temporal": "ok", "logs": "ok"}
    _, query = double.requests[-1]
    assert TRACE in query["query"][0] and workflow_id in query["query"][0]
