"""Plan and apply for Step Functions: retry (redrive or new execution), stop, rollback.

retry: RedriveExecution with a clientToken (uuid5 of the apply's request id and the
target: a repeated or resumed apply sends the same token and AWS does not redrive
twice) when the execution is redrivable. When it is not (succeeded, Express, closed
> 14 days ago, not redrivable per redriveStatus) the plan says why and instead plans
StartExecution of a NEW execution with the same input on the same version/alias,
named ``NAME-rN`` after the request id (StartExecution with the same name and input is
idempotent for Standard state machines); the audit records the call as StartExecution
with ``instead_of: RedriveExecution`` and the reason.
cancel and terminate both are StopExecution: Step Functions has no cooperative cancel.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from adapters.stepfunctions_format import as_utc, is_express, machine_arn_base
from adapters.stepfunctions_versions import ROLLBACK_CALL, apply_rollback, plan_rollback
from console.errors import NotFound, OpsdeckError, UsageError
from console.model import ActionKind, ActionRequest, Outcome, Plan, PlannedCall, TargetOutcome

if TYPE_CHECKING:
    from adapters.stepfunctions import StepFunctionsEngine

SKIP = "skip"
REDRIVE = "RedriveExecution"
START = "StartExecution"
STOP = "StopExecution"
STOP_VERIFY_SECONDS = 10.0
REDRIVE_WINDOW = timedelta(days=14)
_CLOSED_REDRIVABLE = {"FAILED", "TIMED_OUT", "ABORTED"}


def client_token(request_id: str, target: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"opsdeck:{request_id}:{target}"))


def why_not_redrivable(desc: dict[str, Any], now: datetime) -> str | None:
    """None when RedriveExecution can work, else the reason (AWS's rules)."""
    status = str(desc.get("status", ""))
    arn = str(desc.get("executionArn", ""))
    if is_express(arn):
        return "Express executions cannot be redriven"
    if status == "SUCCEEDED":
        return "it succeeded; only failed, timed-out or aborted executions can be redriven"
    if status not in _CLOSED_REDRIVABLE:
        return f"it is {status}, not closed"
    redrive_status = desc.get("redriveStatus")
    if redrive_status == "NOT_REDRIVABLE":
        return str(desc.get("redriveStatusReason") or "AWS reports it as not redrivable")
    if redrive_status == "REDRIVABLE_BY_MAP_RUN":
        return "it is a Map Run child: redrive the parent execution instead"
    stopped = as_utc(desc.get("stopDate"))
    if redrive_status is None and stopped is not None and now - stopped > REDRIVE_WINDOW:
        return "it closed more than 14 days ago"
    return None


async def _plan_one(
    engine: StepFunctionsEngine, request: ActionRequest, target: str, now: datetime
) -> tuple[PlannedCall, str | None]:
    from console.model import ExecutionRef

    ref = ExecutionRef.parse(target)
    arn = await engine.execution_arn(ref)
    desc = await engine.client.call("describe_execution", executionArn=arn)
    status = str(desc.get("status", ""))
    if request.kind in (ActionKind.CANCEL, ActionKind.TERMINATE):
        if status != "RUNNING":
            return PlannedCall(target, SKIP, {"why": f"already {status}"}), None
        error = "opsdeck.Canceled" if request.kind == ActionKind.CANCEL else "opsdeck.Terminated"
        params = {"executionArn": arn, "error": error, "cause": request.reason[:32768]}
        return PlannedCall(target, STOP, params), None
    # retry
    if status == "RUNNING":
        return PlannedCall(target, SKIP, {"why": "still running; nothing to retry"}), None
    why = why_not_redrivable(desc, now)
    if why is None:
        params = {"executionArn": arn, "redriveCount": desc.get("redriveCount", 0)}
        return PlannedCall(target, REDRIVE, params), None
    machine = (
        desc.get("stateMachineAliasArn")
        or desc.get("stateMachineVersionArn")
        or desc.get("stateMachineArn")
        or machine_arn_base(arn.replace(":execution:", ":stateMachine:"))
    )
    params = {
        "stateMachineArn": machine,
        "input": desc.get("input", "{}"),
        "name": f"{ref.workflow_id[:70]}-r<request>",
        "instead_of": REDRIVE,
        "why_not_redrive": why,
        "source_execution": arn,
    }
    note = f"{target} cannot be redriven ({why}): a NEW execution with the same input is planned"
    return PlannedCall(target, START, params), note


async def plan(engine: StepFunctionsEngine, request: ActionRequest) -> Plan:
    if request.kind == ActionKind.ROLLBACK:
        call, notes = await plan_rollback(engine, request)
        return Plan(request, engine.name, (call,), warnings=tuple(notes))
    if request.kind not in (ActionKind.RETRY, ActionKind.CANCEL, ActionKind.TERMINATE):
        raise UsageError(
            f"{request.kind.value}: {engine.describe_capability(request.kind.capability)}"
        )
    if not request.targets:
        raise UsageError(f"{request.kind.value} needs at least one execution")
    now = datetime.now(UTC)
    calls, warnings = [], []
    for ref in request.targets:
        call, note = await _plan_one(engine, request, str(ref), now)
        calls.append(call)
        if note:
            warnings.append(note)
    return Plan(request, engine.name, tuple(calls), warnings=tuple(warnings))


async def _apply_one(
    engine: StepFunctionsEngine, call: PlannedCall, request_id: str
) -> TargetOutcome:
    p = call.params
    if call.call == SKIP:
        return TargetOutcome(call.target, Outcome.SKIPPED, str(p.get("why", "")))
    if call.call == ROLLBACK_CALL:
        return await apply_rollback(engine, call)
    try:
        if call.call == STOP:
            resp = await engine.client.call(
                "stop_execution", executionArn=p["executionArn"], error=p["error"],
                cause=p["cause"],
            )  # fmt: skip
            desc = await _read_back_stopped(engine, str(p["executionArn"]))
            if desc.get("status") == "RUNNING":
                return TargetOutcome(
                    call.target, Outcome.FAILED,
                    f"StopExecution accepted but the execution still reads RUNNING after "
                    f"{STOP_VERIFY_SECONDS:g}s; check again",
                )  # fmt: skip
            return TargetOutcome(
                call.target, Outcome.OK, f"stopped: now {desc.get('status')}",
                {"stopDate": str(resp.get("stopDate", "")), "status": desc.get("status")},
            )  # fmt: skip
        if call.call == REDRIVE:
            token = client_token(request_id, call.target)
            resp = await engine.client.call(
                "redrive_execution", executionArn=p["executionArn"], clientToken=token
            )
            return TargetOutcome(
                call.target, Outcome.OK, f"redriven at {resp.get('redriveDate')}",
                {"clientToken": token, "redriveDate": str(resp.get("redriveDate", ""))},
            )  # fmt: skip
        if call.call == START:
            name = str(p["name"]).replace("<request>", request_id.replace("-", "")[:8])
            existing = await _existing(engine, str(p["source_execution"]), name)
            if existing is not None:
                return TargetOutcome(
                    call.target, Outcome.OK,
                    f"new execution {name} was already started by this request "
                    f"(now {existing.get('status')})",
                    {"newExecutionArn": existing.get("executionArn"), "instead_of": REDRIVE},
                )  # fmt: skip
            resp = await engine.client.call(
                "start_execution", stateMachineArn=p["stateMachineArn"], name=name,
                input=p["input"],
            )  # fmt: skip
            return TargetOutcome(
                call.target, Outcome.OK,
                f"new execution {name} started with the same input (not a redrive: "
                f"{p.get('why_not_redrive')})",
                {"newExecutionArn": resp.get("executionArn"), "instead_of": REDRIVE},
            )  # fmt: skip
    except OpsdeckError as e:
        return TargetOutcome(call.target, Outcome.FAILED, str(e))
    return TargetOutcome(call.target, Outcome.FAILED, f"unknown call {call.call}")


async def _read_back_stopped(engine: StepFunctionsEngine, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + STOP_VERIFY_SECONDS
    while True:
        desc = await engine.client.call("describe_execution", executionArn=arn)
        if desc.get("status") != "RUNNING" or time.monotonic() >= deadline:
            return desc
        await asyncio.sleep(0.25)


async def _existing(
    engine: StepFunctionsEngine, source_arn: str, name: str
) -> dict[str, Any] | None:
    """The execution a previous apply of this request started, if any (resume safety:
    StartExecution is only idempotent while the earlier execution is still running)."""
    arn = f"{source_arn.rsplit(':', 1)[0]}:{name}"
    try:
        return await engine.client.call("describe_execution", executionArn=arn)
    except NotFound:
        return None


async def apply(
    engine: StepFunctionsEngine, plan: Plan, request_id: str
) -> AsyncIterator[TargetOutcome]:
    for call in plan.calls:
        yield await _apply_one(engine, call, request_id)
