"""Demo workflows and activities for the sandbox: one of each kind an operator meets.

Each misbehaves deterministically so the stuck rules can be shown and tested:
an activity that fails forever (attempt grows every second), workflow code that
raises (the workflow task fails on every attempt), a workflow parked on a signal,
an order workflow served by two worker-deployment versions (and a bad third build
whose orders fail), and a payment with bounded retries for failure storms.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ApplicationError

TASK_QUEUE = "demo"
NO_WORKER_TASK_QUEUE = "demo-no-worker"
ORDERS_TASK_QUEUE = "orders"
ORDERS_DEPLOYMENT = "orders"
APPROVE_SIGNAL = "approve"

# Retries quickly and never gives up, so "attempt >= N" is reached within seconds.
FAST_FOREVER = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=1.0, maximum_attempts=0
)


@activity.defn(name="charge_card")
async def charge_card(order_id: str) -> str:
    return f"charged {order_id}"


@activity.defn(name="call_payment_gateway")
async def call_payment_gateway(order_id: str) -> str:
    raise ApplicationError(f"payment gateway timed out for {order_id}", type="GatewayTimeout")


@workflow.defn(name="DemoCompleted")
class DemoCompleted:
    @workflow.run
    async def run(self, order_id: str) -> str:
        return await workflow.execute_activity(
            charge_card, order_id, start_to_close_timeout=timedelta(seconds=10)
        )


# A payment that gives up: eight quick attempts, then the order fails (failure storms).
FEW_RETRIES = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0, maximum_attempts=8
)


@workflow.defn(name="DemoPayment")
class DemoPayment:
    """One payment (``charge_card``) with bounded retries: fails when all attempts fail.

    Started in bulk by chaos.actions.start_demo_orders (nothing seeds it)."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        return await workflow.execute_activity(
            charge_card,
            order_id,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=FEW_RETRIES,
        )


@workflow.defn(name="DemoFailed")
class DemoFailed:
    @workflow.run
    async def run(self, order_id: str) -> str:
        raise ApplicationError(f"order {order_id} rejected: card declined", non_retryable=True)


@workflow.defn(name="DemoStuckActivity")
class DemoStuckActivity:
    @workflow.run
    async def run(self, order_id: str) -> str:
        return await workflow.execute_activity(
            call_payment_gateway,
            order_id,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=FAST_FOREVER,
        )


@workflow.defn(name="DemoBrokenWorkflow")
class DemoBrokenWorkflow:
    """A bug in workflow code: not a Temporal failure, so the workflow task fails and retries."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        raise RuntimeError(f"demo bug: total of order {order_id} is negative")


@workflow.defn(name="DemoAwaitSignal")
class DemoAwaitSignal:
    """Waits for an operator's `approve` signal; makes no progress until then."""

    def __init__(self) -> None:
        self.approval: Any = None

    @workflow.signal(name=APPROVE_SIGNAL)
    def approve(self, approval: Any = True) -> None:
        self.approval = approval

    @workflow.run
    async def run(self, order_id: str) -> str:
        await workflow.wait_condition(lambda: self.approval is not None)
        return f"{order_id} approved: {self.approval}"


@workflow.defn(name="OrderWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class OrderWorkflow:
    """Served by deployment `orders` builds v1 and v2; waits for approval like the above."""

    def __init__(self) -> None:
        self.approval: Any = None

    @workflow.signal(name=APPROVE_SIGNAL)
    def approve(self, approval: Any = True) -> None:
        self.approval = approval

    @workflow.run
    async def run(self, order_id: str) -> str:
        await workflow.wait_condition(lambda: self.approval is not None)
        return f"{order_id} shipped"


@workflow.defn(name="OrderWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class BrokenOrderWorkflow:
    """Build ``v3`` of deployment `orders`, a bad deploy: every order fails at once
    (never current; chaos experiments ramp it, see chaos/experiments/bad-deploy-ramp.yaml)."""

    @workflow.signal(name=APPROVE_SIGNAL)
    def approve(self, approval: Any = True) -> None:
        pass

    @workflow.run
    async def run(self, order_id: str) -> str:
        raise ApplicationError(f"order {order_id}: v3 cannot price orders", non_retryable=True)


DEMO_WORKFLOWS = [
    DemoCompleted,
    DemoPayment,
    DemoFailed,
    DemoStuckActivity,
    DemoBrokenWorkflow,
    DemoAwaitSignal,
]
DEMO_ACTIVITIES = [charge_card, call_payment_gateway]
