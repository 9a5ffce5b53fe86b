"""`:slo` on the real dev server: the table (value, objective, budget, burn rates, alert),
the Sparkline of the highlighted SLO's series, `r` refreshing, and an SLO that cannot be
evaluated becoming a notification while the others are shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Sparkline, Static

from console.sandbox.devserver import DevServer
from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.screens.slo import SloScreen, sparkline_data
from tests.integration.slo_scenario import runs, write_config
from tests.tui.conftest import notifications, settle, until

pytestmark = pytest.mark.integration


def test_sparkline_data_fills_empty_buckets() -> None:
    assert sparkline_data((None, 0.5, None, 1.0, None)) == [0.5, 0.5, 0.5, 1.0, 1.0]
    assert sparkline_data((None, None)) == []


async def test_slo_screen(temporal_server: DevServer, tmp_path: Path) -> None:
    async with runs(temporal_server.address) as r:
        await r.start("completed", 3)
        await r.start("failed", 1)
        slos = (
            f'      orders:\n        query: "{r.query}"\n        success-rate: 99.5%\n'
            f"      healthy:\n        query: \"{r.query} AND WorkflowType = 'DemoCompleted'\"\n"
            "        success-rate: 99%\n        window: 1h\n"
            "      broken:\n        query: \"NoSuchAttribute = 'x'\"\n        success-rate: 99%\n"
        )
        path = write_config(tmp_path, temporal_server.address, temporal_server.http_address, slos)
        app = OpsdeckApp(open_session(config_path=path), refresh_interval=0, engine_timeout=30)
        async with app.run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            await pilot.press("colon", *"slo", "enter")
            await until(pilot, lambda: isinstance(app.screen, SloScreen), "slo screen", 500)
            screen = app.screen
            assert isinstance(screen, SloScreen)
            await until(pilot, lambda: screen.loaded == 1, "SLOs evaluated", 3000)
            table = screen.query_one("#slo-table", DataTable)
            assert table.row_count == 2
            orders = [str(c) for c in table.get_row_at(0)]
            assert orders[:4] == ["orders", "75.0%", ">= 99.5%", "-4900% (-0.98)"]
            assert orders[4:7] == ["50.00", "50.00", "page"]
            assert [str(c) for c in table.get_row_at(1)][:3] == ["healthy", "100.0%", ">= 99.0%"]
            spark = screen.query_one("#slo-sparkline", Sparkline)
            assert list(spark.data or []) == [0.75] * 24  # every bucket repeats the one value
            detail = str(screen.query_one("#slo-detail", Static).render())
            assert "success rate 75.0% < 99.5% over 4 executions in the last 30d" in detail
            assert "page: burn rate 50.0 over 1h and 50.0 over 5m" in detail
            assert any(n.startswith("slo broken:") for n in notifications(app))

            await pilot.press("down")  # the sparkline follows the highlighted SLO
            await until(pilot, lambda: list(spark.data or []) == [1.0] * 24, "healthy trend")

            await r.start("failed", 1)
            await pilot.press("r")
            await until(pilot, lambda: screen.loaded == 2, "SLOs evaluated again", 3000)
            assert str(table.get_row_at(0)[1]) == "60.0%"
