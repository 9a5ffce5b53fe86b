"""Start and describe Temporal batch jobs over the HTTP API (stdlib only), so a bulk
apply on an engine with ``http-address`` imports no temporalio (~0.75 s in a fresh
process).

Routes from the server's proto annotations (temporal/api/workflowservice/v1/service.proto):
``POST /api/v1/namespaces/{namespace}/batch-operations/{job_id}`` (body: the whole
StartBatchOperationRequest) and ``GET .../batch-operations/{job_id}``. JSON as the
gateway speaks it: camelCase fields, enums by name, int64 counts as strings, fields at
their zero value left out. The body is the one the gRPC path sends (reason, identity,
rps, the plan's narrowed query, job id = request id).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

from adapters.temporal_batch_job import JobState, job_reason, job_rps
from adapters.temporal_http import HttpVisibility
from adapters.temporal_visibility import parse_time
from console.errors import BackendUnavailable, NotFound
from console.model import Plan

# A describe that fails on the way (502/503/504, a timeout, a dropped connection) is asked
# again, as the SDK retries it over gRPC: one bad poll of a long job (a describe every
# 50 ms) must not fail every target not yet reported while the job goes on.
DESCRIBE_BACKOFF = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)  # seconds, then the error is reported


def start_body(plan: Plan, job_id: str, namespace: str, identity: str) -> dict[str, Any]:
    """StartBatchOperationRequest as JSON, for the operations a plan by query runs."""
    params = plan.calls[0].params
    body: dict[str, Any] = {
        "namespace": namespace,
        "jobId": job_id,
        "reason": job_reason(plan),
        "visibilityQuery": str(params["selection"]),
    }
    rps = job_rps(params)
    if rps:
        body["maxOperationsPerSecond"] = rps
    operation = str(params["operation"])
    if operation == "terminate":
        body["terminationOperation"] = {"identity": identity}
    elif operation == "cancel":
        body["cancellationOperation"] = {"identity": identity}
    elif operation == "reset":
        # As the gRPC path: to the last workflow task, signals reapplied.
        options = {"lastWorkflowTask": {}, "resetReapplyType": "RESET_REAPPLY_TYPE_SIGNAL"}
        body["resetOperation"] = {"identity": identity, "options": options}
    else:
        raise ValueError(f"operation: no batch job by query for {operation!r}")
    return body


def job_state(body: dict[str, Any]) -> JobState:
    state = str(body.get("state") or "BATCH_OPERATION_STATE_UNSPECIFIED")
    return JobState(
        state=state.removeprefix("BATCH_OPERATION_STATE_").lower(),
        total=int(body.get("totalOperationCount") or 0),
        completed=int(body.get("completeOperationCount") or 0),
        failed=int(body.get("failureOperationCount") or 0),
        start_time=parse_time(body.get("startTime")),
    )


class HttpBatchJobs:
    """Batch jobs of one namespace through the engine's pooled HTTP client."""

    def __init__(self, http: HttpVisibility, identity: str) -> None:
        self.http = http
        self.identity = identity

    def _path(self, job_id: str) -> str:
        return f"batch-operations/{urllib.parse.quote(job_id, safe='')}"

    async def describe(self, job_id: str) -> JobState | None:
        for pause in DESCRIBE_BACKOFF:
            try:
                return await self._describe(job_id)
            except BackendUnavailable:
                await asyncio.sleep(pause)
        return await self._describe(job_id)

    async def _describe(self, job_id: str) -> JobState | None:
        try:
            body = await asyncio.to_thread(self.http.send, "GET", self._path(job_id))
        except NotFound:
            return None
        return job_state(body)

    async def start(self, plan: Plan, job_id: str) -> None:
        body = start_body(plan, job_id, self.http.namespace, self.identity)
        await asyncio.to_thread(self.http.send, "POST", self._path(job_id), None, body)
