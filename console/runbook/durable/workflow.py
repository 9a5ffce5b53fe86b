"""The runbook workflow: advance one step per activity, wait for people in between.

Deterministic by construction: the run's state lives in the run journal and only the
activities touch it; the workflow keeps just an inbox of answers (signals) and what the
last step said it waits on. Activities are called by name, so this module imports
nothing from opsdeck but the wire types (passed through the sandbox). Runs in flight
replay this code on every worker start: a change to the loop's shape (activities, their
order, waits) needs ``workflow.patched()``; step semantics live in the runner and may
change freely.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from console.runbook.durable.types import (
        ADVANCE_ACTIVITY,
        ANSWER_ACTIVITY,
        ANSWER_REJECTED,
        RUN_NOT_FOUND,
        Answer,
        DurableStart,
        StepOutcome,
    )

# advance_step: errors that reach Temporal are infrastructure (journal busy, the run
# claimed by another live process, a worker that died mid-step); step failures are
# journaled by the runner and come back as a normal outcome. The runner never repeats
# a finished action, so retrying for as long as it takes is safe; the backoff caps at a
# minute so a fixed outage resumes soon. A worker killed mid-step is noticed by the
# heartbeat timeout, not the (long) start-to-close bound that only catches a hung step.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    non_retryable_error_types=[RUN_NOT_FOUND],
)
STEP_START_TO_CLOSE = timedelta(hours=1)
# record_answer is one journal write (idempotent: the same answer or approval twice is
# the same row); a rejected answer (e.g. approving one's own run) is final.
ANSWER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=20,
    non_retryable_error_types=[ANSWER_REJECTED, RUN_NOT_FOUND],
)
ANSWER_START_TO_CLOSE = timedelta(seconds=30)


@workflow.defn(name="OpsdeckRunbook")
class RunbookWorkflow:
    def __init__(self) -> None:
        self._inbox: list[Answer] = []
        self._poke = False
        self._waiting: dict[str, object] | None = None
        self._status = "running"

    @workflow.signal(name="answer")
    def answer(self, answer: Answer) -> None:
        self._inbox.append(answer)

    @workflow.signal(name="resume")
    def resume(self) -> None:
        """Look again now (e.g. a policy approval was granted): `opsdeck runbook resume`."""
        self._poke = True

    @workflow.query(name="waiting")
    def waiting(self) -> dict[str, object] | None:
        return self._waiting

    @workflow.query(name="status")
    def status(self) -> str:
        return self._status

    @workflow.run
    async def run(self, start: DurableStart) -> StepOutcome:
        while True:
            outcome: StepOutcome = await workflow.execute_activity(
                ADVANCE_ACTIVITY,
                start,
                result_type=StepOutcome,
                start_to_close_timeout=STEP_START_TO_CLOSE,
                heartbeat_timeout=timedelta(seconds=start.heartbeat_seconds),
                retry_policy=STEP_RETRY,
            )
            self._status = outcome.status
            if outcome.status in ("done", "failed"):
                self._waiting = None
                return outcome
            if outcome.waiting is not None:
                self._waiting = outcome.waiting
                self._auto_answer(start, outcome.waiting)
                await self._wait_for_people(start, outcome.waiting)
                self._waiting = None
            await self._record_answers()
            if workflow.info().is_continue_as_new_suggested():
                # The journal holds the state; only unread answers must travel along.
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._record_answers()
                workflow.continue_as_new(start)

    def _auto_answer(self, start: DurableStart, waiting: dict[str, object]) -> None:
        """--yes: what the local flow confirms by itself (never a production phrase)."""
        if not start.yes:
            return
        plan = waiting.get("plan")
        phrase = plan.get("confirmation") if isinstance(plan, dict) else None
        value = {"manual": "done", "confirm": "yes" if phrase is None else None}.get(
            str(waiting.get("kind"))
        )
        if value is not None:
            user = str(start.identity.get("user", ""))
            self._inbox.append(Answer(start.run_id, str(waiting["step"]), value, user))

    async def _wait_for_people(self, start: DurableStart, waiting: dict[str, object]) -> None:
        # An approval may be granted outside the workflow (`opsdeck approvals approve`):
        # look again now and then; anything else only moves with an answer.
        timeout = (
            timedelta(seconds=start.recheck_seconds) if waiting.get("kind") == "approval" else None
        )
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: bool(self._inbox) or self._poke, timeout=timeout)
        self._poke = False

    async def _record_answers(self) -> None:
        while self._inbox:
            answer = self._inbox.pop(0)
            # A refused answer: the activity wrote why into the transcript; keep waiting.
            with contextlib.suppress(ActivityError):
                await workflow.execute_activity(
                    ANSWER_ACTIVITY,
                    answer,
                    start_to_close_timeout=ANSWER_START_TO_CLOSE,
                    retry_policy=ANSWER_RETRY,
                )
