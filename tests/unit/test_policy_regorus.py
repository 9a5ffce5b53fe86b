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
