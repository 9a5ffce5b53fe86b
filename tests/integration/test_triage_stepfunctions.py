"""Triage of Step Functions on a real moto_server: a failed execution's error and cause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.stepfunctions import StepFunctionsEngine
from console.model_triage import FailureKind
from console.ports_triage import FailureReader
from console.triage.check import triage
from tests.conftest import MotoServer
from tests.integration.test_stepfunctions import (  # noqa: F401  (fixture)
    _settled,
    make_engine,
    seeded,
)


async def test_failed_execution_error_and_cause(
    moto_server: MotoServer,
    seeded: dict[str, str],  # noqa: F811
) -> None:
    engine: StepFunctionsEngine = make_engine(moto_server, seeded)
    assert isinstance(engine, FailureReader)
    await _settled(engine, seeded)
    report = await triage(engine, since=datetime.now(UTC) - timedelta(hours=1))
    assert report.stats.structured is True
    (group,) = [g for g in report.groups if g.signature.error_type == "Demo.PaymentDeclined"]
    assert group.signature.engine == "sfn"
    assert group.signature.workflow_type.startswith("opsdeck-demo-fail")
    assert group.signature.message == "card <n> declined by the demo gateway"
    assert group.kinds == (FailureKind.EXECUTION.value,)
    assert group.verdict == "transient" and "few, 1 execution" in group.reason
    assert report.stats.listed["running"] >= 1  # the waiting one: read, nothing failed
