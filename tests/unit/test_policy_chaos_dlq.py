"""The policy in front of chaos actions and DLQ drains, with a real Rego policy file:
deny stops before anything runs, approve files a request (drains) or needs an approved
run (chaos), chaos rollbacks always run, and the audit records carry the decision."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from console.actions.chaos import ChaosPlan, ChaosRun, apply_chaos
from console.actions.drain import NOWHERE, DrainSpec
from console.actions.drain_service import authorize_drain
from console.approvals.store import ApprovalStore
from console.audit import AuditJournal
from console.config import Config, Context
from console.errors import ApprovalRequired, PolicyDenied
from console.session import Session

POLICY = """\
package opsdeck

import rego.v1

default decision := {"result": "allow", "reasons": []}

decision := {"result": "deny", "reasons": ["no worker kills today"]} if {
  input.action in {"chaos.stop_demo_worker", "chaos.rollback.stop_demo_worker"}
}

decision := {"result": "approve", "reasons": ["faults need a second person"], "approvals": 1} if {
  input.action == "chaos.inject_faults"
}

decision := {"result": "approve", "reasons": ["drains need a second person"], "approvals": 1} if {
  input.action == "dlq.drain"
}

decision := {"result": "deny", "reasons": ["archiving is not allowed here"]} if {
  input.action == "dlq.archive"
}
"""


@dataclass
class Queues:
    name: str = "rabbit"


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("OPSDECK_IDENTITY", "alice")
    (tmp_path / "p.rego").write_text(POLICY)
    context = Context("dev", ())
    config = Config(path=tmp_path / "config.yaml", contexts={"dev": context},
                    policy={"file": "p.rego"})  # fmt: skip
    return Session(config, context, {}, audit=AuditJournal(tmp_path / "audit.db"))


def test_a_denied_chaos_action_never_runs(session: Session) -> None:
    called: list[str] = []
    plan = ChaosPlan("stop_demo_worker", ("sandbox:workers",), rollback="start_demo_worker")
    with pytest.raises(PolicyDenied, match="no worker kills today"):
        apply_chaos(session, plan, ChaosRun("run-1", "worker loss"), lambda: called.append("x"))
    assert called == [] and session.audit.list() == []


def test_an_allowed_action_is_audited_with_the_decision(session: Session) -> None:
    plan = ChaosPlan("publish_poison", ("rabbit:orders",), rollback=None)
    apply_chaos(session, plan, ChaosRun("run-2", "poison"), lambda: {"published": 3})
    (record,) = session.audit.list()
    assert record.action == "chaos.publish_poison" and record.identity == "alice"
    assert record.parameters["policy"]["decision"] == "allow"


def test_approve_needs_an_approved_run(session: Session) -> None:
    plan = ChaosPlan("inject_faults", ("sandbox:payments",), rollback="clear_faults")
    with pytest.raises(PolicyDenied, match="needs an approval"):
        apply_chaos(session, plan, ChaosRun("run-3", "faults"), lambda: None)
    run = ChaosRun("run-4", "faults", approval="apr-12345678")
    apply_chaos(session, plan, run, lambda: None)
    (record,) = session.audit.list()
    assert record.parameters["policy"]["approval"] == "apr-12345678"


def test_rollbacks_run_whatever_the_policy_says(session: Session) -> None:
    called: list[str] = []
    plan = ChaosPlan("stop_demo_worker", ("sandbox:workers",))
    apply_chaos(session, plan, ChaosRun("run-5", "worker loss"), lambda: called.append("x"),
                is_rollback=True)  # fmt: skip
    assert called == ["x"]
    (record,) = session.audit.list()
    assert record.action == "chaos.rollback.stop_demo_worker"
    assert any("overridden" in r for r in record.parameters["policy"]["reasons"])


def test_a_drain_needing_approval_is_filed_and_an_archive_denied(session: Session) -> None:
    spec = DrainSpec(adapter="rabbitmq", queue="orders.dlq")
    with pytest.raises(ApprovalRequired) as raised:
        authorize_drain(session, Queues(), spec, reason="replay after fix")  # type: ignore[arg-type]
    request = ApprovalStore().get(raised.value.request_id)
    assert request.action == "dlq.drain" and request.change["targets"] == ["rabbit:orders.dlq"]
    assert request.plan["spec"]["queue"] == "orders.dlq"
    archive = DrainSpec(adapter="rabbitmq", queue="orders.dlq", destination=NOWHERE)
    with pytest.raises(PolicyDenied, match="archiving is not allowed here"):
        authorize_drain(session, Queues(), archive)  # type: ignore[arg-type]
