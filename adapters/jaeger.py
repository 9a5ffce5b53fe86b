"""Jaeger as a TraceSource: HTTP query API v1 (``/api/traces``) or v3 (``/api/v3/traces``).

Settings (besides those of adapters.telemetry_http): ``api`` - ``v1`` (default; Jaeger
1.x and 2.x) or ``v3`` (Jaeger 2.x, OTLP JSON under ``result.resourceSpans``);
``service`` - the service searched when looking traces up by tags (both APIs need one).

v1 payload: ``{"data": [{"traceID", "spans": [...], "processes": {...}}], "errors"}``;
span times are microseconds, parents are ``CHILD_OF`` references, ``error=true`` tags
mark failures. A 404 means the trace is unknown (None), not an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.otlp_json import spans_from_resource_spans
from adapters.telemetry_http import HttpSource
from console.errors import ConfigError
from console.model_telemetry import Span, Trace, TraceSummary, normalise_trace_id
from console.ports import SecretResolver


class JaegerSource(HttpSource):
    kind = "jaeger"

    def __init__(self, name: str, url: str, *, api: str = "v1", service: str = "", **http: Any):
        super().__init__(name, url, **http)
        self.api = api
        self.service = service

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> JaegerSource:
        http = cls.settings_from_config(name, settings, resolve_secret)
        api = str(settings.get("api", "v1"))
        if api not in ("v1", "v3"):
            raise ConfigError(f"source {name!r} (jaeger): api: expected v1 or v3, got {api!r}")
        return cls(name, api=api, service=str(settings.get("service", "")), **http)

    async def get_trace(self, trace_id: str) -> Trace | None:
        if self.api == "v3":
            path = f"/api/v3/traces/{trace_id}"
            payload = await self.get_json(path, missing_ok=True)
            if payload is None:
                return None
            spans = self._otlp(payload, path)
        else:
            path = f"/api/traces/{trace_id}"
            payload = await self.get_json(path, missing_ok=True)
            if payload is None:
                return None
            if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), list):
                raise self.malformed(path, "no 'data' list")
            spans = [s for trace in payload["data"] for s in self._v1_spans(trace, path)]
        return Trace(normalise_trace_id(trace_id), tuple(spans)) if spans else None

    async def search(
        self, tags: Mapping[str, str], start: datetime, end: datetime, limit: int = 20
    ) -> Sequence[TraceSummary]:
        if not self.service:
            raise ConfigError(f"source {self.name!r} (jaeger): service: required to search")
        if self.api == "v3":
            path = "/api/v3/traces"
            params: dict[str, Any] = {
                "query.service_name": self.service,
                "query.start_time_min": _rfc3339(start),
                "query.start_time_max": _rfc3339(end),
                "query.search_depth": limit,
            }
            for key, value in tags.items():
                params[f"query.attributes.{key}"] = value
            payload = await self.get_json(path, params, missing_ok=True)
            spans = self._otlp(payload, path) if payload is not None else []
            return _summaries(spans)
        import json

        path = "/api/traces"
        params = {
            "service": self.service,
            "start": int(start.timestamp() * 1e6),
            "end": int(end.timestamp() * 1e6),
            "limit": limit,
        }
        if tags:
            params["tags"] = json.dumps(dict(tags))
        payload = await self.get_json(path, params)
        if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), list):
            raise self.malformed(path, "no 'data' list")
        return _summaries([s for trace in payload["data"] for s in self._v1_spans(trace, path)])

    def _otlp(self, payload: Any, path: str) -> list[Span]:
        try:
            return spans_from_resource_spans(payload["result"]["resourceSpans"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self.malformed(path, f"no result.resourceSpans ({exc})") from None

    def _v1_spans(self, trace: Any, path: str) -> list[Span]:
        try:
            processes = trace.get("processes") or {}
            spans = []
            for raw in trace["spans"]:
                tags = {t["key"]: t.get("value") for t in raw.get("tags") or []}
                parent = next(
                    (
                        r["spanID"]
                        for r in raw.get("references") or []
                        if r.get("refType") == "CHILD_OF" and r.get("traceID") == raw["traceID"]
                    ),
                    None,
                )
                process = processes.get(raw.get("processID"), {})
                start = raw.get("startTime")
                duration = raw.get("duration")
                spans.append(
                    Span(
                        trace_id=normalise_trace_id(raw["traceID"]),
                        span_id=raw["spanID"],
                        name=raw.get("operationName", ""),
                        service=process.get("serviceName", ""),
                        parent_id=parent,
                        start=datetime.fromtimestamp(start / 1e6, UTC) if start else None,
                        duration=timedelta(microseconds=duration) if duration is not None else None,
                        error=tags.get("error") in (True, "true"),
                        attributes=tags,
                    )
                )
            return spans
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self.malformed(path, f"bad v1 trace ({exc})") from None


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _summaries(spans: Sequence[Span]) -> list[TraceSummary]:
    """One summary per trace: its root span (no parent), else its earliest span."""
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    out = []
    for trace_id, items in by_trace.items():
        roots = [s for s in items if not s.parent_id] or items
        root = min(roots, key=lambda s: s.start or datetime.max.replace(tzinfo=UTC))
        out.append(TraceSummary(trace_id, root.service, root.name, root.start, root.duration))
    return out
