"""ActionRunner against a stub engine: policy, production phrase, per-target audit, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.actions import ActionRunner, ApplyReport
from console.audit import AuditJournal
from console.config import Context
from console.errors import Aborted, PolicyDenied, Unsupported, UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    Capability,
    ExecutionRef,
    Outcome,
    TargetOutcome,
)
from console.ports import WorkflowEngine

from .stub_engine import StubEngine


def make_runner(
    tmp_path: Path,
    *,
    production: bool = False,
    read_only_context: bool = False,
    read_only: bool = False,
) -> tuple[ActionRunner, StubEngine, AuditJournal]:
    engine = StubEngine()
    assert isinstance(engine, WorkflowEngine)
    context = Context(
        name="prod" if production else "dev",
        engines=(),
        production=production,
        read_only=read_only_context,
    )
    audit = AuditJournal(tmp_path / "audit.db", pii_fields=("email",))
    runner = ActionRunner(
        context=context,
        engines={"stub": engine},
        audit=audit,
        read_only=read_only,
        identity="alice@example.com",
        pii_fields=("email",),
    )
    return runner, engine, audit


def refs(*ids: str) -> tuple[ExecutionRef, ...]:
    return tuple(ExecutionRef("stub", "default", i) for i in ids)


async def test_plan_and_apply_write_one_record_per_target(tmp_path: Path) -> None:
    runner, engine, audit = make_runner(tmp_path)
    request = ActionRequest(ActionKind.TERMINATE, refs("wf-0", "wf-2"), reason="stuck")
    plan = await runner.plan("stub", request)
    assert plan.targets == ("stub:default/wf-0", "stub:default/wf-2")
    assert runner.confirmation_phrase(plan) is None
    seen: list[TargetOutcome] = []
    report = await runner.apply(plan, on_outcome=seen.append)
    assert report.exit_code == 0
    assert [o.target for o in seen] == list(plan.targets)
    assert len(engine.applied) == 2 and engine.applied[0][2] == report.request_id
    records = audit.list()
    assert [r.target for r in records] == ["stub:default/wf-2", "stub:default/wf-0"]
    for record in records:
        assert (record.action, record.context, record.engine) == ("terminate", "dev", "stub")
        assert (record.outcome, record.reason) == ("ok", "stuck")
        assert record.request_id == report.request_id
        assert record.identity == "alice@example.com"
        assert record.parameters["result"] == {"new_run_id": "r2"}
    assert audit.verify() is None


async def test_read_only_context_and_flag_are_denied(tmp_path: Path) -> None:
    for kwargs in ({"read_only_context": True}, {"read_only": True}):
        runner, engine, audit = make_runner(tmp_path / str(len(kwargs)), **kwargs)  # type: ignore[arg-type]
        request = ActionRequest(ActionKind.CANCEL, refs("wf-0"))
        with pytest.raises(PolicyDenied) as info:
            await runner.plan("stub", request)
        assert info.value.exit_code == 3
    # a plan made before read-only was switched on is refused at apply, too
    runner, engine, audit = make_runner(tmp_path / "late")
    plan = await runner.plan("stub", ActionRequest(ActionKind.CANCEL, refs("wf-0")))
    runner.read_only = True
    with pytest.raises(PolicyDenied):
        await runner.apply(plan)
    assert engine.applied == [] and audit.list() == []


async def test_production_requires_typed_phrase(tmp_path: Path) -> None:
    runner, engine, _ = make_runner(tmp_path, production=True)
    plan = await runner.plan("stub", ActionRequest(ActionKind.TERMINATE, refs("wf-0")))
    assert runner.confirmation_phrase(plan) == "wf-0"
    with pytest.raises(PolicyDenied, match="type 'wf-0'"):
        await runner.apply(plan)
    with pytest.raises(Aborted):
        await runner.apply(plan, typed_confirmation="wf-1")
    assert engine.applied == []
    report = await runner.apply(plan, typed_confirmation="wf-0")
    assert report.exit_code == 0
    many = await runner.plan("stub", ActionRequest(ActionKind.CANCEL, refs("wf-0", "wf-2")))
    assert runner.confirmation_phrase(many) == "2 executions"
    rollback = ActionRequest(ActionKind.ROLLBACK, params={"deployment": "orders", "version": "v1"})
    engine.capabilities = frozenset(Capability)
    plan = await runner.plan("stub", rollback)
    assert runner.confirmation_phrase(plan) == "orders"


async def test_unsupported_capability_says_why(tmp_path: Path) -> None:
    runner, _, _ = make_runner(tmp_path)
    request = ActionRequest(ActionKind.ROLLBACK, params={"deployment": "d", "version": "v"})
    with pytest.raises(Unsupported, match="cannot roll back"):
        await runner.plan("stub", request)
    with pytest.raises(UsageError, match="no engine 'nope'"):
        await runner.plan("nope", request)


async def test_partial_failure_exit_4_and_all_failed_exit_1(tmp_path: Path) -> None:
    runner, engine, audit = make_runner(tmp_path)
    engine.fail_targets = {"stub:default/wf-2"}
    plan = await runner.plan("stub", ActionRequest(ActionKind.CANCEL, refs("wf-0", "wf-2")))
    report = await runner.apply(plan)
    assert report.exit_code == 4
    assert sorted(r.outcome for r in audit.list()) == ["failed", "ok"]
    plan = await runner.plan("stub", ActionRequest(ActionKind.CANCEL, refs("wf-2")))
    assert (await runner.apply(plan)).exit_code == 1


async def test_backend_error_mid_apply_records_unfinished_targets(tmp_path: Path) -> None:
    runner, engine, audit = make_runner(tmp_path)
    engine.crash_after = 1
    plan = await runner.plan("stub", ActionRequest(ActionKind.CANCEL, refs("wf-0", "wf-2")))
    report = await runner.apply(plan)
    assert report.exit_code == 4
    assert report.error is not None and "connection lost" in str(report.error)
    failed = [r for r in audit.list() if r.outcome == "failed"]
    assert [r.target for r in failed] == ["stub:default/wf-2"]
    assert "not done" in failed[0].message
    # resuming with the same request id does not repeat the finished target
    engine.crash_after = None
    engine.applied.clear()
    resumed = await runner.apply(plan, request_id=report.request_id)
    assert [call[0] for call in engine.applied] == ["stub:default/wf-2"]
    assert [o.outcome for o in resumed.outcomes] == [Outcome.SKIPPED, Outcome.OK]
    assert resumed.exit_code == 0


async def test_pii_masked_in_display_and_audit(tmp_path: Path) -> None:
    runner, _, audit = make_runner(tmp_path)
    params = {"signal": "update", "input": {"email": "bob@example.com", "qty": 2}}
    plan = await runner.plan("stub", ActionRequest(ActionKind.SIGNAL, refs("wf-0"), params=params))
    shown = runner.display_params(plan.calls[0].params)
    assert shown["input"] == {"email": "***", "qty": 2}
    await runner.apply(plan)
    (record,) = audit.list()
    assert record.parameters["input"] == {"email": "***", "qty": 2}


def test_report_exit_codes() -> None:
    ok = TargetOutcome("a", Outcome.OK)
    bad = TargetOutcome("b", Outcome.FAILED)
    sub = TargetOutcome("c", Outcome.SUBMITTED)
    assert ApplyReport([ok, sub], "r").exit_code == 0
    assert ApplyReport([bad], "r").exit_code == 1
    assert ApplyReport([ok, bad], "r").exit_code == 4
    assert ApplyReport([], "r").exit_code == 0
