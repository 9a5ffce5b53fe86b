"""`:triage` on the real dev server: the groups with verdicts, and enter opening the
executions view on exactly one group's runs, all of them marked for the change keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from textual.widgets import DataTable, Static

from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.runbook import ParamsScreen
from console.tui.screens.triage import TriageScreen
from tests.conftest import Demo, MotoServer
from tests.integration.triage_scenario import SYSTEMIC_RUNS, Scenario, scenario
from tests.tui.conftest import executions, settle, until
from tests.tui.test_tui_temporal import write_config

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def made(demo: Demo) -> AsyncIterator[Scenario]:
    async with scenario(demo.address) as made:
        yield made


def triage_screen(app: OpsdeckApp) -> TriageScreen:
    screen = app.screen
    assert isinstance(screen, TriageScreen)
    return screen


async def test_enter_marks_exactly_the_groups_runs(
    demo: Demo, made: Scenario, moto_server: MotoServer
) -> None:
    """With a second engine (Step Functions) in the context: the group's Temporal query
    goes to Temporal only (Step Functions would refuse it), and escape lists both again."""
    path = write_config(demo)
    path.write_text(
        path.read_text()
        + "      - kind: stepfunctions\n"
        + f"        endpoint-url: {moto_server.endpoint}\n"
        + f"        region: {moto_server.region}\n"
        + "        emulator: true\n"
    )
    app = OpsdeckApp(open_session("e2e"), refresh_interval=0, engine_timeout=30)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("colon", *f"triage 2h {made.query}", "enter")
        await until(pilot, lambda: isinstance(app.screen, TriageScreen), "triage screen", 500)
        screen = triage_screen(app)
        await until(pilot, lambda: screen.triaged is not None, "groups loaded", 3000)
        table = screen.query_one("#triage-groups", DataTable)
        assert table.row_count == 3
        assert str(table.get_row_at(0)[1]) == "systemic"
        assert [str(table.get_row_at(i)[1]) for i in (1, 2)] == ["transient", "transient"]
        detail = str(screen.query_one("#triage-detail", Static).render())
        assert f"systemic: {SYSTEMIC_RUNS} executions, all on orders:v3" in detail
        assert "runbook (b): bad-deploy-rollback" in detail
        group = screen.groups[0]
        expected = {str(ref) for ref in group.executions}

        await pilot.press("b")  # the matching runbook, its parameters prefilled
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen), "runbook params", 500)
        params = app.screen
        assert isinstance(params, ParamsScreen)
        assert params.values()["deployment"] == "orders"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, TriageScreen), "back to triage", 500)

        await pilot.press("enter")
        view = executions(app)
        await until(pilot, lambda: app.screen is view, "executions view", 500)

        def listed() -> bool:
            return {r.key for r in view.shown_rows} >= expected

        await until(pilot, listed, "the group's runs listed", 3000)
        await settle(pilot)
        label = view.listing_label()
        assert label and label.startswith("query WorkflowId IN ("), label
        assert view.marked == expected
        assert view.engines["stepfunctions"].ok  # left out, not asked: no refusal
        assert {r.execution.ref.engine for r in view.shown_rows} == {"temporal"}
        marks = view.query_one("#executions", DataTable)
        column = [str(marks.get_row_at(i)[0]) for i in range(marks.row_count)]
        assert column.count("●") == SYSTEMIC_RUNS

        await pilot.press("r")  # the view's own retry: plan and confirmation as ever
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation", 1000)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert sorted(confirm.plan.targets) == sorted(expected)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is view, "back to the runs", 500)
        await pilot.press("escape")  # out of the group's listing: both engines again
        await until(pilot, lambda: view.listing_label() is None, "the listing back", 3000)
        assert "not searched" not in view.engines["stepfunctions"].text
