"""Stuck rules for Step Functions executions (see StepFunctionsEngine.find_stuck).

Per running execution: one GetExecutionHistory (newest events) and, when
map_items_failed is on, ListMapRuns plus DescribeMapRun per map run. A Wait state is a
deliberate pause, so an execution whose newest event is WaitStateEntered is never
reported as no_progress.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from adapters.stepfunctions_format import as_utc, open_task
from console.errors import BackendError, NotFound
from console.model import Execution, StuckHit, StuckRule, StuckRules

if TYPE_CHECKING:
    from adapters.stepfunctions import StepFunctionsEngine


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 120:
        return f"{minutes // 60}h"
    return f"{minutes}m" if minutes else f"{int(seconds)}s"


async def check(
    engine: StepFunctionsEngine, execution: Execution, rules: StuckRules, now: datetime
) -> list[StuckHit]:
    arn = str(execution.search_attributes["executionArn"])
    limit = rules.no_progress.total_seconds()
    hits: list[StuckHit] = []
    try:
        newest = await engine.newest_events(arn)
    except NotFound:
        return hits  # finished and expired between list and check
    last = as_utc(newest[0].get("timestamp")) if newest else None
    task = open_task(newest)
    if StuckRule.WAITING_ON_TASK in rules.enabled and task is not None and task.since:
        waited = (now - task.since).total_seconds()
        if waited > limit:
            what = "activity" if task.kind == "activity" else "callback (task token)"
            phase = (
                ""
                if task.kind != "activity"
                else (" started by a worker" if task.started else " not picked up by any worker")
            )
            hits.append(StuckHit(
                execution,
                StuckRule.WAITING_ON_TASK,
                f"state {task.state or '?'} waits on {what} {task.resource}{phase} "
                f"for {_age(waited)} > {_age(limit)}",
                {"kind": task.kind, "state": task.state, "resource": task.resource,
                 "since": task.since.isoformat()},
            ))  # fmt: skip
    newest_type = str(newest[0].get("type", "")) if newest else ""
    if (
        StuckRule.NO_PROGRESS in rules.enabled
        and last is not None
        and newest_type != "WaitStateEntered"
        and (now - last).total_seconds() > limit
    ):
        idle = (now - last).total_seconds()
        hits.append(StuckHit(
            execution,
            StuckRule.NO_PROGRESS,
            f"no event for {_age(idle)} > {_age(limit)} (last: {newest_type})",
            {"last_event_time": last.isoformat(), "last_event_type": newest_type},
        ))  # fmt: skip
    if StuckRule.MAP_ITEMS_FAILED in rules.enabled:
        hits.extend(await _map_runs(engine, execution, arn))
    return hits


async def _map_runs(engine: StepFunctionsEngine, execution: Execution, arn: str) -> list[StuckHit]:
    hits: list[StuckHit] = []
    try:
        page = await engine.client.call("list_map_runs", executionArn=arn, maxResults=100)
    except (NotFound, BackendError):
        return hits
    for run in page.get("mapRuns", []):
        try:
            desc = await engine.client.call("describe_map_run", mapRunArn=run["mapRunArn"])
        except (NotFound, BackendError):
            continue
        counts = desc.get("itemCounts", {}) or {}
        failed = int(counts.get("failed", 0) or 0)
        if failed > 0:
            total = counts.get("total", "?")
            hits.append(StuckHit(
                execution,
                StuckRule.MAP_ITEMS_FAILED,
                f"map run {str(run['mapRunArn']).rsplit(':', 1)[-1]}: {failed} of {total} "
                f"items failed ({desc.get('status', '?')})",
                {"mapRunArn": run["mapRunArn"], "itemCounts": dict(counts),
                 "status": desc.get("status")},
            ))  # fmt: skip
    return hits
