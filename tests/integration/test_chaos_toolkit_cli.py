"""Chaos Toolkit's own CLI (`chaos run`) runs an experiment built on chaos.probes,
chaos.actions and chaos.controls against the sandbox; its journal.json says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from chaos import probes
from console import sandbox
from console.audit import AuditJournal
from console.sandbox import faults
from tests.integration.chaos_fixtures import chaos_sandbox, configuration, prometheus_url

__all__ = ["chaos_sandbox", "configuration", "prometheus_url"]


def python(func: str, module: str = "chaos.probes", **arguments: Any) -> dict[str, Any]:
    return {"type": "python", "module": module, "func": func, "arguments": arguments}


def experiment(data_dir: str, progress: Path) -> dict[str, Any]:
    pollers = {
        "type": "probe",
        "name": "demo-workers-poll",
        "tolerance": {"type": "range", "range": [1, 1000]},
        "provider": python("task_queue_pollers", task_queue="demo"),
    }
    return {
        "title": "payment faults keep the demo workers polling",
        "description": "inject payment failures, probe, roll back",
        "configuration": {
            "opsdeck_config": {"type": "env", "key": "OPSDECK_CONFIG"},
            "opsdeck_sandbox_dir": data_dir,
        },
        "controls": [
            {
                "name": "opsdeck",
                "provider": {
                    "type": "python",
                    "module": "chaos.controls",
                    "arguments": {"progress_file": str(progress)},
                },
            }
        ],
        "steady-state-hypothesis": {"title": "workers poll", "probes": [pollers]},
        "method": [
            {
                "type": "action",
                "name": "inject-payment-faults",
                "provider": python(
                    "inject_faults", "chaos.actions", activity="payment", failure_rate=0.5
                ),
            },
            {
                "type": "probe",
                "name": "success-rate",
                "provider": python("success_rate", workflow_type="DemoCompleted", window="1h"),
            },
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "clear-payment-faults",
                "provider": python("clear_faults", "chaos.actions", activity="payment"),
            }
        ],
    }


def chaos_run(
    experiment: Path, work: Path, config: str, sandbox_dir: Path | None = None
) -> dict[str, Any]:
    """`chaos run` (Chaos Toolkit's own CLI) in a subprocess; its journal."""
    journal_path = work / "journal.json"
    chaos = Path(sys.executable).parent / "chaos"
    done = subprocess.run(
        [
            str(chaos),
            "--no-version-check",
            "--log-file",
            str(work / "chaostoolkit.log"),
            "--settings",
            str(work / "settings.yaml"),
            "run",
            "--journal-path",
            str(journal_path),
            "--rollback-strategy",
            "always",
            str(experiment),
        ],
        env={**os.environ, "OPSDECK_CONFIG": config, "OPSDECK_SANDBOX_DIR": str(sandbox_dir or "")},
        cwd=work,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    journal: dict[str, Any] = json.loads(journal_path.read_text())
    return journal


def test_chaos_run_uses_the_extension_and_journals_it(
    tmp_path: Path, chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    progress = tmp_path / "progress.jsonl"
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(experiment(chaos_sandbox.data_dir, progress)))
    journal = chaos_run(path, tmp_path, configuration["opsdeck_config"])
    assert journal["status"] == "completed" and journal["deviated"] is False
    runs = {r["activity"]["name"]: r for r in journal["run"]}
    assert runs["inject-payment-faults"]["status"] == "succeeded"
    injected = runs["inject-payment-faults"]["output"]
    assert injected["activity"] == "charge_card" and injected["fault"]["failure_rate"] == 0.5
    assert runs["success-rate"]["output"] == 1.0
    (rollback,) = journal["rollbacks"]
    assert rollback["status"] == "succeeded" and rollback["output"]["activity"] == "charge_card"
    assert faults.read_faults(Path(chaos_sandbox.data_dir) / "faults.json") == {}

    (opsdeck,) = [e for e in journal["extensions"] if e["name"] == "opsdeck"]
    run_id = opsdeck["run_id"]
    assert f"opsdeck-run:{run_id}" in journal["experiment"]["tags"]
    records = list(reversed(AuditJournal().list(run_id=run_id)))
    assert [(r.action, r.outcome) for r in records] == [
        ("chaos.inject_faults", "ok"),
        ("chaos.rollback.clear_faults", "ok"),
    ]
    assert opsdeck["audit_ids"] == [r.id for r in records]
    assert records[0].parameters["experiment"] == journal["experiment"]["title"]
    lines = [json.loads(line) for line in progress.read_text().splitlines()]
    assert {line["activity"] for line in lines} >= {"inject-payment-faults", "success-rate"}
    assert all(line["run_id"] == run_id for line in lines)


SHIPPED = Path(__file__).resolve().parents[2] / "chaos" / "experiments"


def test_shipped_worker_loss_experiment_runs_and_recovers(
    tmp_path: Path, chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    """worker-loss: within 30 s of the stop (20 s pause, then 5 s) the stuck view reports
    the demo workflows as no_pollers and work waits on the queue; the rollback starts
    the workers, the backlog drains and they poll again."""
    data_dir = Path(chaos_sandbox.data_dir)
    before = sandbox.status(data_dir)
    assert before is not None and before.healthy
    baseline = probes.stuck_count(rule="no_pollers", configuration=configuration)
    assert baseline == 1  # demo-no-worker: its queue never had a worker
    experiment = SHIPPED / "worker-loss.yaml"
    journal = chaos_run(experiment, tmp_path, configuration["opsdeck_config"], data_dir)
    assert journal["status"] == "completed", journal
    runs = {r["activity"]["name"]: r for r in journal["run"]}
    assert {name: r["status"] for name, r in runs.items()} == {
        "stop-demo-workers": "succeeded",
        "demo-work-waits": "succeeded",
        "stuck-no-pollers": "succeeded",
    }
    assert runs["stop-demo-workers"]["output"]["stopped_pid"] == before.workers_pid
    assert runs["demo-work-waits"]["output"] >= 1  # the stuck activity's retry, untaken
    # the running demo workflows on `demo` (stuck activity, failing task, awaiting signal)
    assert runs["stuck-no-pollers"]["output"] >= baseline + 3
    took = datetime.fromisoformat(runs["stuck-no-pollers"]["end"]) - datetime.fromisoformat(
        runs["stop-demo-workers"]["end"]
    )
    assert took.total_seconds() <= 30
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    after = sandbox.status(data_dir)
    assert after is not None and after.healthy and after.workers_pid != before.workers_pid
    deadline = time.monotonic() + 30
    while (backlog := probes.task_queue_backlog("demo", configuration=configuration)) != 0:
        assert time.monotonic() < deadline, f"demo backlog still {backlog} after the restart"
        time.sleep(0.5)
    assert probes.task_queue_pollers("demo", configuration=configuration) >= 1


def test_opsdeck_chaos_run_of_the_shipped_payment_faults_experiment(
    tmp_path: Path, chaos_sandbox: sandbox.SandboxState, configuration: dict[str, Any]
) -> None:
    """opsdeck's own launcher sets the run id: the audit records carry it."""
    opsdeck = Path(sys.executable).parent / "opsdeck"
    env = {
        **os.environ,
        "OPSDECK_CONFIG": configuration["opsdeck_config"],
        "OPSDECK_SANDBOX_DIR": chaos_sandbox.data_dir,
    }
    done = subprocess.run(
        [str(opsdeck), "chaos", "run", "sandbox-payment-faults", "--yes", "-o", "json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run"]["id"]
    records = list(reversed(AuditJournal().list(run_id=run_id)))
    assert [(r.action, r.outcome) for r in records] == [
        ("chaos.inject_faults", "ok"),
        ("chaos.rollback.clear_faults", "ok"),
    ]
    assert records[0].parameters["experiment"] == "payment faults do not stop orders"
    assert faults.read_faults(Path(chaos_sandbox.data_dir) / "faults.json") == {}
