"""Count snapshots: how many executions are running, failed, terminated, per engine.

Recorded as ``counts`` links when an incident opens and closes, and by `opsdeck
incident snapshot` (scripts and drills call it after each action). Each is one
visibility count per status (cheap on every engine); a full stuck scan (describes) is
not cheap, so it is not taken here. An engine that does not answer within the timeout
is recorded as unavailable, never fails the incident verb.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from console.model import ExecutionStatus, ListQuery
from console.ports import WorkflowEngine

STATUSES = (ExecutionStatus.RUNNING, ExecutionStatus.FAILED, ExecutionStatus.TERMINATED)


async def _count(engine: WorkflowEngine, status: ExecutionStatus, timeout: float) -> int | None:
    try:
        return await asyncio.wait_for(engine.count(ListQuery(statuses=(status,))), timeout)
    except Exception:  # unavailable is recorded as None, the snapshot still is taken
        return None


async def engine_counts(
    engines: Mapping[str, WorkflowEngine], timeout: float = 5.0
) -> dict[str, dict[str, int | None]]:
    """{engine: {"running": n, "failed": n, "terminated": n}}; None where unavailable."""
    names = list(engines)
    jobs = [_count(engines[n], s, timeout) for n in names for s in STATUSES]
    values = await asyncio.gather(*jobs)
    out: dict[str, dict[str, int | None]] = {}
    for i, name in enumerate(names):
        chunk = values[i * len(STATUSES) : (i + 1) * len(STATUSES)]
        out[name] = {s.value: v for s, v in zip(STATUSES, chunk, strict=True)}
    return out


async def slo_values(session: Any, timeout: float = 15.0) -> dict[str, dict[str, Any]]:
    """Each SLO of the context now (console.slo): {name: {value, objective, met, alert,
    budget_left}} or {name: {error}}; {} without SLOs or when they take too long."""
    if not getattr(session.context, "slos", ()):
        return {}
    from console.slo.check import evaluate_all

    try:
        reports = await asyncio.wait_for(evaluate_all(session), timeout)
    except Exception:  # a snapshot without SLO values, never a failed incident verb
        return {}
    out: dict[str, dict[str, Any]] = {}
    for spec, report in zip(session.context.slos, reports, strict=True):
        if isinstance(report, BaseException):
            out[spec.name] = {"error": str(report)}
            continue
        out[spec.name] = {
            "value": report.value,
            "objective": report.objective,
            "met": report.met,
            "alert": report.alert.state,
            "budget_left": report.budget.left if report.budget else None,
        }
    return out


def counts_summary(label: str, counts: Mapping[str, Mapping[str, Any]]) -> str:
    """One line: ``opened: temporal running 12, failed 3, terminated 0``."""
    parts = []
    for engine, values in counts.items():
        shown = ", ".join(f"{k} {'?' if v is None else v}" for k, v in values.items())
        parts.append(f"{engine} {shown}")
    return f"{label}: " + ("; ".join(parts) if parts else "no engines")
