"""What `opsdeck correlate` printed, saved as a snapshot linked to the current incident.

The report shows what was seen at the time, even after the backends' retention has
dropped it. Kept: what the id was recognised as, each source's status, the timeline
(at most MAX_ITEMS rows, newest kept) and the metric series (at most MAX_SERIES, each
at most MAX_POINTS points), with PII masked by key and in free text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from console.audit import mask
from console.incidents.model import CORRELATION
from console.incidents.pii import mask_text

MAX_ITEMS, MAX_SERIES, MAX_POINTS = 500, 12, 500


def _series(result: Any) -> list[dict[str, Any]]:
    out = []
    for source, query, one in list(getattr(result, "series", ()) or ())[:MAX_SERIES]:
        points = [
            [s.time.isoformat().replace("+00:00", "Z"), s.value]
            for s in list(one.samples)[-MAX_POINTS:]
            if s.time is not None
        ]
        out.append({"source": source, "query": query, "labels": dict(one.labels), "points": points})
    return out


def snapshot_data(data: dict[str, Any], result: Any, pii: Iterable[str]) -> dict[str, Any]:
    fields = tuple(pii)
    timeline = [
        {k: row.get(k) for k in ("time", "kind", "source", "summary", "trace_id", "error")}
        for row in list(data.get("timeline") or [])[-MAX_ITEMS:]
    ]
    for row in timeline:
        row["summary"] = mask_text(str(row.get("summary") or ""), fields)
    kept = {
        "id": data.get("id"),
        "recognised": [c.get("description") for c in data.get("recognised") or []],
        "window": data.get("window"),
        "sources": data.get("sources"),
        "trace_ids": data.get("trace_ids"),
        "executions": data.get("executions"),
        "partial": data.get("partial"),
        "timeline": timeline,
        "timeline_total": len(data.get("timeline") or []),
        "series": _series(result),
    }
    masked: dict[str, Any] = mask(kept, fields)
    return masked


def save_correlation(
    context: str, asked: str, data: dict[str, Any], result: Any, pii: Iterable[str]
) -> str | None:
    """Link the snapshot to the current incident of ``context``; its id, or None."""
    from console.incidents.store import tag

    snap = snapshot_data(data, result, pii)
    rows, found = snap["timeline_total"], bool(data.get("found"))
    summary = mask_text(f"correlate {asked}: {rows} timeline row(s)", tuple(pii))
    if not found:
        summary += ", nothing found"
    elif data.get("partial"):
        summary += ", partial (a source failed)"
    return tag(context, CORRELATION, asked, summary, snap)


def save_result(context: str, asked: str, result: Any, pii: Iterable[str]) -> str | None:
    """The same from a console.correlate.Correlation (the TUI's view); never raises."""
    from console.output import to_data

    try:
        parsed = result.parsed
        data = {
            "id": parsed.text,
            "recognised": [{"description": c.description} for c in parsed.candidates],
            "window": {"start": str(result.window_start), "end": str(result.window_end)},
            "trace_ids": list(result.trace_ids),
            "executions": list(result.executions),
            "sources": to_data(list(result.statuses)),
            "timeline": to_data(list(result.timeline)),
            "partial": result.partial,
            "found": result.found,
        }
    except Exception:  # an unexpected result shape: nothing to save, the view still shows
        return None
    return save_correlation(context, asked, data, result, pii)
