"""SQS dead-letter queues against moto_server; message-move tasks with botocore's Stubber
(moto has no StartMessageMoveTask), which checks each request against the AWS model."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber

from adapters.sqs import DEDUP_ATTR, SqsDeadLetterQueues
from console.actions.drain import Drain, DrainFilter, DrainSpec, read_archive


def _setup(moto_server: Any, count: int) -> tuple[Any, str, str, list[str]]:
    sqs = moto_server.client("sqs")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    src_url = sqs.create_queue(
        QueueName=f"{prefix}-src",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
        },
    )["QueueUrl"]
    ids = []
    for i in range(count):
        body = json.dumps({"n": i, "kind": "bad" if i % 3 == 0 else "ok"})
        ids.append(sqs.send_message(QueueUrl=src_url, MessageBody=body)["MessageId"])
    # Receive each message twice without deleting: the second receive moves it to the DLQ.
    for _ in range(3):
        while sqs.receive_message(
            QueueUrl=src_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages"):
            pass
    return sqs, f"{prefix}-dlq", f"{prefix}-src", ids


def _adapter(moto_server: Any, queues: list[str] | None = None) -> SqsDeadLetterQueues:
    return SqsDeadLetterQueues.from_config(
        "aws",
        {
            "region": moto_server.region,
            "endpoint-url": moto_server.endpoint,
            "access-key-id": "testing",
            "secret-access-key": "testing",
            **({"queues": queues} if queues else {}),
        },
        lambda ref: ref,
    )


def _depths(sqs: Any, name: str) -> tuple[int, int]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    a = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def test_dlq_found_by_redrive_policy_with_its_sources(moto_server: Any) -> None:
    sqs, dlq, src, _ = _setup(moto_server, 4)
    adapter = _adapter(moto_server)
    infos = {i.name: i for i in adapter.list_sync()}
    assert infos[dlq].depth == 4
    assert infos[dlq].sources == (src,)
    assert infos[dlq].oldest_age_s is not None
    assert _depths(sqs, dlq) == (4, 0)


def test_peek_leaves_the_queue_unchanged(moto_server: Any) -> None:
    sqs, dlq, src, ids = _setup(moto_server, 5)
    adapter = _adapter(moto_server, [dlq])
    first = adapter.peek_sync(dlq, 3)
    assert len(first) == 3 and all(m.death.queue == src for m in first)
    assert _depths(sqs, dlq) == (5, 0)  # visibility released: nothing in flight
    everything = adapter.peek_sync(dlq, 10)
    assert sorted(m.dedup_id for m in everything) == sorted(ids)
    assert _depths(sqs, dlq) == (5, 0)


def test_selective_drain_back_to_the_source(moto_server: Any, tmp_path: Path) -> None:
    sqs, dlq, src, ids = _setup(moto_server, 12)
    adapter = _adapter(moto_server, [dlq])
    spec = DrainSpec("aws", dlq, filter=DrainFilter(jsonpath="$.kind=bad"), batch_size=3)
    drain = Drain(
        adapter.drain_source(dlq, batch_size=3, hold_all=True),
        spec,
        journal_dir=tmp_path / "j",
        archive_dir=tmp_path / "a",
        recoverable=adapter.recoverable_errors(),
    )
    report = drain.run()
    assert report.error is None and report.completed
    assert report.sent == 4 and report.skipped == 8
    assert _depths(sqs, dlq) == (8, 0)  # the rest is back, visible
    src_url = sqs.get_queue_url(QueueName=src)["QueueUrl"]
    got = sqs.receive_message(
        QueueUrl=src_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    dedup = sorted(m["MessageAttributes"][DEDUP_ATTR]["StringValue"] for m in got)
    assert dedup == sorted(ids[i] for i in range(0, 12, 3))
    archived = read_archive(Path(report.archive_paths[0]))
    assert sorted(r["dedup_id"] for r in archived) == dedup


def test_message_move_tasks_with_stubber() -> None:
    client = boto3.client(
        "sqs",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    adapter = SqsDeadLetterQueues(
        "aws", region="us-east-1", endpoint_url=None, credentials=None, queues=[], client=client
    )
    dlq_arn = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"
    src_arn = "arn:aws:sqs:us-east-1:123456789012:orders"
    with Stubber(client) as stub:
        stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "handle-1"},
            {"SourceArn": dlq_arn, "MaxNumberOfMessagesPerSecond": 50},
        )
        stub.add_response(
            "list_message_move_tasks",
            {
                "Results": [
                    {
                        "TaskHandle": "handle-1",
                        "Status": "RUNNING",
                        "SourceArn": dlq_arn,
                        "DestinationArn": src_arn,
                        "MaxNumberOfMessagesPerSecond": 50,
                        "ApproximateNumberOfMessagesMoved": 10,
                        "ApproximateNumberOfMessagesToMove": 100,
                        "StartedTimestamp": 1700000000000,
                    }
                ]
            },
            {"SourceArn": dlq_arn, "MaxResults": 10},
        )
        stub.add_response(
            "cancel_message_move_task",
            {"ApproximateNumberOfMessagesMoved": 12},
            {"TaskHandle": "handle-1"},
        )
        assert adapter.start_move_task(dlq_arn, rate=50) == "handle-1"
        (task,) = adapter.list_move_tasks(dlq_arn)
        assert task["Status"] == "RUNNING" and task["ApproximateNumberOfMessagesMoved"] == 10
        assert adapter.cancel_move_task("handle-1") == 12
        stub.assert_no_pending_responses()
