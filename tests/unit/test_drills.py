"""`opsdeck sandbox drill`: what needs no sandbox (catalog, usage errors, one at a time).

The drills themselves run against the real sandbox in tests/integration/test_drills.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from console.drills import DRILLS
from console.drills.runner import STATE_FILE, DrillRun, _save
from console.runbook.catalog import find

SANDBOX = Path("data") / "opsdeck" / "sandbox"  # under XDG_DATA_HOME (autouse fixture)


def test_every_drill_names_a_shipped_runbook_and_its_checks() -> None:
    assert set(DRILLS) >= {"stuck-activity-storm", "bad-deploy", "poison-dlq", "worker-loss"}
    for drill in DRILLS.values():
        assert find(drill.runbook).name == drill.runbook  # shipped, valid
        assert drill.hints and drill.checks and drill.default_count >= 1


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "drill", "list", "-o", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(DRILLS)
    assert set(rows[0]) == {
        "name",
        "title",
        "injects",
        "runbook",
        "hints",
        "checks",
        "default_count",
    }


def test_unknown_drill_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "drill", "start", "nope"]) == 2
    assert "unknown drill 'nope'; known: stuck-activity-storm" in capsys.readouterr().err


def test_no_drill_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "drill", "status"]) == 1
    assert "No drill is running" in capsys.readouterr().out
    assert main(["sandbox", "drill", "status", "-o", "json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"running": False, "drill": None}
    for verb in ("check", "stop"):
        assert main(["sandbox", "drill", verb]) == 2
        assert "no drill is running" in capsys.readouterr().err


def test_one_drill_at_a_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / SANDBOX
    data_dir.mkdir(parents=True)
    run = DrillRun("bad-deploy", "drill-0000abcd", 1_700_000_000.0, 3, {"query": "Q"})
    _save(data_dir, run)
    before = (data_dir / STATE_FILE).read_text()
    assert main(["sandbox", "drill", "start", "worker-loss"]) == 2
    err = capsys.readouterr().err
    assert "drill 'bad-deploy' is running since 2023-11-14T22:13:20Z; one drill at a time" in err
    assert (data_dir / STATE_FILE).read_text() == before  # nothing changed
    assert main(["sandbox", "drill", "status", "-o", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)["drill"]
    assert shown["drill"] == "bad-deploy" and shown["runbook"] == "bad-deploy-rollback"
    assert shown["started_at"] == "2023-11-14T22:13:20Z" and shown["elapsed_s"] > 0
    assert main(["sandbox", "drill", "status"]) == 0
    table = capsys.readouterr().out
    assert "runbook:  opsdeck runbook show bad-deploy-rollback" in table
    assert "    1. Failures by version" in table  # the runbook's steps


def test_start_needs_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "drill", "start", "bad-deploy"]) == 1
    err = capsys.readouterr().err
    assert "sandbox" in err and "opsdeck sandbox up" in err
