"""Plan and apply for Logic Apps: retry (resubmit), cancel (then read back), rollback.

retry = resubmit the run's trigger history (``POST .../triggers/{trigger}/histories/
{run}/resubmit``; the history name is the run name). A resubmit starts a NEW run with
the same trigger inputs and may repeat external side effects, so it is never retried
automatically (not on 429/503 either); the plan says so. Standard can resubmit from
chosen actions: params ``{"from_action": NAME}`` -> ``POST .../runs/{run}/resubmit``
with ``actionsToResubmit``.
cancel = ``POST .../runs/{run}/cancel``; accepted is not cancelled, so apply reads the
run back until it is no longer running (``cancel-verify-timeout``).
rollback = re-apply a previous version's definition (and parameters) with PUT on the
workflow; the plan carries a unified diff current -> target and the version it saw;
apply refuses if the workflow changed since, then reads the definition back.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from console.errors import NotFound, OpsdeckError, UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    ExecutionRef,
    Outcome,
    Plan,
    PlannedCall,
    TargetOutcome,
)

if TYPE_CHECKING:
    from adapters.logicapps import LogicAppsEngine

SKIP = "skip"
RESUBMIT = "ResubmitTriggerHistory"
RESUBMIT_ACTIONS = "ResubmitRunFromActions"
CANCEL = "CancelRun"
ROLLBACK = "PutWorkflow"
_OPEN = {"Running", "Waiting", "Suspended", "Paused"}
RESUBMIT_WARNING = (
    "a resubmit starts a NEW run with the same trigger inputs and may repeat external side "
    "effects (emails, payments); it is never retried automatically"
)


def definition_diff(current: Any, target: Any, a: str, b: str) -> list[str]:
    def lines(value: Any) -> list[str]:
        return json.dumps(value, indent=2, sort_keys=True).splitlines()

    return list(difflib.unified_diff(lines(current), lines(target), a, b, lineterm=""))


async def _plan_run(
    engine: LogicAppsEngine, request: ActionRequest, ref: ExecutionRef
) -> PlannedCall:
    target = str(ref)
    run = await engine.run(ref)
    props = run.get("properties") or {}
    status = str(props.get("status", ""))
    path = engine.run_path(ref)
    if request.kind == ActionKind.CANCEL:
        if status not in _OPEN:
            return PlannedCall(target, SKIP, {"why": f"already {status}"})
        return PlannedCall(target, CANCEL, {"path": f"{path}/cancel", "status": status})
    if status in _OPEN:
        return PlannedCall(target, SKIP, {"why": f"still {status}; cancel it first"})
    from_action = request.params.get("from_action")
    if from_action:
        if engine.settings.sku != "standard":
            raise UsageError("resubmitting from an action needs Logic Apps Standard")
        return PlannedCall(
            target,
            RESUBMIT_ACTIONS,
            {"path": f"{path}/resubmit", "actionsToResubmit": [{"name": str(from_action)}]},
        )
    trigger = (props.get("trigger") or {}).get("name")
    if not trigger:
        return PlannedCall(target, SKIP, {"why": "the run names no trigger to resubmit"})
    history = f"{engine.workflow_path(ref.scope)}/triggers/{trigger}/histories/{ref.workflow_id}"
    return PlannedCall(
        target,
        RESUBMIT,
        {"path": f"{history}/resubmit", "trigger": trigger, "history": ref.workflow_id,
         "status": status},
    )  # fmt: skip


async def _plan_rollback(engine: LogicAppsEngine, request: ActionRequest) -> Plan:
    workflow = request.params.get("deployment") or request.params.get("workflow")
    if not isinstance(workflow, str) or not workflow:
        raise UsageError("rollback needs params {'deployment': WORKFLOW[, 'version': ID]}")
    current = await engine.arm.get(engine.workflow_path(workflow))
    current_version = str((current.get("properties") or {}).get("version", ""))
    wanted = request.params.get("version")
    if not wanted:
        older = [v.version for v in await engine.versions(workflow) if v.version < current_version]
        if not older:
            raise UsageError(f"workflow {workflow!r} has no version older than {current_version}")
        wanted = older[0]
    wanted = str(wanted)
    try:
        version = await engine.arm.get(f"{engine.workflow_path(workflow)}/versions/{wanted}")
    except NotFound:
        raise NotFound(f"workflow {workflow!r} has no version {wanted!r}") from None
    cur_props, ver_props = current.get("properties") or {}, version.get("properties") or {}
    if "definition" not in ver_props:
        raise UsageError(f"version {wanted} of {workflow} carries no definition")
    diff = definition_diff(
        cur_props.get("definition"), ver_props.get("definition"),
        f"{workflow} (current {current_version})", f"{workflow} (version {wanted})",
    )  # fmt: skip
    body: dict[str, Any] = {
        "location": current.get("location"),
        "tags": current.get("tags") or {},
        "properties": {
            "definition": ver_props["definition"],
            "parameters": ver_props.get("parameters", cur_props.get("parameters", {})),
            "state": cur_props.get("state", "Enabled"),
        },
    }
    if cur_props.get("integrationAccount"):
        body["properties"]["integrationAccount"] = {"id": cur_props["integrationAccount"]["id"]}
    warnings = [f"definition change: {_diff_stat(diff)}"]
    if not diff:
        warnings = [f"version {wanted} has the same definition as the current one"]
    params = {
        "path": engine.workflow_path(workflow),
        "version": wanted,
        "expected_version": current_version,
        "diff": diff,
        "body": body,
        "reason": request.reason,
    }
    call = PlannedCall(f"{engine.name}:{workflow}/version/{wanted}", ROLLBACK, params)
    return Plan(request, engine.name, (call,), warnings=tuple(warnings))


def _diff_stat(diff: list[str]) -> str:
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    return f"+{added} -{removed} lines (see the diff in the plan)"


async def plan(engine: LogicAppsEngine, request: ActionRequest) -> Plan:
    capability = request.kind.capability
    if capability not in engine.capabilities:
        raise UsageError(f"{request.kind.value}: {engine.describe_capability(capability)}")
    if request.kind == ActionKind.ROLLBACK:
        return await _plan_rollback(engine, request)
    if not request.targets:
        raise UsageError(f"{request.kind.value} needs at least one run")
    calls = [await _plan_run(engine, request, ref) for ref in request.targets]
    warnings = []
    if any(c.call in (RESUBMIT, RESUBMIT_ACTIONS) for c in calls):
        warnings.append(RESUBMIT_WARNING)
    return Plan(request, engine.name, tuple(calls), warnings=tuple(warnings))


async def _read_back_cancel(engine: LogicAppsEngine, target: str) -> str:
    ref = ExecutionRef.parse(target)
    deadline = time.monotonic() + engine.settings.cancel_verify_timeout
    attempt = 0
    while True:
        status = str(((await engine.run(ref)).get("properties") or {}).get("status", ""))
        if status not in _OPEN or time.monotonic() >= deadline:
            return status
        attempt += 1
        await engine.arm.sleep(min(0.5 * attempt, 3.0))


async def _apply_one(engine: LogicAppsEngine, call: PlannedCall) -> TargetOutcome:
    p = call.params
    if call.call == SKIP:
        return TargetOutcome(call.target, Outcome.SKIPPED, str(p.get("why", "")))
    url = engine.arm.url(str(p["path"]))
    try:
        if call.call == CANCEL:
            status_code, _ = await engine.arm.request("POST", url)
            status = await _read_back_cancel(engine, call.target)
            if status in _OPEN:
                return TargetOutcome(
                    call.target,
                    Outcome.FAILED,
                    f"cancel accepted ({status_code}) but the run still reads {status} after "
                    f"{engine.settings.cancel_verify_timeout:g}s; check again",
                )
            return TargetOutcome(call.target, Outcome.OK, f"run is {status}", {"status": status})
        if call.call in (RESUBMIT, RESUBMIT_ACTIONS):
            body = (
                {"actionsToResubmit": p["actionsToResubmit"]} if "actionsToResubmit" in p else None
            )
            status_code, _ = await engine.arm.request("POST", url, body=body, retry=False)
            return TargetOutcome(
                call.target,
                Outcome.OK,
                f"resubmitted ({status_code}): a new run starts from trigger "
                f"{p.get('trigger', '?')} (not retried automatically)",
                {"http_status": status_code},
            )
        if call.call == ROLLBACK:
            return await _apply_rollback(engine, call, url)
    except OpsdeckError as e:
        return TargetOutcome(call.target, Outcome.FAILED, str(e))
    return TargetOutcome(call.target, Outcome.FAILED, f"unknown call {call.call}")


async def _apply_rollback(engine: LogicAppsEngine, call: PlannedCall, url: str) -> TargetOutcome:
    p = call.params
    current = await engine.arm.get(str(p["path"]))
    seen = str((current.get("properties") or {}).get("version", ""))
    if seen != p["expected_version"]:
        return TargetOutcome(
            call.target,
            Outcome.FAILED,
            f"workflow changed since the plan (was version {p['expected_version']}, now {seen}); "
            "plan again",
        )
    _, written = await engine.arm.request("PUT", url, body=p["body"])
    after = await engine.arm.get(str(p["path"]))
    after_props = after.get("properties") or {}
    wanted = p["body"]["properties"]["definition"]
    if after_props.get("definition") != wanted:
        return TargetOutcome(
            call.target,
            Outcome.FAILED,
            "PUT accepted but the definition read back differs from version "
            f"{p['version']}; check the workflow",
        )
    new_version = after_props.get("version") or (
        (written or {}).get("properties", {}).get("version") if isinstance(written, dict) else None
    )
    return TargetOutcome(
        call.target,
        Outcome.OK,
        f"definition of version {p['version']} re-applied (was {seen}; new version "
        f"{new_version}); read back",
        {"previous_version": seen, "new_version": new_version},
    )


async def apply(
    engine: LogicAppsEngine, plan: Plan, request_id: str
) -> AsyncIterator[TargetOutcome]:
    for call in plan.calls:
        yield await _apply_one(engine, call)
