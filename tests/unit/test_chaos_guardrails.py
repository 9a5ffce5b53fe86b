"""Guardrails: the SLO hypothesis shorthand and safeguards, run for real through chaoslib."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.experiments import slo
from console.experiments.source import parse_experiment

from .chaos_fixtures import experiment, provider, write_config, write_yaml
from .test_chaos_run import audit_actions, log, run_json

SLO_MODULE = "tests.chaos_providers.slo"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_config(tmp_path, monkeypatch)


@pytest.fixture
def slo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SLO entries expand to the stand-in probes, whose values come from files here."""
    monkeypatch.setattr(slo, "PROBES_MODULE", SLO_MODULE)
    monkeypatch.setenv("OPSDECK_TEST_SLO_DIR", str(tmp_path))
    return tmp_path


SLO_YAML = """\
title: payments keep their SLO
description: the success rate and p95 hold while a flag is written
steady-state-hypothesis:
  title: payments within SLO
  slo:
    - success_rate: {workflow_type: DemoOrder, window: 5m, at_least: 0.99}
    - latency_p95: {window: 5m, at_most_s: 2.0}
      name: p95 under 2s
method:
  - type: action
    name: write-flag
    provider:
      type: python
      module: tests.chaos_providers.flag
      func: write_flag
      arguments: {path: "FLAG", text: "TEXT"}
rollbacks:
  - type: action
    name: remove-flag
    provider:
      type: python
      module: tests.chaos_providers.flag
      func: remove_flag
      arguments: {path: "FLAG"}
"""


def slo_experiment(tmp_path: Path, flag: Path, text: str) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(SLO_YAML.replace("FLAG", str(flag)).replace("TEXT", text))
    return path


def test_slo_entries_expand_to_chaos_toolkit_probes_located_on_their_lines(
    tmp_path: Path, slo_dir: Path
) -> None:
    exp = parse_experiment(slo_experiment(tmp_path, tmp_path / "f", "x").read_text(), "s.yaml")
    ssh = exp.data["steady-state-hypothesis"]
    assert "slo" not in ssh and exp.load_problems == []
    assert ssh["probes"] == [
        {
            "type": "probe",
            "name": "slo success_rate(DemoOrder, 5m) >= 0.99",
            "provider": {
                "type": "python",
                "module": SLO_MODULE,
                "func": "success_rate",
                "arguments": {"workflow_type": "DemoOrder", "window": "5m"},
            },
            "tolerance": {"type": "range", "range": [0.99, 1.0]},
        },
        {
            "type": "probe",
            "name": "p95 under 2s",
            "provider": {
                "type": "python",
                "module": SLO_MODULE,
                "func": "latency_p95",
                "arguments": {"window": "5m"},
            },
            "tolerance": {
                "type": "probe",
                "name": "at most 2.0",
                "provider": {
                    "type": "python",
                    "module": "console.experiments.tolerance",
                    "func": "within",
                    "arguments": {"at_most": 2.0},
                },
            },
        },
    ]
    probes = ("steady-state-hypothesis", "probes")
    assert (exp.at((*probes, 0)), exp.at((*probes, 1))) == ("s.yaml:6", "s.yaml:7")


def test_the_default_slo_module_is_the_extensions_probes() -> None:
    import chaos.probes

    assert slo.PROBES_MODULE == "chaos.probes"
    for kind in slo.BOUNDS:
        assert callable(getattr(chaos.probes, kind))


def test_slo_mistakes_are_located(
    tmp_path: Path, slo_dir: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SLO_YAML.replace("window: 5m, at_least: 0.99", "windw: 5m, at_least: 1.5")
    text = text.replace("latency_p95: {window: 5m, at_most_s: 2.0}", "latency_p99: {}")
    path = tmp_path / "bad.yaml"
    path.write_text(text + "safeguards:\n  - success_rate: {at_least: 0.5}\n    frequency: 0\n")
    assert main(["chaos", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{path}:6: steady-state-hypothesis.slo[0].success_rate.at_least: a rate is between 0 and 1"
    ) in err
    assert f"{path}:7: steady-state-hypothesis.slo[1]: unknown SLO 'latency_p99'" in err
    assert f"{path}:26: safeguards[0].success_rate: success_rate() needs argument" in err
    text = text.replace("at_least: 1.5", "at_least: 0.5")
    path.write_text(text.replace("latency_p99: {}", "latency_p95: {at_most_s: 1}"))
    assert main(["chaos", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{path}:6: steady-state-hypothesis.slo[0].success_rate.windw: "
        "success_rate() has no argument 'windw'"
    ) in err


def test_slo_hypothesis_met_exits_0(
    tmp_path: Path, slo_dir: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    code, doc, err = run_json(capsys, str(slo_experiment(tmp_path, flag, "on")))
    assert code == 0, err
    assert doc["hypothesis"] == {"before": True, "after": True}
    assert [(a["phase"], a["name"]) for a in doc["activities"]][:2] == [
        ("steady-state before", "slo success_rate(DemoOrder, 5m) >= 0.99"),
        ("steady-state before", "p95 under 2s"),
    ]


def test_slo_hypothesis_that_deviates_exits_1(
    tmp_path: Path, slo_dir: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the method drops the success rate to 0.5: the hypothesis after is not met
    code, doc, err = run_json(
        capsys, str(slo_experiment(tmp_path, slo_dir / "success_rate", "0.5"))
    )
    assert code == 1, err
    assert doc["deviated"] and doc["hypothesis"] == {"before": True, "after": False}
    assert not (slo_dir / "success_rate").exists()  # the rollback ran


def test_latency_without_data_is_not_met(
    tmp_path: Path, slo_dir: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (slo_dir / "latency_p95").write_text("none")
    code, doc, err = run_json(capsys, str(slo_experiment(tmp_path, tmp_path / "flag", "on")))
    assert code == 1, err
    assert doc["hypothesis"]["before"] is False, err
    assert "write on" not in log(tmp_path / "flag")  # the method never ran


def guarded(tmp_path: Path, flag: Path, later: Path) -> dict[str, Any]:
    """Method: write the flag, pause, write another; a safeguard wants the flag off."""
    data = experiment(flag)
    data["method"][0]["pauses"] = {"after": 1.5}
    data["method"].append(
        {
            "type": "action",
            "name": "write-later",
            "provider": provider("write_flag", path=str(later)),
        }
    )
    data["rollbacks"].append(
        {
            "type": "action",
            "name": "remove-later",
            "provider": provider("remove_flag", path=str(later)),
        }
    )
    data["safeguards"] = [
        {
            "type": "probe",
            "name": "flag-stays-off",
            "provider": provider("flag_text", path=str(flag)),
            "tolerance": "off",
            "frequency": 0.1,
        }
    ]
    return data


def test_a_safeguard_trips_mid_run_aborts_the_method_and_rollbacks_run_once(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag, later = tmp_path / "flag", tmp_path / "later"
    code, doc, err = run_json(
        capsys, str(write_yaml(tmp_path / "e.yaml", guarded(tmp_path, flag, later)))
    )
    assert code == 4, err
    assert doc["run"]["status"] == "aborted"
    assert [(a["phase"], a["name"]) for a in doc["activities"]] == [
        ("steady-state before", "flag-off"),
        ("method", "write-flag"),
    ]  # write-later never ran, and no hypothesis after
    assert log(flag) == ["write on", "remove"] and not later.exists()
    assert [r["name"] for r in doc["rollbacks"]] == ["remove-flag", "remove-later"]
    assert log(later) == ["remove"]
    assert doc["safeguard"]["name"] == "flag-stays-off" and doc["safeguard"]["value"] == "on"
    assert "SAFEGUARD flag-stays-off tripped (value 'on', tolerance off)" in err
    assert [a for a, _ in audit_actions(doc["run"]["id"])] == [
        "chaos.write_flag",
        "chaos.rollback.write_flag",
        "chaos.rollback.write_flag",
    ]
    run_id = doc["run"]["id"]
    assert main(["chaos", "show", run_id]) == 0
    out = capsys.readouterr().out
    assert "safeguard flag-stays-off tripped at " in out
    assert "value 'on' outside tolerance off" in out
    assert main(["chaos", "show", run_id, "-o", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["safeguard"]["value"] == "on"
    assert [r["status"] for r in shown["rollbacks_done"]] == ["done", "done"]
    assert main(["chaos", "rollback", run_id, "--yes"]) == 0  # each rollback ran once
    assert log(flag) == ["write on", "remove"]


def test_a_safeguard_that_holds_changes_nothing(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag, later = tmp_path / "flag", tmp_path / "later"
    data = guarded(tmp_path, flag, later)
    data["safeguards"][0]["provider"] = provider("flag_text", path=str(tmp_path / "other"))
    data["method"][0]["provider"]["arguments"]["text"] = "off"
    code, doc, err = run_json(capsys, str(write_yaml(tmp_path / "e.yaml", data)))
    assert code == 0, err
    assert doc["safeguard"] is None and log(later) == ["write on", "remove"]
    assert not [t for t in threading.enumerate() if t.name == "safeguards"]  # stopped


def guard_line(path: str) -> int:
    lines = Path(path).read_text().splitlines()
    return 1 + next(i for i, line in enumerate(lines) if "success_rate:" in line)


def test_an_slo_safeguard_and_its_plan(
    tmp_path: Path, slo_dir: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    data = experiment(flag)
    data["method"][0]["provider"] = provider(
        "write_flag", path=str(slo_dir / "success_rate"), text="0.2"
    )
    data["method"][0]["pauses"] = {"after": 1.0}
    data["method"].append(
        {
            "type": "action",
            "name": "write-later",
            "provider": provider("write_flag", path=str(flag)),
        }
    )
    data["rollbacks"] = [
        {
            "type": "action",
            "name": "restore-rate",
            "provider": provider("remove_flag", path=str(slo_dir / "success_rate")),
        }
    ]
    data["safeguards"] = [
        {"success_rate": {"workflow_type": "DemoOrder", "at_least": 0.9}, "frequency": 0.1}
    ]
    path = str(write_yaml(tmp_path / "e.yaml", data))
    assert main(["chaos", "plan", path, "-o", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    (guard,) = [a for a in plan["activities"] if a["phase"] == "safeguards"]
    assert guard["provider"] == f"python {SLO_MODULE}.success_rate"
    assert (guard["frequency"], guard["location"]) == (0.1, f"{path}:{guard_line(path)}")
    assert main(["chaos", "plan", path]) == 0
    assert "every 0.1s" in capsys.readouterr().out
    code, doc, err = run_json(capsys, path)
    assert code == 4, err
    assert doc["safeguard"]["value"] == 0.2 and not flag.exists()


def test_a_safeguard_may_refer_to_a_hypothesis_probe(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag, later = tmp_path / "flag", tmp_path / "later"
    data = guarded(tmp_path, flag, later)
    data["safeguards"] = [{"ref": "nope"}]
    path = str(write_yaml(tmp_path / "e.yaml", data))
    assert main(["chaos", "validate", path]) == 2
    assert "safeguards[0].ref: no probe named 'nope'" in capsys.readouterr().err
    data["safeguards"] = [{"ref": "flag-off", "frequency": 0.1}]
    code, doc, err = run_json(capsys, str(write_yaml(tmp_path / "e.yaml", data)))
    assert code == 4, err
    assert doc["safeguard"]["name"] == "flag-off" and not later.exists()
