"""activity_retrying describes only executions that completed a workflow task (real dev
server): the server stamps ``BuildIds`` on each completion, and only a completed task can
have scheduled an activity (adapters/temporal_stuck_scan.py).

Every way an activity came to retry here must be found: an SDK worker, a worker that
sends no version stamp at all (polled and answered by hand, like an old SDK), a
deployment-versioned worker, and a delayed start woken early by signal-with-start
(which leaves ExecutionTime in the future). Never-run executions of the same scope,
delayed starts not yet due, are not described. The narrowed scan finds exactly what
describing every running execution finds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import activity, workflow
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes
from temporalio.api.common.v1 import ActivityType, RetryPolicy, WorkflowExecution
from temporalio.api.enums.v1 import CommandType
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkflowExecutionRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    RespondActivityTaskFailedRequest,
    RespondWorkflowTaskCompletedRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import RetryPolicy as SdkRetryPolicy
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkerDeploymentConfig

from adapters.temporal import TemporalEngine
from console.model import ListQuery, StuckRule, StuckRules
from console.sandbox.devserver import DevServer
from tests.conftest import eventually

pytestmark = pytest.mark.integration
NEVER_RUN = 20
FOREVER = SdkRetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0)


@activity.defn(name="narrow_always_fails")
async def always_fails() -> None:
    raise ApplicationError("downstream says no", type="NarrowDownstream")


@workflow.defn(name="NarrowRetryingActivity")
class RetryingActivity:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            always_fails, start_to_close_timeout=timedelta(seconds=5), retry_policy=FOREVER
        )

    @workflow.signal
    def poke(self) -> None:
        pass


@workflow.defn(name="NarrowBrokenTask")
class BrokenTask:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("narrow bug")  # not an ApplicationError: the task fails


@dataclass(frozen=True)
class Scope:
    prefix: str
    retrying: frozenset[str]  # workflow ids whose activity retries
    broken: str  # its first workflow task fails on every try

    def query(self) -> ListQuery:
        return ListQuery(raw=f"WorkflowId STARTS_WITH '{self.prefix}'")


async def _by_hand(client: Client, workflow_id: str, queue: str) -> None:
    """Complete the first workflow task with no version stamp, scheduling an activity,
    then fail that activity once (the server retries it: attempt 2)."""
    svc, ns = client.workflow_service, client.namespace
    await client.start_workflow("NarrowByHand", id=workflow_id, task_queue=queue)
    task = await svc.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(namespace=ns, task_queue=TaskQueue(name=queue), identity="raw")
    )
    schedule = ScheduleActivityTaskCommandAttributes(
        activity_id="a1",
        activity_type=ActivityType(name="raw_call"),
        task_queue=TaskQueue(name=f"{queue}-activities"),
        start_to_close_timeout=Duration(seconds=5),
        retry_policy=RetryPolicy(initial_interval=Duration(seconds=1), backoff_coefficient=1.0),
    )
    await svc.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=ns,
            task_token=task.task_token,
            identity="raw",
            commands=[
                Command(
                    command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
                    schedule_activity_task_command_attributes=schedule,
                )
            ],
        )
    )
    act = await svc.poll_activity_task_queue(
        PollActivityTaskQueueRequest(
            namespace=ns, task_queue=TaskQueue(name=f"{queue}-activities"), identity="raw"
        )
    )
    failure = Failure(message="raw no", application_failure_info=ApplicationFailureInfo(type="X"))
    await svc.respond_activity_task_failed(
        RespondActivityTaskFailedRequest(
            namespace=ns, task_token=act.task_token, failure=failure, identity="raw"
        )
    )


async def _make_current(client: Client, deployment: str, build_id: str) -> None:
    svc = client.workflow_service

    async def registered() -> bytes | None:
        try:
            resp = await svc.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(
                    namespace=client.namespace, deployment_name=deployment
                )
            )
        except RPCError:
            return None  # created on the worker's first poll
        builds = {
            v.deployment_version.build_id for v in resp.worker_deployment_info.version_summaries
        }
        return bytes(resp.conflict_token) if build_id in builds else None

    token = await eventually(registered, what="deployment version registered")
    await svc.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=deployment,
            build_id=build_id,
            conflict_token=token,
            identity="narrow-test",
        )
    )


async def _activity_attempt(client: Client, workflow_id: str) -> int:
    resp = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    return max((a.attempt for a in resp.pending_activities), default=0)


@pytest.fixture(scope="module")
async def scope(temporal_server: DevServer) -> AsyncIterator[Scope]:
    tag = uuid.uuid4().hex[:8]
    prefix = f"narrow-act-{tag}"
    client = await Client.connect(temporal_server.address)
    queue, versioned_queue = f"narrow-act-{tag}", f"narrow-act-v-{tag}"
    deployment, build = f"narrow-{tag}", "b1"
    plain = Worker(
        client,
        task_queue=queue,
        workflows=[RetryingActivity, BrokenTask],
        activities=[always_fails],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    versioned = Worker(
        client,
        task_queue=versioned_queue,
        workflows=[RetryingActivity],
        activities=[always_fails],
        workflow_runner=UnsandboxedWorkflowRunner(),
        deployment_config=WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment, build),
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.PINNED,
        ),
    )
    ids = {k: f"{prefix}-{k}" for k in ("sdk", "by-hand", "versioned", "woken")}
    async with plain, versioned:
        await asyncio.gather(
            *(
                client.start_workflow(
                    RetryingActivity.run,
                    id=f"{prefix}-later-{i}",
                    task_queue=queue,
                    start_delay=timedelta(hours=1),
                )
                for i in range(NEVER_RUN)
            )
        )
        await client.start_workflow(RetryingActivity.run, id=ids["sdk"], task_queue=queue)
        # A delayed start that a signal-with-start wakes at once (ExecutionTime stays).
        for signal in (None, "poke"):
            await client.start_workflow(
                RetryingActivity.run,
                id=ids["woken"],
                task_queue=queue,
                start_delay=timedelta(hours=1),
                start_signal=signal,
            )
        await _make_current(client, deployment, build)
        await client.start_workflow(
            RetryingActivity.run, id=ids["versioned"], task_queue=versioned_queue
        )
        await _by_hand(client, ids["by-hand"], f"narrow-raw-{tag}")
        broken = f"{prefix}-broken"
        await client.start_workflow(BrokenTask.run, id=broken, task_queue=queue)

        async def all_retrying() -> bool:
            attempts = await asyncio.gather(*(_activity_attempt(client, w) for w in ids.values()))
            return min(attempts) >= 2

        await eventually(all_retrying, what="every activity on attempt 2", timeout=60)

        async def failing_twice() -> bool:
            resp = await client.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(
                    namespace=client.namespace, execution=WorkflowExecution(workflow_id=broken)
                )
            )
            return resp.pending_workflow_task.attempt >= 2

        await eventually(failing_twice, what="workflow task on attempt 2", timeout=60)

        async def visible() -> bool:
            counted = await client.count_workflows(
                f"WorkflowId STARTS_WITH '{prefix}' AND BuildIds IS NOT NULL"
            )
            return counted.count == len(ids)

        await eventually(visible, what="completed tasks in visibility")
        yield Scope(prefix, frozenset(ids.values()), broken)


async def test_activity_retrying_describes_only_executions_that_completed_a_task(
    temporal_engine: TemporalEngine, scope: Scope
) -> None:
    rules = StuckRules(activity_attempts=2, enabled=frozenset({StuckRule.ACTIVITY_RETRYING}))
    hits = [h async for h in temporal_engine.find_stuck(rules, scope.query())]
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.fallbacks == []
    assert {h.execution.ref.workflow_id for h in hits} == scope.retrying
    assert {h.rule for h in hits} == {StuckRule.ACTIVITY_RETRYING}
    assert stats.describes == len(scope.retrying)  # the NEVER_RUN delayed ones: none
    assert stats.by_rule == {"activity_retrying": len(scope.retrying)}


async def test_narrowed_scan_finds_what_describing_every_one_finds(
    temporal_engine: TemporalEngine, scope: Scope
) -> None:
    # workflow_task_failing below the reported threshold makes the scan describe all.
    every = StuckRules(
        activity_attempts=2,
        workflow_task_attempts=5,
        enabled=frozenset({StuckRule.ACTIVITY_RETRYING, StuckRule.WORKFLOW_TASK_FAILING}),
    )
    all_hits = [h async for h in temporal_engine.find_stuck(every, scope.query())]
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.describes == NEVER_RUN + len(scope.retrying) + 1
    narrowed = StuckRules(
        activity_attempts=2,
        workflow_task_attempts=6,
        enabled=every.enabled,
    )
    few_hits = [h async for h in temporal_engine.find_stuck(narrowed, scope.query())]
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.describes == len(scope.retrying)
    assert {h.execution.ref.workflow_id for h in few_hits} == {
        h.execution.ref.workflow_id for h in all_hits
    }
    assert {h.execution.ref.workflow_id for h in few_hits} == scope.retrying


async def test_skip_not_due_describes_only_executions_that_are_due_or_ran(
    temporal_engine: TemporalEngine, scope: Scope
) -> None:
    # The opt-in heuristic: delayed starts not yet due are not described for a failing
    # task below the server's reported threshold (the woken one has run: still is).
    rules = StuckRules(
        workflow_task_attempts=2,
        skip_not_due=True,
        enabled=frozenset({StuckRule.WORKFLOW_TASK_FAILING}),
    )
    hits = [h async for h in temporal_engine.find_stuck(rules, scope.query())]
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.fallbacks == []
    assert [h.execution.ref.workflow_id for h in hits] == [scope.broken]
    assert "narrow bug" in hits[0].evidence
    assert stats.describes == len(scope.retrying) + 1  # not the NEVER_RUN delayed ones
    how = temporal_engine.explain_stuck(rules)["workflow_task_failing"]
    assert "heuristic" in how and "signal-with-start" in how
