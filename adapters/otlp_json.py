"""OTLP JSON (``resourceSpans``) to Span: shared by Jaeger's API v3 and Tempo.

Ids in OTLP JSON are hex strings; times are ``startTimeUnixNano``/``endTimeUnixNano``
(strings or numbers, absent in some payloads); ``status.code == 2`` is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from console.model_telemetry import Span, normalise_trace_id


def attribute_value(value: Mapping[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [attribute_value(v) for v in value["arrayValue"].get("values", [])]
    return None


def attributes(items: Any) -> dict[str, Any]:
    return {a["key"]: attribute_value(a.get("value", {})) for a in items or [] if "key" in a}


def nanos(value: Any) -> datetime | None:
    if value in (None, "", 0, "0"):
        return None
    return datetime.fromtimestamp(int(value) / 1e9, UTC)


def spans_from_resource_spans(resource_spans: Any) -> list[Span]:
    """Raises KeyError/TypeError/ValueError on a malformed payload (callers wrap it)."""
    spans: list[Span] = []
    for resource in resource_spans or []:
        resource_attrs = attributes((resource.get("resource") or {}).get("attributes"))
        service = str(resource_attrs.get("service.name", ""))
        scopes = resource.get("scopeSpans") or resource.get("instrumentationLibrarySpans") or []
        for scope in scopes:
            for raw in scope.get("spans") or []:
                start, end = nanos(raw.get("startTimeUnixNano")), nanos(raw.get("endTimeUnixNano"))
                duration: timedelta | None = end - start if start and end else None
                span_attrs = attributes(raw.get("attributes"))
                status = raw.get("status") or {}
                code = status.get("code")
                spans.append(
                    Span(
                        trace_id=normalise_trace_id(str(raw["traceId"])),
                        span_id=str(raw["spanId"]),
                        name=str(raw.get("name", "")),
                        service=service,
                        parent_id=raw.get("parentSpanId") or None,
                        start=start,
                        duration=duration,
                        error=code in (2, "STATUS_CODE_ERROR"),
                        attributes=span_attrs,
                    )
                )
    return spans
