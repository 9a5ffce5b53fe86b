"""The review draft from real (SQLite) journals: content, order, masking, escaping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console.approvals.store import ApprovalStore
from console.audit import AuditJournal
from console.incidents import store as incidents
from console.incidents.chart import svg_chart
from console.incidents.model import CHAOS_RUN, CORRELATION, COUNTS
from console.incidents.render_html import render_html
from console.incidents.render_md import render_markdown
from console.incidents.report import Sources, build_report, when
from console.incidents.store import IncidentStore
from console.policy.model import ChangeRequest, Decision, Identity
from console.runbook.journal import RunJournal

PII = ("email",)


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(incidents.ENV, raising=False)
    incidents.use_incident(None)


def counts(running: int, failed: int) -> dict[str, object]:
    return {"counts": {"temporal": {"running": running, "failed": failed, "terminated": 0}}}


@pytest.fixture
def report(tmp_path: Path) -> dict[str, object]:
    store = IncidentStore()
    audit = AuditJournal(tmp_path / "audit.db", pii_fields=PII)
    runs = RunJournal(tmp_path / "runs.db")
    inc = incidents.open_incident(
        "Orders <b>stuck</b>", "sev2", context="prod", identity="alice", store=store
    )
    store.link(inc.id, COUNTS, "opened", "opened: temporal running 12", data=counts(12, 1))
    store.add_note(inc.id, "customer email=bob@example.com reports hangs", who="alice")
    timeline = [
        {"time": "2026-12-03T10:00:00Z", "kind": "log", "source": "loki", "error": True,
         "summary": "<script>alert(1)</script> payment failed email=bob@example.com"},
    ]  # fmt: skip
    series = [{"source": "prom", "query": "q", "labels": {"job": "w"},
               "points": [["2026-12-03T10:00:00Z", 3], ["2026-12-03T10:01:00Z", 5]]}]  # fmt: skip
    store.link(
        inc.id, CORRELATION, "wf-1", "correlate wf-1: 1 timeline row(s)",
        data={"timeline": timeline, "series": series}, who="bob",
    )  # fmt: skip
    run = runs.create(
        runbook="stuck-workflows", path="r.yaml", source="", context="prod", engine="temporal",
        identity="alice", params={}, answers={}, cursor=None, dry_run=False,
    )  # fmt: skip
    runs.set_step(run.id, "find", "done")
    runs.approve(run.id, "terminate", "carol")
    runs.set_step(run.id, "terminate", "done")
    store.link(inc.id, "runbook_run", run.id, "stuck-workflows", who="alice")
    approvals = ApprovalStore(tmp_path / "approvals.db")
    change = ChangeRequest("terminate", "temporal", ("temporal:default/wf-1",), "stuck")
    request = approvals.create(
        context="prod", change=change, plan={"action": "terminate"},
        requester=Identity("alice"), expires_in=3600,
        decision=Decision("approve", ("production",), 1, ("oncall",)),
    )  # fmt: skip
    approvals.approve(request.id, Identity("dave", ("oncall",)), "looks right")
    audit.append(
        context="prod", action="terminate", engine="temporal", target="temporal:default/wf-1",
        outcome="ok", identity="alice", reason="stuck, email=bob@example.com",
        parameters={"email": "bob@example.com", "policy": {"approval": request.id}},
        run_id=run.id, incident=inc.id,
    )  # fmt: skip
    audit.append(
        context="prod", action="retry", engine="temporal", target="temporal:default/wf-2",
        outcome="failed", identity="bob", message="not found", incident="INC-other",
    )  # fmt: skip
    store.link(inc.id, CHAOS_RUN, "ch-1", "latency: completed")
    closing = counts(0, 1) | {"slos": {"orders": {"value": 0.5, "alert": "page", "met": False}}}
    store.link(inc.id, COUNTS, "closed", "closed: temporal running 0", data=closing)
    store.close_incident(inc.id, who="carol", summary="terminated the stuck <i>order</i>")
    src = Sources(store, audit, runs, approvals, None, PII)
    try:
        return build_report(inc.id, src) | {"approval_id": request.id}
    finally:
        store.close()
        audit.close()
        runs.close()
        approvals.close()


def test_report_data_pairs_each_change_with_counts_before_and_after(report: dict) -> None:
    (change,) = report["changes"]  # the record of another incident is not in it
    assert (change["action"], change["who"], change["outcome"]) == ("terminate", "alice", "ok")
    assert change["before"]["counts"]["temporal"]["running"] == 12
    assert change["after"]["counts"]["temporal"]["running"] == 0
    assert change["approval"]["id"] == report["approval_id"]  # named by the audit record
    assert [a["user"] for a in change["approval"]["approvals"]] == ["dave"]
    approvals = [e for e in report["timeline"] if e["kind"] == "approval"]
    assert [(e["who"], e["text"].split()[0]) for e in approvals] == [
        ("alice", "approval"),
        ("dave", "approved"),
    ]
    kinds = [e["kind"] for e in report["timeline"]]
    assert kinds[0] == "opened" and kinds[-1] == "closed"
    for kind in ("note", "correlation", "change", "runbook", "runbook_step", "chaos", "counts",
                 "approval"):  # fmt: skip
        assert kind in kinds, kind
    times = [e["time"] for e in report["timeline"]]
    assert times == sorted(times, key=when) and all(re.match(r"\d{4}-\d\d-\d\dT", t) for t in times)
    steps = report["runbooks"][0]["steps"]
    assert {s["step"]: s["approvals"] for s in steps} == {"find": [], "terminate": ["carol"]}
    assert report["totals"]["changes"] == 1 and report["totals"]["chaos_runs"] == 1
    assert [s["name"] for s in report["series"]][:2] == ["temporal running", "temporal failed"]


def test_pii_is_masked_everywhere(report: dict) -> None:
    for text in (render_markdown(report), render_html(report), repr(report)):
        assert "bob@example.com" not in text
        assert "email=***" in text


def test_markdown_has_the_timeline_with_times_and_who(report: dict) -> None:
    md = render_markdown(report)
    assert md.startswith("# INC-")
    assert "| opened | alice | Orders &lt;b&gt;stuck&lt;/b&gt; |" in md
    assert re.search(r"\| \S+Z \| change \| alice \| terminate temporal:default/wf-1: ok", md)
    assert "terminated the stuck &lt;i&gt;order&lt;/i&gt;" in md
    assert "temporal: running 12, failed 1, terminated 0" in md  # before
    assert "slo orders: 0.5 (page)" in md  # after
    assert "approved by carol" in md  # the runbook step's approver
    assert "(dave)" in md  # the change's approval, and who gave it


def test_html_is_self_contained_and_escaped(report: dict) -> None:
    html = render_html(report)
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>stuck" not in html and "<i>order" not in html
    for external in ("http:", "https:", "src=", "<link", "@import", "url("):
        assert external not in html, external
    assert html.count("<svg") == 2 and "<polyline" in html  # counts and series; SLOs
    assert html.count("<li class=") == len(report["timeline"])


def test_chart_without_points_is_empty_and_names_are_escaped() -> None:
    assert svg_chart([]) == ""
    assert svg_chart([{"name": "x", "points": [["not a time", 1]]}]) == ""
    svg = svg_chart([{"name": "<a>", "points": [["2026-12-03T10:00:00Z", 1]]}])
    assert "&lt;a&gt;" in svg and "<a>" not in svg


def test_correlation_snapshot_keeps_rows_and_series_masked() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from console.incidents.snapshot import MAX_ITEMS, snapshot_data

    sample = SimpleNamespace(time=datetime(2026, 12, 3, 10, tzinfo=UTC), value=4.0)
    series = SimpleNamespace(labels={"email": "bob@example.com", "job": "w"}, samples=(sample,))
    result = SimpleNamespace(series=[("prom", "rate(x[1m])", series)])
    rows = [
        {"time": f"2026-12-03T10:00:{i % 60:02d}Z", "kind": "log", "source": "loki",
         "summary": f"row {i} email=bob@example.com", "error": False, "details": {"x": 1}}
        for i in range(MAX_ITEMS + 5)
    ]  # fmt: skip
    data = {"id": "wf-1", "timeline": rows, "recognised": [{"description": "workflow id"}]}
    snap = snapshot_data(data, result, ("email",))
    assert len(snap["timeline"]) == MAX_ITEMS and snap["timeline_total"] == MAX_ITEMS + 5
    assert snap["timeline"][-1]["summary"] == f"row {MAX_ITEMS + 4} email=***"  # newest kept
    assert "details" not in snap["timeline"][0]
    (kept,) = snap["series"]
    assert kept["points"] == [["2026-12-03T10:00:00Z", 4.0]]
    assert kept["labels"] == {"email": "***", "job": "w"}
    assert "bob@example.com" not in repr(snap)
