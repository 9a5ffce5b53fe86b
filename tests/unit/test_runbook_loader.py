"""Runbook schema and loader: every malformed case names file:line:column and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.runbook.loader import RunbookInvalid, load_runbook, parse_runbook
from console.runbook.template import TemplateError, compile_template, evaluate, parse

GOOD = """\
name: demo
title: Demo
engines: [temporal]
parameters:
  limit:
    type: int
    default: 5
    min: 1
steps:
  - id: find
    kind: check
    text: Find them.
    query: count
  - id: decide
    kind: decision
    text: Choose.
    question: Go on?
    choices: {yes: act, no: end}
  - id: act
    kind: action
    text: Act.
    when: steps.find.count > 0 and steps.decide.answer == 'yes'
    action: retry
    targets: "{{ steps.find.refs }}"
"""


def problems(text: str, name: str = "rb.yaml") -> list[str]:
    with pytest.raises(RunbookInvalid) as info:
        parse_runbook(text, name)
    return [str(p) for p in info.value.problems]


def test_good_file_loads() -> None:
    book = parse_runbook(GOOD, "rb.yaml")
    assert [s.kind for s in book.steps] == ["check", "decision", "action"]
    assert book.parameters[0].default == 5
    assert book.steps[1].choices == {"yes": "act", "no": "end"}


def test_unknown_step_kind() -> None:
    text = GOOD.replace("kind: decision", "kind: descision")
    assert problems(text) == [
        "rb.yaml:15:11: steps[1].kind: unknown step kind 'descision' (expected one of: "
        "check, action, decision, approval, manual)"
    ]


def test_missing_field() -> None:
    text = GOOD.replace("    question: Go on?\n", "")
    assert problems(text) == ["rb.yaml:14:5: steps.decide.question: missing required field"]


def test_missing_top_level_field() -> None:
    text = GOOD.replace("title: Demo\n", "")
    assert problems(text) == ["rb.yaml:1:1: title: missing required field"]


def test_bad_template_reference_to_parameter() -> None:
    text = GOOD.replace('"{{ steps.find.refs }}"', '"{{ params.limt }}"')
    (problem,) = problems(text)
    # the column points at the reference inside the quoted string
    assert problem.startswith("rb.yaml:24:18: steps.act.targets: unknown parameter 'limt'")


def test_reference_to_a_later_step_is_refused() -> None:
    text = GOOD.replace("query: count", "query: count\n    expect: steps.act.done == 0")
    (problem,) = problems(text)
    assert problem.startswith("rb.yaml:14:13: steps.find.expect: 'steps.act.done': no earlier step")


def test_reference_to_a_field_the_step_kind_lacks() -> None:
    text = GOOD.replace("steps.decide.answer", "steps.decide.count")
    (problem,) = problems(text)
    assert "steps.act.when: 'steps.decide.count': a decision step has no 'count'" in problem
    assert problem.startswith("rb.yaml:22:")


def test_template_syntax_error() -> None:
    text = GOOD.replace('"{{ steps.find.refs }}"', '"{{ steps.find.refs + }}"')
    (problem,) = problems(text)
    assert problem.startswith("rb.yaml:24:")
    assert "steps.act.targets: bad template" in problem


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace("    text: Choose.\n", "    text: Choose.\n   bad: [\n"))
    with pytest.raises(RunbookInvalid) as info:
        load_runbook(path)
    (problem,) = info.value.problems
    assert str(problem).startswith(f"{path}:17:4: YAML syntax error: did not find expected")
    assert "YAML syntax error" in str(problem)


def test_all_problems_are_reported_at_once() -> None:
    text = GOOD.replace("kind: check", "kind: chek").replace("action: retry", "action: reboot")
    found = problems(text)
    assert len(found) == 2
    assert "steps[0].kind" in found[0] and "steps.act.action: unknown action 'reboot'" in found[1]


def test_unknown_field_and_bad_goto_and_timeout() -> None:
    text = GOOD.replace(
        "    query: count\n",
        "    query: count\n    timout: 5s\n    on-failure: {goto: nowhere}\n    timeout: soon\n",
    )
    found = problems(text)
    assert any("steps.find.timout: unknown field for a check step" in p for p in found)
    assert any("steps.find.on-failure.goto: no step 'nowhere'" in p for p in found)
    assert any("steps.find.timeout: expected a duration" in p for p in found)


def test_bad_parameter_default() -> None:
    text = GOOD.replace("default: 5", "default: 0")
    assert problems(text) == [
        "rb.yaml:7:14: parameters.limit.default: parameter 'limit': 0 is below the minimum 1"
    ]


def test_decision_goto_unknown_step() -> None:
    text = GOOD.replace("{yes: act, no: end}", "{yes: act, no: finish}")
    (problem,) = problems(text)
    assert "steps.decide.choices.no: no step 'finish'" in problem


def test_parameters_are_typed_and_validated() -> None:
    from console.errors import UsageError

    book = parse_runbook(GOOD, "rb.yaml")
    assert book.resolve_params({"limit": "7"}) == {"limit": 7}
    with pytest.raises(UsageError, match="limit"):
        book.resolve_params({"limit": "x"})
    with pytest.raises(UsageError, match="no parameter 'other'"):
        book.resolve_params({"other": "1"})


def test_template_evaluator() -> None:
    scope = {"params": {"n": 3, "names": ["a", "b"]}, "steps": {"s": {"count": 2}}}
    assert compile_template("{{ params.names }}").render(scope) == ["a", "b"]
    assert compile_template("n={{ params.n }}, {{ params.names }}").render(scope) == "n=3, a, b"
    assert evaluate(parse("steps.s.count < params.n and 'a' in params.names"), scope) is True
    assert evaluate(parse("not (len(params.names) == 2)"), scope) is False
    assert evaluate(parse("'c' not in params.names"), scope) is True
    for bad in ("__import__('os')", "params.n + 1", "a.__class__()", ""):
        with pytest.raises(TemplateError):
            parse(bad)


def test_shipped_runbooks_lint() -> None:
    shipped = sorted((Path(__file__).parents[2] / "runbooks").glob("*.yaml"))
    assert {p.stem for p in shipped} >= {
        "stuck-workflows",
        "bad-deploy-rollback",
        "timeout-cascade",
        "message-duplication",
    }
    for path in shipped:
        book = load_runbook(path)
        assert book.name == path.stem
