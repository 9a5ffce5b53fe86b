"""`opsdeck incident start|note|close|list|show|report|snapshot` (issue 15).

Exit codes: 0 ok; 2 for an unknown incident id, no open incident where one is needed,
a second incident in a context that has one open (without --force), closing a closed
one, or a bad --severity (nothing is changed). `-o json` shapes: docs/cli.md and
docs/incidents.md. Opening and closing record a count snapshot of every engine of the
context (`--no-snapshot` skips it; an engine that does not answer is recorded as
unavailable and never fails the verb).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.cli_common import output_format, session_for
from console.output import dump, emit

if TYPE_CHECKING:
    from console.incidents.model import Incident
    from console.session import Session

_COLUMNS = [
    ("ID", "id"),
    ("SEV", "severity"),
    ("STATUS", "status"),
    ("CONTEXT", "context"),
    ("OPENED", "opened"),
    ("BY", "opened_by"),
    ("TITLE", "title"),
]


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `verbs` subparsers (`sub` as in console.cli)."""
    inc = group.add_parser("incident", help="incident mode: tag changes, notes, the review")
    incv = inc.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    p = sub(incv, "start", "cli_incident:cmd_start", "open an incident in this context")
    p.add_argument("title", metavar="TITLE")
    p.add_argument("--severity", default="sev3", help="sev1..sev4 (default sev3)")
    p.add_argument("--force", action="store_true", help="open one even if one is open")
    p.add_argument("--no-snapshot", action="store_true", help="do not count executions")
    p = sub(incv, "note", "cli_incident:cmd_note", "add a note to the current incident")
    p.add_argument("text", nargs="+", metavar="TEXT")
    p = sub(incv, "close", "cli_incident:cmd_close", "close an incident (default: current)")
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--summary", default="", help="what happened, in a sentence")
    p.add_argument("--no-snapshot", action="store_true", help="do not count executions")
    p = sub(incv, "list", "cli_incident:cmd_list", "incidents, newest first")
    p.add_argument("--status", choices=("open", "closed"))
    p = sub(incv, "show", "cli_incident:cmd_show", "one incident: notes and what is tagged")
    p.add_argument("id", nargs="?", metavar="ID")
    p = sub(incv, "report", "cli_incident:cmd_report", "the post-incident review draft")
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--format", choices=("md", "html", "json"), default="md")
    p.add_argument("--file", help="write here instead of stdout")
    p = sub(incv, "snapshot", "cli_incident:cmd_snapshot", "record execution counts now")
    p.add_argument("id", nargs="?", metavar="ID")


def _who(session: Session) -> str:
    from console.identity.current import resolve_identity

    return resolve_identity(session.config).user


def _chosen(args: argparse.Namespace, incident_id: str | None) -> Incident:
    """The named incident, else --incident / $OPSDECK_INCIDENT, else the current one of
    the context (the config is read only then: a named incident needs no context)."""
    from console.incidents.model import IncidentError
    from console.incidents.store import current_incident, get_incident, override_id

    chosen = incident_id or override_id()
    if chosen:
        return get_incident(chosen)
    context = session_for(args).context.name
    found = current_incident(context)
    if found is None:
        raise IncidentError(
            f"no open incident in context {context!r}",
            hint="name one (`opsdeck incident list`) or start one",
        )
    return found


def record_counts(session: Session, incident_id: str, label: str) -> dict[str, Any]:
    """Count running/failed/terminated on every engine, evaluate the context's SLOs, and
    link the snapshot; the counts."""
    import asyncio

    from console.incidents.counts import counts_summary, engine_counts, slo_values
    from console.incidents.model import COUNTS
    from console.incidents.store import link

    async def go() -> tuple[dict[str, dict[str, int | None]], dict[str, Any]]:
        try:
            counts, slos = await asyncio.gather(engine_counts(session.engines), slo_values(session))
            return counts, slos
        finally:
            await session.close()

    counts, slos = asyncio.run(go())
    summary = counts_summary(label, counts)
    for name, slo in slos.items():
        value = slo.get("value")
        summary += f"; slo {name} {'?' if value is None else f'{value:g}'}"
    data = {"counts": counts, "slos": slos}
    link(incident_id, COUNTS, label, summary, data=data, who=_who(session))
    return counts


def _say(fmt: str, text: str, data: dict[str, Any]) -> None:
    if fmt == "table":
        print(text)
    else:
        dump(data, fmt)


def cmd_start(args: argparse.Namespace) -> int:
    from console.incidents.store import open_incident

    session = session_for(args)
    incident = open_incident(
        args.title,
        args.severity,
        context=session.context.name,
        identity=_who(session),
        force=args.force,
    )
    counts = None if args.no_snapshot else record_counts(session, incident.id, "opened")
    text = f"Opened {incident.id} ({incident.severity}) in context {incident.context}: "
    text += f"{incident.title}\nChanges, runbook runs, correlations and chaos runs here are "
    text += f"tagged with it until `opsdeck incident close {incident.id}`."
    _say(output_format(args), text, incident.as_dict() | {"counts": counts})
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    from console.incidents.store import add_note

    session = session_for(args)
    incident = _chosen(args, None)
    note = add_note(incident.id, " ".join(args.text), who=_who(session))  # PII masked
    _say(output_format(args), f"Noted on {incident.id} at {note.time}.", note.as_dict())
    return 0


def cmd_close(args: argparse.Namespace) -> int:
    from console.incidents.model import IncidentError
    from console.incidents.store import close_incident

    session = session_for(args)
    incident = _chosen(args, args.id)
    if not incident.is_open:
        raise IncidentError(f"{incident.id} is already closed ({incident.closed})")
    counts = None if args.no_snapshot else record_counts(session, incident.id, "closed")
    closed = close_incident(incident.id, who=_who(session), summary=args.summary)
    text = f"Closed {closed.id} at {closed.closed}. Review draft: "
    text += f"opsdeck incident report {closed.id} --format html --file {closed.id}.html"
    _say(output_format(args), text, closed.as_dict() | {"counts": counts})
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from console.incidents.counts import counts_summary

    session = session_for(args)
    incident = _chosen(args, args.id)
    counts = record_counts(session, incident.id, "snapshot")
    data = {"incident": incident.id, "counts": counts}
    _say(output_format(args), counts_summary(incident.id, counts), data)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from console.incidents.store import list_incidents

    rows = [i.as_dict() for i in list_incidents(args.status)]
    emit(rows, output_format(args), columns=_COLUMNS, empty="No incidents.")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from console.incidents.store import IncidentStore

    incident = _chosen(args, args.id)
    store = IncidentStore()
    try:
        notes = [n.as_dict() for n in store.notes(incident.id)]
        links = [x.as_dict(with_data=False) for x in store.links(incident.id)]
    finally:
        store.close()
    audit_ids = _audit_ids(incident.id)
    fmt = output_format(args)
    if fmt != "table":
        dump(incident.as_dict() | {"notes": notes, "links": links, "audit_ids": audit_ids}, fmt)
        return 0
    emit(incident.as_dict(), fmt)
    out = sys.stdout
    out.write(f"\nchanges (audit records): {', '.join(map(str, audit_ids)) or 'none'}\n\n")
    emit(
        notes, fmt, columns=[("TIME", "time"), ("WHO", "who"), ("NOTE", "text")], empty="No notes."
    )
    out.write("\n")
    columns = [("TIME", "time"), ("KIND", "kind"), ("REF", "ref"), ("SUMMARY", "summary")]
    emit(links, fmt, columns=columns, empty="Nothing linked.")
    return 0


def _audit_ids(incident_id: str) -> list[int]:
    from console.audit import AuditJournal

    audit = AuditJournal()
    try:
        return [r.id for r in reversed(audit.list(None, incident=incident_id))]
    finally:
        audit.close()


def cmd_report(args: argparse.Namespace) -> int:
    from console.config import load_config
    from console.incidents.render_html import render_html
    from console.incidents.render_md import render_markdown
    from console.incidents.report import build_report, configured_sources

    incident = _chosen(args, args.id)
    config = load_config(Path(args.config) if getattr(args, "config", None) else None)
    sources = configured_sources(config.pii_fields)
    try:
        report = build_report(incident.id, sources)
    finally:
        sources.close()
    if args.format == "json":
        import json

        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    else:
        text = render_html(report) if args.format == "html" else render_markdown(report)
    if args.file:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"Wrote {args.file} ({args.format}, {len(text):,} characters).", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
