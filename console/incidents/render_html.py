"""The review draft as ONE self-contained HTML file: inline CSS, inline SVG chart.

No script, no external font, image, stylesheet or URL: the file can be attached to a
ticket and opened offline. Every value is HTML-escaped (backend text included).
"""

from __future__ import annotations

from html import escape
from typing import Any

from console.incidents.chart import svg_chart
from console.incidents.render_md import CHANGE_HEADER, change_rows

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222;
line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0 1rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.draft{color:#666;font-style:italic}
.sev{display:inline-block;padding:0 .5rem;border-radius:.3rem;background:#fde2e1}
ol.timeline{list-style:none;padding-left:0;border-left:3px solid #ccc}
ol.timeline li{margin:0 0 .6rem 0;padding-left:1rem;position:relative}
ol.timeline li::before{content:"";position:absolute;left:-8px;top:.4rem;width:13px;
height:13px;border-radius:50%;background:#999}
ol.timeline li.change::before{background:#1f77b4}
ol.timeline li.failed::before{background:#d62728}
ol.timeline li.opened::before,ol.timeline li.closed::before{background:#222}
ol.timeline li.correlation::before{background:#9467bd}
ol.timeline li.approval::before{background:#2ca02c}
.when{font-family:ui-monospace,monospace;color:#555}.kind{font-weight:600}
.chart{max-width:100%;height:auto;border:1px solid #eee}
"""


def h(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(header: list[str], rows: list[list[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{h(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{h(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{h(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _timeline(entries: list[dict[str, Any]]) -> str:
    items = []
    for e in entries:
        cls = e["kind"]
        if e["kind"] == "change" and e.get("outcome") not in ("ok", "skipped"):
            cls += " failed"
        details = "".join(f"<div>{h(d)}</div>" for d in e["details"])
        items.append(
            f'<li class="{h(cls)}"><span class="when">{h(e["time"])}</span> '
            f'<span class="kind">{h(e["kind"])}</span>'
            + (f' by <span class="who">{h(e["who"])}</span>' if e["who"] else "")
            + f': <span class="text">{h(e["text"])}</span>{details}</li>'
        )
    return '<ol class="timeline">' + "".join(items) + "</ol>"


def render_html(report: dict[str, Any]) -> str:
    inc = report["incident"]
    totals = report["totals"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{h(inc['id'])}: {h(inc['title'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1 id="title">{h(inc["id"])}: {h(inc["title"])}</h1>',
        f'<p class="draft">Post-incident review draft, generated {h(report["generated"])}.</p>',
        '<h2 id="summary">Summary</h2><ul>',
        f'<li>Severity <span class="sev">{h(inc["severity"])}</span>, status '
        f"{h(inc['status'])}, context {h(inc['context'])}</li>",
        f"<li>Opened {h(inc['opened'])} by {h(inc['opened_by'])}; "
        + (f"closed {h(inc['closed'])} by {h(inc['closed_by'])}" if inc["closed"] else "still open")
        + f"; duration {h(report['duration'])}</li>",
        f"<li>{totals['changes']} change(s), {totals['failed_changes']} not ok; "
        f"{totals['runbook_runs']} runbook run(s); {totals['chaos_runs']} chaos run(s); "
        f"{totals['correlations']} correlation(s) saved; {totals['notes']} note(s)</li>",
    ]
    if inc["summary"]:
        parts.append(f"<li>Closing summary: {h(inc['summary'])}</li>")
    parts.append("</ul>")
    chart = svg_chart(report["series"], "Counts and metrics during the incident")
    if chart:
        parts += ['<h2 id="chart">Counts and metrics over time</h2>', chart]
    slo_chart = svg_chart(report.get("slo_series") or [], "SLO values at each snapshot")
    if slo_chart:
        parts += ['<h2 id="slo-chart">SLO values at each snapshot</h2>', slo_chart]
    parts += ['<h2 id="timeline">Timeline</h2>', _timeline(report["timeline"])]
    parts.append('<h2 id="changes">What was done, and what changed after</h2>')
    if report["changes"]:
        header, rows = CHANGE_HEADER, change_rows(report["changes"])
        parts.append(_table(header, rows, "changes"))
    else:
        parts.append("<p>No change was recorded while the incident was open.</p>")
    for rb in report["runbooks"]:
        parts.append(f"<h3>Runbook {h(rb['runbook'])} ({h(rb['id'])}, {h(rb['status'])})</h3>")
        rows = [
            [s["step"], s["state"], s["started"], s["finished"], ", ".join(s["approvals"])]
            for s in rb["steps"]
        ]
        parts.append(_table(["Step", "State", "Started", "Finished", "Approved by"], rows))
    if report["chaos"]:
        parts.append("<h3>Chaos runs</h3>")
        rows = [
            [r["id"], r["title"], r["status"], r.get("started"), r.get("ended")]
            for r in report["chaos"]
        ]
        parts.append(_table(["Run", "Experiment", "Status", "Started", "Ended"], rows))
    parts.append('<h2 id="seen">What was seen (correlations saved at the time)</h2>')
    if not report["correlations"]:
        parts.append("<p>No correlation was run while the incident was open.</p>")
    for c in report["correlations"]:
        parts.append(f"<h3>{h(c['time'])}: {h(c['summary'])} (by {h(c['who'])})</h3>")
        rows = [
            [i.get("time"), i.get("kind"), i.get("source"), i.get("summary")] for i in c["items"]
        ]
        parts.append(_table(["Time", "Kind", "Source", "Summary"], rows, "correlation"))
        if c["items_total"] > len(c["items"]):
            parts.append(f"<p>{c['items_total'] - len(c['items'])} more rows in the snapshot.</p>")
    parts += ['<h2 id="followups">Follow-ups</h2><ul><li>(to be written in the review)</li></ul>']
    parts.append("</body></html>")
    return "\n".join(parts)
