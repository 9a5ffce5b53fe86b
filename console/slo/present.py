"""An SloReport as the CLI and the TUI show it: short texts and the documented JSON."""

from __future__ import annotations

from typing import Any

from console.config_slo import SloSpec, format_duration
from console.slo.evaluate import SloReport, pct_text, secs_text

_BARS = "▁▂▃▄▅▆▇█"


def value_text(report: SloReport) -> str:
    if report.value is None:
        return "-"
    return pct_text(report.value) if report.spec.kind == "success_rate" else secs_text(report.value)


def objective_text(spec: SloSpec) -> str:
    if spec.kind == "success_rate":
        return f">= {pct_text(spec.objective)}"
    return f"{spec.percentile} <= {secs_text(float(spec.threshold_s or 0))}"


def budget_text(report: SloReport) -> str:
    if report.budget is None:
        return "-"
    return f"{report.budget.left * 100:.0f}% ({report.budget.left_count:g})"


def burn_text(report: SloReport, window: str) -> str:
    rate = report.burn.get(window)
    return "-" if rate is None else f"{rate:.2f}"


def long_windows(spec: SloSpec) -> list[str]:
    """The alerts' long windows ("1h", "6h" by default): the columns a table shows."""
    return [format_duration(a.long_s) for a in spec.alerts]


def filled(series: tuple[float | None, ...]) -> list[float]:
    """The series without gaps: an empty bucket repeats the value before it (the first
    known value at the start), so a quiet hour does not draw as an outage."""
    known = [v for v in series if v is not None]
    out: list[float] = []
    last = known[0] if known else 0.0
    for value in series:
        last = last if value is None else value
        out.append(last)
    return out if known else []


def sparkline(values: tuple[float | None, ...]) -> str:
    """A text sparkline of ``filled(values)``, scaled to the values' own range."""
    points = filled(values)
    if not points:
        return ""
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    return "".join(_BARS[round((v - low) / span * (len(_BARS) - 1))] for v in points)


def scope_of(spec: SloSpec) -> dict[str, Any]:
    return {"workflow_type": spec.workflow_type, "query": spec.query, "engine": spec.engine}


def to_json(report: SloReport) -> dict[str, Any]:
    """The stable ``-o json`` shape of one SLO (docs/cli.md, docs/slo.md)."""
    spec = report.spec
    budget = report.budget
    return {
        "name": spec.name,
        "kind": spec.kind,
        "scope": scope_of(spec),
        "source": report.source,
        "window": format_duration(spec.window_s),
        "start": report.start,
        "end": report.end,
        "value": report.value,
        "objective": report.objective,
        "target": spec.objective,
        "met": report.met,
        "good": report.counts.good,
        "total": report.counts.total,
        "budget": None
        if budget is None
        else {"left": budget.left, "left_count": budget.left_count, "allowed": budget.allowed},
        "burn": dict(report.burn),
        "alert": report.alert.state,
        "alert_reason": report.alert.reason,
        "reason": report.reason,
        "series": list(report.series),
        "truncated": report.truncated,
    }


def row(report: SloReport) -> dict[str, Any]:
    """One table row of ``slo list`` (and of the TUI table)."""
    first, second = ([*long_windows(report.spec), "", ""])[:2]
    return {
        "name": report.spec.name,
        "value": value_text(report),
        "objective": objective_text(report.spec),
        "budget": budget_text(report),
        "burn_long": burn_text(report, first) if first else "-",
        "burn_longer": burn_text(report, second) if second else "-",
        "alert": report.alert.state,
        "trend": sparkline(report.series),
    }
