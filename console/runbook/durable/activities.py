"""The runbook workflow's activities: one step through RunbookRunner, or one answer.

``advance_step`` opens a session for the run's context (acting as the run's starter),
resumes the run from the journal and advances it by one step: checks and actions go
through the same ports, ActionRunner, policy gate and audit as a local run. A retry
after a worker died is a resume: an action's request id is journaled before it
applies, so the ActionRunner skips every target the audit shows done and nothing is
sent twice.

The worker must see the same run journal, audit journal and approvals as the CLI that
started the run (today: the same host and user, $XDG_DATA_HOME/opsdeck).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from console.errors import NotFound, OpsdeckError, PolicyDenied, UsageError
from console.runbook.durable.types import (
    ADVANCE_ACTIVITY,
    ANSWER_ACTIVITY,
    ANSWER_REJECTED,
    RUN_NOT_FOUND,
    Answer,
    DurableStart,
    StepOutcome,
)
from console.runbook.journal import RunJournal

if TYPE_CHECKING:
    from pathlib import Path

    from console.session import Session


class RunbookActivities:
    """Activities bound to one worker's config file (None: the default lookup)."""

    def __init__(
        self,
        config_path: Path | None = None,
        *,
        read_only: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config_path = config_path
        self.read_only = read_only  # `opsdeck worker --read-only`: refuse every run's changes
        self.log = log or log_line
        # One step of a run at a time in this process: the journal's claim is per
        # process, so it cannot tell a retried attempt from one still running here.
        self._busy: set[str] = set()

    def session(self, context: str, identity: dict[str, object], read_only: bool) -> Session:
        from console.policy.gate import PolicyGate
        from console.policy.model import Identity
        from console.session import open_session

        read_only = read_only or self.read_only
        session = open_session(context, read_only=read_only, config_path=self.config_path)
        who = Identity(
            user=str(identity.get("user") or ""),
            groups=tuple(str(g) for g in identity.get("groups") or ()),  # type: ignore[attr-defined]
            verified=bool(identity.get("verified")),
            issuer=str(identity["issuer"]) if identity.get("issuer") else None,
        )
        # The step acts for the run's starter: the policy decides on, and the audit
        # records, that identity (the audit also keeps the worker's OS user).
        session._gate = PolicyGate(
            session.config, session.context, read_only=read_only, identity=who
        )
        return session

    @activity.defn(name=ADVANCE_ACTIVITY)
    async def advance_step(self, start: DurableStart) -> StepOutcome:
        from console.runbook.runner import RunbookRunner

        if start.run_id in self._busy:
            raise ApplicationError(f"run {start.run_id}: a step is still running in this worker")
        self._busy.add(start.run_id)
        journal = RunJournal()
        session: Session | None = None
        try:
            # A context missing from this worker's config is an OpsdeckError like any
            # other: retried, so a fixed config on a restarted worker picks the run up.
            session = self.session(start.context, start.identity, start.read_only)
            async with _heartbeats(start.heartbeat_seconds / 3):
                try:
                    runner = RunbookRunner.resume(
                        session,
                        journal,
                        start.run_id,
                        on_event=lambda text: self.log(f"{start.run_id}: {text}"),
                    )
                except NotFound as exc:
                    raise ApplicationError(
                        f"{exc} in this worker's journal {journal.path}: the worker must share "
                        "the CLI's data directory",
                        type=RUN_NOT_FOUND,
                        non_retryable=True,
                    ) from None
                try:
                    progress = await runner.advance(max_steps=1)
                except UsageError as exc:  # out of advance() only: the run's claim is held
                    if activity.info().attempt < 2:
                        raise
                    # Temporal ended the previous attempt (its heartbeat stopped): a claim
                    # left by it, e.g. by a killed worker on another host (which the journal
                    # cannot probe), is taken over. A still-running straggler could only
                    # repeat what the journaled request id makes idempotent.
                    journal.release(start.run_id)
                    journal.note(
                        start.run_id,
                        f"attempt {activity.info().attempt} takes the run over: {exc}",
                    )
                    progress = await runner.advance(max_steps=1)
        except OpsdeckError as exc:
            # e.g. the run is claimed by another live process: retried by the workflow.
            raise ApplicationError(f"{exc.title}: {exc}", type=type(exc).__name__) from None
        finally:
            self._busy.discard(start.run_id)
            if session is not None:
                await session.close()
            journal.close()
        return StepOutcome(
            run_id=start.run_id,
            status=progress.run.status,
            step=progress.run.cursor,
            message=progress.run.message,
            waiting=progress.waiting.as_dict() if progress.waiting else None,
        )

    @activity.defn(name=ANSWER_ACTIVITY)
    async def record_answer(self, answer: Answer) -> str:
        from console.runbook.loader import parse_runbook
        from console.runbook.runner import approve

        journal = RunJournal()
        try:
            try:
                run = journal.get(answer.run_id)
            except NotFound as exc:
                raise ApplicationError(str(exc), type=RUN_NOT_FOUND, non_retryable=True) from None
            try:
                if answer.kind == "approve":
                    approve(journal, answer.run_id, answer.step, answer.identity)
                    return f"{answer.step}: approved by {answer.identity}"
                parse_runbook(run.source, run.path).step(answer.step)
                answers = dict(run.answers) | {answer.step: answer.value}
                # What RunbookRunner.answer writes, without opening a session for it.
                journal.update_run(answer.run_id, answers=answers)
                text = f"{answer.step}: answered {answer.value!r} by {answer.identity}"
                journal.note(answer.run_id, text, answer.step)
                self.log(f"{answer.run_id}: {text}")
                return text
            except (PolicyDenied, UsageError) as exc:
                journal.note(answer.run_id, f"{answer.step}: answer refused: {exc}", answer.step)
                raise ApplicationError(str(exc), type=ANSWER_REJECTED, non_retryable=True) from None
        finally:
            journal.close()


def log_line(text: str) -> None:
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
    print(f"{stamp} {text}", file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def _heartbeats(every: float) -> AsyncIterator[None]:
    """Heartbeat while a step runs, so a dead worker is noticed in one heartbeat timeout."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(max(0.2, every))

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
