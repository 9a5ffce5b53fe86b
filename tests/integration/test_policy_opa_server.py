"""The same policy gives the same decisions in-process (regorus) and through the OPA
server evaluator (OPA's Data API, rego-cpp behind it: see opa_double); a server that
is down or answers undefined denies (fail closed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.opa import OpaServerEvaluator
from console.config import Config, Context
from console.policy.load import DEFAULT_POLICY, load_evaluator
from console.policy.model import ChangeRequest, Identity, policy_input
from console.policy.regorus import RegorusEvaluator

from .opa_double import opa_server

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "policy-examples"
L2 = Identity("lee", ("l2",), verified=True, issuer="https://idp")
ONCALL = Identity("olga", ("oncall",), verified=True, issuer="https://idp")
NOBODY = Identity("root")
DEV = Context("dev", ())
PROD = Context("prod", (), production=True, extra={"labels": {"env": "prod"}})
PROD_CHAOS = Context("prod", (), production=True, extra={"chaos": {"allowed": True}})
RO = Context("ro", (), read_only=True)


def cases() -> list[dict[str, object]]:
    from datetime import UTC, datetime

    tuesday_noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    out = []
    for who in (L2, ONCALL, NOBODY):
        for context in (DEV, PROD, PROD_CHAOS, RO):
            for change in (
                ChangeRequest("retry", "temporal", ("t1",)),
                ChangeRequest("retry", "temporal", ("t1",), runbook="stuck-activity"),
                ChangeRequest("terminate", "temporal", tuple(f"t{i}" for i in range(11))),
                ChangeRequest("chaos.run", "chaos", ("kill",), experiment="worker loss"),
                ChangeRequest("chaos.stop_demo_worker", "chaos", ("a", "b")),
                ChangeRequest("dlq.drain", "rabbitmq", ("rabbitmq:orders.dlq",)),
            ):
                for now in (tuesday_noon, saturday):
                    out.append(policy_input(who, context, change, now=now))
    return out


@pytest.mark.parametrize(
    "policy",
    [DEFAULT_POLICY, *sorted(p for p in EXAMPLES.glob("*.rego") if "_test" not in p.name)],
    ids=lambda p: p.name,
)
def test_in_process_and_server_decide_alike(policy: Path) -> None:
    local = RegorusEvaluator(policy)
    documents = cases()
    with opa_server(policy) as url:
        remote = OpaServerEvaluator(url, "opsdeck/decision")
        results = set()
        for document in documents:
            mine, theirs = local.decide(document), remote.decide(document)
            assert (mine.result, mine.reasons, mine.approvals, mine.approver_groups) == (
                theirs.result, theirs.reasons, theirs.approvals, theirs.approver_groups,
            ), document  # fmt: skip
            results.add(mine.result)
        assert remote.policy_hash.startswith("sha256:")
    assert "deny" in results and "allow" in results  # the table exercises the policy


def test_server_down_or_undefined_denies(tmp_path: Path) -> None:
    down = OpaServerEvaluator("http://127.0.0.1:9", "opsdeck/decision", timeout=0.5)
    decision = down.decide({"action": "retry"})
    assert decision.result == "deny" and "unreachable" in decision.reasons[0]
    policy = tmp_path / "narrow.rego"
    policy.write_text(
        "package opsdeck\n\nimport rego.v1\n\n"
        'decision := {"result": "allow"} if input.action == "retry"\n'
    )
    with opa_server(policy) as url:
        config = Config(
            path=tmp_path / "c.yaml",
            contexts={},
            policy={"server": url, "decision": "opsdeck/decision"},
        )
        evaluator = load_evaluator(config)
        assert evaluator.name == "opa-server" and evaluator.remote
        assert evaluator.decide({"action": "retry"}).result == "allow"
        undefined = evaluator.decide({"action": "cancel"})
        assert undefined.result == "deny" and "undefined" in undefined.reasons[0]
        missing = OpaServerEvaluator(url, "other/decision").decide({"action": "retry"})
        assert missing.result == "deny"
