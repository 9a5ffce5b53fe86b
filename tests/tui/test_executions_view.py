"""Executions view: listing, filter, command mode, marks, stuck mode, engine failures."""

from __future__ import annotations

from console.errors import BackendUnavailable
from console.model import ExecutionStatus
from console.tui.screens.execution import ExecutionScreen
from tests.tui.conftest import (
    SIZE,
    crumbs_text,
    executions,
    ids,
    make_app,
    notifications,
    settle,
    status_text,
    until,
)
from tests.tui.fakes import FakeEngine, demo_executions, execution, stub_session


async def test_lists_every_engine_newest_first() -> None:
    other = FakeEngine(
        name="backup",
        executions=[
            execution("late-1", "LateWorkflow", ExecutionStatus.RUNNING, 1, engine="backup")
        ],
    )
    app = make_app(stub_session(FakeEngine(), other))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert ids(app) == [
            "late-1",
            "order-1",
            "order-2",
            "payment-7",
            "refund-3",
            "ship-9",
            "order-3",
        ]
        status = status_text(app)
        assert "ctx sandbox" in status
        assert "temporal: 6 rows" in status and "backup: 1 rows" in status
        assert "refreshed 12:00:00" in status_text(app)


async def test_filter_substring_regex_and_inverse() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"order", "enter")
        assert ids(app) == ["order-1", "order-2", "order-3"]
        assert "3 of 6" in crumbs_text(app) and "/order" in crumbs_text(app)

        await pilot.press("slash", "ctrl+a", "ctrl+k", *"!order", "enter")  # k9s inverse filter
        assert ids(app) == ["payment-7", "refund-3", "ship-9"]

        await pilot.press("slash", "ctrl+a", "ctrl+k", *"^pay|refund", "enter")  # regex
        assert ids(app) == ["payment-7", "refund-3"]

        await pilot.press(
            "slash", "ctrl+a", "ctrl+k", *"FAILED", "enter"
        )  # status, case-insensitive
        assert ids(app) == ["payment-7"]

        await pilot.press(
            "slash", "ctrl+a", "ctrl+k", *"[unclosed", "enter"
        )  # bad regex: substring
        assert ids(app) == []

        await pilot.press("escape")  # escape clears the filter
        assert len(ids(app)) == 6


async def test_filter_applies_while_typing_and_escape_in_prompt_keeps_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"ship")
        assert ids(app) == ["ship-9"]
        await pilot.press("escape")
        assert ids(app) == ["ship-9"]
        assert app.focused is executions(app).table


async def test_marks_select_targets_and_show_count() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = executions(app)
        await pilot.press("space")  # marks order-1, cursor moves on
        await pilot.press("down", "space")  # marks payment-7
        assert "2 marked" in status_text(app)
        assert [r.workflow_id for r in screen.targets()] == ["order-1", "payment-7"]
        await pilot.press("up", "space")  # unmark payment-7
        assert [r.workflow_id for r in screen.targets()] == ["order-1"]
        await pilot.press("escape")  # clears marks
        assert screen.marked == set()
        assert "marked" not in status_text(app)
        # Without marks the target is the row under the cursor.
        assert [r.workflow_id for r in screen.targets()] == [ids(app)[screen.table.cursor_row]]


async def test_mark_range() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "space", "down", "down", "ctrl+space")
        marked = [r.workflow_id for r in executions(app).targets()]
        assert marked == ["order-2", "payment-7", "refund-3", "ship-9"]


async def test_marks_are_dropped_for_rows_the_filter_hides() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space", "space")  # order-1 and order-2
        await pilot.press("slash", *"order-1", "enter")
        assert [r.workflow_id for r in executions(app).targets()] == ["order-1"]


async def test_stuck_toggle_shows_rule_and_evidence() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        table = executions(app).table
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[-2:] == ["RULE", "EVIDENCE"]
        rows = {str(table.get_row_at(i)[2]): table.get_row_at(i) for i in range(table.row_count)}
        assert set(rows) == {"order-1", "refund-3"}
        assert str(rows["order-1"][-2]) == "activity_retrying"
        assert str(rows["order-1"][-1]) == "ChargeCard attempt 7 >= 5"
        assert str(rows["refund-3"][-2]) == "no_progress, no_pollers"
        assert "stuck executions" in crumbs_text(app)
        await pilot.press("s")
        await settle(pilot)
        assert len(ids(app)) == 6
        assert "RULE" not in [str(c.label) for c in table.columns.values()]


async def test_command_mode() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"stuck", "enter")
        await settle(pilot)
        assert executions(app).stuck_only and ids(app) == ["order-1", "refund-3"]
        await pilot.press("colon", *"all", "enter")
        await settle(pilot)
        assert not executions(app).stuck_only and len(ids(app)) == 6
        await pilot.press("colon", *"nonsense", "enter")
        await pilot.pause()
        assert any("unknown command 'nonsense'" in n for n in notifications(app))
        await pilot.press("colon", *"refresh off", "enter")
        await settle(pilot)
        assert "auto refresh off" in status_text(app)
        await pilot.press("colon", "up")  # command history
        assert executions(app).query_one("#prompt").value == "refresh off"  # type: ignore[attr-defined]
        await pilot.press("ctrl+a", "ctrl+k", *"q", "enter")
        await pilot.pause()
    assert app.return_code == 0


async def test_ctx_without_a_session_factory_says_why() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"ctx prod", "enter")
        await settle(pilot)
        assert any("cannot switch contexts" in n for n in notifications(app))


async def test_ctx_switches_session_and_engines() -> None:
    other = FakeEngine(name="prod", executions=demo_executions("prod")[:2])
    second = stub_session(other)
    second.context = type(second.context)(name="prod", production=True)
    opened: list[str] = []

    def factory(name: str) -> object:
        opened.append(name)
        if name != "prod":
            raise BackendUnavailable("config", "here", "no such context")
        return second

    app = make_app(session_factory=factory)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # open a detail screen: switching must return to the list
        await settle(pilot)
        await pilot.press("colon", *"ctx prod", "enter")
        await settle(pilot)
        assert app.session is second
        assert len(app.screen_stack) == 1
        assert ids(app) == ["order-1", "order-2"]
        assert "ctx prod" in status_text(app) and "PRODUCTION" in status_text(app)
        await pilot.press("colon", *"ctx nope", "enter")
        await settle(pilot)
        assert app.session is second
        assert any("no such context" in n for n in notifications(app))
    assert opened == ["prod", "nope"]


async def test_open_detail_with_enter() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ExecutionScreen)
        assert app.screen.ref.workflow_id == "payment-7"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is executions(app)


async def test_auto_refresh_tick_reloads_unless_paused() -> None:
    engine = FakeEngine()
    calls: list[int] = []
    real_list = engine.list

    def counting_list(query):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real_list(query)

    engine.list = counting_list  # type: ignore[method-assign]
    app = make_app(stub_session(engine), refresh_interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(calls) == 1
        screen = executions(app)
        screen._tick()  # what the interval timer calls
        await settle(pilot)
        assert len(calls) == 2
        await pilot.press("p")
        assert "auto refresh off" in status_text(app)
        screen._tick()
        await settle(pilot)
        assert len(calls) == 2
        assert "every 3600s" not in status_text(app)
        await pilot.press("p")
        assert "every 3600s" in status_text(app)


async def test_failing_engine_is_named_and_others_still_show() -> None:
    dead = FakeEngine(
        name="prod-temporal",
        fail=BackendUnavailable(
            "temporal", "10.0.0.1:7233", "connection [refused]", hint="is the server running?"
        ),
    )
    app = make_app(stub_session(FakeEngine(), dead))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(ids(app)) == 6
        assert "prod-temporal: unreachable (connection [refused])" in status_text(app)
        notes = notifications(app)
        assert any(
            n.startswith("prod-temporal: Backend unreachable")
            and "10.0.0.1:7233" in n
            and "is the server running?" in n
            for n in notes
        ), notes
        # The same problem on the next refresh is not announced again.
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert len(notifications(app)) == len(notes)


async def test_hanging_engine_leaves_ui_responsive() -> None:
    slow = FakeEngine(name="slow", hang=True)
    app = make_app(stub_session(FakeEngine(), slow), engine_timeout=1.5)
    async with app.run_test(size=SIZE) as pilot:
        screen = executions(app)
        await until(pilot, lambda: len(ids(app)) == 6, "healthy engine listed")
        assert "slow: loading…" in status_text(app)
        # The UI answers keys while the slow engine is still pending.
        await pilot.press("slash", *"ship", "enter")
        assert ids(app) == ["ship-9"]
        await pilot.press("s")
        assert screen.stuck_only
        await pilot.press("s")
        await settle(pilot)  # ends when the slow engine times out
        assert "slow: unreachable (no answer within 1.5s)" in status_text(app)
        assert ids(app) == ["ship-9"]


async def test_duplicate_rows_from_an_engine_are_listed_once() -> None:
    engine = FakeEngine()
    engine.executions = engine.executions + engine.executions[:2]
    app = make_app(stub_session(engine))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(ids(app)) == 6


async def test_unexpected_exception_never_crashes() -> None:
    broken = FakeEngine(name="buggy", fail=RuntimeError("boom [red]x[/red]"))
    app = make_app(stub_session(FakeEngine(), broken))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "buggy: error (RuntimeError: boom [red]x[/red])" in status_text(app)
        # Backend text is escaped before it meets markup.
        assert any("RuntimeError: boom \\[red]x\\[/red]" in n for n in notifications(app))
        assert len(ids(app)) == 6


async def test_owned_session_is_closed_on_exit() -> None:
    closed: list[bool] = []
    session = stub_session()

    async def close() -> None:
        closed.append(True)

    session.close = close  # type: ignore[method-assign]
    app = make_app(session, close_session=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
    assert closed == [True]


async def test_stuck_mode_on_an_engine_that_cannot_says_why() -> None:
    from console.model import Capability

    plain = FakeEngine(
        name="basic",
        executions=demo_executions("basic"),
        capabilities=frozenset(Capability) - {Capability.FIND_STUCK},
    )
    app = make_app(stub_session(FakeEngine(), plain))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert "basic: not supported (temporal cannot find_stuck)" in status_text(app)
        assert ids(app) == ["order-1", "refund-3"]
        assert [n.severity for n in app._notifications] == ["warning"]


async def test_filter_matches_every_visible_column() -> None:
    other = FakeEngine(
        name="backup",
        executions=[
            execution("late-1", "LateWorkflow", ExecutionStatus.RUNNING, 1, engine="backup")
        ],
    )
    app = make_app(stub_session(FakeEngine(), other))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"backup", "enter")  # engine
        assert ids(app) == ["late-1"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"payments", "enter")  # task queue
        assert ids(app) == ["payment-7", "refund-3"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"5h ago", "enter")  # start time text
        assert ids(app) == ["ship-9"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"!temporal", "enter")
        assert ids(app) == ["late-1"]
        await pilot.press("escape", "s")
        await settle(pilot)
        await pilot.press("slash", *"has no pollers", "enter")  # evidence
        assert ids(app) == ["refund-3"]
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"retrying", "enter")  # rule
        assert ids(app) == ["order-1"]


def screen_text(app: object) -> str:
    """What the terminal shows, as plain text."""
    import io

    from rich.console import Console

    width, height = app.size  # type: ignore[attr-defined]
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))  # type: ignore[attr-defined]
    return console.export_text()


async def test_stuck_view_at_100_columns_still_shows_rule_and_evidence() -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        await pilot.pause()
        text = screen_text(app)
        assert "order-1: activity_retrying  ChargeCard attempt 7 >= 5" in text
        await pilot.press("down")
        await pilot.pause()
        text = screen_text(app)
        assert "refund-3: no_progress  no event for 88m > 30m" in text
        assert "no_pollers  task queue payments has no pollers" in text
        await pilot.press("s")  # all executions: no stuck line
        await settle(pilot)
        await pilot.pause()
        assert "no event for" not in screen_text(app)
