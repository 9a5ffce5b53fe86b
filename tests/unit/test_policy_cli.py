"""`opsdeck policy check|test|show` in-process: the -o json document, exit codes, the
identity and time options, and located errors for broken policy and test files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "policy-examples"

CONFIG = """\
current-context: dev
identity: alice@example.com
policy:
  file: {policy}
contexts:
  dev:
    engines:
      - kind: temporal
        address: 127.0.0.1:1
  prod:
    production: true
    labels: {{env: prod, region: eu-west-1}}
    engines:
      - kind: temporal
        address: 127.0.0.1:1
  locked:
    read-only: true
    engines:
      - kind: temporal
        address: 127.0.0.1:1
"""


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(policy=policy))
    monkeypatch.setenv("OPSDECK_CONFIG", str(path))
    monkeypatch.delenv("OPSDECK_IDENTITY", raising=False)
    monkeypatch.delenv("OPSDECK_ID_TOKEN", raising=False)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_json_explains_an_approval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(tmp_path, monkeypatch, str(EXAMPLES / "prod_bulk_needs_approval.rego"))
    code, out, _ = run(
        capsys, "--context", "prod", "policy", "check", "terminate", "--engine", "temporal",
        "--count", "11", "--user", "olga", "--group", "oncall", "--verified",
        "--reason", "stuck fleet", "--at", "2026-12-01T12:00:00Z", "-o", "json",
    )  # fmt: skip
    assert code == 3
    data = json.loads(out)
    assert set(data) == {"decision", "input", "policy"}
    assert data["decision"]["result"] == "approve"
    assert data["decision"]["approvals"] == 1
    assert data["decision"]["approver_groups"] == ["oncall"]
    document = data["input"]
    assert document["identity"] == {
        "user": "olga", "groups": ["oncall"], "verified": True, "issuer": None,
    }  # fmt: skip
    assert document["context"]["labels"] == {"env": "prod", "region": "eu-west-1"}
    assert document["targets"] == [f"target-{i}" for i in range(1, 12)]
    assert document["target_count"] == 11 and document["reason"] == "stuck fleet"
    assert document["time"] == {
        "iso": "2026-12-01T12:00:00Z", "unix": 1796126400, "weekday": "Tuesday", "hour": 12,
    }  # fmt: skip
    policy = data["policy"]
    assert policy["file"] == str(EXAMPLES / "prod_bulk_needs_approval.rego")
    assert policy["evaluator"] == "regorus" and policy["hash"].startswith("sha256:")
    assert policy["hash"] == data["decision"]["policy_hash"]


def test_check_exit_codes_and_the_configured_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(tmp_path, monkeypatch, str(EXAMPLES / "prod_bulk_needs_approval.rego"))
    code, out, _ = run(capsys, "policy", "check", "retry", "--target", "temporal:ns/wf/run")
    assert code == 0 and out.startswith("ALLOW: retry by alice@example.com (unverified) in dev")
    code, out, _ = run(capsys, "--context", "prod", "policy", "check", "retry", "--count", "1")
    assert code == 3 and out.startswith("DENY: retry")
    assert "because: production changes need a verified identity (opsdeck login)" in out
    code, out, _ = run(
        capsys, "--context", "prod", "policy", "check", "retry", "--count", "12",
        "--user", "olga", "--verified",
    )  # fmt: skip
    assert code == 3 and out.startswith("APPROVE: retry by olga in prod")
    assert "needs 1 approval(s) from oncall" in out
    code, _, err = run(capsys, "policy", "check", "retry", "--at", "2026-12-01T12:00:00")
    assert code == 2 and "--at: give a timezone" in err
    code, _, err = run(capsys, "policy", "check", "retry", "--at", "noon")
    assert code == 2 and "--at: expected an ISO time" in err


def test_check_on_a_read_only_context_and_the_default_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = configure(tmp_path, monkeypatch, "x")
    path.write_text(path.read_text().replace("policy:\n  file: x\n", ""))
    code, out, _ = run(capsys, "--context", "locked", "policy", "check", "retry", "-o", "json")
    data = json.loads(out)
    assert code == 3 and data["decision"]["result"] == "deny"
    assert data["decision"]["reasons"] == ["context locked is read-only; changes are refused"]
    assert data["policy"]["file"].endswith("console/policy/default.rego")
    code, out, _ = run(capsys, "policy", "show", "-o", "json")
    shown = json.loads(out)
    assert code == 0 and shown["evaluator"] == "regorus" and shown["server"] is None
    assert shown["hash"] == data["policy"]["hash"] and shown["decision"] == "opsdeck/decision"


def test_a_broken_configured_policy_denies_and_is_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "team.rego").write_text(
        "package opsdeck\n\nimport rego.v1\n\n"
        'decision := {"result": "allow"} if {\n  input.action ==\n}\n'
    )
    configure(tmp_path, monkeypatch, "team.rego")  # relative to the config file
    for action in ("retry", "terminate", "dlq.drain", "chaos.run", "rollback"):
        code, out, _ = run(capsys, "policy", "check", action, "-o", "json")
        decision = json.loads(out)["decision"]
        assert code == 3 and decision["result"] == "deny", action
        assert decision["evaluator"] == "fail-closed"
        assert f"{tmp_path / 'team.rego'}:7:1: expecting expression" in decision["reasons"][0]
    code, _, err = run(capsys, "policy", "test")
    assert code == 2 and f"{tmp_path / 'team.rego'}:7:1: expecting expression" in err
    code, out, _ = run(capsys, "policy", "show", "-o", "json")
    assert code == 0 and json.loads(out)["evaluator"] == "fail-closed"


def test_a_missing_policy_file_denies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(tmp_path, monkeypatch, "gone.rego")
    code, out, _ = run(capsys, "policy", "check", "retry", "-o", "json")
    decision = json.loads(out)["decision"]
    assert code == 3 and decision["result"] == "deny"
    assert str(tmp_path / "gone.rego") in decision["reasons"][0]
    code, _, err = run(capsys, "policy", "test")
    assert code == 2 and "gone.rego: no such file" in err


def test_policy_test_locates_errors_in_the_test_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "team.rego"
    policy.write_text(
        'package opsdeck\n\nimport rego.v1\n\ndefault decision := {"result": "allow"}\n'
    )
    tests = tmp_path / "team_test.rego"
    tests.write_text(
        "package opsdeck\n\nimport rego.v1\n\n"
        'test_allows if {\n  decision.result == "allow"\n}\n\n'
        "test_calls_nothing if {\n  nosuch(1)\n}\n\n"
        'test_undefined if {\n  decision.result == "deny"\n}\n'
    )
    code, out, _ = run(capsys, "policy", "test", str(policy), "-o", "json")
    report = json.loads(out)
    assert code == 1 and (report["passed"], report["failed"]) == (1, 2)
    by_rule = {t["rule"]: t for t in report["tests"]}
    assert by_rule["test_allows"]["passed"]
    assert by_rule["test_calls_nothing"]["error"] == (
        f"{tests}:10:9: could not find function nosuch"  # regorus points at the call
    )
    assert by_rule["test_undefined"]["error"] == "undefined"
    tests.write_text(tests.read_text() + "\ntest_broken if {\n  1 ==\n}\n")
    code, _, err = run(capsys, "policy", "test", str(policy), str(tests))
    assert code == 2 and f"{tests}:19:1: expecting expression" in err
