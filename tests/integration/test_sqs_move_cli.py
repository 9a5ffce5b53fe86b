"""`opsdeck dlq move`: SQS message-move tasks from the CLI, checked with botocore's Stubber."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from adapters.sqs import SqsDeadLetterQueues
from console.actions import drain_service
from console.cli import main

DLQ = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"


@pytest.fixture
def stubbed() -> Iterator[Stubber]:
    client = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )

    def factory(name: str, settings: dict[str, Any], resolve: Any) -> SqsDeadLetterQueues:
        return SqsDeadLetterQueues(
            name, region="us-east-1", endpoint_url=None, credentials=None, queues=[], client=client
        )

    factory.from_config = factory  # type: ignore[attr-defined]
    drain_service.register("sqs-stubbed", factory)
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "opsdeck" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "contexts:\n  t:\n    engines: []\n    queues:\n"
        "      - kind: sqs-stubbed\n        name: aws\n"
    )
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()
    drain_service._registered.pop("sqs-stubbed", None)


def test_move_start_list_cancel(stubbed: Stubber, capsys: pytest.CaptureFixture[str]) -> None:
    stubbed.add_response(
        "start_message_move_task",
        {"TaskHandle": "h-1"},
        {"SourceArn": DLQ, "MaxNumberOfMessagesPerSecond": 100},
    )
    assert main(["dlq", "move", DLQ, "--rate", "100", "--yes", "-o", "json"]) == 0
    started = json.loads(capsys.readouterr().out)
    assert started["task_handle"] == "h-1" and started["audit_id"] == 1
    stubbed.add_response(
        "list_message_move_tasks",
        {"Results": [{"TaskHandle": "h-1", "Status": "RUNNING", "SourceArn": DLQ}]},
        {"SourceArn": DLQ, "MaxResults": 10},
    )
    assert main(["dlq", "move", DLQ, "--list", "-o", "json"]) == 0
    (task,) = json.loads(capsys.readouterr().out)
    assert task["status"] == "RUNNING" and task["destination"] == "(original sources)"
    stubbed.add_response(
        "cancel_message_move_task", {"ApproximateNumberOfMessagesMoved": 7}, {"TaskHandle": "h-1"}
    )
    assert main(["dlq", "move", DLQ, "--cancel", "h-1", "--yes", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["moved"] == 7
    assert main(["dlq", "move", DLQ, "--rate", "900", "--yes"]) == 2  # SQS allows 1..500
    assert main(["--read-only", "dlq", "move", DLQ, "--yes"]) == 3
