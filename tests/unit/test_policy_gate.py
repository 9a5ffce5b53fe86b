"""The policy gate in front of ActionRunner.apply, with a stub evaluator (a port stub):
deny stops with the policy's reasons, approve files the frozen plan, allow applies and
the audit record carries the decision; the read-only guard stays in front of any policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.actions import ActionRunner
from console.approvals.store import ApprovalStore
from console.audit import AuditJournal
from console.config import Config, Context
from console.errors import ApprovalRequired, PolicyDenied
from console.model import ActionKind, ActionRequest, ExecutionRef
from console.policy.gate import PolicyGate
from console.policy.model import Decision, Identity

from .stub_engine import StubEngine


@dataclass
class StubEvaluator:
    """Answers what the test says and keeps every input document it was asked about."""

    answer: Decision
    name: str = "stub"
    policy_hash: str = "sha256:stub"
    remote: bool = False
    seen: list[Mapping[str, Any]] = field(default_factory=list)

    def decide(self, document: Mapping[str, Any]) -> Decision:
        self.seen.append(document)
        return self.answer


def make(
    tmp_path: Path, answer: Decision, *, read_only: bool = False
) -> tuple[ActionRunner, StubEngine, AuditJournal, StubEvaluator, ApprovalStore]:
    context = Context(
        name="prod", engines=(), extra={"labels": {"env": "prod", "tenant": "acme"}},
        read_only=read_only,
    )  # fmt: skip
    evaluator = StubEvaluator(answer)
    store = ApprovalStore(tmp_path / "approvals.db")
    gate = PolicyGate(
        Config(path=tmp_path / "config.yaml", contexts={"prod": context}),
        context,
        identity=Identity("alice", ("oncall",), verified=True, issuer="https://idp.test"),
        evaluator=evaluator,
        approvals=store,
    )
    audit = AuditJournal(tmp_path / "audit.db")
    engine = StubEngine()
    runner = ActionRunner(context=context, engines={"stub": engine}, audit=audit, gate=gate)
    return runner, engine, audit, evaluator, store


def request(*ids: str) -> ActionRequest:
    refs = tuple(ExecutionRef("stub", "default", i) for i in ids)
    return ActionRequest(ActionKind.TERMINATE, refs, reason="stuck since 09:00")


async def test_allow_applies_and_every_record_carries_the_decision(tmp_path: Path) -> None:
    runner, engine, audit, evaluator, _ = make(
        tmp_path, Decision("allow", ("on-call may terminate",), policy_hash="sha256:abc")
    )
    plan = await runner.plan("stub", request("wf-0", "wf-2"))
    report = await runner.apply(plan)
    assert report.exit_code == 0 and len(engine.applied) == 2
    (document,) = evaluator.seen
    assert document["action"] == "terminate" and document["target_count"] == 2
    assert document["identity"] == {
        "user": "alice", "groups": ["oncall"], "verified": True, "issuer": "https://idp.test"
    }  # fmt: skip
    assert document["context"]["labels"] == {"env": "prod", "tenant": "acme"}
    assert document["reason"] == "stuck since 09:00" and document["time"]["iso"].endswith("Z")
    for record in audit.list():
        assert record.identity == "alice"
        assert record.parameters["policy"]["decision"] == "allow"
        assert record.parameters["policy"]["reasons"] == ["on-call may terminate"]
        assert record.parameters["policy"]["policy_hash"] == "sha256:abc"
    assert audit.verify() is None


async def test_deny_stops_before_anything_with_the_reasons(tmp_path: Path) -> None:
    runner, engine, audit, _, _ = make(tmp_path, Decision("deny", ("L2 may run runbooks only",)))
    plan = await runner.plan("stub", request("wf-0"))
    with pytest.raises(PolicyDenied, match="L2 may run runbooks only"):
        await runner.apply(plan)
    assert engine.applied == [] and audit.list() == []


async def test_approve_files_the_frozen_plan_and_changes_nothing(tmp_path: Path) -> None:
    answer = Decision("approve", ("more than 10 targets",), 2, ("oncall",))
    runner, engine, audit, _, store = make(tmp_path, answer)
    plan = await runner.plan("stub", request("wf-0", "wf-2"))
    with pytest.raises(ApprovalRequired) as raised:
        await runner.apply(plan, command=["executions", "terminate", "wf-0", "wf-2"])
    assert engine.applied == [] and audit.list() == []
    filed = store.get(raised.value.request_id)
    assert filed.action == "terminate" and filed.context == "prod" and filed.needed == 2
    assert [c["target"] for c in filed.plan["calls"]] == list(plan.targets)
    assert "2 approval(s) from oncall" in raised.value.message


async def test_read_only_refuses_whatever_the_policy_says(tmp_path: Path) -> None:
    runner, engine, _, evaluator, _ = make(tmp_path, Decision("allow"), read_only=True)
    with pytest.raises(PolicyDenied, match="read-only"):
        await runner.plan("stub", request("wf-0"))
    assert evaluator.seen == [] and engine.applied == []


async def test_without_a_session_the_shipped_policy_decides(tmp_path: Path) -> None:
    """ActionRunner built bare (embedding, older callers) still asks the default policy."""
    context = Context(name="dev", engines=())
    audit = AuditJournal(tmp_path / "audit.db")
    runner = ActionRunner(context=context, engines={"stub": StubEngine()}, audit=audit,
                          identity="ci@example.com")  # fmt: skip
    report = await runner.apply(await runner.plan("stub", request("wf-0")))
    assert report.exit_code == 0
    (record,) = audit.list()
    assert record.parameters["policy"]["decision"] == "allow"
    assert record.parameters["policy"]["evaluator"] == "regorus"
    assert record.parameters["policy"]["policy_hash"].startswith("sha256:")
    assert record.identity == "ci@example.com"
