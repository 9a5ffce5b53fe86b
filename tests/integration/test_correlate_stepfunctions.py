"""A Step Functions execution ARN, pasted from the AWS console or an alert, correlates to
that execution's events through the engine port (real moto_server)."""

from __future__ import annotations

import uuid

from console.correlate import correlate
from console.model import ExecutionStatus
from console.sandbox import aws
from tests.conftest import MotoServer, eventually
from tests.integration.test_stepfunctions import make_engine, ref_of


async def test_execution_arn_correlates_to_its_events(moto_server: MotoServer) -> None:
    suffix = f"-{uuid.uuid4().hex[:6]}"
    ids = aws.seed_demo(moto_server.client("stepfunctions"), moto_server.client("sqs"), suffix)
    ids["suffix"] = suffix
    engine = make_engine(moto_server, ids)
    arn = ids["fail_execution"]

    async def failed() -> bool:
        detail = await engine.describe(ref_of(ids, "fail"))
        return detail.execution.status is ExecutionStatus.FAILED

    await eventually(failed, what="demo execution failed")
    result = await correlate(arn, engines={"sfn": engine})
    assert list(result.executions) == [str(ref_of(ids, "fail"))]
    kinds = {item.kind for item in result.timeline}
    assert "event" in kinds
    assert any("Fail" in item.summary for item in result.timeline)
