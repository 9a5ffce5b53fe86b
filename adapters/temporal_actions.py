"""Plan and apply changes: retry (reset), cancel, terminate, signal, rollback.

Idempotency: each target's request id is derived from the apply's request id and
the target (uuid5), so applying the same plan twice sends the same ids and the server
de-duplicates. A batch job's id *is* the request id: a resumed apply finds the job
already running and just watches it. Batch cancel/terminate/signal select the running
executions by a `WorkflowId IN (...)` query; batch retry names the exact executions
(a query would match every older run of each id and reset those too).

Retry means ResetWorkflowExecution to the last completed workflow task (or, when the
workflow never completed one, to its first failed one); with params {"mode":
"activity"} it is ResetActivity instead (attempts back to 1, server >= 1.27).
Signal params: {"signal": NAME, "input": VALUE} where VALUE is any JSON-serialisable
value, or {"input_json": TEXT} to pass JSON text as typed by an operator.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from google.protobuf.empty_pb2 import Empty
from temporalio.api.batch.v1 import (
    BatchOperationCancellation,
    BatchOperationReset,
    BatchOperationResetActivities,
    BatchOperationSignal,
    BatchOperationTermination,
)
from temporalio.api.common.v1 import Payload, Payloads, ResetOptions, WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState, ResetReapplyType
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    DescribeBatchOperationResponse,
    GetWorkflowExecutionHistoryReverseRequest,
    RequestCancelWorkflowExecutionRequest,
    ResetActivityRequest,
    ResetWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest,
    StartBatchOperationRequest,
    TerminateWorkflowExecutionRequest,
)

from adapters.temporal_client import Connection
from adapters.temporal_history import event_type_name
from adapters.temporal_targets import (
    PinnedRun,
    closed_reset_warning,
    newer_run_since_plan,
    pin_all,
    skip_reason,
)
from adapters.temporal_versions import apply_rollback, plan_rollback
from adapters.temporal_visibility import workflow_ids_query
from console.errors import BackendError, NotFound, OpsdeckError, UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    ExecutionRef,
    Outcome,
    Plan,
    PlannedCall,
    TargetOutcome,
)

BATCHABLE = {ActionKind.RETRY, ActionKind.CANCEL, ActionKind.TERMINATE, ActionKind.SIGNAL}
BATCH_WAIT_SECONDS = 60.0
SKIP = "skip"
_CALLS = {
    ActionKind.CANCEL: "RequestCancelWorkflowExecution",
    ActionKind.TERMINATE: "TerminateWorkflowExecution",
    ActionKind.SIGNAL: "SignalWorkflowExecution",
}


def target_request_id(request_id: str, target: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"opsdeck:{request_id}:{target}"))


def signal_input(params: Mapping[str, Any]) -> Payloads | None:
    if "input_json" in params and params["input_json"] not in (None, ""):
        try:
            value = json.loads(str(params["input_json"]))
        except ValueError as e:
            raise UsageError(f"signal input is not valid JSON: {e}") from None
    elif "input" in params:
        value = params["input"]
    else:
        return None
    data = json.dumps(value, separators=(",", ":")).encode()
    return Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=data)])


def _retry_mode(request: ActionRequest) -> str:
    mode = str(request.params.get("mode", "workflow"))
    if mode not in ("workflow", "activity"):
        raise UsageError(f"retry mode must be 'workflow' or 'activity', not {mode!r}")
    return mode


def _validate(request: ActionRequest) -> None:
    if request.kind == ActionKind.SIGNAL:
        if not request.params.get("signal"):
            raise UsageError("signal needs params {'signal': NAME[, 'input': VALUE]}")
        signal_input(request.params)
    if request.kind == ActionKind.RETRY:
        _retry_mode(request)
    if not request.targets:
        raise UsageError(f"{request.kind.value} needs at least one execution")


async def reset_point(conn: Connection, ref: ExecutionRef) -> tuple[str, int | None]:
    """(run id, event id to reset to): the last WorkflowTaskCompleted, else first failed one."""
    run_id = ref.run_id or (await conn.describe(ref)).workflow_execution_info.execution.run_id
    execution = WorkflowExecution(workflow_id=ref.workflow_id, run_id=run_id)
    token, earliest_failed = b"", None
    while True:
        resp = await conn.call(
            conn.service.get_workflow_execution_history_reverse,
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=conn.namespace_of(ref),
                execution=execution,
                maximum_page_size=500,
                next_page_token=token,
            ),
        )
        for event in resp.history.events:
            kind = event_type_name(event)
            if kind == "WorkflowTaskCompleted":
                return run_id, event.event_id
            if kind in ("WorkflowTaskFailed", "WorkflowTaskTimedOut"):
                earliest_failed = event.event_id
        token = resp.next_page_token
        if not token:
            return run_id, earliest_failed


async def _plan_call(
    conn: Connection, request: ActionRequest, run: PinnedRun
) -> tuple[PlannedCall, str | None]:
    """The call for one pinned run, and a warning for the plan (or None)."""
    # A plan names exact targets: the run the operator saw, so a run started between
    # preview and apply is never hit by a change meant for its predecessor.
    ref = run.ref
    target = str(ref)
    mode = _retry_mode(request) if request.kind == ActionKind.RETRY else ""
    why = skip_reason(request.kind, mode, run)
    if why is not None:
        return PlannedCall(target, SKIP, {"why": why}), None
    base: dict[str, Any] = {
        "namespace": conn.namespace_of(ref),
        "workflow_id": ref.workflow_id,
        "run_id": ref.run_id,
        "reason": request.reason,
        "identity": conn.identity,
    }
    if request.kind == ActionKind.RETRY:
        if mode == "activity":
            activity = request.params.get("activity_id")
            call = PlannedCall(
                target, "ResetActivity", base | {"activity_id": activity or "all pending"}
            )
            return call, None
        run_id, event_id = await reset_point(conn, ref)
        if event_id is None:
            return PlannedCall(target, SKIP, {"why": "no workflow task to reset to yet"}), None
        call = PlannedCall(
            target,
            "ResetWorkflowExecution",
            base | {"run_id": run_id, "workflow_task_finish_event_id": event_id,
                    "reapply": "signals"},
        )  # fmt: skip
        return call, closed_reset_warning(run)
    params = dict(base)
    if request.kind == ActionKind.SIGNAL:
        params["signal"] = request.params["signal"]
        if "input" in request.params or "input_json" in request.params:
            payloads = signal_input(request.params)
            params["input"] = json.loads(payloads.payloads[0].data) if payloads else None
    return PlannedCall(target, _CALLS[request.kind], params), None


def batch_operation(request: ActionRequest) -> str:
    if request.kind == ActionKind.RETRY:
        return "reset_activities" if _retry_mode(request) == "activity" else "reset"
    return {ActionKind.CANCEL: "cancel", ActionKind.TERMINATE: "terminate"}.get(
        request.kind, "signal"
    )


async def plan(conn: Connection, request: ActionRequest, batch_threshold: int) -> Plan:
    if request.kind == ActionKind.ROLLBACK:
        call, notes = await plan_rollback(conn, request)
        return Plan(request, conn.engine, (call,), warnings=tuple(notes))
    _validate(request)
    runs = await pin_all(conn, request.targets)
    planned = await asyncio.gather(*(_plan_call(conn, request, run) for run in runs))
    skips = [c for c, _ in planned if c.call == SKIP]
    warnings = [f"{c.target}: skipped, {c.params.get('why')}" for c in skips]
    warnings += [w for _, w in planned if w]
    live = [c for c, _ in planned if c.call != SKIP]
    if len(live) > batch_threshold and request.kind in BATCHABLE:
        operation = batch_operation(request)
        params: dict[str, Any] = {"operation": operation, "reason": request.reason}
        if request.kind == ActionKind.SIGNAL:
            params["signal"] = request.params["signal"]
        calls = tuple(
            PlannedCall(c.target, f"StartBatchOperation({operation})", params) for c in live
        )
        warnings.insert(
            0,
            f"{len(calls)} executions (more than the batch threshold {batch_threshold}): "
            "runs as one server-side batch job that continues if this client goes away",
        )
        return Plan(
            request, conn.engine, calls + tuple(skips), batch=True, warnings=tuple(warnings)
        )
    return Plan(request, conn.engine, tuple(c for c, _ in planned), warnings=tuple(warnings))


def _execution(params: Mapping[str, Any]) -> WorkflowExecution:
    return WorkflowExecution(
        workflow_id=str(params["workflow_id"]), run_id=str(params.get("run_id") or "")
    )


async def _apply_call(conn: Connection, call: PlannedCall, request_id: str) -> TargetOutcome:
    p = call.params
    rid = target_request_id(request_id, call.target)
    details: dict[str, Any] = {"request_id": rid}
    if call.call == "ResetWorkflowExecution":
        # Resetting a run that is no longer the latest would terminate the newer run.
        newer = await newer_run_since_plan(conn, ExecutionRef.parse(call.target))
        if newer is not None:
            why = f"a newer run {newer[:8]} started since the plan; nothing reset"
            return TargetOutcome(call.target, Outcome.SKIPPED, why, details)
        resp = await conn.call(
            conn.service.reset_workflow_execution,
            ResetWorkflowExecutionRequest(
                namespace=str(p["namespace"]),
                workflow_execution=_execution(p),
                reason=str(p.get("reason") or "opsdeck retry"),
                workflow_task_finish_event_id=int(p["workflow_task_finish_event_id"]),
                request_id=rid,
                reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL,
                identity=conn.identity,
            ),
            retry=True,
        )
        details["new_run_id"] = resp.run_id
        message = f"reset to event {p['workflow_task_finish_event_id']}; new run {resp.run_id}"
        return TargetOutcome(call.target, Outcome.OK, message, details)
    if call.call == "ResetActivity":
        activity = p.get("activity_id")
        one = activity not in (None, "", "all pending")
        await conn.call(
            conn.service.reset_activity,
            ResetActivityRequest(
                namespace=str(p["namespace"]),
                execution=_execution(p),
                identity=conn.identity,
                id=str(activity) if one else "",
                match_all=not one,
            ),
            retry=True,
        )
        what = f"activity {activity}" if one else "pending activities"
        return TargetOutcome(call.target, Outcome.OK, f"{what} reset to attempt 1", details)
    if call.call == _CALLS[ActionKind.CANCEL]:
        await conn.call(
            conn.service.request_cancel_workflow_execution,
            RequestCancelWorkflowExecutionRequest(
                namespace=str(p["namespace"]),
                workflow_execution=_execution(p),
                identity=conn.identity,
                request_id=rid,
                reason=str(p.get("reason") or ""),
            ),
            retry=True,
        )
        return TargetOutcome(call.target, Outcome.OK, "cancellation requested", details)
    if call.call == _CALLS[ActionKind.TERMINATE]:
        await conn.call(
            conn.service.terminate_workflow_execution,
            TerminateWorkflowExecutionRequest(
                namespace=str(p["namespace"]),
                workflow_execution=_execution(p),
                reason=str(p.get("reason") or ""),
                identity=conn.identity,
            ),
            retry=False,
        )
        return TargetOutcome(call.target, Outcome.OK, "terminated", details)
    if call.call == _CALLS[ActionKind.SIGNAL]:
        payloads = signal_input(p)
        await conn.call(
            conn.service.signal_workflow_execution,
            SignalWorkflowExecutionRequest(
                namespace=str(p["namespace"]),
                workflow_execution=_execution(p),
                signal_name=str(p["signal"]),
                input=payloads,
                identity=conn.identity,
                request_id=rid,
                header=_trace_header(),
            ),
            retry=True,
        )
        return TargetOutcome(call.target, Outcome.OK, f"signal {p['signal']} sent", details)
    raise BackendError(f"unknown planned call {call.call!r}")


def _trace_header() -> Any:
    """When opsdeck's actions are traced (console.telemetry), the current trace context as
    the header Temporal's OpenTelemetry interceptor reads (``_tracer-data``), so a traced
    workflow's signal handling joins the incident's trace; else None."""
    from console import telemetry

    if not telemetry.enabled():
        return None
    traceparent = telemetry.current_traceparent()
    if not traceparent:
        return None
    import temporalio.converter
    from temporalio.api.common.v1 import Header

    carrier = {"traceparent": traceparent}
    payload = temporalio.converter.PayloadConverter.default.to_payloads([carrier])[0]
    return Header(fields={"_tracer-data": payload})


def _already_closed(error: OpsdeckError) -> bool:
    return isinstance(error, NotFound) and "already completed" in error.message


async def _apply_one(conn: Connection, call: PlannedCall, request_id: str) -> TargetOutcome:
    if call.call == SKIP:
        return TargetOutcome(call.target, Outcome.SKIPPED, str(call.params.get("why", "")))
    try:
        return await _apply_call(conn, call, request_id)
    except OpsdeckError as e:
        if _already_closed(e) and call.call in (
            _CALLS[ActionKind.CANCEL],
            _CALLS[ActionKind.TERMINATE],
        ):
            return TargetOutcome(call.target, Outcome.SKIPPED, "already closed")
        return TargetOutcome(call.target, Outcome.FAILED, str(e))


def _batch_request(
    conn: Connection, plan_: Plan, job_id: str, refs: list[ExecutionRef]
) -> tuple[StartBatchOperationRequest, str]:
    """The job and what it selects: running executions by id (cancel, terminate, signal),
    or the exact executions for a retry (a query would also reset every older run)."""
    request = plan_.request
    reason = request.reason or f"opsdeck {request.kind.value}"
    req = StartBatchOperationRequest(namespace=conn.namespace, job_id=job_id, reason=reason)
    if request.kind == ActionKind.RETRY:
        req.executions.extend(
            WorkflowExecution(workflow_id=r.workflow_id, run_id=r.run_id or "") for r in refs
        )
        selection = f"{len(refs)} executions by id and run"
    else:
        selection = workflow_ids_query([r.workflow_id for r in refs], only_running=True)
        req.visibility_query = selection
    req.max_operations_per_second = float(request.params.get("rps") or 0)
    set_batch_operation(req, conn, request)
    return req, selection


def set_batch_operation(
    req: StartBatchOperationRequest, conn: Connection, request: ActionRequest
) -> None:
    """The job's operation (terminate, cancel, signal, reset, reset activities)."""
    operation = batch_operation(request)
    if operation == "terminate":
        req.termination_operation.CopyFrom(BatchOperationTermination(identity=conn.identity))
    elif operation == "cancel":
        req.cancellation_operation.CopyFrom(BatchOperationCancellation(identity=conn.identity))
    elif operation == "signal":
        req.signal_operation.CopyFrom(
            BatchOperationSignal(
                signal=str(request.params["signal"]),
                input=signal_input(request.params),
                identity=conn.identity,
            )
        )
    elif operation == "reset":
        options = ResetOptions(
            last_workflow_task=Empty(),
            reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL,
        )
        req.reset_operation.CopyFrom(BatchOperationReset(identity=conn.identity, options=options))
    else:
        req.reset_activities_operation.CopyFrom(
            BatchOperationResetActivities(
                identity=conn.identity, match_all=True, reset_attempts=True
            )
        )


async def describe_batch(conn: Connection, job_id: str) -> DescribeBatchOperationResponse | None:
    try:
        return await conn.call(
            conn.service.describe_batch_operation,
            DescribeBatchOperationRequest(namespace=conn.namespace, job_id=job_id),
        )
    except NotFound:
        return None


async def _apply_batch(
    conn: Connection, plan_: Plan, request_id: str, wait: float
) -> AsyncIterator[TargetOutcome]:
    for call in plan_.calls:
        if call.call == SKIP:
            yield TargetOutcome(call.target, Outcome.SKIPPED, str(call.params.get("why", "")))
    targets = [c.target for c in plan_.calls if c.call != SKIP]
    if not targets:
        return
    refs = [ExecutionRef.parse(t) for t in targets]
    job_id = request_id
    start, selection = _batch_request(conn, plan_, job_id, refs)
    try:
        state = await describe_batch(conn, job_id)
        if state is None:  # not a resumed apply: start the job
            await conn.call(
                conn.service.start_batch_operation,
                start,
                retry=True,
            )
        deadline = time.monotonic() + wait
        while True:
            state = await describe_batch(conn, job_id)
            done = state is not None and state.state in (
                BatchOperationState.BATCH_OPERATION_STATE_COMPLETED,
                BatchOperationState.BATCH_OPERATION_STATE_FAILED,
            )
            if done or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    except OpsdeckError as e:
        for target in targets:
            yield TargetOutcome(target, Outcome.FAILED, str(e), {"batch_job_id": job_id})
        return
    details: dict[str, Any] = {"batch_job_id": job_id, "selection": selection}
    if state is None or state.state == BatchOperationState.BATCH_OPERATION_STATE_RUNNING:
        outcome, message = Outcome.SUBMITTED, f"batch job {job_id} accepted, still running"
    elif state.state == BatchOperationState.BATCH_OPERATION_STATE_FAILED:
        outcome, message = Outcome.FAILED, f"batch job {job_id} failed"
    else:
        outcome = Outcome.OK
        message = (
            f"batch job {job_id} completed: {state.complete_operation_count}/"
            f"{state.total_operation_count} done, {state.failure_operation_count} failed"
        )
    if state is not None:
        details |= {
            "total": state.total_operation_count,
            "completed": state.complete_operation_count,
            "failed": state.failure_operation_count,
        }
    for target in targets:
        yield TargetOutcome(target, outcome, message, details)


async def apply(
    conn: Connection, plan_: Plan, request_id: str, *, batch_wait: float = BATCH_WAIT_SECONDS
) -> AsyncIterator[TargetOutcome]:
    if plan_.batch:
        async for outcome in _apply_batch(conn, plan_, request_id, batch_wait):
            yield outcome
        return
    for call in plan_.calls:
        if plan_.request.kind == ActionKind.ROLLBACK:
            yield await apply_rollback(conn, call)
        else:
            yield await _apply_one(conn, call, request_id)
