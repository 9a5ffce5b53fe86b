"""The drill runner's life cycle with a stub drill (no sandbox): start, a failing check,
a passing one that finishes the drill (cleanup told it was resolved, report and state
moved to history, the incident closed with its review), and stop.

The real drills against the real sandbox: tests/integration/test_drills.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.drills import catalog, incident, runner
from console.drills.model import CheckResult, Drill, DrillEnv


class Stub:
    def __init__(self) -> None:
        self.fixed = False
        self.cleanups: list[bool] = []

    def inject(self, env: DrillEnv, count: int) -> dict[str, Any]:
        return {"query": f"WorkflowId STARTS_WITH '{env.token}-'", "count": count}

    def check(self, env: DrillEnv, injected: dict[str, Any]) -> list[CheckResult]:
        left = 0 if self.fixed else injected["count"]
        return [CheckResult("left", left == 0, f"{left} left", {"left": left})]

    def cleanup(self, env: DrillEnv, injected: dict[str, Any], resolved: bool) -> dict[str, Any]:
        self.cleanups.append(resolved)
        return {"undone": not resolved}


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Stub:
    impl = Stub()
    drill = Drill(
        name="stub",
        title="Stub drill",
        injects="nothing real",
        runbook="stuck-workflows",
        hints=("look at {query}", "{unknown} stays as it is"),
        checks=("nothing left",),
        default_count=2,
        inject=impl.inject,
        check=impl.check,
        cleanup=impl.cleanup,
    )
    monkeypatch.setitem(catalog.DRILLS, "stub", drill)
    monkeypatch.setattr(runner, "_sandbox", lambda data_dir, workers: object())
    monkeypatch.setattr(incident, "_snapshot", lambda *args: None)  # no engine to count
    return impl


def test_start_check_resolve(tmp_path: Path, stub: Stub) -> None:
    run = runner.start("stub", tmp_path)
    assert run.count == 2 and run.token.startswith("drill-")
    query = f"WorkflowId STARTS_WITH '{run.token}-'"
    assert run.hints() == [f"look at {query}", "{unknown} stays as it is"]
    assert run.incident and run.incident.startswith("INC-")  # "drill: stub", in sandbox

    _, results, report = runner.check(tmp_path)
    assert report is None and [r.detail for r in results] == ["2 left"]
    saved = json.loads((tmp_path / runner.STATE_FILE).read_text())
    assert saved["checks"][0]["ok"] is False  # status shows the last check

    stub.fixed = True
    done, results, report = runner.check(tmp_path)
    assert report is not None and all(r.ok for r in results)
    assert stub.cleanups == [True]  # resolved: only tidy up
    assert not (tmp_path / runner.STATE_FILE).exists()
    finished = json.loads((tmp_path / "drills" / f"{run.token}.json").read_text())
    assert finished["outcome"] == "resolved" and finished["finished_at"]
    text = report.read_text()
    assert "**resolved**" in text and "- ok: left: 0 left" in text
    review = Path(done.incident_reports["md"])
    assert review.parent == report.parent and "drill: stub" in review.read_text()
    from console.incidents.store import get_incident

    assert get_incident(run.incident).status == "closed"


def test_stop_undoes_and_one_at_a_time(tmp_path: Path, stub: Stub) -> None:
    from console.errors import UsageError

    runner.start("stub", tmp_path, count=3)
    with pytest.raises(UsageError, match="one drill at a time"):
        runner.start("stub", tmp_path)
    with pytest.raises(UsageError, match="--count must be from 1 to 100"):
        runner.start("stub", tmp_path, count=0)
    run, cleanup, report = runner.stop(tmp_path)
    assert cleanup == {"undone": True} and stub.cleanups == [False]
    assert run.outcome == "stopped" and "- FAILED: left: 3 left" in report.read_text()
    assert runner.status(tmp_path) is None
    with pytest.raises(UsageError, match="no drill is running"):
        runner.stop(tmp_path)


def test_a_failed_inject_leaves_no_drill(tmp_path: Path, stub: Stub) -> None:
    def broken(env: DrillEnv, count: int) -> dict[str, Any]:
        raise RuntimeError("server went away")

    drill = catalog.DRILLS["stub"]
    catalog.DRILLS["stub"] = Drill(**{**drill.__dict__, "inject": broken})
    with pytest.raises(RuntimeError):
        runner.start("stub", tmp_path)
    assert runner.status(tmp_path) is None  # a new start is possible
