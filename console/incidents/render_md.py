"""The review draft as Markdown (from console.incidents.report.build_report's data).

Backend text goes into table cells and list items: ``|``, backticks, ``<`` and line
breaks are escaped so a log line cannot break the table or inject HTML when the
Markdown is rendered.
"""

from __future__ import annotations

from typing import Any


def md(text: Any) -> str:
    value = "" if text is None else str(text)
    value = value.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    value = value.replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(value.split())


def counts_text(snapshot: dict[str, Any] | None) -> str:
    if not snapshot:
        return "-"
    parts = []
    for engine, values in snapshot["counts"].items():
        shown = ", ".join(f"{k} {'?' if v is None else v}" for k, v in values.items())
        parts.append(f"{engine}: {shown}")
    for name, slo in (snapshot.get("slos") or {}).items():
        value = slo.get("value")
        shown = slo.get("error") or ("no data" if value is None else f"{value:g}")
        parts.append(f"slo {name}: {shown}" + (f" ({slo['alert']})" if slo.get("alert") else ""))
    return "; ".join(parts) or "-"


CHANGE_HEADER = ["Time", "Who", "Action", "Target", "Outcome", "Approval", "Before", "After"]


def change_rows(changes: list[dict[str, Any]]) -> list[list[str]]:
    """The changes table's cells (both formats): outcome with its message, the approval
    with who approved, the counts before and after."""
    rows = []
    for c in changes:
        approval = c["approval"]
        by = ", ".join(a["user"] for a in (approval or {}).get("approvals") or [])
        rows.append(
            [
                c["time"],
                c["who"],
                c["action"],
                c["target"],
                c["outcome"] + (f": {c['message']}" if c["message"] else ""),
                f"{approval['id']} ({by or 'no approver'})" if approval else "-",
                counts_text(c["before"]),
                counts_text(c["after"]),
            ]
        )
    return rows


def _table(out: list[str], header: list[str], rows: list[list[Any]]) -> None:
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for row in rows:
        out.append("| " + " | ".join(md(c) for c in row) + " |")
    out.append("")


def render_markdown(report: dict[str, Any]) -> str:
    inc = report["incident"]
    totals = report["totals"]
    out = [f"# {md(inc['id'])}: {md(inc['title'])}", ""]
    out.append("*Post-incident review draft, generated " + md(report["generated"]) + ".*")
    out.append("")
    out.append("## Summary")
    out.append("")
    closed = f"{md(inc['closed'])} by {md(inc['closed_by'])}" if inc["closed"] else "still open"
    out += [
        f"- Severity: {md(inc['severity'])}; status: {md(inc['status'])}; context: "
        f"{md(inc['context'])}",
        f"- Opened: {md(inc['opened'])} by {md(inc['opened_by'])}; closed: {closed}",
        f"- Duration: {md(report['duration'])}",
        f"- Changes: {totals['changes']} ({totals['failed_changes']} not ok); runbook runs: "
        f"{totals['runbook_runs']}; chaos runs: {totals['chaos_runs']}; correlations saved: "
        f"{totals['correlations']}; notes: {totals['notes']}",
    ]
    if inc["summary"]:
        out.append(f"- Closing summary: {md(inc['summary'])}")
    out.append("")
    out.append("## Timeline")
    out.append("")
    rows = []
    for e in report["timeline"]:
        text = e["text"] + ("".join(f" ({d})" for d in e["details"]))
        rows.append([e["time"], e["kind"], e["who"], text])
    _table(out, ["Time (UTC)", "What", "Who", "Details"], rows)
    out.append("## What was done, and what changed after")
    out.append("")
    if report["changes"]:
        header, rows = CHANGE_HEADER, change_rows(report["changes"])
        _table(out, header, rows)
    else:
        out += ["No change was recorded while the incident was open.", ""]
    for rb in report["runbooks"]:
        out.append(f"### Runbook {md(rb['runbook'])} ({md(rb['id'])}, {md(rb['status'])})")
        out.append("")
        rows = [
            [s["step"], s["state"], s["started"], s["finished"], ", ".join(s["approvals"])]
            for s in rb["steps"]
        ]
        _table(out, ["Step", "State", "Started", "Finished", "Approved by"], rows)
    if report["chaos"]:
        out.append("### Chaos runs")
        out.append("")
        rows = [
            [r["id"], r["title"], r["status"], r.get("started"), r.get("ended")]
            for r in report["chaos"]
        ]
        _table(out, ["Run", "Experiment", "Status", "Started", "Ended"], rows)
    out.append("## What was seen (correlations saved at the time)")
    out.append("")
    if not report["correlations"]:
        out += ["No correlation was run while the incident was open.", ""]
    for c in report["correlations"]:
        out.append(f"### {md(c['time'])}: {md(c['summary'])} (by {md(c['who'])})")
        out.append("")
        rows = [
            [i.get("time"), i.get("kind"), i.get("source"), i.get("summary")] for i in c["items"]
        ]
        _table(out, ["Time", "Kind", "Source", "Summary"], rows)
        if c["items_total"] > len(c["items"]):
            out += [f"({c['items_total'] - len(c['items'])} more rows in the snapshot)", ""]
    if report["counts"]:
        out.append("## Execution counts")
        out.append("")
        rows = [[s["time"], s["label"], counts_text(s)] for s in report["counts"]]
        _table(out, ["Time", "Snapshot", "Counts"], rows)
    out += ["## Follow-ups", "", "- (to be written in the review)", ""]
    return "\n".join(out)
