"""What crosses the wire between the CLI, the workflow and its activities.

Plain dataclasses (the SDK's default JSON converter), no imports beyond the standard
library: the workflow sandbox passes this module through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WORKFLOW_NAME = "OpsdeckRunbook"
ADVANCE_ACTIVITY = "opsdeck.runbook.advance_step"
ANSWER_ACTIVITY = "opsdeck.runbook.record_answer"
# ApplicationError types the workflow does not retry (see activities.py).
RUN_NOT_FOUND = "RunNotFound"
ANSWER_REJECTED = "AnswerRejected"


@dataclass
class DurableStart:
    """The workflow's input; fixed for the run's life (continue-as-new passes it on)."""

    run_id: str
    context: str
    # The starter's identity as the CLI resolved it (user, groups, verified, issuer): the
    # worker's actions are that person's, so policy and audit see them, not the worker.
    identity: dict[str, Any]
    read_only: bool = False
    yes: bool = False  # --yes: confirm plans (without a production phrase) and manual steps
    heartbeat_seconds: float = 15.0
    recheck_seconds: float = 60.0  # a policy approval is granted outside: look again this often


@dataclass
class StepOutcome:
    """What one advance_step activity left: the run's status and what it waits on."""

    run_id: str
    status: str  # running, paused, waiting, done, failed
    step: str | None = None
    message: str = ""
    waiting: dict[str, Any] | None = None  # Waiting.as_dict(): step, kind, prompt, choices, plan


@dataclass
class Answer:
    """A person's answer, sent as a signal and recorded in the journal by an activity."""

    run_id: str
    step: str
    value: str
    identity: str
    kind: str = "answer"  # answer (decision, manual, confirm) | approve
