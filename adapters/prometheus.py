"""Prometheus as a MetricSource: range queries and exemplars (HTTP API v1).

``GET /api/v1/query_range`` gives matrices; ``GET /api/v1/query_exemplars`` gives the
exemplars behind a series (trace ids in their labels) and needs the server started with
``--enable-feature=exemplar-storage`` scraping OpenMetrics targets.

Settings (besides those of adapters.telemetry_http): ``queries`` - PromQL expressions
the correlation plots for the window (e.g. latency histograms whose exemplars carry
trace ids); ``step`` - seconds between points (default: window / 120, at least 1 s).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.telemetry_http import HttpSource
from console.errors import ConfigError
from console.model_telemetry import Exemplar, MetricSample, MetricSeries
from console.ports import SecretResolver


class PrometheusSource(HttpSource):
    kind = "prometheus"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        queries: Sequence[str] = (),
        step: float | None = None,
        **http: Any,
    ) -> None:
        super().__init__(name, url, **http)
        self.queries = tuple(queries)
        self.step = step

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> PrometheusSource:
        http = cls.settings_from_config(name, settings, resolve_secret)
        queries = settings.get("queries", [])
        if isinstance(queries, str):
            queries = [queries]
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise ConfigError(f"source {name!r} (prometheus): queries: expected a list of PromQL")
        step = settings.get("step")
        if step is not None and (not isinstance(step, int | float) or step <= 0):
            raise ConfigError(f"source {name!r} (prometheus): step: expected seconds > 0")
        return cls(name, queries=queries, step=float(step) if step else None, **http)

    def _data(self, payload: Any, path: str) -> Any:
        if not isinstance(payload, Mapping) or payload.get("status") != "success":
            error = payload.get("error") if isinstance(payload, Mapping) else None
            raise self.malformed(path, str(error or "no status 'success'"))
        return payload.get("data")

    async def query_range(
        self, query: str, start: datetime, end: datetime, step: float
    ) -> Sequence[MetricSeries]:
        path = "/api/v1/query_range"
        params = {"query": query, "start": start.timestamp(), "end": end.timestamp(), "step": step}
        data = self._data(await self.get_json(path, params), path)
        if not isinstance(data, Mapping) or not isinstance(data.get("result"), list):
            raise self.malformed(path, "data.result is not a list")
        series: list[MetricSeries] = []
        try:
            for item in data["result"]:
                samples = tuple(
                    MetricSample(datetime.fromtimestamp(float(ts), UTC), float(value))
                    for ts, value in item.get("values", [])
                )
                series.append(MetricSeries(dict(item.get("metric", {})), samples))
        except (TypeError, ValueError, AttributeError) as exc:
            raise self.malformed(path, f"bad sample ({exc})") from None
        return series

    async def query_exemplars(
        self, query: str, start: datetime, end: datetime
    ) -> Sequence[Exemplar]:
        path = "/api/v1/query_exemplars"
        params = {"query": query, "start": start.timestamp(), "end": end.timestamp()}
        data = self._data(await self.get_json(path, params), path)
        if not isinstance(data, list):
            raise self.malformed(path, "data is not a list")
        found: list[Exemplar] = []
        try:
            for group in data:
                series = dict(group.get("seriesLabels", {}))
                for item in group.get("exemplars") or []:
                    found.append(
                        Exemplar(
                            time=datetime.fromtimestamp(float(item["timestamp"]), UTC),
                            value=float(item["value"]),
                            labels=dict(item.get("labels", {})),
                            series=series,
                        )
                    )
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise self.malformed(path, f"bad exemplar ({exc})") from None
        return sorted(found, key=lambda e: e.time)
