"""shift_alias_weights / restore_alias_weights through botocore's Stubber (moto lacks
published versions to route an alias to); each request is checked against the real
Step Functions service model, and each action writes one audit record."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chaos import _context as ctx
from chaos import actions
from console.audit import AuditJournal
from console.errors import UsageError

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders"
ALIAS = f"{MACHINE}:live"


def _routing(*pairs: tuple[int, int]) -> list[dict[str, Any]]:
    return [{"stateMachineVersionArn": f"{MACHINE}:{v}", "weight": w} for v, w in pairs]


def _describe(stub: Stubber, routing: list[dict[str, Any]]) -> None:
    response = {"stateMachineAliasArn": ALIAS, "name": "live", "routingConfiguration": routing}
    response |= {"creationDate": "2026-01-01T00:00:00Z", "updateDate": "2026-01-01T00:00:00Z"}
    stub.add_response("describe_state_machine_alias", response, {"stateMachineAliasArn": ALIAS})


def _update(stub: Stubber, routing: list[dict[str, Any]]) -> None:
    expected = {"stateMachineAliasArn": ALIAS, "description": "opsdeck chaos experiment"}
    expected["routingConfiguration"] = routing  # type: ignore[assignment]
    stub.add_response(
        "update_state_machine_alias", {"updateDate": "2026-01-01T00:00:00Z"}, expected
    )


def test_shift_and_restore_alias_weights(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""current-context: aws
contexts:
  aws:
    engines:
      - name: sfn
        kind: stepfunctions
        region: eu-west-1
        state-machines: [{MACHINE}]
"""
    )
    configuration = {"opsdeck_config": str(config), "opsdeck_run_id": f"run-{uuid.uuid4().hex}"}
    session, _ = ctx.session_and_run(configuration)
    client = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1"
    ).client("stepfunctions")
    session.engines["sfn"].client.set_client(client)  # type: ignore[attr-defined]
    with Stubber(client) as stub:
        _describe(stub, _routing((3, 100)))
        _update(stub, _routing((3, 90), (4, 10)))
        result = actions.shift_alias_weights(
            "orders", "live", {"3": 90, "4": 10}, configuration=configuration
        )
        assert result["previous"] == {"3": 100} and result["weights"] == {"3": 90, "4": 10}
        _describe(stub, _routing((3, 90), (4, 10)))
        _update(stub, _routing((3, 100)))
        rolled = actions.restore_alias_weights("orders", "live", configuration=configuration)
        assert rolled["restored"] == {"3": 100}
        stub.assert_no_pending_responses()
        with pytest.raises(UsageError, match="add up to 100"):
            actions.shift_alias_weights("orders", "live", {"3": 50}, configuration=configuration)
    records = AuditJournal().list(run_id=configuration["opsdeck_run_id"])
    assert [(r.action, r.outcome) for r in reversed(records)] == [
        ("chaos.shift_alias_weights", "ok"),
        ("chaos.rollback.restore_alias_weights", "ok"),
        ("chaos.shift_alias_weights", "failed"),
    ]
    ctx.forget()
