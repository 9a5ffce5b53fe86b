"""`opsdeck chaos run` / `rollback` with the real extension (chaos.actions fault switch):
the launcher's configuration keys reach it, and a rollback in a new process undoes the
run's fault with the run's own --var values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.audit import AuditJournal
from console.cli import main

from .chaos_fixtures import write_yaml

ROOT = Path(__file__).resolve().parents[2]


def action(name: str, func: str, **arguments: object) -> dict[str, object]:
    provider = {"type": "python", "module": "chaos.actions", "func": func, "arguments": arguments}
    return {"type": "action", "name": name, "provider": provider}


def test_faults_injected_by_run_are_cleared_by_a_later_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "current-context: sandbox\ncontexts:\n  sandbox:\n    sandbox: true\n"
        "    engines: [{kind: temporal, address: '127.0.0.1:9'}]\n"
    )
    monkeypatch.setenv("OPSDECK_CONFIG", str(config))
    sandbox = tmp_path / "sandbox"
    data = {
        "title": "payment faults",
        "description": "fail half the payment attempts",
        "method": [action("inject", "inject_faults", activity="payment", failure_rate=0.5)],
        "rollbacks": [action("clear", "clear_faults", activity="payment")],
    }
    path = write_yaml(tmp_path / "faults.yaml", data)
    argv = ["chaos", "run", str(path), "--yes", "-o", "json", "--rollback-strategy", "never"]
    assert main([*argv, "--var", f"opsdeck_sandbox_dir={sandbox}"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run"]["id"]
    switch = sandbox / "faults.json"
    assert json.loads(switch.read_text())  # the fault is on

    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "chaos", "rollback", run_id, "--yes"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert not json.loads(switch.read_text())  # cleared, in the run's sandbox dir
    audit = AuditJournal()
    try:
        records = list(reversed(audit.list(None, run_id=run_id)))
    finally:
        audit.close()
    assert [(r.action, r.outcome) for r in records] == [
        ("chaos.inject_faults", "ok"),
        ("chaos.rollback.clear_faults", "ok"),
    ]
