"""Business correlation ids: executions found by a configured search attribute on the real
dev server (the session fixture registers ``CustomerId``), logs by a configured label."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from adapters.loki import LokiSource
from console.config import Context
from console.correlate import correlate, correlation_settings
from console.errors import ConfigError
from console.sandbox.devserver import DevServer
from tests.conftest import eventually, make_temporal_engine
from tests.integration.telemetry_double import local_fixture, serve

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")


async def test_correlation_id_finds_executions_by_search_attribute(
    temporal_server: DevServer,
) -> None:
    client = await Client.connect(temporal_server.address)
    customer = f"cust-{uuid.uuid4().hex[:10]}"
    workflow_id = f"order-{uuid.uuid4().hex[:8]}"
    await client.start_workflow(
        "OrderWorkflow",
        id=workflow_id,
        task_queue="corr-nobody",
        search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_ID, customer)]),
    )
    engine = make_temporal_engine(temporal_server)
    settings = {"search-attributes": ("CustomerId",), "log-labels": ("customer",)}
    try:
        with serve() as double:
            double.json("/loki/api/v1/query_range", local_fixture("loki-query_range-streams.json"))
            loki = LokiSource("logs", double.url, selector='{job="varlogs"}')

            async def found() -> object:
                result = await correlate(
                    customer,
                    engines={"temporal": engine},
                    sources={"logs": loki},
                    correlation=settings,
                )
                return result if result.executions else None

            try:
                result = await eventually(found, timeout=20, what="visibility")
            finally:
                await loki.close()
            queries = [q["query"][0] for path, q in double.requests if "query" in q]
    finally:
        await engine.close()
    assert result.executions[0].startswith(f"temporal:default/{workflow_id}/")
    assert any(i.kind == "event" and i.ref == result.executions[0] for i in result.timeline)
    assert any(
        s.source == "temporal (search attributes)" and s.status == "ok" for s in result.statuses
    )
    assert f'{{job="varlogs", customer="{customer}"}}' in queries
    assert any(i.kind == "log" for i in result.timeline)
    # Not configured: the business id finds no execution (it is searched in logs only).
    plain = await correlate(customer, engines={"temporal": make_temporal_engine(temporal_server)})
    assert plain.executions == ()


def test_correlation_settings_are_checked() -> None:
    def context(value: object) -> Context:
        return Context("prod", (), location="config.yaml:3", extra={"correlation": value})

    assert correlation_settings(context({"tags": ["customer.id"]})) == {"tags": ("customer.id",)}
    assert correlation_settings(Context("x", ())) == {}
    for bad in ({"colour": ["x"]}, {"tags": "customer.id"}, ["CustomerId"]):
        with pytest.raises(ConfigError, match=r"config\.yaml:3: contexts\.prod\.correlation"):
            correlation_settings(context(bad))
