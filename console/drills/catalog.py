"""The drills opsdeck ships, by name."""

from __future__ import annotations

from console.drills.dlq_drill import POISON_DLQ
from console.drills.model import Drill
from console.drills.temporal_drills import BAD_DEPLOY, STUCK_STORM, WORKER_LOSS
from console.errors import UsageError

DRILLS: dict[str, Drill] = {d.name: d for d in (STUCK_STORM, BAD_DEPLOY, POISON_DLQ, WORKER_LOSS)}


def get_drill(name: str) -> Drill:
    try:
        return DRILLS[name]
    except KeyError:
        raise UsageError(f"unknown drill {name!r}; known: {', '.join(DRILLS)}") from None


def runbook_steps(name: str) -> list[str]:
    """The titles of the runbook's steps (its guidance), or one line saying why not."""
    try:
        from console.runbook.catalog import find

        return [step.title for step in find(name).steps]
    except Exception as exc:  # a broken runbook file must not break a drill
        return [f"(runbook {name} not readable: {exc})"]
