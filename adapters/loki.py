"""Grafana Loki as a LogSource: ``GET /loki/api/v1/query_range``.

Settings (besides those of adapters.telemetry_http): ``selector`` (required) - the
LogQL stream selector to search, e.g. ``{app="orders"}``; ``tenant`` - sent as
``X-Scope-OrgID`` for multi-tenant Loki. Ids are matched with one line filter
(``|~ "id1|id2"``, regex-escaped). Loki is asked for the newest ``limit`` lines
(direction backward); they are returned oldest first. Stream results are ``[ns, line]``
pairs; a matrix result (a metric query as selector) is refused with a clear error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.telemetry_http import HttpSource
from console.errors import ConfigError
from console.model_telemetry import LogLine
from console.ports import SecretResolver

_RE2_SPECIAL = re.compile(r"[\\.+*?()|\[\]{}^$]")


class LokiSource(HttpSource):
    kind = "loki"

    def __init__(self, name: str, url: str, *, selector: str, **http: Any) -> None:
        super().__init__(name, url, **http)
        self.selector = selector

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> LokiSource:
        http = cls.settings_from_config(name, settings, resolve_secret)
        selector = settings.get("selector")
        if not isinstance(selector, str) or not selector.strip().startswith("{"):
            raise ConfigError(
                f"source {name!r} (loki): selector: required, a stream selector like "
                '{app="orders"}'
            )
        tenant = settings.get("tenant")
        if tenant:
            http["headers"]["X-Scope-OrgID"] = str(tenant)
        return cls(name, selector=selector.strip(), **http)

    def logql(self, needles: Sequence[str]) -> str:
        if not needles:
            return self.selector
        pattern = "|".join(_RE2_SPECIAL.sub(r"\\\g<0>", n) for n in needles)
        quoted = pattern.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.selector} |~ "{quoted}"'

    async def find(
        self, needles: Sequence[str], start: datetime, end: datetime, limit: int = 500
    ) -> Sequence[LogLine]:
        return await self.query_range(self.logql(needles), start, end, limit)

    async def query_range(
        self, query: str, start: datetime, end: datetime, limit: int = 500
    ) -> list[LogLine]:
        path = "/loki/api/v1/query_range"
        params = {
            "query": query,
            "start": int(start.timestamp() * 1e9),
            "end": int(end.timestamp() * 1e9),
            "limit": limit,
            # The newest lines matter mid-incident: with "forward" Loki would return the
            # oldest ``limit`` lines and silently drop the rest.
            "direction": "backward",
        }
        payload: Any = await self.get_json(path, params)
        if not isinstance(payload, Mapping) or payload.get("status") != "success":
            raise self.malformed(path, "no status 'success'")
        data = payload.get("data") or {}
        if data.get("resultType") != "streams":
            raise self.malformed(path, f"resultType {data.get('resultType')!r}, expected streams")
        lines: list[LogLine] = []
        try:
            for stream in data.get("result") or []:
                labels = dict(stream.get("stream") or {})
                for ts, line in stream.get("values") or []:
                    when = datetime.fromtimestamp(int(ts) / 1e9, UTC)
                    lines.append(LogLine(when, str(line), labels))
        except (TypeError, ValueError, AttributeError) as exc:
            raise self.malformed(path, f"bad stream value ({exc})") from None
        lines.sort(key=lambda item: item.time or datetime.min.replace(tzinfo=UTC))
        return lines
