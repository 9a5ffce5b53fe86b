"""Pilot: one context with all three engines (Temporal dev server, Step Functions on
moto_server, Logic Apps on the HTTP double) listed in the executions view, each row
opening in the execution view of its own engine."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from adapters.logicapps import LogicAppsEngine
from console import registry
from console.ports import SecretResolver
from console.sandbox import aws
from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.screens.execution import ExecutionScreen
from tests.conftest import Demo, MotoServer
from tests.integration.logicapps_double import TOKEN, LogicAppsDouble
from tests.tui.conftest import executions, settle

pytestmark = pytest.mark.integration


class DoubleTokenLogicApps(LogicAppsEngine):
    """The real adapter with the double's static token instead of azure-identity."""

    @classmethod
    def from_config(  # type: ignore[override]
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> LogicAppsEngine:
        return LogicAppsEngine.from_config(
            name, settings, resolve_secret, token_provider=lambda scope: TOKEN
        )


@pytest.fixture
def double() -> Iterator[LogicAppsDouble]:
    d = LogicAppsDouble().start()
    registry.register("logicapps", DoubleTokenLogicApps)
    yield d
    registry.unregister("logicapps")
    d.stop()


def write_config(demo: Demo, moto: MotoServer, arns: list[str], double: LogicAppsDouble) -> None:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "opsdeck" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    machines = "".join(f"          - {arn}\n" for arn in arns)
    path.write_text(
        "current-context: all\n"
        "contexts:\n"
        "  all:\n"
        "    engines:\n"
        "      - kind: temporal\n"
        f"        address: {demo.address}\n"
        f"        http-address: {demo.http_address}\n"
        f"        namespace: {demo.namespace}\n"
        "      - kind: stepfunctions\n"
        f"        endpoint-url: {moto.endpoint}\n"
        f"        region: {moto.region}\n"
        "        emulator: true\n"
        "        state-machines:\n"
        f"{machines}"
        "      - kind: logicapps\n"
        f"        subscription-id: {double.subscription}\n"
        f"        resource-group: {double.resource_group}\n"
        f"        management-url: {double.url}\n"
    )


async def test_executions_view_lists_all_three_engines(
    demo: Demo, moto_server: MotoServer, double: LogicAppsDouble
) -> None:
    suffix = f"-tui{uuid.uuid4().hex[:6]}"
    ids = aws.seed_demo(moto_server.client("stepfunctions"), moto_server.client("sqs"), suffix)
    write_config(demo, moto_server, [ids["succeed"], ids["fail"], ids["wait"]], double)
    session = open_session("all", read_only=True)
    app = OpsdeckApp(session, refresh_interval=0, engine_timeout=30)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            screen = executions(app)
            deadline = time.monotonic() + 30
            while {r.execution.ref.engine for r in screen.shown_rows} != {
                "temporal", "stepfunctions", "logicapps",
            }:  # fmt: skip
                assert time.monotonic() < deadline, [str(r.key) for r in screen.shown_rows]
                await pilot.pause(0.3)
                screen.action_reload()
                await settle(pilot)
            rows = {str(r.execution.ref): r.execution for r in screen.shown_rows}
            assert f"logicapps:test-workflow/{double.failed_run}" in rows
            sfn = {e.workflow_type for e in rows.values() if e.ref.engine == "stepfunctions"}
            assert f"{aws.PREFIX}fail{suffix}" in sfn
            status = str(screen.query_one("#status").render())
            assert "stepfunctions" in status and "logicapps" in status

            # A Logic Apps row opens in the execution view with its failed action.
            await pilot.press("slash", *double.failed_run, "enter")
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            detail = app.screen
            assert isinstance(detail, ExecutionScreen)
            summary = str(detail.query_one("#summary", Static).render())
            assert "failed" in summary
            history = detail.query_one("#history")
            texts = [
                " ".join(str(c) for c in history.get_row_at(i))  # type: ignore[attr-defined]
                for i in range(history.row_count)  # type: ignore[attr-defined]
            ]
            assert any("Http request failed: 400" in t for t in texts), texts
            # its workflow's versions are listed, so rollback is one key away
            versions = detail.query_one("#versions")
            assert versions.row_count == 2  # type: ignore[attr-defined]
    finally:
        await session.close()
