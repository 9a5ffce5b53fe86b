"""The Step Functions part of the sandbox: moto_server with the demo state machines."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from adapters.stepfunctions import StepFunctionsEngine
from console.model import (
    ActionKind,
    ActionRequest,
    ExecutionStatus,
    ListQuery,
    Outcome,
    StuckRule,
    StuckRules,
)
from console.sandbox import aws
from tests.conftest import eventually


def _no_secrets(ref: str) -> str:
    raise AssertionError(ref)


async def test_sandbox_aws_up_seeds_and_down_stops(tmp_path: Path) -> None:
    state = aws.up(tmp_path)
    try:
        assert aws.up(tmp_path)["pid"] == state["pid"]  # idempotent while running
        engine = StepFunctionsEngine.from_config(
            "stepfunctions", aws.engine_settings(state["endpoint"]), _no_secrets
        )

        async def settled() -> dict[str, ExecutionStatus] | None:
            rows = {e.workflow_type: e.status async for e in engine.list(ListQuery())}
            return rows if rows.get(aws.FAIL) is ExecutionStatus.FAILED else None

        statuses = await eventually(settled, timeout=20, what="demo executions")
        assert statuses == {
            aws.SUCCEED: ExecutionStatus.COMPLETED,
            aws.FAIL: ExecutionStatus.FAILED,
            aws.WAIT: ExecutionStatus.RUNNING,
            aws.SLEEP: ExecutionStatus.RUNNING,
        }
        rules = StuckRules(no_progress=timedelta(0), enabled=frozenset({StuckRule.WAITING_ON_TASK}))
        hits = [h async for h in engine.find_stuck(rules)]
        assert [h.execution.workflow_type for h in hits] == [aws.WAIT]
        assert "stepfunctions:opsdeck-demo-wait/wait-" in aws.summary(state)
        # the sleeping demo can be cancelled for real (a Wait state, unlike a callback)
        [sleeping] = [e async for e in engine.list(ListQuery(workflow_type=aws.SLEEP))]
        plan = await engine.plan(ActionRequest(ActionKind.CANCEL, (sleeping.ref,)))
        [outcome] = [o async for o in engine.apply(plan, "sandbox-cancel")]
        assert outcome.outcome is Outcome.OK, outcome.message
    finally:
        assert aws.down(tmp_path)
    assert aws.status(tmp_path) is None
