"""Guardrails with the real chaos.probes.success_rate against the Temporal dev server
(the session's ``demo``: one DemoCompleted and one DemoFailed workflow)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos import _context as ctx
from console.cli import main
from tests.conftest import Demo

FLAG = "tests.chaos_providers.flag"


@pytest.fixture
def config(tmp_path: Path, demo: Demo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "config.yaml"
    path.write_text(
        "current-context: dev\nidentity: tester\ncontexts:\n  dev:\n    engines:\n"
        f"      - {{name: temporal, kind: temporal, address: '{demo.address}',"
        f" http-address: '{demo.http_address}', namespace: {demo.namespace}}}\n"
    )
    monkeypatch.setenv("OPSDECK_CONFIG", str(path))
    yield path
    ctx.forget()


def flag_action(name: str, func: str, path: Path) -> dict[str, Any]:
    provider = {"type": "python", "module": FLAG, "func": func, "arguments": {"path": str(path)}}
    return {"type": "action", "name": name, "provider": provider}


def write(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(data, indent=2))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], path: str) -> tuple[int, dict[str, Any], str]:
    code = main(["chaos", "run", path, "--yes", "-o", "json"])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else {}, out.err


def slo_experiment(workflow_type: str) -> dict[str, Any]:
    rate = {"success_rate": {"workflow_type": workflow_type, "window": "1h", "at_least": 0.99}}
    return {
        "title": f"{workflow_type} keeps its success rate",
        "description": "SLO hypothesis on the demo workflows",
        "steady-state-hypothesis": {"title": "success rate", "slo": [rate]},
        "method": [
            {
                "type": "probe",
                "name": "stuck",
                "provider": {"type": "python", "module": "chaos.probes", "func": "stuck_count"},
            }
        ],
    }


def test_slo_hypothesis_met_and_not_met_on_temporal(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc, err = run(capsys, write(tmp_path, slo_experiment("DemoCompleted")))
    assert code == 0, err
    assert doc["hypothesis"] == {"before": True, "after": True}
    journal = json.loads(Path(doc["run"]["journal"]).read_text())
    (probe,) = journal["steady_states"]["before"]["probes"]
    assert probe["activity"]["provider"]["func"] == "success_rate" and probe["output"] == 1.0
    code, doc, err = run(capsys, write(tmp_path, slo_experiment("DemoFailed")))
    assert code == 1, err
    assert doc["hypothesis"]["before"] is False


def test_success_rate_safeguard_trips_on_temporal(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag, later = tmp_path / "flag", tmp_path / "later"
    data = slo_experiment("DemoCompleted")
    first = flag_action("write-flag", "write_flag", flag)
    first["pauses"] = {"after": 3}
    data["method"] = [first, flag_action("write-later", "write_flag", later)]
    data["rollbacks"] = [
        flag_action("remove-flag", "remove_flag", flag),
        flag_action("remove-later", "remove_flag", later),
    ]
    data["safeguards"] = [
        {"success_rate": {"workflow_type": "DemoFailed", "window": "1h", "at_least": 0.5}}
    ]
    code, doc, err = run(capsys, write(tmp_path, data))
    assert code == 4, err
    assert doc["run"]["status"] == "aborted" and not later.exists() and not flag.exists()
    assert doc["safeguard"]["value"] == 0.0
    assert doc["safeguard"]["name"] == "slo success_rate(DemoFailed, 1h) >= 0.5"
    assert [r["name"] for r in doc["rollbacks"]] == ["remove-flag", "remove-later"]
