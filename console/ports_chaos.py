"""Ports the chaos extension needs beyond WorkflowEngine; an engine implements what it can.

The extension checks ``isinstance(engine, RampingVersions)`` (etc.) and refuses with a
sentence naming the engine when it does not, as the UI does for missing capabilities.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from console.model_chaos import RampState, TaskQueueStats


@runtime_checkable
class RampingVersions(Protocol):
    async def ramping(self, deployment: str) -> RampState: ...

    async def set_ramping(
        self, deployment: str, build_id: str | None, percentage: float
    ) -> RampState:
        """Ramp ``build_id`` to ``percentage`` of new work (None: stop); the state before."""
        ...


@runtime_checkable
class ActivityPause(Protocol):
    async def pause_activity(self, workflow_id: str, activity_type: str, reason: str) -> None: ...

    async def unpause_activity(self, workflow_id: str, activity_type: str) -> None: ...


@runtime_checkable
class TaskQueueInfo(Protocol):
    async def task_queue_stats(self, task_queue: str, kind: str) -> TaskQueueStats: ...


@runtime_checkable
class MessagePublisher(Protocol):
    """A queue backend that can publish test messages and remove them by id (blocking)."""

    name: str
    kind: str

    def publish_sync(self, queue: str, body: bytes, count: int) -> list[str]:
        """Publish ``count`` copies of ``body`` (each with its own message id); the ids."""
        ...

    def remove_ids_sync(self, queue: str, ids: set[str]) -> list[str]:
        """Remove exactly the messages with these ids; the ids removed. Others stay."""
        ...


@runtime_checkable
class AliasWeights(Protocol):
    """Weighted routing of an alias between versions (Step Functions aliases)."""

    async def alias_weights(self, state_machine: str, alias: str) -> dict[str, int]: ...

    async def set_alias_weights(
        self, state_machine: str, alias: str, weights: dict[str, int]
    ) -> dict[str, int]:
        """Route by ``weights`` ({version: percent}); the routing it replaced."""
        ...
