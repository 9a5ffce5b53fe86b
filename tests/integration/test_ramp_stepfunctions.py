"""`opsdeck versions ramp` on Step Functions: alias weights between two versions, through
moto_server (it has published versions, aliases and routingConfiguration).

moto neither routes executions by an alias's weights nor starts them on a version ARN,
so the breach case drives the engine in-process with a stub guard on the real alias.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from console.audit import AuditJournal
from tests.conftest import MotoServer

from .test_cli_executions import OPSDECK

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/ramp"
PASS = json.dumps({"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "End": True}}})
FAIL = json.dumps(
    {"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Pricing", "Cause": "v3"}}}
)


def machine_with_alias(moto_server: MotoServer) -> tuple[str, str]:
    """A state machine with versions 1, 2 (good) and 3 (fails); alias live -> 1 at 100%."""
    sfn = moto_server.client("stepfunctions")
    name = f"ramp-{uuid.uuid4().hex[:8]}"
    arn = sfn.create_state_machine(name=name, definition=PASS, roleArn=ROLE, publish=True)[
        "stateMachineArn"
    ]
    sfn.update_state_machine(stateMachineArn=arn, definition=PASS + " ", publish=True)
    sfn.update_state_machine(stateMachineArn=arn, definition=FAIL, publish=True)
    sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": f"{arn}:1", "weight": 100}]
    )
    return name, arn


def weights(moto_server: MotoServer, arn: str) -> dict[str, int]:
    desc = moto_server.client("stepfunctions").describe_state_machine_alias(
        stateMachineAliasArn=f"{arn}:live"
    )
    return {
        r["stateMachineVersionArn"].rsplit(":", 1)[-1]: r["weight"]
        for r in desc["routingConfiguration"]
    }


def write_config(tmp_path: Path, moto_server: MotoServer, arn: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""\
current-context: aws
contexts:
  aws:
    engines:
      - kind: stepfunctions
        region: {moto_server.region}
        endpoint-url: {moto_server.endpoint}
        emulator: true
        state-machines: [{arn}]
"""
    )
    return path


def ramp(config: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, OPSDECK_CONFIG=str(config), AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing")  # fmt: skip
    return subprocess.Popen(
        [OPSDECK, "versions", "ramp", *args, "-y", "-o", "json"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def records(ramp_id: str) -> list[Any]:
    journal = AuditJournal(Path(os.environ["XDG_DATA_HOME"]) / "opsdeck" / "audit.db")
    return list(reversed(journal.list(limit=None, request_id=ramp_id)))


def test_a_good_version_takes_the_alias_step_by_step(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    name, arn = machine_with_alias(moto_server)
    config = write_config(tmp_path, moto_server, arn)
    ramp_id = f"ramp-{uuid.uuid4().hex[:8]}"
    proc = ramp(config, f"{name}:live", "2", "--steps", "25,100", "--hold", "1s",
                "--request-id", ramp_id)  # fmt: skip
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert [s["call"] for s in doc["plan"]["steps"]] == ["UpdateStateMachineAlias"] * 2
    assert doc["plan"]["target"] == f"stepfunctions:{name}/alias/live"
    assert doc["result"]["status"] == "promoted"
    assert weights(moto_server, arn) == {"2": 100}
    steps = [r for r in records(ramp_id) if r.action == "versions.ramp"]
    assert [r.parameters["routing"] for r in steps] == [
        {"deployment": f"{name}:live", "current": "1", "ramping": "2", "percentage": 25.0},
        {"deployment": f"{name}:live", "current": "2", "ramping": None, "percentage": 0.0},
    ]


async def test_a_breach_restores_the_previous_weights(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    """The engine on the real alias (moto), the guard stubbed to breach at step 1: moto
    cannot start executions on a version ARN, so no real failures can reach a guard."""
    from console.rollout.engine import RampRunner
    from console.rollout.guard import GuardVerdict
    from console.rollout.journal import RampJournal, RampProgress
    from console.rollout.plan import RampStep, build_plan

    class Breach:
        def describe(self) -> str:
            return "stub"

        async def check(self, step: RampStep, since: object) -> GuardVerdict:
            assert weights(moto_server, arn) == {"1": 90, "3": 10}  # during the hold
            return GuardVerdict(False, "3 of 3 closed executions of 3 failed")

    name, arn = machine_with_alias(moto_server)
    engine = make_engine(moto_server, arn)
    alias = f"{name}:live"
    plan = build_plan(
        ramp_id="sfn-1", context="aws", engine="stepfunctions", target=alias,
        deployment=alias, version="3", start=await engine.ramp_routing(alias, "3"),
        known_versions=["1", "2", "3"], percentages=(10.0, 100.0), hold_s=0.0,
        calls={10.0: "UpdateStateMachineAlias", 100.0: "UpdateStateMachineAlias"},
        guard="stub", slo=None, reason="test",
    )  # fmt: skip
    journal = RampJournal(AuditJournal(tmp_path / "audit.db"), identity="ci", policy={})
    runner = RampRunner(engine, Breach(), journal)
    runner.start(plan)
    result = await runner.run(plan, RampProgress(plan))
    assert (result.status, result.exit_code) == ("rolled_back", 1)
    assert "3 of 3 closed executions of 3 failed" in result.reason
    assert weights(moto_server, arn) == {"1": 100}
    assert result.routing is not None and result.routing.current == "1"


def make_engine(moto_server: MotoServer, arn: str) -> Any:
    from adapters.stepfunctions import StepFunctionsEngine

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    settings = {"kind": "stepfunctions", "region": moto_server.region, "emulator": True,
                "endpoint-url": moto_server.endpoint, "state-machines": [arn]}  # fmt: skip
    return StepFunctionsEngine.from_config("stepfunctions", settings, lambda ref: "")


def test_weights_changed_by_someone_else_stop_the_step(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    """The adapter refuses a step whose expected routing is gone (no overwrite)."""
    import asyncio

    from console.errors import BackendError

    name, arn = machine_with_alias(moto_server)
    engine = make_engine(moto_server, arn)

    async def go() -> None:
        before = await engine.ramp_routing(f"{name}:live", "2")
        assert (before.current, before.ramping, before.percentage) == ("1", None, 0.0)
        moto_server.client("stepfunctions").update_state_machine_alias(
            stateMachineAliasArn=f"{arn}:live",
            routingConfiguration=[{"stateMachineVersionArn": f"{arn}:3", "weight": 100}],
        )
        with pytest.raises(BackendError, match="changed under the ramp"):
            await engine.set_ramp(f"{name}:live", "2", 50, before)

    asyncio.run(go())
    assert weights(moto_server, arn) == {"3": 100}
