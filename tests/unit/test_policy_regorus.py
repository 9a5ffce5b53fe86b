"""The in-process Rego evaluator on real policy files: the shipped default's decisions,
fail closed on a broken or missing policy (located), and `opsdeck policy test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from console.config import Config, Context
from console.policy.gate import PolicyGate
from console.policy.load import DEFAULT_POLICY, load_evaluator
from console.policy.model import ChangeRequest, Identity
from console.policy.regorus import load

WHO = Identity("alice")


def gate(context: Context, config: Config | None = None) -> PolicyGate:
    config = config or Config(path=Path("/nonexistent/config.yaml"), contexts={})
    return PolicyGate(config, context, identity=WHO)


def test_the_default_policy_reproduces_todays_rules() -> None:
    dev = Context("dev", ())
    assert gate(dev).decide(ChangeRequest("terminate", "temporal", ("t",))).result == "allow"
    prod = Context("prod", (), production=True)
    chaos = gate(prod).decide(ChangeRequest("chaos.run", "chaos", ("kill",)))
    assert chaos.result == "deny"
    assert chaos.reasons == ("context prod is production and does not allow chaos experiments",)
    allowed = Context("prod", (), production=True, extra={"chaos": {"allowed": True}})
    assert gate(allowed).decide(ChangeRequest("chaos.run", "chaos", ("kill",))).allowed
    capped = Context("dev", (), extra={"chaos": {"max-targets": 1}})
    wide = gate(capped).decide(ChangeRequest("chaos.stop_demo_worker", "chaos", ("a", "b")))
    assert wide.reasons == ("blast radius: 2 targets, more than the context's cap of 1",)
    assert wide.evaluator == "regorus" and wide.policy_hash.startswith("sha256:")


def test_a_broken_policy_denies_everything_and_says_where(tmp_path: Path) -> None:
    broken = tmp_path / "team.rego"
    broken.write_text(
        "package opsdeck\n\nimport rego.v1\n\n"
        'decision := {"result": "allow"} if {\n  input.action ==\n}\n'
    )
    evaluator = load(broken, "opsdeck/decision")
    decision = evaluator.decide({"action": "retry"})
    assert decision.result == "deny" and decision.evaluator == "fail-closed"
    assert f"{broken}:" in decision.reasons[0]
    assert decision.policy_hash.startswith("sha256:")
    missing = load(tmp_path / "nope.rego", "opsdeck/decision").decide({})
    assert missing.result == "deny" and "nope.rego" in missing.reasons[0]


def test_an_undefined_or_malformed_decision_denies(tmp_path: Path) -> None:
    odd = tmp_path / "odd.rego"
    odd.write_text(
        'package opsdeck\n\nimport rego.v1\n\ndecision := "yes" if input.action == "retry"\n'
    )
    evaluator = load(odd, "opsdeck/decision")
    assert evaluator.decide({"action": "retry"}).result == "deny"
    assert evaluator.decide({"action": "cancel"}).result == "deny"  # undefined


def test_config_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(
        'package opsdeck\n\nimport rego.v1\n\ndecision := {"result": "approve", "approvals": 2}\n'
    )
    config = Config(path=tmp_path / "config.yaml", contexts={}, policy={"file": "p.rego"})
    decision = load_evaluator(config).decide({})
    assert (decision.result, decision.approvals) == ("approve", 2)
    assert load_evaluator(Config(path=tmp_path / "c.yaml", contexts={})).policy_hash != ""
    assert DEFAULT_POLICY.exists()


def test_policy_test_runs_the_shipped_tests_and_reports_failures(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "console.cli", "policy", "test"]
    env = dict(os.environ, OPSDECK_CONFIG=str(tmp_path / "none.yaml"))
    done = subprocess.run([*cli, "-o", "json"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] == 0 and report["passed"] >= 6
    policy = tmp_path / "team.rego"
    policy.write_text(
        'package opsdeck\n\nimport rego.v1\n\ndefault decision := {"result": "allow"}\n'
    )
    (tmp_path / "team_test.rego").write_text(
        "package opsdeck\n\nimport rego.v1\n\ntest_denies if {\n"
        '  decision.result == "deny"\n}\n\ntest_allows if {\n  decision.result == "allow"\n}\n'
    )
    done = subprocess.run(
        [*cli, str(policy), str(tmp_path / "team_test.rego")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1
    assert "FAIL  test_denies" in done.stdout and "PASS  test_allows" in done.stdout


def test_errors_while_evaluating_deny_and_are_located(tmp_path: Path) -> None:
    conflict = tmp_path / "conflict.rego"
    conflict.write_text(
        "package opsdeck\n\nimport rego.v1\n\n"
        'decision := {"result": "allow"} if input.a\n'
        'decision := {"result": "deny"} if input.b\n'
    )
    evaluator = load(conflict, "opsdeck/decision")
    assert evaluator.name == "regorus"  # it loads; only some inputs fail
    assert evaluator.decide({"a": True}).result == "allow"
    both = evaluator.decide({"a": True, "b": True})
    assert (both.result, both.evaluator) == ("deny", "fail-closed")
    assert both.reasons == (
        f"policy error, every change is denied: {conflict}:6:1: rule conflicts with the "
        f"following rule (see {conflict}:5:1)",
    )
    unknown = tmp_path / "unknown.rego"
    unknown.write_text(
        'package opsdeck\n\nimport rego.v1\n\ndecision := {"result": nosuch(input.a)}\n'
    )
    denied = load(unknown, "opsdeck/decision").decide({"a": 1})
    assert denied.result == "deny"
    assert denied.reasons[0].endswith(f"{unknown}:5:30: could not find function nosuch")


def test_a_broken_policy_refuses_every_change_through_the_gate(tmp_path: Path) -> None:
    import pytest

    from console.errors import PolicyDenied

    (tmp_path / "team.rego").write_text("package opsdeck\n\nimport rego.v1\n\ndecision := {\n")
    config = Config(path=tmp_path / "config.yaml", contexts={}, policy={"file": "team.rego"})
    for context in (Context("dev", ()), Context("prod", (), production=True)):
        policy_gate = gate(context, config)
        for action in ("retry", "cancel", "terminate", "signal", "rollback", "dlq.drain",
                       "dlq.move.start", "dlq.archive", "chaos.run", "chaos.kill_workers",
                       "chaos.rollback.kill_workers"):  # fmt: skip
            change = ChangeRequest(action, "temporal", ("t",), runbook="stuck-activity")
            with pytest.raises(PolicyDenied) as denied:
                policy_gate.authorize(change, {"targets": ["t"]})
            assert f"{tmp_path / 'team.rego'}:" in str(denied.value), action


def test_undefined_says_which_rule(tmp_path: Path) -> None:
    narrow = tmp_path / "narrow.rego"
    narrow.write_text(
        "package team.gate\n\nimport rego.v1\n\n"
        'verdict := {"result": "allow"} if input.action == "retry"\n'
    )
    evaluator = load(narrow, "team/gate/verdict")
    assert evaluator.decide({"action": "retry"}).allowed
    undefined = evaluator.decide({"action": "cancel"})
    assert undefined.result == "deny"
    assert undefined.reasons == (
        f"{narrow}: data.team.gate.verdict is undefined for this input; denying",
    )
