"""The shipped policy and docs/policy-examples: each file's test_ rules pass through
`opsdeck policy test`, and each example decides what docs/policy.md says it does."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console import cli
from console.config import Context
from console.policy.load import DEFAULT_POLICY
from console.policy.model import ChangeRequest, Decision, Identity, policy_input
from console.policy.regorus import RegorusEvaluator

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "policy-examples"
POLICIES = [DEFAULT_POLICY, *sorted(p for p in EXAMPLES.glob("*.rego") if "_test" not in p.name)]

LEE = Identity("lee", ("l2",), verified=True, issuer="https://idp")
OLGA = Identity("olga", ("oncall",), verified=True, issuer="https://idp")
ROOT = Identity("root")
DEV = Context("dev", ())
PROD = Context("prod", (), production=True, extra={"labels": {"env": "prod"}})
RO = Context("ro", (), read_only=True)
TUESDAY_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TUESDAY_EVENING = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_every_policy_has_tests() -> None:
    assert len(POLICIES) == 4
    for policy in POLICIES:
        assert policy.with_name(policy.stem + "_test.rego").exists(), policy


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_policy_test_passes_every_rule(
    policy: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    companion = policy.with_name(policy.stem + "_test.rego")
    expected = set(re.findall(r"^(test_\w+)", companion.read_text(), re.MULTILINE))
    assert len(expected) >= 3
    code = cli.main(["policy", "test", str(policy), "-o", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert {t["rule"] for t in report["tests"]} == expected  # the companion was found
    assert report["failed"] == 0 and report["passed"] == len(expected)


def decide(
    policy: str, who: Identity, context: Context, change: ChangeRequest, **kw: object
) -> Decision:
    evaluator = RegorusEvaluator(EXAMPLES / policy)
    return evaluator.decide(policy_input(who, context, change, **kw))  # type: ignore[arg-type]


def test_l2_may_run_runbooks_only() -> None:
    direct = decide("l2_runbooks_only.rego", LEE, DEV, ChangeRequest("retry", "temporal", ("t",)))
    assert direct.result == "deny"
    assert direct.reasons == ("L2 may run runbooks only: retry outside a runbook is refused",)
    step = ChangeRequest("retry", "temporal", ("t",), runbook="stuck-activity")
    assert decide("l2_runbooks_only.rego", LEE, PROD, step).result == "allow"
    drain = ChangeRequest("dlq.drain", "rabbitmq", ("q",))
    assert decide("l2_runbooks_only.rego", LEE, DEV, drain).result == "deny"
    assert decide("l2_runbooks_only.rego", OLGA, DEV, drain).result == "allow"
    assert decide("l2_runbooks_only.rego", LEE, RO, step).result == "deny"


def test_more_than_ten_production_targets_need_an_oncall_approval() -> None:
    eleven = ChangeRequest("terminate", "temporal", tuple(f"t{i}" for i in range(11)))
    ten = ChangeRequest("terminate", "temporal", tuple(f"t{i}" for i in range(10)))
    bulk = decide("prod_bulk_needs_approval.rego", OLGA, PROD, eleven)
    assert (bulk.result, bulk.approvals, bulk.approver_groups) == ("approve", 1, ("oncall",))
    assert bulk.reasons == ("11 production targets: more than 10 need another on-call",)
    assert decide("prod_bulk_needs_approval.rego", OLGA, PROD, ten).result == "allow"
    assert decide("prod_bulk_needs_approval.rego", OLGA, DEV, eleven).result == "allow"
    unverified = decide("prod_bulk_needs_approval.rego", ROOT, PROD, ten)
    assert unverified.result == "deny" and "verified identity" in unverified.reasons[0]


def test_no_chaos_in_production_outside_the_window() -> None:
    run = ChangeRequest("chaos.run", "chaos", ("kill",), experiment="worker loss")
    policy = "chaos_window.rego"
    assert decide(policy, OLGA, PROD, run, now=TUESDAY_NOON).result == "allow"
    late = decide(policy, OLGA, PROD, run, now=TUESDAY_EVENING)
    assert late.result == "deny"
    assert late.reasons == ("no chaos in production outside Tue-Thu 10:00-16:00 UTC",)
    assert decide(policy, OLGA, PROD, run, now=SATURDAY_NOON).result == "deny"
    assert decide(policy, OLGA, DEV, run, now=SATURDAY_NOON).result == "allow"
    rollback = ChangeRequest("chaos.rollback.stop_demo_worker", "chaos", ("w",))
    assert decide(policy, OLGA, PROD, rollback, now=SATURDAY_NOON).result == "allow"
    retry = ChangeRequest("retry", "temporal", ("t",))
    assert decide(policy, OLGA, PROD, retry, now=SATURDAY_NOON).result == "allow"
