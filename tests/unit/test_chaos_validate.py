"""`chaos validate` and `chaos plan`: Chaos Toolkit's validation plus opsdeck's, file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from console.experiments.plan import plan_data
from console.experiments.source import ExperimentInvalid, load_experiment_file
from console.experiments.validate import problems

from .chaos_fixtures import checked, experiment, provider, write_json, write_yaml

__all__ = ["checked"]


def line_of(path: Path, text: str, after: int = 0) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if i > after and text in line)


def test_a_valid_experiment_passes(
    tmp_path: Path, checked: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_yaml(tmp_path / "exp.yaml", experiment(tmp_path / "flag"))
    assert main(["chaos", "validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok (flag flip)\n"


def test_unknown_and_missing_arguments_are_located(tmp_path: Path, checked: None) -> None:
    data = experiment(tmp_path / "flag")
    data["method"] = [
        {
            "type": "action",
            "name": "write-flag",
            "provider": provider("write_flag", path="x", colour="red"),
        },
        {"type": "action", "name": "write-flag-2", "provider": provider("write_flag")},
    ]
    path = write_yaml(tmp_path / "exp.yaml", data)
    found = load_experiment_file(str(path))
    # chaoslib itself stops at the first; opsdeck's own check lists each with its line
    got = problems(found)
    assert any("colour" in p for p in got)
    colour = next(p for p in got if "has no argument 'colour'" in p)
    assert colour.startswith(f"{path}:{line_of(path, 'colour:')}: method[0].provider")


def test_missing_argument_names_the_arguments_line(tmp_path: Path, checked: None) -> None:
    data = experiment(tmp_path / "flag")
    data["method"][0]["provider"]["arguments"] = {"text": "on"}
    path = write_yaml(tmp_path / "exp.yaml", data)
    (problem,) = problems(load_experiment_file(str(path)))
    method = line_of(path, "method:")
    assert problem.startswith(f"{path}:{line_of(path, 'arguments:', method)}: ")
    assert "method[0].provider.arguments" in problem and "'path'" in problem


def test_a_changing_action_needs_its_rollback(
    tmp_path: Path, checked: None, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = tmp_path / "flag"
    path = write_yaml(tmp_path / "exp.yaml", experiment(flag, rollbacks=False))
    assert main(["chaos", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line_of(path, '- type: action')}: method[0]: action 'write-flag'" in err
    assert "no rollback" in err and "remove_flag" in err
    assert main(["chaos", "run", str(path), "--yes"]) == 2
    assert not flag.exists()  # nothing run


def test_chaoslib_errors_are_placed_on_the_activity(tmp_path: Path) -> None:
    data = experiment(tmp_path / "flag")
    del data["rollbacks"][0]["provider"]
    path = write_json(tmp_path / "exp.json", data)
    (problem,) = problems(load_experiment_file(str(path)))
    at = line_of(path, '"name": "remove-flag"') - 2  # the activity's opening brace
    assert problem == f"{path}:{at}: rollbacks[0]: an activity requires a provider"


def test_experiment_level_errors_and_syntax_errors(tmp_path: Path) -> None:
    data = experiment(tmp_path / "flag")
    del data["title"]
    path = write_yaml(tmp_path / "exp.yaml", data)
    assert problems(load_experiment_file(str(path))) == [
        f"{path}: title: experiment requires a title"
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nmethod: [\n  - a\n")
    with pytest.raises(ExperimentInvalid, match=r"bad\.yaml:\d+:\d+: "):
        load_experiment_file(str(bad))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{\n  "title": "x",\n}\n')
    with pytest.raises(ExperimentInvalid, match=r"bad\.json:3:1: "):
        load_experiment_file(str(bad_json))


def test_plan_lists_every_activity_with_its_rollback(
    tmp_path: Path, checked: None, capsys: pytest.CaptureFixture[str]
) -> None:
    data = experiment(tmp_path / "flag")
    data["method"][0]["provider"]["arguments"] = {"path": str(tmp_path / "flag"), "text": "s3cret"}
    path = write_yaml(tmp_path / "exp.yaml", data)
    plan = plan_data(load_experiment_file(str(path)))
    assert [(a["phase"], a["name"], a["rollback"]) for a in plan["activities"]] == [
        ("steady-state", "flag-off", None),
        ("method", "write-flag", "remove-flag"),
        ("rollbacks", "remove-flag", None),
    ]
    assert plan["activities"][1]["provider"] == "python tests.chaos_providers.flag.write_flag"
    assert main(["chaos", "plan", str(path), "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["title"] == "flag flip"
    assert doc["activities"][1]["location"] == f"{path}:{line_of(path, '- type: action')}"
    assert main(["chaos", "plan", str(path)]) == 0
    assert "rollback: remove-flag" in capsys.readouterr().out


def test_secret_looking_arguments_are_masked_in_the_plan(tmp_path: Path, checked: None) -> None:
    data = experiment(tmp_path / "flag")
    data["steady-state-hypothesis"]["probes"][0]["provider"]["arguments"]["api_token"] = "x"
    path = write_yaml(tmp_path / "exp.yaml", data)
    plan = plan_data(load_experiment_file(str(path)))
    assert plan["activities"][0]["arguments"]["api_token"] == "***"


def test_the_real_extension_needs_a_rollback_for_each_action(tmp_path: Path) -> None:
    def action(func: str) -> dict[str, object]:
        return {
            "type": "action",
            "name": func,
            "provider": {"type": "python", "module": "chaos.actions", "func": func},
        }

    data = {"title": "worker loss", "description": "d", "method": [action("stop_demo_worker")]}
    path = write_yaml(tmp_path / "exp.yaml", data)
    (problem,) = problems(load_experiment_file(str(path)))
    assert "action 'stop_demo_worker' changes a live system" in problem
    assert problem.startswith(f"{path}:{line_of(path, '- type: action')}: method[0]")
    data["rollbacks"] = [action("start_demo_worker")]
    data["method"][0]["provider"]["arguments"] = {"worker": "x"}  # type: ignore[index]
    path = write_yaml(tmp_path / "exp.yaml", data)
    (problem,) = problems(load_experiment_file(str(path)))
    assert "stop_demo_worker() has no argument 'worker'" in problem
    del data["method"][0]["provider"]["arguments"]  # type: ignore[index]
    assert problems(load_experiment_file(str(write_yaml(tmp_path / "exp.yaml", data)))) == []
    # the module's ROLLBACKS names the one rollback that undoes each action
    data["method"] = [action("inject_faults")]
    (problem,) = problems(load_experiment_file(str(write_yaml(tmp_path / "exp.yaml", data))))
    assert "no rollback for it (chaos.actions.clear_faults) under rollbacks" in problem
    data["rollbacks"] = [action("clear_faults")]
    assert problems(load_experiment_file(str(write_yaml(tmp_path / "exp.yaml", data)))) == []


def test_list_and_run_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shelf = tmp_path / "experiments"
    shelf.mkdir()
    write_yaml(shelf / "flag-flip.yaml", experiment(tmp_path / "flag"))
    (shelf / "broken.json").write_text("{")
    monkeypatch.setenv("OPSDECK_EXPERIMENTS", str(shelf))
    assert main(["chaos", "list", "-o", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["flag-flip"]["title"] == "flag flip" and rows["flag-flip"]["error"] is None
    assert "broken.json:1:2" in rows["broken"]["error"]
    assert main(["chaos", "plan", "flag-flip", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "flag flip"
    assert main(["chaos", "plan", "nope"]) == 1
    assert "no experiment file or name 'nope'" in capsys.readouterr().err
