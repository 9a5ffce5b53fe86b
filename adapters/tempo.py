"""Grafana Tempo as a TraceSource: ``/api/traces/{id}`` and TraceQL ``/api/search``.

Trace by id answers OTLP JSON; depending on the version the spans sit under
``batches`` (Tempo 1.x/2.x, v1 endpoint), ``resourceSpans``, or ``trace.resourceSpans``
(``/api/v2/traces``); all three are read. Search takes a TraceQL query (``q``) and
answers ``{"traces": [{"traceID", "rootServiceName", "rootTraceName",
"startTimeUnixNano", "durationMs"}], "metrics": {...}}``. A 404 means unknown trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from adapters.otlp_json import nanos, spans_from_resource_spans
from adapters.telemetry_http import HttpSource
from console.model_telemetry import Trace, TraceSummary, normalise_trace_id
from console.ports import SecretResolver


class TempoSource(HttpSource):
    kind = "tempo"

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> TempoSource:
        return cls(name, **cls.settings_from_config(name, settings, resolve_secret))

    async def get_trace(self, trace_id: str) -> Trace | None:
        path = f"/api/traces/{trace_id}"
        payload = await self.get_json(path, missing_ok=True)
        if payload is None:
            return None
        try:
            if "batches" in payload:
                resource_spans = payload["batches"]
            elif "trace" in payload:
                resource_spans = payload["trace"].get("resourceSpans", [])
            else:
                resource_spans = payload["resourceSpans"]
            spans = spans_from_resource_spans(resource_spans)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self.malformed(path, f"no OTLP resourceSpans/batches ({exc})") from None
        return Trace(normalise_trace_id(trace_id), tuple(spans)) if spans else None

    async def search(
        self, tags: Mapping[str, str], start: datetime, end: datetime, limit: int = 20
    ) -> Sequence[TraceSummary]:
        conditions = " && ".join(f'.{key} = "{_escape(value)}"' for key, value in tags.items())
        return await self.traceql(f"{{ {conditions} }}" if conditions else "{}", start, end, limit)

    async def traceql(
        self, query: str, start: datetime, end: datetime, limit: int = 20
    ) -> list[TraceSummary]:
        path = "/api/search"
        params = {
            "q": query,
            "start": int(start.timestamp()),
            "end": int(end.timestamp()),
            "limit": limit,
        }
        payload: Any = await self.get_json(path, params)
        try:
            return [
                TraceSummary(
                    trace_id=normalise_trace_id(item["traceID"]),
                    root_service=item.get("rootServiceName", ""),
                    root_name=item.get("rootTraceName", ""),
                    start=nanos(item.get("startTimeUnixNano")),
                    duration=timedelta(milliseconds=item["durationMs"])
                    if item.get("durationMs") is not None
                    else None,
                )
                for item in payload.get("traces") or []
            ]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self.malformed(path, f"bad search result ({exc})") from None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
