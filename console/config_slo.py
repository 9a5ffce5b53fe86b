"""The ``slos:`` section of a context: service-level objectives (console.slo evaluates).

A map of SLO name -> spec, or a list of specs each with a ``name``::

    slos:
      orders-success:
        workflow-type: OrderWorkflow     # or query: "WorkflowType = 'X' AND ..." (or both)
        success-rate: 99.5%              # or 0.995
        window: 30d                      # default 30d
      orders-latency:
        query: "TaskQueue = 'orders'"
        completion-time: {p95: 2s}       # p50, p90, p95, p99 or p99.9 under a duration
        engine: temporal                 # default: every engine of the context
        prometheus:                      # optional; needs a metric source in the context
          source: prom                   # default: the context's only prometheus source
          good: sum(increase(my_fast_total[$window]))
          total: sum(increase(my_all_total[$window]))
          latency: histogram_quantile(0.95, sum by (le) (rate(my_bucket[$window])))
        alerts:                          # defaults: the SRE workbook's multi-window pair
          page: {long: 1h, short: 5m, burn-rate: 14.4}
          ticket: {long: 6h, short: 30m, burn-rate: 6}

A completion-time objective "p95 under 2s" is read as "95% of executions complete in
at most 2s": its error budget is the 5% that may be slower, so budgets and burn rates
work the same for both kinds. ``$window`` in a PromQL query becomes each window
(``5m``, ``1h``...). Errors name file:line and the field, like the rest of the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_WINDOW_S = 30 * 86400.0
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p99.9": 0.999}
_SLO_KEYS = {
    "name", "description", "workflow-type", "query", "engine", "success-rate",
    "completion-time", "window", "prometheus", "alerts",
}  # fmt: skip
_PROM_KEYS = {"source", "good", "total", "latency"}
_ALERT_KEYS = {"long", "short", "burn-rate"}


@dataclass(frozen=True)
class BurnAlert:
    """Fires when the burn rate over both ``long`` and ``short`` windows exceeds ``burn_rate``."""

    severity: str  # "page" | "ticket"
    long_s: float
    short_s: float
    burn_rate: float


DEFAULT_ALERTS: tuple[BurnAlert, ...] = (
    BurnAlert("page", 3600.0, 300.0, 14.4),
    BurnAlert("ticket", 6 * 3600.0, 1800.0, 6.0),
)


@dataclass(frozen=True)
class PromQuery:
    """PromQL for one SLO; ``$window`` is replaced by each window (``30d``, ``1h``...)."""

    source: str | None = None
    good: str | None = None
    total: str | None = None
    latency: str | None = None  # completion-time: the quantile itself, in seconds


@dataclass(frozen=True)
class SloSpec:
    name: str
    kind: str  # "success_rate" | "completion_time"
    # success_rate: the good fraction (0.995); completion_time: the fraction that must be
    # under ``threshold_s`` (0.95 for p95).
    objective: float
    window_s: float = DEFAULT_WINDOW_S
    threshold_s: float | None = None
    percentile: str | None = None  # "p95" for completion_time
    workflow_type: str | None = None
    query: str | None = None
    engine: str | None = None
    prometheus: PromQuery | None = None
    alerts: tuple[BurnAlert, ...] = DEFAULT_ALERTS
    description: str = ""
    location: str = ""


def parse_duration_s(text: Any) -> float | None:
    """'30d', '5m', '1.5s', '250ms' -> seconds; None when it is not a duration."""
    if not isinstance(text, str):
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def format_duration(seconds: float) -> str:
    """The shortest exact form: 2592000 -> '30d', 300 -> '5m', 1.5 -> '1.5s'."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s"


def _fraction(value: Any) -> float | None:
    """99.5% / '99.5%' / 99.5 / 0.995 -> 0.995 (numbers above 1 are percentages)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100
        except ValueError:
            return None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        value = float(value) / 100 if value > 1 else float(value)
    else:
        return None
    return value if 0 < value < 1 else None


def parse_slos(
    v: Any, node: Any, base: str, engines: set[str], metrics: set[str]
) -> tuple[SloSpec, ...]:
    """``slos:`` of a context; ``v`` is console.config_parse's validator (nodes -> errors).

    ``engines`` are the context's engine names, ``metrics`` its prometheus source names.
    """
    entries: list[tuple[str, Any, Any, str]] = []  # name, name node, spec node, path
    if isinstance(node, v.yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{base}[{index}]"
            fields = v.mapping(item, path)
            if "name" not in fields:
                raise v.fail(item, f"{path}.name", "required")
            name = v.scalar(fields["name"][1], f"{path}.name", str, "a string")
            entries.append((name, fields["name"][1], item, path))
    elif isinstance(node, v.yaml.MappingNode):
        for name, (key_node, value_node) in v.mapping(node, base).items():
            entries.append((name, key_node, value_node, f"{base}.{name}"))
    elif isinstance(node, v.yaml.ScalarNode) and v.value(node) is None:
        return ()
    else:
        raise v.fail(node, base, "expected a mapping of SLO name -> objective, or a list")
    out: list[SloSpec] = []
    for name, name_node, spec_node, path in entries:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise v.fail(name_node, path, "an SLO name uses letters, digits, '-', '_' or '.'")
        if any(s.name == name for s in out):
            raise v.fail(name_node, path, f"duplicate SLO {name!r}")
        out.append(_slo(v, name, spec_node, path, engines, metrics, v.at(name_node)))
    return tuple(out)


def _unknown(v: Any, fields: Mapping[str, tuple[Any, Any]], path: str, known: set[str]) -> None:
    for key, (key_node, _) in fields.items():
        if key not in known:
            expected = ", ".join(sorted(known))
            raise v.fail(key_node, f"{path}.{key}", f"unknown key (expected one of: {expected})")


def _slo(
    v: Any, name: str, node: Any, path: str, engines: set[str], metrics: set[str], at: str
) -> SloSpec:
    fields = v.mapping(node, path)
    _unknown(v, fields, path, _SLO_KEYS)

    def text(key: str) -> str | None:
        if key not in fields:
            return None
        value = v.scalar(fields[key][1], f"{path}.{key}", str, "a string")
        return str(value).strip() or None

    workflow_type, query, engine = text("workflow-type"), text("query"), text("engine")
    if workflow_type is None and query is None:
        raise v.fail(node, f"{path}.workflow-type", "required (or query: a visibility query)")
    if engine is not None and engine not in engines:
        known = ", ".join(sorted(engines)) or "none"
        raise v.fail(
            fields["engine"][1], f"{path}.engine", f"no engine {engine!r} (engines: {known})"
        )
    window_s = DEFAULT_WINDOW_S
    if "window" in fields:
        parsed = parse_duration_s(v.value(fields["window"][1]))
        if parsed is None or parsed < 600:
            raise v.fail(
                fields["window"][1],
                f"{path}.window",
                "expected a duration of 10m or more, e.g. 30d",
            )
        window_s = parsed
    kinds = [k for k in ("success-rate", "completion-time") if k in fields]
    if len(kinds) != 1:
        raise v.fail(
            node, f"{path}.success-rate", "give exactly one of success-rate or completion-time"
        )
    threshold_s = percentile = None
    if kinds[0] == "success-rate":
        kind = "success_rate"
        objective = _fraction(v.value(fields["success-rate"][1]))
        if objective is None:
            raise v.fail(
                fields["success-rate"][1],
                f"{path}.success-rate",
                "expected a percentage between 0 and 100, e.g. 99.5%",
            )
    else:
        kind = "completion_time"
        ct = v.mapping(fields["completion-time"][1], f"{path}.completion-time")
        if len(ct) != 1 or next(iter(ct)) not in _PERCENTILES:
            raise v.fail(
                fields["completion-time"][1],
                f"{path}.completion-time",
                "expected one percentile and its bound, e.g. {p95: 2s} "
                f"({', '.join(_PERCENTILES)})",
            )
        percentile, (_, bound_node) = next(iter(ct.items()))
        threshold_s = parse_duration_s(v.value(bound_node))
        if threshold_s is None or threshold_s <= 0:
            raise v.fail(
                bound_node,
                f"{path}.completion-time.{percentile}",
                "expected a duration, e.g. 2s or 500ms",
            )
        objective = _PERCENTILES[percentile]
    prometheus = None
    if "prometheus" in fields:
        prometheus = _prometheus(v, fields["prometheus"][1], f"{path}.prometheus", kind, metrics)
    alerts = DEFAULT_ALERTS
    if "alerts" in fields:
        alerts = _alerts(v, fields["alerts"][1], f"{path}.alerts")
    description = text("description") or ""
    return SloSpec(
        name=name, kind=kind, objective=objective, window_s=window_s, threshold_s=threshold_s,
        percentile=percentile, workflow_type=workflow_type, query=query, engine=engine,
        prometheus=prometheus, alerts=alerts, description=description, location=at,
    )  # fmt: skip


def _prometheus(v: Any, node: Any, path: str, kind: str, metrics: set[str]) -> PromQuery:
    fields = v.mapping(node, path)
    _unknown(v, fields, path, _PROM_KEYS)
    values = {k: str(v.scalar(n, f"{path}.{k}", str, "a string")) for k, (_, n) in fields.items()}
    if not metrics:
        raise v.fail(node, path, "the context has no prometheus source (add one under sources:)")
    source = values.get("source")
    if source is None and len(metrics) > 1:
        raise v.fail(
            node,
            f"{path}.source",
            f"required: the context has several ({', '.join(sorted(metrics))})",
        )
    if source is not None and source not in metrics:
        raise v.fail(
            fields["source"][1],
            f"{path}.source",
            f"no prometheus source {source!r} (sources: {', '.join(sorted(metrics))})",
        )
    if ("good" in values) != ("total" in values):
        missing = "total" if "good" in values else "good"
        raise v.fail(node, f"{path}.{missing}", "required: good and total go together")
    if "latency" in values and kind != "completion_time":
        raise v.fail(fields["latency"][0], f"{path}.latency", "only for a completion-time SLO")
    if kind == "completion_time" and "latency" not in values:
        raise v.fail(node, f"{path}.latency", "required for a completion-time SLO")
    if kind == "success_rate" and "good" not in values:
        raise v.fail(node, f"{path}.good", "required: good and total")
    return PromQuery(
        source=source or next(iter(metrics)), good=values.get("good"),
        total=values.get("total"), latency=values.get("latency"),
    )  # fmt: skip


def _alerts(v: Any, node: Any, path: str) -> tuple[BurnAlert, ...]:
    fields = v.mapping(node, path)
    _unknown(v, fields, path, {"page", "ticket"})
    out = {a.severity: a for a in DEFAULT_ALERTS}
    for severity, (_, alert_node) in fields.items():
        at = f"{path}.{severity}"
        if isinstance(alert_node, v.yaml.ScalarNode) and v.value(alert_node) in (None, False):
            out.pop(severity)  # `page: off` switches that alert off
            continue
        alert = v.mapping(alert_node, at)
        _unknown(v, alert, at, _ALERT_KEYS)
        default = out.get(severity) or next(a for a in DEFAULT_ALERTS if a.severity == severity)
        long_s, short_s, burn = default.long_s, default.short_s, default.burn_rate
        for key in ("long", "short"):
            if key in alert:
                parsed = parse_duration_s(v.value(alert[key][1]))
                if parsed is None or parsed <= 0:
                    raise v.fail(alert[key][1], f"{at}.{key}", "expected a duration, e.g. 1h or 5m")
                long_s, short_s = (parsed, short_s) if key == "long" else (long_s, parsed)
        if short_s > long_s:
            raise v.fail(alert_node, f"{at}.short", "the short window must not exceed the long one")
        if "burn-rate" in alert:
            burn = float(
                v.scalar(alert["burn-rate"][1], f"{at}.burn-rate", (int, float), "a number")
            )
            if burn <= 0:
                raise v.fail(alert["burn-rate"][1], f"{at}.burn-rate", "expected a number above 0")
        out[severity] = BurnAlert(severity, long_s, short_s, burn)
    return tuple(out[s] for s in ("page", "ticket") if s in out)
