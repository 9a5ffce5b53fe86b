"""`:triage` over stub engines: a group that only Temporal could list says so, a failing
engine is a notification (never a crash), and the palette offers the view."""

from __future__ import annotations

from console.tui.screens.triage import TriageScreen
from tests.tui.conftest import SIZE, make_app, notifications, settle, until
from tests.tui.fakes import FakeEngine, demo_executions, stub_session, unreachable


async def test_groups_then_enter_on_a_non_temporal_group_says_why() -> None:
    sfn = FakeEngine(name="sfn", kind="stepfunctions", executions=demo_executions("sfn"))
    app = make_app(stub_session(sfn))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"tr 2h", "enter")
        await until(pilot, lambda: isinstance(app.screen, TriageScreen), "triage screen")
        screen = app.screen
        assert isinstance(screen, TriageScreen)
        await until(pilot, lambda: screen.triaged is not None, "groups", 500)
        kinds = {g.kinds for g in screen.groups}
        assert ("activity",) in kinds  # the stub's running runs retry ChargeCard
        assert all(g.signature.engine == "sfn" for g in screen.groups)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TriageScreen)  # nothing opened
        assert any("only Temporal can list exactly these runs" in n for n in notifications(app))


async def test_a_failing_engine_is_a_notification() -> None:
    app = make_app(stub_session(FakeEngine(fail=unreachable())))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"triage", "enter")
        await until(pilot, lambda: isinstance(app.screen, TriageScreen), "triage screen")
        await until(pilot, lambda: any(n.startswith("triage") for n in notifications(app)), "note")
        assert any("connection refused" in n for n in notifications(app))
        assert isinstance(app.screen, TriageScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, TriageScreen)


async def test_palette_offers_failure_triage() -> None:
    from console.tui.commands import OpsdeckCommands

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        provider = OpsdeckCommands(app.screen)
        names = [name for name, _, _ in provider._commands()]
        assert "Failure triage" in names
