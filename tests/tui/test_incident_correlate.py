"""A correlation opened in the TUI while an incident is open is saved with it."""

from __future__ import annotations

import pytest

from console.incidents import store as incidents
from console.incidents.model import CORRELATION
from tests.tui.conftest import settle, until
from tests.tui.test_correlate import loaded, traced_app


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(incidents.ENV, raising=False)
    incidents.use_incident(None)


def saved(incident_id: str) -> list[incidents.Link]:
    store = incidents.IncidentStore()
    try:
        return store.links(incident_id, CORRELATION)
    finally:
        store.close()


async def test_the_correlation_view_saves_what_it_showed() -> None:
    incident = incidents.open_incident("orders stuck", context="sandbox", identity="alice")
    app = traced_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        app.open_correlation("temporal:default/order-1/run-order-1")
        screen = await loaded(pilot)
        assert screen.result is not None
        await until(pilot, lambda: bool(saved(incident.id)), "snapshot saved")
    (link,) = saved(incident.id)
    assert link.ref == "temporal:default/order-1/run-order-1"
    kinds = {row["kind"] for row in link.data["timeline"]}
    assert {"event", "span", "log"} <= kinds
    assert link.data["series"] and link.data["series"][0]["points"]  # the Prometheus samples
