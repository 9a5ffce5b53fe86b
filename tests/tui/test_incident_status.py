"""The open incident of the context in the status bar, refreshed when it changes."""

from __future__ import annotations

import pytest

from console.incidents import store as incidents
from tests.tui.conftest import SIZE, make_app, notifications, settle, status_text, until


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(incidents.ENV, raising=False)
    incidents.use_incident(None)


async def test_status_bar_shows_the_open_incident_and_drops_it_when_closed() -> None:
    other = incidents.open_incident("prod only", context="prod", identity="bob")
    app = make_app(incident_interval=0)  # the stub context is "sandbox"; tests poll by hand
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert other.id not in status_text(app)  # another context's incident is not ours
        opened = incidents.open_incident("Orders <stuck>", "sev2", context="sandbox", identity="a")
        app.check_incident()
        await until(pilot, lambda: opened.id in status_text(app), "incident shown")
        assert f"{opened.id} sev2: Orders <stuck>" in status_text(app)
        assert opened.id in app.sub_title
        incidents.close_incident(opened.id, who="a")
        app.check_incident()
        await until(pilot, lambda: opened.id not in status_text(app), "incident dropped")
        assert "ctx sandbox" in status_text(app) and app.sub_title == "sandbox"


async def test_an_unknown_override_becomes_one_notification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(incidents.ENV, "INC-19990101-1")
    incidents.open_incident("t", context="sandbox", identity="a")  # the store exists
    app = make_app(incident_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.check_incident()
        await settle(pilot)
        found = [n for n in notifications(app) if "incident" in n]
        assert len(found) == 1 and "INC-19990101-1" in found[0]
