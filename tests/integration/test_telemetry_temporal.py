"""A traced signal on the real dev server carries the incident's trace context in the
header Temporal's OpenTelemetry interceptor reads (``_tracer-data``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import temporalio.converter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from console import telemetry
from console.actions import ActionRunner
from console.audit import AuditJournal
from console.config import Context
from console.model import ActionKind, ActionRequest, ExecutionRef
from console.sandbox.devserver import DevServer
from tests.conftest import make_temporal_engine

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    telemetry.configure({"export": "console"}, span_exporter=memory)
    yield memory
    telemetry.configure({"export": "none"})


async def test_signal_joins_the_incident_trace(
    temporal_server: DevServer, exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    client = await Client.connect(temporal_server.address)
    workflow_id = f"traced-{uuid.uuid4().hex[:8]}"
    await client.start_workflow("DemoAwaitSignal", "x", id=workflow_id, task_queue="nobody")
    engine = make_temporal_engine(temporal_server)
    runner = ActionRunner(
        context=Context("dev", ()),
        engines={"temporal": engine},
        audit=AuditJournal(tmp_path / "audit.db"),
    )
    ref = ExecutionRef("temporal", "default", workflow_id)
    request = ActionRequest(ActionKind.SIGNAL, (ref,), "incident 7", {"signal": "approve"})
    try:
        plan = await runner.plan("temporal", request)
        report = await runner.apply(plan, traceparent=TRACEPARENT)
    finally:
        await engine.close()
    assert report.exit_code == 0
    spans = exporter.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in spans} == {TRACE_ID}
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    (signaled,) = [
        e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    header = signaled.workflow_execution_signaled_event_attributes.header
    carrier = temporalio.converter.PayloadConverter.default.from_payloads(
        [header.fields["_tracer-data"]]
    )[0]
    assert carrier["traceparent"].split("-")[1] == TRACE_ID
