"""Correlation: one context ID in, one timeline out.

``correlate`` parses the ID (console.context_id), then

1. looks executions up in the engines (describe + history, through the WorkflowEngine
   port) and reads their trace id from the Temporal OpenTelemetry interceptor header
   of the start event (``_tracer-data`` -> ``traceparent``), search attributes or memo
   (any key mentioning "trace");
2. fans out to every configured telemetry source at once (``asyncio.gather``), each
   under its own timeout: trace sources fetch the traces, log sources search the ids,
   metric sources run their configured queries and exemplars;
3. merges execution events, spans, log lines, metric samples and exemplars by time, each
   tagged with its source. A source that fails or times out is listed in ``statuses``
   with its error beside the partial result; it never hides the others. A log source
   keeps the newest ``LOG_LIMIT`` lines and its status says when more existed.

Metrics (samples and exemplars) join the timeline only through something actually
found: an execution, or a trace id (an exemplar joins only when it carries one of the
trace ids). An id that finds nothing anywhere gives a result whose ``found`` is False
and whose ``nothing_found`` names what was asked, never a timeline of unrelated metrics.

Window: ``window`` wide, centred on the execution's start when one is found (capped at
now), else the last ``window`` up to now. Spans whose attributes name a workflow id
(Temporal's interceptor sets ``temporalWorkflowID``) add that execution: from a trace
to its executions.

Sources are built from the context's ``sources:`` through the entry-point group
``opsdeck.sources`` (classes with ``from_config(name, settings, resolve_secret)``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.context_id import IdKind, ParsedId, parse_context_id
from console.errors import ConfigError, OpsdeckError
from console.model import ExecutionRef
from console.model_telemetry import Exemplar, LogLine, MetricSeries, Span, normalise_trace_id
from console.ports import LogSource, MetricSource, TraceSource

if TYPE_CHECKING:
    from console.config import Context
    from console.ports import SecretResolver, WorkflowEngine

GROUP = "opsdeck.sources"
Source = TraceSource | MetricSource | LogSource
_TRACEPARENT = re.compile(r"\b[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b")
_HEX32 = re.compile(r"\b[0-9a-fA-F]{32}\b")
WORKFLOW_ATTRS = ("temporalWorkflowID", "temporal.workflow.id", "workflow_id", "workflowId")
MAX_TRACES = 5
MAX_EVENTS = 1000
LOG_LIMIT = 500  # newest lines kept per log source; more is said ("500 of more")
NO_ANCHOR = "no execution or trace found to join metrics to"


@dataclass(frozen=True)
class TimelineItem:
    """One row of the merged timeline; ``kind`` is event|span|log|sample|exemplar."""

    time: datetime | None
    kind: str
    source: str
    summary: str
    trace_id: str | None = None
    ref: str | None = None
    error: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceStatus:
    """ok | failed | timeout | skipped, with the error text and how long it took."""

    source: str
    kind: str
    status: str
    elapsed: float
    items: int = 0
    error: str | None = None
    note: str | None = None  # e.g. "newest 500 of more": the result was cut


@dataclass(frozen=True)
class Correlation:
    parsed: ParsedId
    window_start: datetime
    window_end: datetime
    trace_ids: tuple[str, ...]
    executions: tuple[str, ...]
    timeline: tuple[TimelineItem, ...]
    statuses: tuple[SourceStatus, ...]
    spans: tuple[Span, ...] = ()
    logs: tuple[tuple[str, LogLine], ...] = ()
    series: tuple[tuple[str, str, MetricSeries], ...] = ()
    exemplars: tuple[tuple[str, Exemplar], ...] = ()
    elapsed: float = 0.0

    @property
    def partial(self) -> bool:
        return any(s.status in ("failed", "timeout") for s in self.statuses)

    @property
    def found(self) -> bool:
        """An execution, a span, a log line or an exemplar of the trace was found."""
        exemplar = any(item.kind == "exemplar" for item in self.timeline)
        return bool(self.executions or self.spans or self.logs or exemplar)

    @property
    def nothing_found(self) -> str:
        """One line saying what was asked, for when ``found`` is False."""
        asked = [s.source for s in self.statuses if s.status == "ok"]
        where = ", ".join(dict.fromkeys(asked)) or "no engine or source answered"
        failed = [
            f"{s.source} ({s.status})" for s in self.statuses if s.status in ("failed", "timeout")
        ]
        also = f"; did not answer: {', '.join(failed)}" if failed else ""
        return (
            f"nothing found for {self.parsed.text!r} "
            f"({self.window_start:%Y-%m-%d %H:%M}..{self.window_end:%H:%M} UTC; "
            f"asked: {where}{also})"
        )


# --- sources from the config -----------------------------------------------------------


def build_sources(context: Context, resolve_secret: SecretResolver) -> dict[str, Source]:
    """One source per ``sources:`` entry; unknown kinds name file:line and the known kinds."""
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    sources: dict[str, Source] = {}
    for entry in context.sources:
        point = found.get(entry.kind)
        if point is None:
            known = ", ".join(sorted(found)) or "none installed"
            raise ConfigError(
                f"{entry.path}.kind: unknown source kind {entry.kind!r} (known: {known})",
                location=entry.location,
            )
        settings = {k: v for k, v in entry.settings.items() if k not in ("kind", "name")}
        try:
            sources[entry.name] = point.load().from_config(entry.name, settings, resolve_secret)
        except ConfigError as exc:
            raise ConfigError(exc.message, location=entry.location, hint=exc.hint) from None
    return sources


# --- trace ids from executions ---------------------------------------------------------


def trace_ids_in(value: Any, *, key_hint: bool = False) -> list[str]:
    """Trace ids found in a value: traceparents anywhere, bare 32-hex under 'trace' keys."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            found += trace_ids_in(item, key_hint=key_hint or "trace" in str(key).lower())
    elif isinstance(value, list | tuple):
        for item in value:
            found += trace_ids_in(item, key_hint=key_hint)
    elif isinstance(value, str | bytes):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        found += [m.group(1) for m in _TRACEPARENT.finditer(text.lower())]
        if key_hint and not found:
            found += [m.group(0).lower() for m in _HEX32.finditer(text)]
    return found


def trace_ids_from_start_event(details: Mapping[str, Any]) -> list[str]:
    """Temporal's OTel interceptor header: ``header.fields['_tracer-data']`` is a JSON
    payload (base64 ``data`` in the proto-JSON form) holding ``{"traceparent": ...}``."""
    fields = ((details.get("header") or {}).get("fields")) or {}
    found: list[str] = []
    for payload in fields.values():
        data = payload.get("data") if isinstance(payload, Mapping) else payload
        if isinstance(data, str):
            with contextlib.suppress(ValueError):
                data = base64.b64decode(data, validate=True)
        if isinstance(data, bytes):
            try:
                data = json.loads(data)
            except ValueError:
                data = data.decode("utf-8", "replace")
        found += trace_ids_in(data, key_hint=True)
    return found


# --- the fan-out -----------------------------------------------------------------------


async def _timed(name: str, kind: str, timeout: float, work: Awaitable[int]) -> SourceStatus:
    started = time.monotonic()
    try:
        items = await asyncio.wait_for(work, timeout)
    except TimeoutError:
        return SourceStatus(
            name,
            kind,
            "timeout",
            time.monotonic() - started,
            error=f"no answer within {timeout:g} s",
        )
    except OpsdeckError as exc:
        return SourceStatus(name, kind, "failed", time.monotonic() - started, error=str(exc))
    except Exception as exc:  # a source bug must not hide the others
        return SourceStatus(
            name, kind, "failed", time.monotonic() - started, error=f"{type(exc).__name__}: {exc}"
        )
    return SourceStatus(name, kind, "ok", time.monotonic() - started, items=items)


def _unanchored(status: SourceStatus) -> SourceStatus:
    if status.status != "ok":
        return status
    return replace(status, status="skipped", items=0, error=NO_ANCHOR)


def _kind_of(source: object) -> str:
    return str(getattr(source, "kind", type(source).__name__))


async def correlate(
    text: str,
    *,
    engines: Mapping[str, WorkflowEngine] | None = None,
    scopes: Mapping[str, str] | None = None,
    sources: Mapping[str, Source] | None = None,
    window: timedelta = timedelta(hours=1),
    timeout: float = 10.0,
    now: datetime | None = None,
    correlation: Mapping[str, Sequence[str]] | None = None,
) -> Correlation:
    """Everything known about ``text``; never raises for a failing backend.

    ``correlation`` (see ``correlation_settings``): a business correlation id is also
    looked up as the value of each ``search-attributes`` entry in every engine that can
    list (``CustomerId = 'ID'``) and of each ``tags`` entry in trace sources that search.
    """
    began = time.monotonic()
    parsed = parse_context_id(text)
    engines = engines or {}
    sources = sources or {}
    scopes = scopes or {}
    now = now or datetime.now(UTC)
    items: list[TimelineItem] = []
    statuses: list[SourceStatus] = []
    trace_ids: list[str] = list(parsed.trace_ids)
    executions: list[str] = []
    anchor: datetime | None = None

    # 1. executions, through the engines
    refs: list[ExecutionRef] = []
    for candidate in parsed.candidates:
        if candidate.ref is not None and candidate.ref.engine in engines:
            refs.append(candidate.ref)
        elif candidate.kind is IdKind.WORKFLOW_ID:
            refs += [
                ExecutionRef(name, scopes.get(name, "default"), candidate.value)
                for name, engine in engines.items()
                if getattr(engine, "kind", "") == "temporal"
            ]
        elif candidate.scope and candidate.kind in _ENGINE_OF_KIND:
            # An ARN names state machine and execution; an ARM run path names workflow and
            # run: each maps onto that engine kind's ref (scope = machine or workflow).
            run = candidate.value.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
            refs += [
                ExecutionRef(name, candidate.scope, run)
                for name, engine in engines.items()
                if getattr(engine, "kind", "") == _ENGINE_OF_KIND[candidate.kind]
            ]

    correlation = correlation or {}
    business = [c.value for c in parsed.candidates if c.kind is IdKind.CORRELATION_ID]
    attributes = list(correlation.get("search-attributes", ())) if business else []

    async def by_attributes(name: str, engine: WorkflowEngine) -> int:
        from console.model import ListQuery

        count = 0
        for attribute in attributes:
            for value in business:
                query = ListQuery(search_attributes={attribute: value}, limit=MAX_TRACES * 4)
                async for execution in engine.list(query):
                    if execution.ref not in refs:
                        refs.append(execution.ref)
                        count += 1
        return count

    if attributes:
        statuses += await asyncio.gather(
            *(
                _timed(f"{name} (search attributes)", "engine", timeout, by_attributes(name, e))
                for name, e in engines.items()
                if getattr(e, "kind", "") == "temporal"
            )
        )

    async def lookup(ref: ExecutionRef) -> int:
        nonlocal anchor
        from console.errors import NotFound

        engine = engines[ref.engine]
        try:
            detail = await engine.describe(ref)
        except NotFound:
            return 0
        execution = detail.execution
        executions.append(str(execution.ref))
        anchor = anchor or execution.start_time
        trace_ids.extend(trace_ids_in(dict(execution.search_attributes), key_hint=False))
        trace_ids.extend(trace_ids_in(dict(detail.memo), key_hint=False))
        count = 0
        async for event in engine.history(execution.ref):
            if event.event_type == "WorkflowExecutionStarted":
                trace_ids.extend(trace_ids_from_start_event(event.details))
            items.append(
                TimelineItem(
                    event.time,
                    "event",
                    ref.engine,
                    f"{event.event_type} {event.summary}".strip(),
                    ref=str(execution.ref),
                    error=event.is_failure,
                    details={"event_id": event.event_id},
                )
            )
            count += 1
            if count >= MAX_EVENTS:
                break
        return count

    if refs:
        statuses += await asyncio.gather(
            *(_timed(ref.engine, "engine", timeout, lookup(ref)) for ref in refs)
        )
    trace_ids = list(dict.fromkeys(normalise_trace_id(t) for t in trace_ids))

    if anchor is not None:
        start = anchor - window / 2
        end = min(now, anchor + window / 2)
    else:
        start, end = now - window, now

    # 2. every source at once
    spans: list[Span] = []
    logs: list[tuple[str, LogLine]] = []
    series_found: list[tuple[str, str, MetricSeries]] = []
    exemplars: list[tuple[str, Exemplar]] = []
    needles = list(
        dict.fromkeys(
            trace_ids
            + [c.value for c in parsed.candidates if c.kind not in _TRACE_KINDS]
            + [ExecutionRef.parse(r).workflow_id for r in executions]
        )
    )
    step = max(1.0, window.total_seconds() / 120)

    def trace_work(name: str, source: TraceSource) -> Callable[[], Awaitable[int]]:
        async def work() -> int:
            count = 0
            for trace_id in trace_ids[:MAX_TRACES]:
                trace = await source.get_trace(trace_id)
                if trace is None:
                    continue
                for span in trace.spans:
                    spans.append(span)
                    items.append(_span_item(name, span))
                    count += 1
            return count

        return work

    def log_work(name: str, source: LogSource) -> Callable[[], Awaitable[int]]:
        async def work() -> int:
            found = list(await source.find(needles, start, end, LOG_LIMIT + 1))
            cut = len(found) > LOG_LIMIT
            selector = getattr(source, "selector", "")
            labelled = getattr(source, "query_range", None)
            if log_labels and selector.endswith("}") and labelled is not None:
                seen = {(line.time, line.line) for line in found}
                for label in log_labels:
                    for value in business:
                        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
                        matcher = f'{label}="{quoted}"'
                        query = f"{selector[:-1].rstrip()}, {matcher}}}"
                        if selector[1:-1].strip() == "":
                            query = f"{{{matcher}}}"
                        more = await labelled(query, start, end, LOG_LIMIT + 1)
                        cut = cut or len(more) > LOG_LIMIT
                        for line in more:
                            if (line.time, line.line) not in seen:
                                seen.add((line.time, line.line))
                                found.append(line)
            if cut or len(found) > LOG_LIMIT:
                found.sort(key=lambda line: line.time or datetime.min.replace(tzinfo=UTC))
                found = found[-LOG_LIMIT:]
                notes[name] = f"newest {LOG_LIMIT} of more (widen the id or narrow --window)"
            for line in found:
                logs.append((name, line))
                items.append(
                    TimelineItem(line.time, "log", name, line.line, details=dict(line.labels))
                )
            return len(found)

        return work

    def metric_work(name: str, source: MetricSource) -> Callable[[], Awaitable[int]]:
        async def work() -> int:
            count = 0
            for query in getattr(source, "queries", ()):
                matrix, marks = await asyncio.gather(
                    source.query_range(query, start, end, step),
                    source.query_exemplars(query, start, end),
                )
                for one in matrix:
                    series_found.append((name, query, one))
                    label = labels_text(one.labels)
                    for sample in one.samples:
                        metric_items.append(
                            TimelineItem(
                                sample.time,
                                "sample",
                                name,
                                f"{label} = {sample.value:g}",
                                details={"query": query},
                            )
                        )
                        count += 1
                for exemplar in marks:
                    exemplars.append((name, exemplar))
                    if exemplar.trace_id not in trace_ids:
                        # Other traces' exemplars stay in `exemplars` (the metrics view
                        # lists them all); the timeline tells this one's story.
                        continue
                    matched_exemplars.append(exemplar)
                    items.append(
                        TimelineItem(
                            exemplar.time,
                            "exemplar",
                            name,
                            f"{labels_text(exemplar.series)} = {exemplar.value:g}",
                            trace_id=exemplar.trace_id,
                            details={"query": query, "matches": exemplar.trace_id in trace_ids},
                        )
                    )
                    count += 1
            return count

        return work

    tags = list(correlation.get("tags", ())) if business else []
    log_labels = list(correlation.get("log-labels", ())) if business else []

    async def by_tags(source: TraceSource) -> int:
        before = len(trace_ids)
        for tag in tags:
            for value in business:
                for summary in await source.search({tag: value}, start, end):
                    if summary.trace_id not in trace_ids:
                        trace_ids.append(summary.trace_id)
        return len(trace_ids) - before

    if tags:
        statuses += await asyncio.gather(
            *(
                _timed(f"{name} (tags)", _kind_of(source), timeout, by_tags(source))
                for name, source in sources.items()
                if isinstance(source, TraceSource) and getattr(source, "service", True)
            )
        )
        needles = list(dict.fromkeys(needles + trace_ids))

    notes: dict[str, str] = {}
    metric_items: list[TimelineItem] = []
    matched_exemplars: list[Exemplar] = []
    jobs: list[Awaitable[SourceStatus]] = []
    for name, source in sources.items():
        kind = _kind_of(source)
        if isinstance(source, TraceSource):
            if not trace_ids:
                statuses.append(SourceStatus(name, kind, "skipped", 0.0, error="no trace id"))
                continue
            jobs.append(_timed(name, kind, timeout, trace_work(name, source)()))
        elif isinstance(source, LogSource):
            jobs.append(_timed(name, kind, timeout, log_work(name, source)()))
        elif isinstance(source, MetricSource):
            if not trace_ids and not executions:
                statuses.append(SourceStatus(name, kind, "skipped", 0.0, error=NO_ANCHOR))
                continue
            jobs.append(_timed(name, kind, timeout, metric_work(name, source)()))
        else:
            problem = "is not a trace, log or metric source (see console/ports.py)"
            statuses.append(SourceStatus(name, kind, "failed", 0.0, error=problem))
    statuses += [
        replace(s, note=notes[s.source]) if s.source in notes else s
        for s in await asyncio.gather(*jobs)
    ]
    if executions or spans or matched_exemplars:
        items += metric_items
    else:  # a trace id that no source knows: the metrics tell nobody's story
        metric_names = {n for n, s in sources.items() if isinstance(s, MetricSource)}
        statuses = [_unanchored(s) if s.source in metric_names else s for s in statuses]
        series_found.clear()
        exemplars.clear()

    # 3. from a trace to its executions
    known = {ExecutionRef.parse(r).workflow_id for r in executions}
    for span in spans:
        for key in WORKFLOW_ATTRS:
            value = span.attributes.get(key)
            if value and str(value) not in known:
                known.add(str(value))
                executions.append(str(value))

    items.sort(key=lambda item: (item.time is None, item.time or now))
    return Correlation(
        parsed=parsed,
        window_start=start,
        window_end=end,
        trace_ids=tuple(trace_ids),
        executions=tuple(dict.fromkeys(executions)),
        timeline=tuple(items),
        statuses=tuple(statuses),
        spans=tuple(spans),
        logs=tuple(logs),
        series=tuple(series_found),
        exemplars=tuple(exemplars),
        elapsed=time.monotonic() - began,
    )


_ENGINE_OF_KIND = {IdKind.STEPFUNCTIONS_ARN: "stepfunctions", IdKind.LOGICAPPS_RUN_ID: "logicapps"}
_TRACE_KINDS = (IdKind.TRACEPARENT, IdKind.JAEGER_UBER_TRACE_ID, IdKind.TRACE_ID)
CORRELATION_KEYS = ("search-attributes", "log-labels", "tags")


def correlation_settings(context: Context) -> dict[str, tuple[str, ...]]:
    """The context's ``correlation:`` mapping: lists of names under ``search-attributes``
    (Temporal search attributes), ``log-labels`` and ``tags`` (span tags); checked."""
    raw = (getattr(context, "extra", None) or {}).get("correlation")
    if raw is None:
        return {}
    where = f"contexts.{context.name}.correlation"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping", location=context.location)
    out: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        if key not in CORRELATION_KEYS:
            raise ConfigError(
                f"{where}.{key}: unknown key (expected one of: {', '.join(CORRELATION_KEYS)})",
                location=context.location,
            )
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{where}.{key}: expected a list of names", location=context.location)
        out[key] = tuple(value)
    return out


def labels_text(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest else name or "{}"


def _span_item(source: str, span: Span) -> TimelineItem:
    took = f" ({span.duration.total_seconds() * 1000:.1f} ms)" if span.duration else ""
    service = f"{span.service}: " if span.service else ""
    return TimelineItem(
        span.start,
        "span",
        source,
        f"{service}{span.name}{took}",
        trace_id=span.trace_id,
        error=span.error,
        details={"span_id": span.span_id, "parent_id": span.parent_id},
    )


def span_tree(spans: Sequence[Span]) -> list[tuple[int, Span]]:
    """Spans depth-first under their parents (orphans are roots): (depth, span) rows."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in by_id else None
        children.setdefault(parent, []).append(span)
    rows: list[tuple[int, Span]] = []
    seen: set[int] = set()

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(
            children.get(parent, []), key=lambda s: s.start or datetime.min.replace(tzinfo=UTC)
        ):
            if id(span) in seen:
                continue
            seen.add(id(span))
            rows.append((depth, span))
            if span.span_id != parent:
                walk(span.span_id, depth + 1)

    walk(None, 0)
    return rows
