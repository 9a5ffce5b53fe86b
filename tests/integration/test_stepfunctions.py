"""Step Functions adapter against a real moto_server running state machines.

The demo state machines (console.sandbox.aws) succeed, fail and wait on a callback
task token. Calls moto lacks (versions, redrive) are in test_stepfunctions_stubbed.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.stepfunctions import StepFunctionsEngine, parse_raw
from console.errors import ConfigError, NotFound, UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    Capability,
    ExecutionRef,
    ExecutionStatus,
    ListQuery,
    StuckRule,
    StuckRules,
)
from console.sandbox import aws
from tests.conftest import MotoServer, eventually


def _no_secrets(ref: str) -> str:
    raise AssertionError(f"no secrets expected, asked for {ref}")


@pytest.fixture(scope="module")
def seeded(moto_server: MotoServer) -> Iterator[dict[str, str]]:
    suffix = f"-{uuid.uuid4().hex[:6]}"
    ids = aws.seed_demo(moto_server.client("stepfunctions"), moto_server.client("sqs"), suffix)
    ids["suffix"] = suffix
    yield ids


def make_engine(moto_server: MotoServer, ids: dict[str, str], **extra: Any) -> StepFunctionsEngine:
    settings: dict[str, object] = {
        "kind": "stepfunctions",
        "region": moto_server.region,
        "endpoint-url": moto_server.endpoint,
        "emulator": True,
        "state-machines": [ids["succeed"], ids["fail"], ids["wait"]],
    }
    settings.update(extra)
    return StepFunctionsEngine.from_config("sfn", settings, _no_secrets)


@pytest.fixture
def engine(moto_server: MotoServer, seeded: dict[str, str]) -> StepFunctionsEngine:
    return make_engine(moto_server, seeded)


def name_of(ids: dict[str, str], kind: str) -> str:
    return f"{aws.PREFIX}{kind}{ids['suffix']}"


def ref_of(ids: dict[str, str], kind: str) -> ExecutionRef:
    return ExecutionRef("sfn", name_of(ids, kind), ids[f"{kind}_execution"].rsplit(":", 1)[-1])


async def _settled(engine: StepFunctionsEngine, ids: dict[str, str]) -> None:
    async def done() -> bool:
        d = await engine.describe(ref_of(ids, "fail"))
        w = await engine.describe(ref_of(ids, "wait"))
        return d.execution.status is ExecutionStatus.FAILED and bool(w.pending_activities)

    await eventually(done, timeout=20, what="demo executions settled")


def test_from_config_never_connects_and_refuses_keys() -> None:
    engine = StepFunctionsEngine.from_config(
        "sfn", {"kind": "stepfunctions", "endpoint-url": "http://127.0.0.1:1"}, _no_secrets
    )
    assert engine.client._client is None
    for key in ("aws-secret-access-key", "aws-access-key-id", "session-token"):
        with pytest.raises(ConfigError, match="never go in the config"):
            StepFunctionsEngine.from_config("sfn", {key: "x"}, _no_secrets)
    with pytest.raises(ConfigError, match="state-machines"):
        StepFunctionsEngine.from_config("sfn", {"state-machines": ["nope"]}, _no_secrets)
    with pytest.raises(ConfigError, match="loopback"):
        StepFunctionsEngine.from_config(
            "sfn", {"emulator": True, "endpoint-url": "https://states.amazonaws.com"}, _no_secrets
        )


def test_capabilities_say_why() -> None:
    engine = StepFunctionsEngine.from_config("sfn", {}, _no_secrets)
    assert Capability.SIGNAL not in engine.capabilities
    assert "task token" in (engine.describe_capability(Capability.SIGNAL) or "")
    assert engine.describe_capability(Capability.RETRY) is None


def test_raw_filters() -> None:
    assert parse_raw("status=PENDING_REDRIVE redrive=REDRIVEN") == {
        "status": "PENDING_REDRIVE",
        "redrive": "REDRIVEN",
    }
    with pytest.raises(UsageError, match="key=value"):
        parse_raw("colour=blue")


async def test_list_count_and_filters(engine: StepFunctionsEngine, seeded: dict[str, str]) -> None:
    await _settled(engine, seeded)
    rows = [e async for e in engine.list(ListQuery())]
    by_machine = {e.workflow_type: e for e in rows}
    assert by_machine[name_of(seeded, "succeed")].status is ExecutionStatus.COMPLETED
    assert by_machine[name_of(seeded, "fail")].status is ExecutionStatus.FAILED
    assert by_machine[name_of(seeded, "wait")].status is ExecutionStatus.RUNNING
    assert str(rows[0].ref).startswith("sfn:")
    assert ExecutionRef.parse(str(by_machine[name_of(seeded, "fail")].ref)) == ref_of(
        seeded, "fail"
    )
    failed = [e async for e in engine.list(ListQuery(statuses=(ExecutionStatus.FAILED,)))]
    assert {e.workflow_type for e in failed} == {name_of(seeded, "fail")}
    # several statuses: filtered client-side
    open_or_failed = ListQuery(statuses=(ExecutionStatus.FAILED, ExecutionStatus.RUNNING))
    assert await engine.count(open_or_failed) == 2
    assert await engine.count(ListQuery(raw="status=FAILED redrive=NOT_REDRIVEN")) == 1
    assert await engine.count(ListQuery(workflow_type=name_of(seeded, "wait"))) == 1
    assert await engine.count(ListQuery(limit=2)) == 2
    # name-prefix instead of explicit ARNs lists the same machines
    prefixed = make_engine(
        _moto(engine), seeded, **{"state-machines": None, "name-prefix": aws.PREFIX}
    )
    names = set(await prefixed.machines())
    assert {name_of(seeded, k) for k in ("succeed", "fail", "wait")} <= names


def _moto(engine: StepFunctionsEngine) -> MotoServer:
    assert engine.settings.endpoint_url
    return MotoServer(engine.settings.endpoint_url, engine.settings.region or "us-east-1")


async def test_lazy_pagination(moto_server: MotoServer, seeded: dict[str, str]) -> None:
    sfn = moto_server.client("stepfunctions")
    for i in range(5):
        sfn.start_execution(stateMachineArn=seeded["succeed"], name=f"page-{seeded['suffix']}-{i}")
    engine = make_engine(moto_server, seeded, **{"state-machines": [seeded["succeed"]]})
    calls: list[dict[str, Any]] = []
    original = engine.client.call

    async def spy(operation: str, **params: Any) -> dict[str, Any]:
        if operation == "list_executions":
            calls.append(params)
        return await original(operation, **params)

    engine.client.call = spy  # type: ignore[method-assign]
    stream = engine.list(ListQuery(page_size=2))
    first = [await anext(stream) for _ in range(2)]
    assert len(first) == 2 and len(calls) == 1  # one page fetched for two rows
    rest = [e async for e in stream]
    assert len(rest) >= 4 and len(calls) >= 3
    assert "nextToken" in calls[1]


async def test_limit_keeps_the_newest_across_state_machines(
    moto_server: MotoServer, seeded: dict[str, str]
) -> None:
    """The newest execution is on the second machine listed: it still comes first."""
    sfn = moto_server.client("stepfunctions")
    name = f"newest-{seeded['suffix']}-{uuid.uuid4().hex[:6]}"
    sfn.start_execution(stateMachineArn=seeded["fail"], name=name)
    engine = make_engine(moto_server, seeded)
    (newest,) = [e async for e in engine.list(ListQuery(limit=1))]
    assert newest.ref.workflow_id == name
    rows = [e async for e in engine.list(ListQuery(limit=4))]
    starts = [e.start_time for e in rows if e.start_time is not None]
    assert len(starts) == 4 and starts == sorted(starts, reverse=True)


async def test_describe_and_history_of_a_failure(
    engine: StepFunctionsEngine, seeded: dict[str, str]
) -> None:
    await _settled(engine, seeded)
    detail = await engine.describe(ref_of(seeded, "fail"))
    assert detail.last_failure == ("Demo.PaymentDeclined: card 4242 declined by the demo gateway")
    assert detail.memo["input"] and detail.memo["executionArn"] == seeded["fail_execution"]
    assert detail.last_event_time is not None
    events = [e async for e in engine.history(ref_of(seeded, "fail"))]
    assert events[0].event_type == "ExecutionStarted"
    failures = [e for e in events if e.is_failure]
    assert failures[-1].event_type == "ExecutionFailed"
    assert "declined" in failures[-1].summary
    waiting = await engine.describe(ref_of(seeded, "wait"))
    assert waiting.pending_activities[0].state == "WAITING_FOR_TASK_TOKEN"
    assert waiting.pending_activities[0].activity_id == "AwaitApproval"


async def test_not_found_and_unreachable(
    engine: StepFunctionsEngine, seeded: dict[str, str]
) -> None:
    from console.errors import BackendUnavailable

    with pytest.raises(NotFound, match="does not exist"):
        await engine.describe(ExecutionRef("sfn", name_of(seeded, "fail"), "no-such-run"))
    with pytest.raises(NotFound, match="no state machine"):
        await engine.describe(ExecutionRef("sfn", "no-such-machine", "x"))
    from console.sandbox.devserver import free_port

    dead = StepFunctionsEngine.from_config(
        "sfn",
        {
            "endpoint-url": f"http://127.0.0.1:{free_port()}",
            "emulator": True,
            "region": "eu-west-1",
        },
        _no_secrets,
    )
    with pytest.raises(BackendUnavailable, match=r"Step Functions at http://127.0.0.1:\d+"):
        await dead.machines()


async def test_stuck_waiting_on_callback(
    engine: StepFunctionsEngine, seeded: dict[str, str]
) -> None:
    await _settled(engine, seeded)
    rules = StuckRules(no_progress=timedelta(seconds=0))
    hits = [h async for h in engine.find_stuck(rules)]
    mine = [h for h in hits if h.execution.workflow_type == name_of(seeded, "wait")]
    kinds = {h.rule for h in mine}
    assert StuckRule.WAITING_ON_TASK in kinds and StuckRule.NO_PROGRESS in kinds
    waiting = next(h for h in mine if h.rule is StuckRule.WAITING_ON_TASK)
    assert "callback" in waiting.evidence and "AwaitApproval" in waiting.evidence
    assert all(h.execution.status is ExecutionStatus.RUNNING for h in hits)
    # a generous threshold finds nothing
    quiet = StuckRules(no_progress=timedelta(hours=1))
    assert [h async for h in engine.find_stuck(quiet)] == []


async def test_retry_plans_new_execution_when_not_redrivable(
    engine: StepFunctionsEngine, seeded: dict[str, str]
) -> None:
    await _settled(engine, seeded)
    ok = ExecutionRef("sfn", name_of(seeded, "succeed"), ref_of(seeded, "succeed").workflow_id)
    plan = await engine.plan(ActionRequest(ActionKind.RETRY, (ok, ref_of(seeded, "wait"))))
    start, skip = plan.calls
    assert start.call == "StartExecution" and start.params["instead_of"] == "RedriveExecution"
    assert "succeeded" in start.params["why_not_redrive"]
    assert any("cannot be redriven" in w for w in plan.warnings)
    assert skip.call == "skip" and "running" in skip.params["why"]
    outcomes = [o async for o in engine.apply(plan, "req-1234")]
    assert outcomes[0].outcome.value == "ok", outcomes[0].message
    new_arn = outcomes[0].details["newExecutionArn"]
    again = [o async for o in engine.apply(plan, "req-1234")]  # same request: same execution
    assert again[0].details["newExecutionArn"] == new_arn
    failed = await engine.plan(ActionRequest(ActionKind.RETRY, (ref_of(seeded, "fail"),)))
    assert failed.calls[0].call == "RedriveExecution"


async def test_stop_the_waiting_execution(moto_server: MotoServer, seeded: dict[str, str]) -> None:
    # moto does not end a run blocked on a callback when stopped, so stop a Wait state.
    sfn = moto_server.client("stepfunctions")
    machine = f"sleeper{seeded['suffix']}"
    definition = '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}'
    arn = sfn.create_state_machine(name=machine, definition=definition, roleArn=aws.ROLE)[
        "stateMachineArn"
    ]
    engine = make_engine(moto_server, seeded, **{"state-machines": [arn]})
    name = f"to-stop-{uuid.uuid4().hex[:6]}"
    sfn.start_execution(stateMachineArn=arn, name=name, input='{"order": "o-9"}')
    ref = ExecutionRef("sfn", machine, name)
    plan = await engine.plan(ActionRequest(ActionKind.TERMINATE, (ref,), reason="demo"))
    assert plan.calls[0].call == "StopExecution"
    outcomes = [o async for o in engine.apply(plan, "req-stop")]
    assert outcomes[0].outcome.value == "ok" and outcomes[0].details["status"] == "ABORTED"
    detail = await engine.describe(ref)
    assert detail.execution.status is ExecutionStatus.TERMINATED
    again = await engine.plan(ActionRequest(ActionKind.CANCEL, (ref,)))
    assert again.calls[0].call == "skip"


async def test_signal_is_refused(engine: StepFunctionsEngine, seeded: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="task token"):
        await engine.plan(ActionRequest(ActionKind.SIGNAL, (ref_of(seeded, "wait"),)))


async def test_new_execution_instead_of_redrive_is_audited_as_such(
    engine: StepFunctionsEngine, seeded: dict[str, str], tmp_path: Path
) -> None:
    from console.actions import ActionRunner
    from console.audit import AuditJournal
    from console.config import Context

    await _settled(engine, seeded)
    audit = AuditJournal(tmp_path / "audit.db")
    runner = ActionRunner(
        context=Context(name="dev", engines=()),
        engines={"sfn": engine},
        audit=audit,
        identity="alice@example.com",
    )
    ok = ExecutionRef("sfn", name_of(seeded, "succeed"), ref_of(seeded, "succeed").workflow_id)
    plan = await runner.plan("sfn", ActionRequest(ActionKind.RETRY, (ok,), reason="replay"))
    report = await runner.apply(plan)
    assert report.exit_code == 0, report.outcomes
    [record] = audit.list(limit=None, request_id=report.request_id)
    assert record.target == str(ok) and record.outcome == "ok"
    assert record.parameters["instead_of"] == "RedriveExecution"
    assert "succeeded" in record.parameters["why_not_redrive"]
    assert record.parameters["result"]["newExecutionArn"].endswith(
        f"-r{report.request_id.replace('-', '')[:8]}"
    )


async def test_redrive_on_moto_says_the_emulator_lacks_it(
    engine: StepFunctionsEngine, seeded: dict[str, str]
) -> None:
    await _settled(engine, seeded)
    plan = await engine.plan(ActionRequest(ActionKind.RETRY, (ref_of(seeded, "fail"),)))
    [outcome] = [o async for o in engine.apply(plan, "redrive-on-moto")]
    assert outcome.outcome.value == "failed"
    assert "\n" not in outcome.message
    assert "may not implement RedriveExecution" in outcome.message, outcome.message
