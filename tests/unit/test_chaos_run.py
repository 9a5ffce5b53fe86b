"""`chaos run`, `runs`, `show`, `rollback` in-process, with the flag-file test providers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.audit import AuditJournal
from console.cli import main
from console.experiments.store import ChaosRunStore

from .chaos_fixtures import experiment, provider, write_config, write_yaml


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_config(tmp_path, monkeypatch)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["chaos", "run", *argv, "--yes", "-o", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else {}, captured.err


def audit_actions(run_id: str) -> list[tuple[str, str]]:
    audit = AuditJournal()
    try:
        return [(r.action, r.outcome) for r in reversed(audit.list(None, run_id=run_id))]
    finally:
        audit.close()


def log(flag: Path) -> list[str]:
    path = Path(str(flag) + ".log")
    return path.read_text().splitlines() if path.exists() else []


def test_a_run_that_keeps_its_hypothesis_exits_0_with_journal_and_audit(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    data = experiment(flag)
    data["method"][0]["provider"]["arguments"]["text"] = "off"
    code, doc, err = run_json(capsys, str(write_yaml(tmp_path / "exp.yaml", data)))
    assert code == 0, err
    run = doc["run"]
    assert (run["status"], run["deviated"], doc["hypothesis_met"], doc["exit_code"]) == (
        "completed",
        False,
        True,
        0,
    )
    assert doc["hypothesis"] == {"before": True, "after": True}
    assert [(a["phase"], a["name"], a["status"]) for a in doc["activities"]] == [
        ("steady-state before", "flag-off", "succeeded"),
        ("method", "write-flag", "succeeded"),
        ("steady-state after", "flag-off", "succeeded"),
    ]
    assert [r["name"] for r in doc["rollbacks"]] == ["remove-flag"]
    assert [a["name"] for a in doc["plan"]["activities"]] == [
        "flag-off",
        "write-flag",
        "remove-flag",
    ]
    journal = json.loads(Path(run["journal"]).read_text())
    assert journal["status"] == "completed" and "chaoslib-version" in journal
    config_keys = journal["experiment"]["configuration"]
    assert config_keys["opsdeck_run_id"] == run["id"]
    assert config_keys["opsdeck_context"] == "dev"
    assert config_keys["opsdeck_config"] == str(config)
    assert config_keys["opsdeck_experiment"] == "flag flip"
    assert audit_actions(run["id"]) == [
        ("chaos.write_flag", "ok"),
        ("chaos.rollback.write_flag", "ok"),
    ]
    # live progress, one line per activity, on stderr
    assert "SUCCEEDED action write-flag" in err and "hypothesis after: met" in err
    assert log(flag) == ["write off", "remove"]


def test_deviated_exits_1_and_show_links_the_audit(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc, _ = run_json(
        capsys, str(write_yaml(tmp_path / "e.yaml", experiment(tmp_path / "f")))
    )
    assert code == 1 and doc["deviated"] and doc["hypothesis"] == {"before": True, "after": False}
    run_id = doc["run"]["id"]
    assert main(["chaos", "show", run_id, "-o", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run"]["status"] == "completed" and shown["hypothesis_met"] is False
    assert [r["action"] for r in shown["audit"]] == [
        "chaos.write_flag",
        "chaos.rollback.write_flag",
    ]
    assert shown["rollbacks_done"] == [
        {
            "index": 0,
            "name": "remove-flag",
            "status": "done",
            "time": shown["rollbacks_done"][0]["time"],
        }
    ]
    assert all(isinstance(a["duration"], float) for a in shown["activities"])
    assert main(["chaos", "show", run_id]) == 0
    out = capsys.readouterr().out
    assert "hypothesis before: met, after: NOT met" in out and "chaos.rollback.write_flag" in out
    assert main(["chaos", "runs"]) == 0
    assert run_id in capsys.readouterr().out
    # the run's own rollback is recorded: nothing left
    assert main(["chaos", "rollback", run_id, "--yes"]) == 0
    assert "Nothing left to roll back" in capsys.readouterr().out


def test_aborted_with_rollbacks_exits_4(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    data = experiment(flag)
    data["method"][0]["pauses"] = {"after": "${no_such_key}"}  # chaoslib aborts the method
    code, doc, _ = run_json(capsys, str(write_yaml(tmp_path / "e.yaml", data)))
    assert (code, doc["run"]["status"]) == (4, "aborted")
    assert log(flag) == ["write on", "remove"]


def test_read_only_and_production_are_denied_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    path = str(write_yaml(tmp_path / "e.yaml", experiment(flag)))
    write_config(tmp_path, monkeypatch, "  prod:\n    production: true\n    engines: []\n")
    assert main(["chaos", "run", path, "--yes", "--read-only"]) == 3
    assert main(["chaos", "run", path, "--yes", "-c", "prod", "--confirm", "flag flip"]) == 3
    assert "does not allow chaos experiments" in capsys.readouterr().err
    assert not flag.exists() and ChaosRunStore().runs() == []


def test_production_needs_the_typed_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    data = experiment(flag)
    data["method"][0]["provider"]["arguments"]["text"] = "off"
    path = str(write_yaml(tmp_path / "e.yaml", data))
    write_config(
        tmp_path,
        monkeypatch,
        "  prod:\n    production: true\n    chaos: {allowed: true}\n    engines: []\n",
    )
    assert main(["chaos", "run", path, "--yes", "-c", "prod"]) == 3  # no terminal, no --confirm
    assert "pass --confirm 'flag flip'" in capsys.readouterr().err
    assert main(["chaos", "run", path, "--yes", "-c", "prod", "--confirm", "flip"]) == 3
    assert "type the experiment title 'flag flip'" in capsys.readouterr().err
    assert not flag.exists()
    code, doc, _ = run_json(capsys, path, "-c", "prod", "--confirm", "flag flip")
    assert code == 0
    assert audit_actions(doc["run"]["id"])[0] == ("chaos.write_flag", "ok")


def test_blast_radius_denied_mid_run_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, monkeypatch)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(cfg.read_text() + "    chaos: {max-targets: 1}\n")
    a, b = tmp_path / "a", tmp_path / "b"
    data = experiment(a)
    data["method"].append(
        {"type": "action", "name": "write-b", "provider": provider("write_flag", path=str(b))}
    )
    code, doc, err = run_json(capsys, str(write_yaml(tmp_path / "e.yaml", data)))
    assert code == 3, err
    assert not b.exists() and "blast radius" in err
    (denied,) = [a for a in doc["activities"] if a["name"] == "write-b"]
    assert denied["status"] == "failed"
    assert denied["error"].startswith("console.errors.PolicyDenied: blast radius")


def test_dry_run_runs_no_action(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    code, doc, _ = run_json(
        capsys, str(write_yaml(tmp_path / "e.yaml", experiment(flag))), "--dry-run"
    )
    assert code == 0 and doc["run"]["dry_run"] is True
    assert log(flag) == [] and audit_actions(doc["run"]["id"]) == []
    assert main(["chaos", "rollback", doc["run"]["id"], "--yes"]) == 2
    assert "was a dry run" in capsys.readouterr().err and log(flag) == []


def test_var_overrides_the_configuration(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    data = experiment(flag)
    data["configuration"] = {"flag_value": "on"}
    data["method"][0]["provider"]["arguments"]["text"] = "${flag_value}"
    path = str(write_yaml(tmp_path / "e.yaml", data))
    code, _, _ = run_json(capsys, path, "--var", "flag_value=off")
    assert code == 0 and log(flag)[0] == "write off"
    assert main(["chaos", "run", path, "--yes", "--var", "novalue"]) == 2


def test_rollback_strategy_never_then_chaos_rollback_runs_it_once(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    path = str(write_yaml(tmp_path / "e.yaml", experiment(flag)))
    code, doc, _ = run_json(capsys, path, "--rollback-strategy", "never")
    assert code == 1 and doc["rollbacks"] == [] and flag.exists()
    run_id = doc["run"]["id"]
    assert main(["chaos", "rollback", run_id, "--yes", "-o", "json"]) == 0
    ran = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in ran["ran"]] == ["remove-flag"] and not flag.exists()
    assert main(["chaos", "rollback", run_id, "--yes"]) == 0
    assert "Nothing left to roll back" in capsys.readouterr().out
    assert log(flag) == ["write on", "restore write_flag", "remove"]
    assert audit_actions(run_id) == [
        ("chaos.write_flag", "ok"),
        ("chaos.rollback.write_flag", "ok"),
    ]


def test_without_yes_and_without_a_terminal_nothing_runs(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    assert main(["chaos", "run", str(write_yaml(tmp_path / "e.yaml", experiment(flag)))]) == 2
    assert "no terminal" in capsys.readouterr().err and not flag.exists()
    assert main(["chaos", "show", "cx-nope"]) == 1


def test_version_and_list_do_not_import_chaoslib(tmp_path: Path, config: Path) -> None:
    import os
    import subprocess
    import sys

    code = "import sys; from console.cli import main; sys.argv[1:] = sys.argv[2:]; main()"
    for argv in (("--version",), ("executions", "list"), ("chaos", "--help")):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code, "x", *argv],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=60,
        )
        assert "import time:" in done.stderr
        assert "chaoslib" not in done.stderr and "chaostoolkit" not in done.stderr, argv


def test_a_run_that_left_rollbacks_says_how_to_play_them(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write_yaml(tmp_path / "e.yaml", experiment(tmp_path / "flag")))
    assert main(["chaos", "run", path, "--yes", "--rollback-strategy", "never"]) == 1
    out = capsys.readouterr().out
    assert "completed, deviated, hypothesis not met" in out
    run_id = ChaosRunStore().runs()[0].id
    assert f"1 rollback(s) not played: opsdeck chaos rollback {run_id}" in out


def test_on_a_terminal_it_asks_and_production_takes_the_typed_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from console import cli_chaos

    flag = tmp_path / "flag"
    data = experiment(flag)
    data["method"][0]["provider"]["arguments"]["text"] = "off"
    path = str(write_yaml(tmp_path / "e.yaml", data))
    write_config(
        tmp_path,
        monkeypatch,
        "  prod:\n    production: true\n    chaos: {allowed: true}\n    engines: []\n",
    )
    monkeypatch.setattr(cli_chaos, "_stdin_is_tty", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["chaos", "run", path, "-c", "prod"]) == 1  # declined
    assert not flag.exists() and ChaosRunStore().runs() == []
    monkeypatch.setattr("sys.stdin", io.StringIO("y\nflag flip\n"))
    assert main(["chaos", "run", path, "-c", "prod"]) == 0
    err = capsys.readouterr().err
    assert "Run this experiment? [y/N]" in err and "type 'flag flip' to run" in err
    (row,) = ChaosRunStore().runs()
    assert audit_actions(row.id)[0] == ("chaos.write_flag", "ok")


def test_a_failed_rollback_exits_1_and_is_played_again_next_time(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    data = experiment(flag)
    data["rollbacks"].insert(
        0, {"type": "action", "name": "flaky", "provider": provider("fail", message="nope")}
    )
    path = str(write_yaml(tmp_path / "e.yaml", data))
    code, doc, _ = run_json(capsys, path, "--rollback-strategy", "never")
    assert code == 1  # deviated
    run_id = doc["run"]["id"]
    assert main(["chaos", "rollback", run_id, "--yes"]) == 1
    assert "FAILED" in capsys.readouterr().err and not flag.exists()
    assert main(["chaos", "rollback", run_id, "--yes", "-o", "json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in again["ran"]] == ["flaky"] and again["skipped"] == 1
    assert again["ran"][0]["error"] == "RuntimeError: nope"
    assert log(flag).count("remove") == 1
