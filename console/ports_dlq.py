"""The DeadLetterQueue port (SQS, RabbitMQ), kept beside console.ports.

Reads are async (the UI awaits them); a drain runs in a worker thread against a
``DrainSource``, a blocking, one-queue session, because its safety depends on the
exact order of archive -> send -> confirm -> remove, which is simplest to reason about
when nothing else runs on that connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from console.model_queues import QueueInfo, QueueMessage

SecretResolver = Callable[[str], str]


@dataclass(frozen=True)
class Send:
    """One message leaving the DLQ: to ``queue`` (a redrive or parking), or nowhere."""

    message: QueueMessage
    queue: str | None


class DrainSource(Protocol):
    """A blocking session on one DLQ, used by console.actions.drain in one thread.

    ``atomic_commit``: True when ``commit`` publishes and removes in one broker
    transaction (RabbitMQ), so a crash can never leave a message both sent and still
    in the DLQ. False (SQS): sends are confirmed first, then deletes; the drain's
    journal covers the gap.
    """

    atomic_commit: bool

    def depth(self) -> int: ...

    def fetch(self, limit: int, timeout: float) -> list[QueueMessage]:
        """Up to ``limit`` messages, held (not removed) until commit or release."""
        ...

    def ensure_queue(self, queue: str, *, create: bool = False) -> None:
        """Check a destination exists (or create a parking queue) before sending to it."""
        ...

    def commit(self, sends: Sequence[Send], on_confirmed: Callable[[], None]) -> None:
        """Publish each send to its queue; after the destination confirmed, call
        ``on_confirmed`` (the journal records it) and remove the messages from the DLQ
        (an atomic source does both in one transaction). A pipelining source may return
        before the confirmation and call ``on_confirmed`` later; it then has a
        ``flush()`` that waits for every confirmation in flight."""
        ...

    def remove(self, messages: Sequence[QueueMessage]) -> None:
        """Remove from the DLQ without sending (already sent by an earlier run)."""
        ...

    def release(self, messages: Sequence[QueueMessage]) -> None:
        """Give messages back to the DLQ unchanged, in their place."""
        ...

    def reconnect(self) -> None:
        """After a dropped connection: a fresh session; held messages are back in the DLQ."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class DeadLetterQueue(Protocol):
    name: str
    kind: str

    async def list_queues(self) -> Sequence[QueueInfo]:
        """The dead-letter queues this adapter knows, with depth and oldest age."""
        ...

    async def peek(self, queue: str, limit: int) -> Sequence[QueueMessage]:
        """Up to ``limit`` messages from the head, leaving the queue unchanged."""
        ...

    def drain_source(self, queue: str, *, batch_size: int, hold_all: bool = False) -> DrainSource:
        """A blocking drain session on ``queue`` (does not connect until used);
        ``hold_all``: a selective drain, which holds skipped messages until it ends."""
        ...

    def recoverable_errors(self) -> tuple[type[BaseException], ...]:
        """Exceptions after which ``DrainSource.reconnect`` and a retry are safe."""
        ...

    async def close(self) -> None: ...


class QueueFactory(Protocol):
    """What an ``opsdeck.queues`` entry point names: a class with ``from_config``."""

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> DeadLetterQueue: ...
