"""`:drills` without a sandbox: the palette opens it, the list and the runbook steps
show, and starting one says how to start the sandbox (a notification, no crash).

Started, checked and stopped on a real sandbox: tests/integration/test_drills.py.
"""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.widgets import Button, DataTable

from console.tui.screens.chaos_report import ChaosConfirmScreen
from console.tui.screens.drills import DrillsScreen
from tests.tui.conftest import SIZE, make_app, notifications, settle, until


async def test_palette_opens_drills_and_start_without_sandbox_notifies() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "palette")
        palette = app.screen
        await until(pilot, lambda: palette.has_class("-ready"), "commands gathered")
        await pilot.press(*"drills")
        options = palette.query_one(CommandList)
        await until(pilot, lambda: options.option_count > 0, "matches")
        assert "Drills in the sandbox" in str(options.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DrillsScreen), "drills screen")
        screen = app.screen
        await settle(pilot)
        table = screen.query_one(DataTable)
        assert table.row_count == 4
        assert [str(table.get_row_at(i)[0]) for i in range(4)] == [
            "stuck-activity-storm",
            "bad-deploy",
            "poison-dlq",
            "worker-loss",
        ]

        def panel_text() -> str:
            return str(screen.query_one("#drills-panel").render())

        panel = panel_text()
        assert "runbook stuck-workflows" in panel and "Find stuck executions" in panel
        await pilot.press("down")
        await until(
            pilot,
            lambda: (
                "runbook bad-deploy-rollback" in str(screen.query_one("#drills-panel").render())
            ),
            "next drill's detail",
        )
        assert "Roll back?" in panel_text()  # a runbook step

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ChaosConfirmScreen), "confirm")
        app.screen.query_one("#chaos-confirm-apply", Button).press()
        await until(pilot, lambda: app.screen is screen, "back on the list")
        await settle(pilot)
        assert any(
            n.startswith("drill start:") and "opsdeck sandbox up" in n for n in notifications(app)
        ), notifications(app)
        assert screen.running is None


async def test_read_only_hides_start_and_stop() -> None:
    from tests.tui.fakes import stub_session

    app = make_app(stub_session(read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"drills", "enter")
        await until(pilot, lambda: isinstance(app.screen, DrillsScreen), "drills screen")
        await settle(pilot)
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        assert "refresh" in shown and "start" not in shown and "stop" not in shown
        await pilot.press("s")
        await settle(pilot)
        assert not isinstance(app.screen, ChaosConfirmScreen)  # nothing to confirm
