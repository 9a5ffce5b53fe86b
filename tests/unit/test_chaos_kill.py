"""A `chaos run` killed with SIGKILL mid-experiment: `runs` says interrupted, `rollback`
plays the rollback once, a second call plays nothing, the audit shows one rollback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.audit import AuditJournal

from .chaos_fixtures import experiment, write_config, write_yaml

ROOT = Path(__file__).resolve().parents[2]


def opsdeck(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )


def wait_for_the_action(proc: subprocess.Popen[str]) -> None:
    """Until the run's journal shows the method's action ended (the pause follows)."""
    journals = Path(os.environ["XDG_DATA_HOME"]) / "opsdeck" / "chaos"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        for path in journals.glob("*/journal.json"):
            try:
                runs = json.loads(path.read_text()).get("run") or []
            except ValueError:
                continue
            if any(r["activity"]["name"] == "write-flag" and r.get("end") for r in runs):
                return
        time.sleep(0.05)
    raise AssertionError("the action did not run within 30s")


def test_kill_9_then_rollback_exactly_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, monkeypatch)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    flag = tmp_path / "flag"
    data = experiment(flag)
    data["method"][0]["pauses"] = {"after": 30}
    path = write_yaml(tmp_path / "slow.yaml", data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "chaos", "run", str(path), "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for_the_action(proc)
        assert flag.exists()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    runs = json.loads(opsdeck(env, "chaos", "runs", "-o", "json").stdout)
    (run,) = runs
    assert run["status"] == "interrupted"
    shown = opsdeck(env, "chaos", "show", run["id"], "-o", "json")
    assert [a["name"] for a in json.loads(shown.stdout)["activities"]] == ["flag-off", "write-flag"]

    first = opsdeck(env, "chaos", "rollback", run["id"], "--yes")
    assert first.returncode == 0, first.stderr
    assert "1 run, 0 already done" in first.stdout and not flag.exists()
    second = opsdeck(env, "chaos", "rollback", run["id"], "--yes")
    assert second.returncode == 0 and "Nothing left to roll back" in second.stdout

    assert Path(str(flag) + ".log").read_text().splitlines() == [
        "write on",
        "restore write_flag",
        "remove",
    ]
    audit = AuditJournal()
    try:
        actions = [r.action for r in reversed(audit.list(None, run_id=run["id"]))]
    finally:
        audit.close()
    assert actions == ["chaos.write_flag", "chaos.rollback.write_flag"]


def test_sigterm_interrupts_the_run_exit_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    data = experiment(tmp_path / "flag")
    data["method"][0]["pauses"] = {"after": 30}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.cli",
            "chaos",
            "run",
            str(write_yaml(tmp_path / "slow.yaml", data)),
            "--yes",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for_the_action(proc)
        # A SIGTERM inside chaoslib's event handlers is swallowed by them; in the 30 s
        # pause it interrupts the run.
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted" in out and "1 rollback(s) not played" in out
    (run,) = json.loads(opsdeck(env, "chaos", "runs", "-o", "json").stdout)
    assert run["status"] == "interrupted" and run["ended"]
