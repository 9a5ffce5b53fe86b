"""`opsdeck runbook` verbs that need no server: lint, list, show, approve rules, runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from console.runbook.journal import RunJournal

BAD = """\
name: bad
title: Bad
steps:
  - id: one
    kind: chek
    text: x
"""


def test_lint_ok_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    shipped = Path(__file__).parents[2] / "runbooks" / "stuck-workflows.yaml"
    assert main(["runbook", "lint", str(shipped), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert "stuck-workflows.yaml: ok" in out
    assert f"{bad}:5:11: steps[0].kind: unknown step kind 'chek'" in err
    assert main(["runbook", "lint", str(shipped), "-o", "json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["ok"] is True and entry["name"] == "stuck-workflows"


def test_list_and_show_find_shipped_and_user_runbooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "bad.yaml").write_text(BAD)
    monkeypatch.setenv("OPSDECK_RUNBOOKS", str(mine))
    assert main(["runbook", "list", "-o", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"stuck-workflows", "bad-deploy-rollback", "bad"} <= set(rows)
    assert "unknown step kind" in rows["bad"]["error"]
    assert main(["runbook", "show", "bad-deploy-rollback", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["kind"] for s in data["steps"]][:4] == ["check", "check", "check", "decision"]
    assert main(["runbook", "show", "nope"]) == 1
    assert "no runbook 'nope'" in capsys.readouterr().err


def test_approve_needs_a_second_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = BAD.replace("kind: chek", "kind: approval")
    journal = RunJournal()
    run = journal.create(
        runbook="bad",
        path="bad.yaml",
        source=source,
        context="dev",
        engine="e",
        identity="alice",
        params={},
        answers={},
        cursor="one",
        dry_run=False,
    )
    journal.close()
    monkeypatch.setenv("OPSDECK_IDENTITY", "alice")
    assert main(["runbook", "approve", run.id, "one"]) == 3
    assert "alice started run" in capsys.readouterr().err
    monkeypatch.setenv("OPSDECK_IDENTITY", "bob")
    assert main(["runbook", "approve", run.id, "one"]) == 0
    assert "approved by bob" in capsys.readouterr().out
    assert main(["runbook", "runs", "-o", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["id"] == run.id
    assert main(["runbook", "runs", run.id]) == 0
    assert "approved by bob" in capsys.readouterr().out
