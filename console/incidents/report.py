"""The post-incident review draft: everything tagged with one incident, in time order.

``build_report`` reads the incident store (notes, links), the audit journal (records
whose ``incident`` is this one), the run journal (each linked runbook run's steps and
approvals), the approvals journal (the requests named by audit records) and the chaos
run store, and returns plain data; render_md / render_html turn it into documents.

What changed after each action: every change is paired with the last count snapshot
before it and the first one after it (snapshots are taken at open, at close and by
`opsdeck incident snapshot`), so the review shows e.g. running 12 -> 0.

PII: audit parameters were masked when written; everything is masked again here with
the config's pii fields (keys at any depth), and free text (notes, log lines, messages)
has ``field=value`` / ``field: value`` / ``"field": "value"`` masked for those fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.audit import mask
from console.incidents.model import CHAOS_RUN, CORRELATION, COUNTS, RUNBOOK_RUN, Incident
from console.incidents.pii import mask_text
from console.incidents.store import IncidentStore, now_iso

SNAPSHOT_ITEMS = 50  # correlation rows shown per snapshot in the report


@dataclass
class Sources:
    """Where the report reads from; None: the configured journals (tests pass their own)."""

    incidents: IncidentStore
    audit: Any = None  # console.audit.AuditJournal
    runs: Any = None  # console.runbook.journal.RunJournal
    approvals: Any = None  # console.approvals.store.ApprovalStore
    chaos: Any = None  # console.experiments.store.ChaosRunStore
    pii_fields: tuple[str, ...] = ()
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()


def configured_sources(pii_fields: Iterable[str] = ()) -> Sources:
    from console.approvals.store import ApprovalStore
    from console.audit import AuditJournal
    from console.experiments.store import ChaosRunStore
    from console.runbook.journal import RunJournal

    src = Sources(IncidentStore(), AuditJournal(), RunJournal(), ApprovalStore(), ChaosRunStore())
    src.pii_fields = tuple(pii_fields)
    for journal in (src.incidents, src.audit, src.runs, src.approvals, src.chaos):
        src.closers.append(journal.close)
    return src


def _entry(time: str | None, kind: str, who: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"time": time or "", "kind": kind, "who": who, "text": text, "details": [], **extra}


def when(text: str | None) -> datetime:
    """An ISO time for ordering (journals write milli- or microseconds); bad: the start."""
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _counts_at(snapshots: list[dict[str, Any]], time: str, *, after: bool) -> Any:
    if after:
        later = [s for s in snapshots if when(s["time"]) > when(time)]
        return later[0] if later else None
    earlier = [s for s in snapshots if when(s["time"]) <= when(time)]
    return earlier[-1] if earlier else None


def _approval(src: Sources, approval_id: str | None) -> dict[str, Any] | None:
    if not approval_id:
        return None
    if src.approvals is None:
        return {"id": approval_id, "requester": "", "approvals": [], "status": "unknown"}
    try:
        request = src.approvals.get(approval_id).as_dict()
    except Exception:  # gone, or another store: the audit record still names it
        return {"id": approval_id, "requester": "", "approvals": [], "status": "unknown"}
    keep = ("id", "status", "requester", "created", "approvals", "denied", "applied_at")
    return {k: request.get(k) for k in keep}


def _changes(src: Sources, incident: Incident) -> list[dict[str, Any]]:
    if src.audit is None:
        return []
    out = []
    for record in reversed(src.audit.list(None, incident=incident.id)):
        params = dict(record.parameters)
        policy = params.get("policy") if isinstance(params.get("policy"), Mapping) else {}
        out.append(
            {
                "audit_id": record.id,
                "time": record.time,
                "who": record.identity or record.os_user,
                "os_user": record.os_user,
                "action": record.action,
                "engine": record.engine,
                "target": record.target,
                "outcome": record.outcome,
                "reason": record.reason,
                "message": record.message,
                "request_id": record.request_id,
                "run_id": record.run_id,
                "parameters": params,
                "approval": _approval(src, (policy or {}).get("approval")),
            }
        )
    return out


def _runbook(src: Sources, link: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": link.ref, "time": link.time, "who": link.who, "steps": []}
    if src.runs is None:
        return base | {"runbook": link.summary, "status": "unknown"}
    try:
        run = src.runs.get(link.ref)
    except Exception:
        return base | {"runbook": link.summary, "status": "not in this run journal"}
    steps = []
    for step in sorted(src.runs.steps(run.id).values(), key=lambda s: s.started or ""):
        steps.append(
            {
                "step": step.step_id,
                "state": step.state,
                "started": step.started,
                "finished": step.finished,
                "message": step.message,
                "approvals": src.runs.approvals(run.id, step.step_id),
            }
        )
    return base | {
        "runbook": run.runbook,
        "status": run.status,
        "who": run.identity,
        "dry_run": run.dry_run,
        "steps": steps,
    }


def _chaos(src: Sources, link: Any) -> dict[str, Any]:
    base = {"id": link.ref, "time": link.time, "who": link.who, "title": link.summary}
    if src.chaos is None:
        return base | {"status": "unknown"}
    try:
        found: dict[str, Any] = src.chaos.get(link.ref).summary()
        return base | found
    except Exception:
        return base | {"status": "not in this chaos store"}


def build_report(incident_id: str, src: Sources) -> dict[str, Any]:
    """The review as data (documented in docs/incidents.md); PII masked."""
    incident = src.incidents.get(incident_id)
    pii = src.pii_fields
    notes = src.incidents.notes(incident.id)
    links = src.incidents.links(incident.id)
    counts = [
        {
            "time": x.time,
            "label": x.summary,
            "who": x.who,
            "counts": x.data.get("counts", {}),
            "slos": x.data.get("slos", {}),
        }
        for x in links
        if x.kind == COUNTS
    ]
    changes = _changes(src, incident)
    for change in changes:
        change["before"] = _counts_at(counts, change["time"], after=False)
        change["after"] = _counts_at(counts, change["time"], after=True)
    runbooks = [_runbook(src, x) for x in links if x.kind == RUNBOOK_RUN]
    chaos = [_chaos(src, x) for x in links if x.kind == CHAOS_RUN]
    correlations: list[dict[str, Any]] = [
        {
            "time": x.time,
            "who": x.who,
            "id": x.ref,
            "summary": x.summary,
            "items": list(x.data.get("timeline") or [])[:SNAPSHOT_ITEMS],
            "items_total": len(x.data.get("timeline") or []),
            "series": list(x.data.get("series") or []),
        }
        for x in links
        if x.kind == CORRELATION
    ]
    timeline = [_entry(incident.opened, "opened", incident.opened_by, incident.title)]
    timeline += [_entry(n.time, "note", n.who, n.text) for n in notes]
    timeline += [_entry(c["time"], "counts", c["who"], c["label"]) for c in counts]
    for c in correlations:
        timeline.append(_entry(c["time"], "correlation", c["who"], c["summary"]))
    for ch in changes:
        text = f"{ch['action']} {ch['target']}: {ch['outcome']}"
        entry = _entry(ch["time"], "change", ch["who"], text, outcome=ch["outcome"])
        if ch["approval"]:
            names = ", ".join(a["user"] for a in ch["approval"].get("approvals") or [])
            entry["details"].append(f"approval {ch['approval']['id']} by {names or 'nobody'}")
        timeline.append(entry)
    timeline += _approval_entries(changes)
    for rb in runbooks:
        timeline.append(_entry(rb["time"], "runbook", rb["who"], f"{rb['runbook']} {rb['id']}"))
        for step in rb["steps"]:
            text = f"{rb['runbook']} step {step['step']}: {step['state']}"
            entry = _entry(step["finished"] or step["started"], "runbook_step", rb["who"], text)
            if step["approvals"]:
                entry["details"].append("approved by " + ", ".join(step["approvals"]))
            timeline.append(entry)
    for run in chaos:
        text = f"chaos {run['title']} {run['id']}: {run['status']}"
        timeline.append(_entry(run.get("started") or run["time"], "chaos", run["who"], text))
    if incident.closed:
        text = incident.summary or "closed"
        timeline.append(_entry(incident.closed, "closed", incident.closed_by or "", text))
    timeline.sort(key=lambda e: when(e["time"]))
    report = {
        "incident": incident.as_dict(),
        "generated": now_iso(),
        "duration": _duration(incident),
        "totals": {
            "changes": len(changes),
            "failed_changes": sum(1 for c in changes if c["outcome"] not in ("ok", "skipped")),
            "runbook_runs": len(runbooks),
            "chaos_runs": len(chaos),
            "notes": len(notes),
            "correlations": len(correlations),
        },
        "timeline": timeline,
        "changes": changes,
        "runbooks": runbooks,
        "chaos": chaos,
        "correlations": correlations,
        "counts": counts,
        "series": chart_series(counts, correlations),
        "slo_series": slo_series(counts),
    }
    return _masked(report, pii)


def _approval_entries(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each approval request named by a change, once: requested, approved, denied."""
    seen: dict[str, dict[str, Any]] = {}
    for change in changes:
        if change["approval"] and change["approval"]["id"] not in seen:
            seen[change["approval"]["id"]] = change["approval"]
    out = []
    for approval_id, a in seen.items():
        if a.get("created"):
            text = f"approval {approval_id} requested ({a.get('status')})"
            out.append(_entry(a["created"], "approval", a.get("requester") or "", text))
        for verdict in a.get("approvals") or []:
            text = f"approved {approval_id}" + (
                f": {verdict['reason']}" if verdict.get("reason") else ""
            )
            out.append(_entry(verdict.get("time"), "approval", verdict.get("user") or "", text))
        denied = a.get("denied")
        if denied:
            text = f"denied {approval_id}: {denied.get('reason') or ''}"
            out.append(_entry(denied.get("time"), "approval", denied.get("user") or "", text))
    return out


def _duration(incident: Incident) -> str:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    end = parse(incident.closed) if incident.closed else datetime.now(UTC)
    seconds = int((end - parse(incident.opened)).total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m {rest % 60:02d}s" + ("" if incident.closed else " so far")


def chart_series(
    counts: list[dict[str, Any]], correlations: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Lines for the chart: each engine's counts over the snapshots, then the metric
    series saved in correlation snapshots. Each: {name, points: [[iso time, value]]}."""
    lines: dict[str, list[list[Any]]] = {}
    for snap in counts:
        for engine, values in snap["counts"].items():
            for status, value in values.items():
                if value is not None:
                    lines.setdefault(f"{engine} {status}", []).append([snap["time"], value])
    out = [{"name": name, "points": points} for name, points in lines.items()]
    for c in correlations:
        for s in c["series"]:
            if s.get("points"):
                out.append({"name": f"{s.get('source')} {s.get('labels')}", "points": s["points"]})
    return out


def slo_series(counts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each SLO's value at each snapshot (a fraction, or seconds), for a chart of its own."""
    lines: dict[str, list[list[Any]]] = {}
    for snap in counts:
        for name, slo in (snap.get("slos") or {}).items():
            if isinstance(slo.get("value"), int | float):
                lines.setdefault(f"slo {name}", []).append([snap["time"], slo["value"]])
    return [{"name": name, "points": points} for name, points in lines.items()]


def _masked(report: dict[str, Any], pii: tuple[str, ...]) -> dict[str, Any]:
    masked: dict[str, Any] = mask(report, pii)

    def text(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: text(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [text(v) for v in obj]
        if isinstance(obj, str) and pii:
            return mask_text(obj, pii)
        return obj

    result: dict[str, Any] = text(masked)
    return result
