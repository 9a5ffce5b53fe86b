"""Amazon SQS dead-letter queues (boto3; blocking calls go through asyncio.to_thread).

Settings (a context's ``queues:`` entry, ``kind: sqs``)::

    - kind: sqs
      name: aws
      region: eu-west-1
      endpoint-url: http://127.0.0.1:5000        # optional (moto, LocalStack)
      access-key-id: keyring:opsdeck/aws-key      # optional; else the default chain
      secret-access-key: keyring:opsdeck/aws-secret
      queues: [orders-dlq]                        # optional; else every queue that is
                                                  # some queue's RedrivePolicy target

Decisions:
- A DLQ's sources come from ListDeadLetterSourceQueues; a message's "original queue"
  is the DLQ's only source (SQS does not record it per message); with several sources
  a client-side redrive to ``original`` parks the message (whole-queue redrive back
  to the sources is StartMessageMoveTask's job, which knows each message's source).
- Peek receives with a visibility timeout, then sets it back to 0 at once, so the
  messages are visible again (their ApproximateReceiveCount does go up by one).
- A drain is not atomic on SQS: SendMessageBatch is confirmed first, the journal records
  it, then DeleteMessageBatch; a drain killed in between deletes those messages on
  resume without sending them again. Sent copies carry ``opsdeck-dedup-id`` and
  ``opsdeck-redrives`` message attributes (and a MessageDeduplicationId on FIFO queues).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from console.errors import BackendError, ConfigError, NotFound
from console.model_queues import DeathInfo, QueueInfo, QueueMessage
from console.ports_dlq import Send

DEDUP_ATTR = "opsdeck-dedup-id"
REDRIVES_ATTR = "opsdeck-redrives"


class SqsDeadLetterQueues:
    kind = "sqs"

    def __init__(
        self,
        name: str,
        *,
        region: str | None,
        endpoint_url: str | None,
        credentials: Callable[[], dict[str, str]] | None,
        queues: Sequence[str],
        lease_s: int = 600,
        client: Any = None,
    ) -> None:
        self.name = name
        self.region = region
        self.endpoint_url = endpoint_url
        self._credentials = credentials
        self.queues = tuple(queues)
        self.lease_s = lease_s
        self._client = client
        self._urls: dict[str, str] = {}

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: Callable[[str], str]
    ) -> SqsDeadLetterQueues:
        region = settings.get("region")
        endpoint = settings.get("endpoint-url")
        queues = settings.get("queues") or []
        if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
            raise ConfigError("queues: expected a list of queue names or URLs")
        key, secret = settings.get("access-key-id"), settings.get("secret-access-key")
        credentials = None
        if key is not None or secret is not None:
            if not (isinstance(key, str) and isinstance(secret, str)):
                raise ConfigError("secret-access-key: give both access-key-id and this")

            def credentials() -> dict[str, str]:
                def value(ref: str) -> str:
                    return resolve_secret(ref) if ref.startswith("keyring:") else ref

                return {
                    "aws_access_key_id": value(str(key)),
                    "aws_secret_access_key": value(str(secret)),
                }

        lease = settings.get("lease-seconds", 600)
        return cls(
            name,
            region=str(region) if region else None,
            endpoint_url=str(endpoint) if endpoint else None,
            credentials=credentials,
            queues=queues,
            lease_s=int(str(lease)),
        )

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            extra = self._credentials() if self._credentials else {}
            self._client = boto3.client(
                "sqs", region_name=self.region, endpoint_url=self.endpoint_url, **extra
            )
        return self._client

    def recoverable_errors(self) -> tuple[type[BaseException], ...]:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import EndpointConnectionError

        return (BotoConnectionError, EndpointConnectionError, ConnectionError)

    # -- addressing ----------------------------------------------------------------------

    def url(self, queue: str) -> str:
        if queue.startswith(("http://", "https://")):
            return queue
        if queue not in self._urls:
            from botocore.exceptions import ClientError

            try:
                self._urls[queue] = self.client.get_queue_url(QueueName=queue)["QueueUrl"]
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if "NonExistentQueue" in code or code == "QueueDoesNotExist":
                    raise NotFound(f"SQS queue {queue!r} does not exist") from None
                raise BackendError(f"SQS: {exc}") from None
        return self._urls[queue]

    def arn(self, queue: str) -> str:
        if queue.startswith("arn:"):
            return queue
        attrs = self.client.get_queue_attributes(
            QueueUrl=self.url(queue), AttributeNames=["QueueArn"]
        )
        return str(attrs["Attributes"]["QueueArn"])

    @staticmethod
    def short(url: str) -> str:
        return url.rstrip("/").rsplit("/", 1)[-1]

    def dead_letter_queues_sync(self) -> list[str]:
        """Configured DLQs, else every queue named in some RedrivePolicy."""
        if self.queues:
            return list(self.queues)
        import json

        found: list[str] = []
        for url in self.client.list_queues().get("QueueUrls", []):
            attrs = self.client.get_queue_attributes(
                QueueUrl=url, AttributeNames=["RedrivePolicy"]
            ).get("Attributes", {})
            policy = attrs.get("RedrivePolicy")
            if policy:
                target = json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[-1]
                if target not in found:
                    found.append(target)
        return found

    def sources_sync(self, queue: str) -> list[str]:
        urls = self.client.list_dead_letter_source_queues(QueueUrl=self.url(queue)).get(
            "queueUrls", []
        )
        return [self.short(u) for u in urls]

    # -- reads ---------------------------------------------------------------------------

    def depth_sync(self, queue: str) -> tuple[int, int]:
        attrs = self.client.get_queue_attributes(
            QueueUrl=self.url(queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attrs.get("ApproximateNumberOfMessages", 0)),
            int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )

    def _receive(self, queue: str, limit: int, visibility: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            got = self.client.receive_message(
                QueueUrl=self.url(queue),
                MaxNumberOfMessages=min(10, limit - len(out)),
                VisibilityTimeout=visibility,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            out += got
        return out

    def _release(self, queue: str, receipts: Sequence[str]) -> None:
        for start in range(0, len(receipts), 10):
            chunk = receipts[start : start + 10]
            self.client.change_message_visibility_batch(
                QueueUrl=self.url(queue),
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                    for i, r in enumerate(chunk)
                ],
            )

    def to_message(self, raw: dict[str, Any], sources: Sequence[str]) -> QueueMessage:
        attrs = raw.get("Attributes", {})
        mattrs = {
            k: v.get("StringValue", v.get("BinaryValue"))
            for k, v in (raw.get("MessageAttributes") or {}).items()
        }
        sent = attrs.get("SentTimestamp")
        enqueued = datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None
        body = raw.get("Body", "")
        return QueueMessage(
            dedup_id=str(mattrs.get(DEDUP_ATTR) or raw["MessageId"]),
            body=body.encode("utf-8") if isinstance(body, str) else body,
            headers=mattrs,
            properties={k: v for k, v in attrs.items() if k != "AWSTraceHeader"},
            death=DeathInfo(
                queue=sources[0] if len(sources) == 1 else None,
                reason="maxReceiveCount",
                count=int(attrs.get("ApproximateReceiveCount", 0) or 0),
                time=enqueued,
            ),
            redrives=int(mattrs.get(REDRIVES_ATTR) or 0),
            enqueued=enqueued,
            handle=(raw["ReceiptHandle"], raw.get("MessageAttributes") or {}),
        )

    def peek_sync(self, queue: str, limit: int) -> list[QueueMessage]:
        sources = self.sources_sync(queue)
        raw = self._receive(queue, limit, visibility=30)
        self._release(queue, [m["ReceiptHandle"] for m in raw])
        return [self.to_message(m, sources) for m in raw]

    def list_sync(self) -> list[QueueInfo]:
        infos = []
        for queue in self.dead_letter_queues_sync():
            ready, in_flight = self.depth_sync(queue)
            age = None
            if ready:
                peeked = self.peek_sync(queue, 10)
                stamps = [m.enqueued for m in peeked if m.enqueued]
                if stamps:
                    age = (datetime.now(UTC) - min(stamps)).total_seconds()
            infos.append(
                QueueInfo(queue, self.name, ready, age, tuple(self.sources_sync(queue)), in_flight)
            )
        return infos

    async def list_queues(self) -> Sequence[QueueInfo]:
        return await asyncio.to_thread(self.list_sync)

    async def peek(self, queue: str, limit: int) -> Sequence[QueueMessage]:
        return await asyncio.to_thread(self.peek_sync, queue, limit)

    def drain_source(self, queue: str, *, batch_size: int, hold_all: bool = False) -> SqsDrain:
        return SqsDrain(self, queue)

    # -- whole-queue redrive on the server (StartMessageMoveTask) -------------------------

    def start_move_task(
        self, queue: str, *, destination: str | None = None, rate: int | None = None
    ) -> str:
        """Move every message back to its source (or to ``destination``); the task handle."""
        params: dict[str, Any] = {"SourceArn": self.arn(queue)}
        if destination:
            params["DestinationArn"] = (
                destination if destination.startswith("arn:") else self.arn(destination)
            )
        if rate is not None:
            if not 1 <= rate <= 500:
                raise ConfigError("rate: SQS allows 1..500 messages per second")
            params["MaxNumberOfMessagesPerSecond"] = rate
        return str(self.client.start_message_move_task(**params)["TaskHandle"])

    def list_move_tasks(self, queue: str, limit: int = 10) -> list[dict[str, Any]]:
        source = queue if queue.startswith("arn:") else self.arn(queue)
        result = self.client.list_message_move_tasks(SourceArn=source, MaxResults=limit)
        return list(result.get("Results", []))

    def cancel_move_task(self, task_handle: str) -> int:
        """Cancels a running task; messages already moved stay moved. Returns that count."""
        result = self.client.cancel_message_move_task(TaskHandle=task_handle)
        return int(result.get("ApproximateNumberOfMessagesMoved", 0))

    async def close(self) -> None:
        return None


class SqsDrain:
    """A drain session on one SQS DLQ: receive (leased), send, journal, delete."""

    atomic_commit = False

    def __init__(self, sqs: SqsDeadLetterQueues, queue: str) -> None:
        self.sqs = sqs
        self.queue = queue
        self._sources: list[str] | None = None
        self._fifo: dict[str, bool] = {}

    def depth(self) -> int:
        return self.sqs.depth_sync(self.queue)[0]

    def ensure_queue(self, queue: str, *, create: bool = False) -> None:
        if create:
            with contextlib.suppress(NotFound):
                self.sqs.url(queue)
                return
            attrs = {"FifoQueue": "true"} if queue.endswith(".fifo") else {}
            url = self.sqs.client.create_queue(QueueName=queue, Attributes=attrs)["QueueUrl"]
            self.sqs._urls[queue] = url
        else:
            self.sqs.url(queue)

    def fetch(self, limit: int, timeout: float) -> list[QueueMessage]:
        if self._sources is None:
            self._sources = self.sqs.sources_sync(self.queue)
        raw = self.sqs._receive(self.queue, limit, visibility=self.sqs.lease_s)
        return [self.sqs.to_message(m, self._sources) for m in raw]

    def commit(self, sends: Sequence[Send], on_confirmed: Callable[[], None]) -> None:
        by_queue: dict[str, list[Send]] = {}
        for send in sends:
            if send.queue is not None:
                by_queue.setdefault(send.queue, []).append(send)
        for queue, group in by_queue.items():
            for start in range(0, len(group), 10):
                self._send_batch(queue, group[start : start + 10])
        on_confirmed()
        self.remove([s.message for s in sends])

    def _send_batch(self, queue: str, group: Sequence[Send]) -> None:
        fifo = queue.endswith(".fifo")
        entries = []
        for i, send in enumerate(group):
            message = send.message
            attrs = dict(message.handle[1])
            attrs[DEDUP_ATTR] = {"DataType": "String", "StringValue": message.dedup_id}
            attrs[REDRIVES_ATTR] = {"DataType": "Number", "StringValue": str(message.redrives + 1)}
            entry: dict[str, Any] = {
                "Id": str(i),
                "MessageBody": message.body_text(),
                "MessageAttributes": attrs,
            }
            if fifo:
                entry["MessageDeduplicationId"] = message.dedup_id[:128]
                entry["MessageGroupId"] = str(message.properties.get("MessageGroupId", "opsdeck"))
            entries.append(entry)
        result = self.sqs.client.send_message_batch(QueueUrl=self.sqs.url(queue), Entries=entries)
        failed = result.get("Failed") or []
        if failed:
            raise BackendError(
                f"SQS refused {len(failed)} of {len(entries)} messages for {queue}: "
                f"{failed[0].get('Message') or failed[0].get('Code')}"
            )

    def remove(self, messages: Sequence[QueueMessage]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            result = self.sqs.client.delete_message_batch(
                QueueUrl=self.sqs.url(self.queue),
                Entries=[{"Id": str(i), "ReceiptHandle": m.handle[0]} for i, m in enumerate(chunk)],
            )
            if result.get("Failed"):
                raise BackendError(f"SQS did not delete {len(result['Failed'])} messages")

    def release(self, messages: Sequence[QueueMessage]) -> None:
        self.sqs._release(self.queue, [m.handle[0] for m in messages])

    def reconnect(self) -> None:
        time.sleep(0.5)  # boto3 clients reconnect by themselves; give the network a moment

    def close(self) -> None:
        return None
