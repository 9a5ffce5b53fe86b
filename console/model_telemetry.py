"""Telemetry domain types: spans, log lines, metric samples and exemplars.

Frozen dataclasses, no I/O, like console.model. Trace sources (Jaeger, Tempo), metric
sources (Prometheus) and log sources (Loki, CloudWatch Logs) translate their payloads
into these; console.correlate merges them into one timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Span:
    """One span; ``trace_id`` is 32 lower-case hex digits (64-bit ids are left-padded)."""

    trace_id: str
    span_id: str
    name: str
    service: str = ""
    parent_id: str | None = None
    start: datetime | None = None
    duration: timedelta | None = None
    error: bool = False
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class TraceSummary:
    """One hit of a trace search."""

    trace_id: str
    root_service: str = ""
    root_name: str = ""
    start: datetime | None = None
    duration: timedelta | None = None


@dataclass(frozen=True)
class LogLine:
    time: datetime | None
    line: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSample:
    time: datetime
    value: float


@dataclass(frozen=True)
class MetricSeries:
    labels: Mapping[str, str]
    samples: tuple[MetricSample, ...]


@dataclass(frozen=True)
class Exemplar:
    """A sample that carries the trace it came from (``labels['trace_id']`` usually)."""

    time: datetime
    value: float
    labels: Mapping[str, str]
    series: Mapping[str, str] = field(default_factory=dict)

    @property
    def trace_id(self) -> str | None:
        for key in ("trace_id", "traceID", "traceId", "TraceID"):
            if key in self.labels:
                return normalise_trace_id(self.labels[key])
        return None


def normalise_trace_id(value: str) -> str:
    """Lower-case hex, left-padded to 32 digits (Jaeger 64-bit ids, Tempo short ids)."""
    return value.strip().lower().rjust(32, "0")
