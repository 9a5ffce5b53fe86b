"""`opsdeck correlate ID [--window 1h] [--timeout 10] -o table|json|yaml`.

Prints what the ID was recognised as, each source's status, and the merged timeline.
Exit code 0 when every engine and source answered (or was skipped), 4 when the result
is partial (some failed or timed out; the rest is still printed), 1 when nothing at all
was found for the id (one line on stderr says what was asked). The JSON shape is
documented in docs/correlate.md. While an incident is open (docs/incidents.md) the
timeline is also saved as a snapshot linked to it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from console.cli_common import engine_scope, output_format, parse_duration, run, session_for
from console.output import emit, iso, to_data


def correlation_data(result: Any) -> dict[str, Any]:
    parsed = result.parsed
    return {
        "id": parsed.text,
        "recognised": [
            {
                "kind": c.kind.value,
                "description": c.description,
                "value": c.value,
                "trace_id": c.trace_id,
                "ref": str(c.ref) if c.ref else None,
                "scope": c.scope,
            }
            for c in parsed.candidates
        ],
        "ambiguous": parsed.ambiguous,
        "window": {"start": iso(result.window_start), "end": iso(result.window_end)},
        "trace_ids": list(result.trace_ids),
        "executions": list(result.executions),
        "sources": to_data(list(result.statuses)),
        "timeline": to_data(list(result.timeline)),
        "partial": result.partial,
        "found": result.found,
        "elapsed": round(result.elapsed, 3),
    }


def cmd_correlate(args: argparse.Namespace) -> int:
    from console.correlate import build_sources, correlate, correlation_settings
    from console.session import resolve_secret

    window = parse_duration(args.window)
    session = session_for(args)
    sources = build_sources(session.context, resolve_secret)
    settings = correlation_settings(session.context)
    scopes = {name: engine_scope(session, name) for name in session.engines}

    async def go() -> Any:
        try:
            return await correlate(
                args.id,
                engines=session.engines,
                scopes=scopes,
                sources=sources,
                window=window,
                timeout=args.timeout,
                correlation=settings,
            )
        finally:
            for source in sources.values():
                await source.close()

    result = run(session, go())
    data = correlation_data(result)
    from console.incidents.snapshot import save_correlation

    pii = session.config.pii_fields
    saved = save_correlation(session.context.name, args.id, data, result, pii)
    if saved:  # stderr: -o json stays the documented document
        print(f"Timeline saved to incident {saved}.", file=sys.stderr)
    fmt = output_format(args)
    if not result.found:
        if fmt != "table":
            emit(data, fmt)
        print(f"opsdeck: {result.nothing_found}", file=sys.stderr)
        return 1
    if fmt != "table":
        emit(data, fmt)
        return 4 if result.partial else 0
    out = sys.stdout
    out.write(result.parsed.describe() + "\n")
    if result.trace_ids:
        out.write(f"trace ids: {', '.join(result.trace_ids)}\n")
    if result.executions:
        out.write(f"executions: {', '.join(result.executions)}\n")
    out.write(f"window: {data['window']['start']} .. {data['window']['end']}\n\n")
    for row in data["sources"]:
        row["elapsed"] = f"{row['elapsed']:.2f}s"
    emit(
        data["sources"],
        fmt,
        columns=[
            ("SOURCE", "source"),
            ("KIND", "kind"),
            ("STATUS", "status"),
            ("ITEMS", "items"),
            ("TOOK", "elapsed"),
            ("NOTE", "note"),
            ("ERROR", "error"),
        ],
        empty="No engines or sources configured for this context (see docs/correlate.md).",
    )
    out.write("\n")
    for row in data["timeline"]:
        row["mark"] = "!" if row["error"] else ""
    emit(
        data["timeline"],
        fmt,
        columns=[
            ("TIME", "time"),
            ("", "mark"),
            ("KIND", "kind"),
            ("SOURCE", "source"),
            ("TRACE", "trace_id"),
            ("SUMMARY", "summary"),
        ],
        empty="Nothing found in the window.",
    )
    return 4 if result.partial else 0
