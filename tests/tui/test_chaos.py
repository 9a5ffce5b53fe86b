"""`:chaos` in the TUI: experiments and runs, the plan, a run with live progress, abort
(rollbacks run), a past run's report and its rollback, read-only.

Real chaoslib and the real launcher, store and audit journal; the providers
(tests.tui.chaos_provider) change a temp file through apply_chaos.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.audit import AuditJournal
from console.experiments.store import ChaosRunStore
from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.keys import view_bindings
from console.tui.screens.chaos import (
    ChaosConfirmScreen,
    ChaosRunScreen,
    ChaosScreen,
    ExperimentScreen,
)
from tests.tui import chaos_provider
from tests.tui.conftest import SIZE, until

MODULE = "tests.tui.chaos_provider"


def provider(func: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "python", "module": MODULE, "func": func, "arguments": arguments}


def experiment(marker: Path, *, hold: bool = False, title: str = "marker flip") -> dict[str, Any]:
    method: list[dict[str, Any]] = [
        {
            "type": "action",
            "name": "write-marker",
            "provider": provider("write_marker", path=str(marker)),
        }
    ]
    if hold:
        method.append({"type": "probe", "name": "hold", "provider": provider("hold")})
    return {
        "title": title,
        "description": "write a marker file and remove it",
        "steady-state-hypothesis": {
            "title": "marker is off",
            "probes": [
                {
                    "type": "probe",
                    "name": "marker-off",
                    "tolerance": "off",
                    "provider": provider("marker_text", path=str(marker)),
                }
            ],
        },
        "method": method,
        "rollbacks": [
            {
                "type": "action",
                "name": "remove-marker",
                "provider": provider("remove_marker", path=str(marker)),
            }
        ],
    }


@pytest.fixture
def gate() -> Iterator[None]:
    chaos_provider.GATE.clear()
    yield
    chaos_provider.GATE.set()  # never leave a run thread blocked


@pytest.fixture
def experiments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "experiments"
    folder.mkdir()
    monkeypatch.setenv("OPSDECK_EXPERIMENTS", str(folder))
    return folder


def write(folder: Path, name: str, data: dict[str, Any]) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "current-context: dev\nidentity: tester\ncontexts:\n  dev:\n    engines: []\n" + extra
    )
    return path


def make_app(tmp_path: Path, *, read_only: bool = False, extra: str = "") -> OpsdeckApp:
    session = open_session("dev", config_path=config(tmp_path, extra), read_only=read_only)
    return OpsdeckApp(session, refresh_interval=0)


def log(marker: Path) -> list[str]:
    path = Path(str(marker) + ".log")
    return path.read_text().splitlines() if path.exists() else []


def actions(screen: Any) -> set[str]:
    return {a.binding.action for a in view_bindings(screen) if a.enabled}


def cells(table: DataTable[Any]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_list(pilot: Pilot[Any], app: OpsdeckApp) -> ChaosScreen:
    await pilot.pause()
    await pilot.press("colon", *"chaos", "enter")
    await until(pilot, lambda: isinstance(app.screen, ChaosScreen), "chaos view")
    screen = app.screen
    assert isinstance(screen, ChaosScreen)
    await until(pilot, lambda: screen.loaded > 0, "chaos listed")
    return screen


async def open_experiment(pilot: Pilot[Any], app: OpsdeckApp, name: str) -> ExperimentScreen:
    screen = await open_list(pilot, app)
    table = screen.query_one("#chaos-experiments", DataTable)
    names = [row[0] for row in cells(table)]
    table.move_cursor(row=names.index(name))
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ExperimentScreen), "experiment view")
    exp = app.screen
    assert isinstance(exp, ExperimentScreen)
    await until(pilot, lambda: exp.plan is not None or bool(exp.problems), "plan loaded")
    return exp


async def confirm(pilot: Pilot[Any], app: OpsdeckApp) -> ChaosConfirmScreen:
    await until(pilot, lambda: isinstance(app.screen, ChaosConfirmScreen), "confirmation")
    dialog = app.screen
    assert isinstance(dialog, ChaosConfirmScreen)
    return dialog


async def finished(pilot: Pilot[Any], app: OpsdeckApp, exp: ExperimentScreen) -> None:
    await app.workers.wait_for_complete()
    await until(pilot, lambda: exp.result is not None and not exp.running, "run ended")


async def test_list_shows_experiments_and_this_contexts_runs(
    tmp_path: Path, experiments: Path
) -> None:
    marker = tmp_path / "marker"
    path = write(experiments, "flip", experiment(marker))
    write(experiments, "broken", {"title": "x"}).write_text("title: [unclosed\n")
    store = ChaosRunStore()
    row = store.create(
        experiment_path=str(path),
        source=path.read_text(),
        title="marker flip",
        context="dev",
        config=str(tmp_path / "config.yaml"),
        dry_run=False,
    )
    store.finish(row.id, "interrupted")
    other = store.create(
        experiment_path=str(path),
        source="",
        title="elsewhere",
        context="prod",
        config="",
        dry_run=False,
    )
    store.close()
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, app)
        rows = cells(screen.query_one("#chaos-experiments", DataTable))
        by_name = {r[0]: r for r in rows}
        assert by_name["flip"][1:3] == ["marker flip", "1"]
        assert "broken.yaml:2:1: expected" in by_name["broken"][4]
        assert any("/chaos/experiments/" in r[3] for r in rows)  # shipped with opsdeck
        runs = cells(screen.query_one("#chaos-runs", DataTable))
        assert [(r[0], r[1], r[2]) for r in runs] == [(row.id, "marker flip", "interrupted")]
        assert runs[0][3].endswith("s ago") and other.id not in str(runs)


async def test_enter_shows_the_plan_and_R_runs_it_with_live_progress(
    tmp_path: Path, experiments: Path
) -> None:
    marker = tmp_path / "marker"
    write(experiments, "flip", experiment(marker))
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        exp = await open_experiment(pilot, app, "flip")
        plan = cells(exp.query_one("#chaos-plan", DataTable))
        assert [(r[0], r[1], r[2], r[5]) for r in plan] == [
            ("steady-state", "probe", "marker-off", ""),
            ("method", "action", "write-marker", "remove-marker"),
            ("rollbacks", "action", "remove-marker", ""),
        ]
        assert plan[1][3] == f"python {MODULE}.write_marker"
        assert str(marker) in plan[1][4] and "flip.yaml:" in plan[1][6]
        assert {"run"} <= actions(exp) and "abort" not in actions(exp)

        await pilot.press("R")
        dialog = await confirm(pilot, app)
        shown = str(dialog.query_one("#chaos-confirm-plan", Static).render())
        assert "write-marker" in shown and "rollback: remove-marker" in shown
        assert "marker-off" in shown and "rollbacks:" in shown
        await pilot.press("ctrl+s")
        await finished(pilot, app, exp)

        assert [r[:4] for r in exp.progress_rows] == [
            ["steady-state before", "probe", "marker-off", "succeeded"],
            ["method", "action", "write-marker", "succeeded"],
            ["steady-state after", "probe", "marker-off", "succeeded"],
            ["rollbacks", "action", "remove-marker", "succeeded"],
        ]
        assert exp.hypothesis == {"before": True, "after": False}  # the marker was on
        assert log(marker) == ["write", "remove"] and not marker.exists()
        status = str(exp.query_one("#chaos-run-status", Static).render())
        assert exp.result is not None
        run_id = exp.result.result.row.id
        assert f"run {run_id}: completed, deviated" in status
        store = ChaosRunStore()
        row = store.get(run_id)
        store.close()
        assert (row.status, row.deviated) == ("completed", True)
        assert Path(row.journal_path).is_file()
        audit = AuditJournal()
        records = [r.action for r in reversed(audit.list(None, run_id=run_id))]
        audit.close()
        assert records == ["chaos.write_marker", "chaos.rollback.remove_marker"]

        await pilot.press("escape")  # back to the list, which now shows the run
        listing = app.screen
        assert isinstance(listing, ChaosScreen)
        await until(
            pilot,
            lambda: any(r.id == run_id for r in listing.runs) and listing.loaded > 1,
            "run listed",
        )
        await pilot.press("tab", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChaosRunScreen), "report")
        report = app.screen
        assert isinstance(report, ChaosRunScreen)
        await until(pilot, lambda: report.loaded > 0, "report loaded")
        rows = cells(report.query_one("#chaos-report", DataTable))
        assert [(r[0], r[2], r[3]) for r in rows] == [
            ("steady-state before", "marker-off", "succeeded"),
            ("method", "write-marker", "succeeded"),
            ("steady-state after", "marker-off", "succeeded"),
            ("rollbacks", "remove-marker", "succeeded"),
        ]
        summary = str(report.query_one("#chaos-report-summary", Static).render())
        assert "completed, deviated" in summary and "before: met · after: NOT met" in summary
        assert "rollback" not in actions(report) or not report.left  # all played


async def test_abort_stops_the_run_and_plays_its_rollbacks(
    tmp_path: Path, experiments: Path, gate: None
) -> None:
    marker = tmp_path / "marker"
    write(experiments, "hold", experiment(marker, hold=True))
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        exp = await open_experiment(pilot, app, "hold")
        await pilot.press("R")
        await confirm(pilot, app)
        await pilot.press("ctrl+s")
        await until(
            pilot,
            lambda: ["method", "probe", "hold", "running"] in [r[:4] for r in exp.progress_rows],
            "hold running",
            rounds=2000,
        )
        assert marker.exists() and "abort" in actions(exp) and "run" not in actions(exp)
        await pilot.press("escape")  # leaving mid-run is refused
        assert app.screen is exp
        await pilot.press("A")
        dialog = await confirm(pilot, app)
        assert "rollbacks" in str(dialog.query_one("#chaos-confirm-plan", Static).render())
        await pilot.press("ctrl+s")
        await until(pilot, lambda: exp.abort_requested.is_set(), "abort requested")
        chaos_provider.GATE.set()  # the running probe ends; the run stops there
        await finished(pilot, app, exp)

        assert exp.result is not None and exp.result.aborted
        assert not marker.exists() and log(marker) == ["write", "remove"]
        assert [r[:4] for r in exp.progress_rows][-2:] == [
            ["method", "probe", "hold", "succeeded"],
            ["rollbacks", "action", "remove-marker", "succeeded"],
        ]
        assert "steady-state after" not in {r[0] for r in exp.progress_rows}
        status = str(exp.query_one("#chaos-run-status", Static).render())
        assert ": aborted" in status and "aborted by you, 1 rollback(s) played" in status
        store = ChaosRunStore()
        row = store.get(exp.result.result.row.id)
        done = store.rollbacks(row.id)
        store.close()
        assert row.status == "aborted"  # chaoslib stopped the method and rolled back
        assert done[0]["status"] == "done"
        assert exp.result.rollback is None  # played by chaoslib, in the run


async def test_abort_before_the_method_changes_and_rolls_back_nothing(
    tmp_path: Path, experiments: Path, gate: None
) -> None:
    marker = tmp_path / "marker"
    data = experiment(marker)
    data["steady-state-hypothesis"]["probes"].append(
        {"type": "probe", "name": "hold", "tolerance": "released", "provider": provider("hold")}
    )
    write(experiments, "early", data)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        exp = await open_experiment(pilot, app, "early")
        await pilot.press("R")
        await confirm(pilot, app)
        await pilot.press("ctrl+s")
        await until(
            pilot,
            lambda: (
                ["steady-state before", "probe", "hold", "running"]
                in [r[:4] for r in exp.progress_rows]
            ),
            "hold running",
            rounds=2000,
        )
        await pilot.press("A")
        await confirm(pilot, app)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: exp.abort_requested.is_set(), "abort requested")
        chaos_provider.GATE.set()
        await finished(pilot, app, exp)
        assert exp.result is not None and exp.result.aborted
        assert exp.result.result.row.status == "interrupted"
        assert log(marker) == [] and exp.result.rollback is None
        assert {r[0] for r in exp.progress_rows} == {"steady-state before"}


async def test_b_rolls_back_an_interrupted_run_after_confirmation(
    tmp_path: Path, experiments: Path
) -> None:
    marker = tmp_path / "marker"
    path = write(experiments, "flip", experiment(marker))
    marker.write_text("on")  # what the interrupted run left behind
    store = ChaosRunStore()
    row = store.create(
        experiment_path=str(path),
        source=path.read_text(),
        title="marker flip",
        context="dev",
        config=str(config(tmp_path)),
        dry_run=False,
    )
    store.finish(row.id, "interrupted")
    store.close()
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_list(pilot, app)
        await pilot.press("tab", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChaosRunScreen), "report")
        report = app.screen
        assert isinstance(report, ChaosRunScreen)
        await until(pilot, lambda: report.loaded > 0, "report loaded")
        assert report.left == ["remove-marker"] and "rollback" in actions(report)
        await pilot.press("b")
        dialog = await confirm(pilot, app)
        assert "remove-marker" in str(dialog.query_one("#chaos-confirm-plan", Static).render())
        await pilot.press("escape")  # back: nothing runs
        assert marker.exists()
        await pilot.press("b")
        await confirm(pilot, app)
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: report.loaded > 1 and not report.left, "rolled back")
        assert not marker.exists() and log(marker) == ["remove"]
        state = str(report.query_one("#chaos-report-rollbacks", Static).render())
        assert "remove-marker done" in state
        assert "rollback" not in actions(report)  # nothing left to roll back


async def test_invalid_experiment_shows_its_problems_instead_of_a_plan(
    tmp_path: Path, experiments: Path
) -> None:
    data = experiment(tmp_path / "marker")
    data["method"][0]["provider"]["func"] = "no_such_function"
    write(experiments, "bad", data)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        exp = await open_experiment(pilot, app, "bad")
        assert exp.plan is None and exp.problems
        problems = str(exp.query_one("#chaos-problems", Static).render())
        assert "bad.yaml:" in problems and "no_such_function" in problems
        assert "run" not in actions(exp)  # disabled: nothing to run
        await pilot.press("R")
        assert not isinstance(app.screen, ChaosConfirmScreen)


async def test_production_needs_the_typed_title(tmp_path: Path, experiments: Path) -> None:
    marker = tmp_path / "marker"
    write(experiments, "flip", experiment(marker))
    extra = "    production: true\n    chaos: {allowed: true}\n"
    app = make_app(tmp_path, extra=extra)
    async with app.run_test(size=SIZE) as pilot:
        exp = await open_experiment(pilot, app, "flip")
        await pilot.press("R")
        dialog = await confirm(pilot, app)
        await pilot.press("ctrl+s")  # nothing typed: refused
        assert app.screen is dialog
        await pilot.press(*"marker flip")
        await pilot.press("enter")
        await finished(pilot, app, exp)
        assert exp.result is not None and exp.result.result.row.status == "completed"
        assert log(marker) == ["write", "remove"]


async def test_read_only_hides_run_and_rollback_but_allows_a_dry_run(
    tmp_path: Path, experiments: Path
) -> None:
    marker = tmp_path / "marker"
    path = write(experiments, "flip", experiment(marker))
    store = ChaosRunStore()
    row = store.create(
        experiment_path=str(path),
        source=path.read_text(),
        title="marker flip",
        context="dev",
        config=str(tmp_path / "config.yaml"),
        dry_run=False,
    )
    store.finish(row.id, "interrupted")
    store.close()
    app = make_app(tmp_path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_list(pilot, app)
        await pilot.press("tab", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChaosRunScreen), "report")
        report = app.screen
        assert isinstance(report, ChaosRunScreen)
        await until(pilot, lambda: report.loaded > 0, "report loaded")
        assert report.left and "rollback" not in {a.binding.action for a in view_bindings(report)}
        await pilot.press("b")
        assert app.screen is report
        await pilot.press("escape")

        listing = app.screen
        assert isinstance(listing, ChaosScreen)
        await pilot.press("tab")  # back to the experiments
        table = listing.query_one("#chaos-experiments", DataTable)
        table.move_cursor(row=[r[0] for r in cells(table)].index("flip"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ExperimentScreen), "experiment")
        exp = app.screen
        assert isinstance(exp, ExperimentScreen)
        await until(pilot, lambda: exp.plan is not None, "plan loaded")
        every = {a.binding.action for a in view_bindings(exp)}
        assert "run" not in every and "dry_run" in actions(exp)
        await pilot.press("R")
        assert app.screen is exp and not exp.running
        await pilot.press("D")  # a dry run calls no action: allowed, without confirmation
        await finished(pilot, app, exp)
        assert exp.result is not None and exp.result.result.row.dry_run
        assert log(marker) == []
        assert [r[2] for r in exp.progress_rows] == [
            "marker-off",
            "write-marker",
            "marker-off",
            "remove-marker",
        ]
        status = str(exp.query_one("#chaos-run-status", Static).render())
        assert "(dry run: no action called)" in status


async def test_colon_chaos_completes_and_opens_an_experiment_by_name(
    tmp_path: Path, experiments: Path
) -> None:
    from console.tui.widgets.prompt import Prompt

    write(experiments, "flip", experiment(tmp_path / "marker"))
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("colon", *"chaos fl", "tab")
        assert app.screen.query_one(Prompt).value == "chaos flip"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ExperimentScreen), "experiment")
        exp = app.screen
        assert isinstance(exp, ExperimentScreen)
        await until(pilot, lambda: exp.plan is not None, "plan loaded")
        assert exp.plan is not None and exp.plan["title"] == "marker flip"


async def test_abort_in_the_hypothesis_after_plays_the_rollbacks_after_the_run(
    tmp_path: Path, experiments: Path, gate: None
) -> None:
    marker = tmp_path / "marker"
    data = experiment(marker)
    data["steady-state-hypothesis"]["probes"].insert(  # first: a probe out of tolerance
        0,  # ends the hypothesis
        {
            "type": "probe",
            "name": "hold",
            "tolerance": "released",
            "provider": provider("hold", unless_missing=str(marker)),  # blocks after only
        },
    )
    write(experiments, "late", data)
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        exp = await open_experiment(pilot, app, "late")
        await pilot.press("R")
        await confirm(pilot, app)
        await pilot.press("ctrl+s")
        await until(
            pilot,
            lambda: (
                ["steady-state after", "probe", "hold", "running"]
                in [r[:4] for r in exp.progress_rows]
            ),
            "hold running",
            rounds=2000,
        )
        await pilot.press("A")
        await confirm(pilot, app)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: exp.abort_requested.is_set(), "abort requested")
        chaos_provider.GATE.set()
        await finished(pilot, app, exp)
        assert exp.result is not None and exp.result.aborted
        assert exp.result.result.row.status == "interrupted"
        assert exp.result.rollback is not None and len(exp.result.rollback.ran) == 1
        assert not marker.exists() and log(marker) == ["write", "remove"]
        assert exp.progress_rows[-1][:4] == ["rollbacks", "action", "remove-marker", "succeeded"]
        status = str(exp.query_one("#chaos-run-status", Static).render())
        assert "interrupted" in status and "1 rollback(s) played" in status


async def test_palette_opens_the_chaos_view_and_lists_its_keys(
    tmp_path: Path, experiments: Path
) -> None:
    from console.tui.commands import OpsdeckCommands

    write(experiments, "flip", experiment(tmp_path / "marker"))
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        commands = {name: run for name, run, _ in OpsdeckCommands(app.screen)._commands()}
        commands["Chaos experiments"]()
        await until(pilot, lambda: isinstance(app.screen, ChaosScreen), "chaos view")
        screen = app.screen
        assert isinstance(screen, ChaosScreen)
        await until(pilot, lambda: screen.loaded > 0, "chaos listed")
        names = [name for name, _, _ in OpsdeckCommands(app.screen)._commands()]
        assert "Plan / report" in names and "Chaos experiments" not in names
        exp = await open_experiment(pilot, app, "flip")
        names = [name for name, _, _ in OpsdeckCommands(exp)._commands()]
        assert "Run…" in names and "Dry run" in names


RUN_NEEDS_APPROVAL = """\
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {"result": "approve", "reasons": ["experiments need a second person"],
  "approvals": 1} if {
  input.action == "chaos.run"
  input.experiment != "denied flip"
}

decision := {"result": "deny", "reasons": ["no marker flips on Fridays"]} if {
  input.action == "chaos.run"
  input.experiment == "denied flip"
}
"""


async def test_a_run_the_policy_wants_approved_files_a_request_and_runs_nothing(
    tmp_path: Path, experiments: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Button

    from console.approvals.store import ApprovalStore

    (tmp_path / "team.rego").write_text(RUN_NEEDS_APPROVAL)
    marker = tmp_path / "marker"
    path = write(experiments, "flip", experiment(marker))
    write(experiments, "denied", experiment(marker, title="denied flip"))
    app = make_app(tmp_path, extra="policy:\n  file: team.rego\n")
    async with app.run_test(size=SIZE) as pilot:
        exp = await open_experiment(pilot, app, "flip")
        await pilot.press("R")
        dialog = await confirm(pilot, app)
        note = str(dialog.query_one("#chaos-confirm-note", Static).render())
        assert "needs 1 approval(s) (experiments need a second person)" in note
        assert str(dialog.query_one("#chaos-confirm-apply", Button).label) == (
            "File the approval request"
        )
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: not exp.running, "filed")
        status = str(exp.query_one("#chaos-run-status", Static).render())
        assert "filed request apr-" in status and ":approvals" in status
        assert exp.result is None and log(marker) == []  # nothing ran

        await pilot.press("escape")
        screen = app.screen
        assert isinstance(screen, ChaosScreen)
        table = screen.query_one("#chaos-experiments", DataTable)
        table.move_cursor(row=[r[0] for r in cells(table)].index("denied"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ExperimentScreen), "experiment")
        denied = app.screen
        assert isinstance(denied, ExperimentScreen)
        await until(pilot, lambda: denied.plan is not None, "plan loaded")
        await pilot.press("R")
        await until(
            pilot,
            lambda: any("no marker flips on Fridays" in n.message for n in app._notifications),
            "denial",
        )
        assert not isinstance(app.screen, ChaosConfirmScreen)
    store = ApprovalStore()
    try:
        (request,) = store.list()
    finally:
        store.close()
    assert request.action == "chaos.run" and request.requester == "tester"
    assert request.command == ("--context", "dev", "chaos", "run", str(path))
    runs = ChaosRunStore()
    try:
        assert runs.runs(10) == []
    finally:
        runs.close()

    # Another person approves; `approvals apply` re-runs the filed command: it runs now.
    from console.cli import main

    monkeypatch.setenv("OPSDECK_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("OPSDECK_IDENTITY", "bob")
    assert main(["approvals", "approve", request.id]) == 0
    # Exit 1: the experiment deviates by design (its action turns the marker on).
    assert main(["approvals", "apply", request.id, "--yes"]) == 1
    assert log(marker) == ["write", "remove"]  # ran once approved, rollback played
