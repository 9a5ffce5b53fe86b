"""The ramp journal: the ramp's records in the audit journal, keyed by the ramp id.

Why the audit journal and not a file of its own: every step must be audited anyway,
the audit journal is append-only, committed per record (SQLite WAL, synchronous
FULL, or the team's PostgreSQL store) and already the journal that `--request-id`
resumes of other changes read (console.actions.runner). A second journal would have
to agree with it after every crash; one journal cannot disagree with itself.

Records (request id = ramp id, target = the deployment):

=========================  ======================================================
``versions.ramp.start``    the plan (parameters.plan), before anything changes
``versions.ramp``          one per applied step (parameters.step, percentage)
``versions.ramp.check``    the guard's verdict after a step's hold (ok / failed)
``versions.ramp.hold``     the operator stopped the ramp at a step (resumable)
``versions.ramp.rollback`` the rollback: previous version restored, ramp cleared
=========================  ======================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.errors import UsageError
from console.rollout.plan import RampPlan

if TYPE_CHECKING:
    from console.audit import AuditJournal, AuditRecord

START, STEP, CHECK, HOLD, ROLLBACK = (
    "versions.ramp.start",
    "versions.ramp",
    "versions.ramp.check",
    "versions.ramp.hold",
    "versions.ramp.rollback",
)


@dataclass
class RampProgress:
    """What the journal says of one ramp."""

    plan: RampPlan
    applied: dict[int, datetime] = field(default_factory=dict)  # step -> when applied
    checked: set[int] = field(default_factory=set)  # steps whose guard passed
    breached: bool = False
    rolled_back: bool = False
    step_records: int = 0

    @property
    def last_applied(self) -> int:
        return max(self.applied, default=0)

    @property
    def finished(self) -> bool:
        return self.rolled_back or len(self.plan.steps) in self.checked


def _when(record: AuditRecord) -> datetime:
    when = datetime.fromisoformat(record.time.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class RampJournal:
    def __init__(self, audit: AuditJournal, *, identity: str, policy: Mapping[str, Any]) -> None:
        self.audit = audit
        self.identity = identity
        self.policy = dict(policy)  # the decision every record carries

    def load(self, ramp_id: str) -> RampProgress | None:
        records = list(reversed(self.audit.list(limit=None, request_id=ramp_id)))
        start = next((r for r in records if r.action == START), None)
        if start is None:
            return None
        try:
            plan = RampPlan.from_data(dict(start.parameters["plan"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"ramp {ramp_id}: its journal record #{start.id} has no plan "
                             f"({exc})") from None  # fmt: skip
        progress = RampProgress(plan)
        for record in records:
            step = record.parameters.get("step")
            if record.action == STEP and record.outcome == "ok" and isinstance(step, int):
                progress.applied[step] = _when(record)
                progress.step_records += 1
            elif record.action == CHECK and isinstance(step, int):
                if record.outcome == "ok":
                    progress.checked.add(step)
                else:
                    progress.breached = True
            elif record.action == ROLLBACK and record.outcome == "ok":
                progress.rolled_back = True
        return progress

    def write(
        self,
        plan: RampPlan,
        action: str,
        outcome: str,
        message: str,
        params: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        return self.audit.append(
            context=plan.context,
            action=action,
            engine=plan.engine,
            target=plan.target,
            outcome=outcome,
            parameters={
                "deployment": plan.deployment,
                "version": plan.version,
                **dict(params or {}),
                "policy": self.policy,
            },
            reason=plan.reason,
            message=message,
            request_id=plan.ramp_id,
            identity=self.identity,
        )
