"""An incident end to end on the real dev server: start, terminate, correlate, note,
close, then the review as Markdown and as HTML rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from console.sandbox.devserver import DevServer
from tests.integration.temporal_config import write_temporal_config

from .test_cli_executions import TASK_QUEUE, opsdeck, wait_status

pytestmark = pytest.mark.integration
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"


@pytest.fixture
def config(tmp_path: Path, temporal_server: DevServer) -> Path:
    return write_temporal_config(
        tmp_path / "config.yaml",
        temporal_server,
        identity="alice@example.com",
        top="pii-fields: [email]",
        after_engines="""
        slos:
          inc-orders:
            query: "WorkflowId STARTS_WITH 'inc-'"
            success-rate: 99%
            window: 1h
        """,
    )


def ok(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    done = opsdeck(*args, config=config)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def chromium_dom(html: Path, tmp_path: Path) -> str:
    binary = shutil.which("chromium")
    if binary is None:
        message = "Debian's chromium is not installed (`make chromium-bin`)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", html.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_incident_tags_a_change_and_a_correlation_and_reports_them(
    config: Path, temporal_server: DevServer, tmp_path: Path
) -> None:
    client = await Client.connect(temporal_server.address, namespace="default")
    workflow_id = f"inc-{uuid.uuid4().hex[:10]}"
    await client.start_workflow("CliTestWorkflow", id=workflow_id, task_queue=TASK_QUEUE)

    started = json.loads(
        ok("incident", "start", "Orders stuck", "--severity", "sev2", "-o", "json",
           config=config).stdout
    )  # fmt: skip
    incident = started["id"]
    assert re.fullmatch(r"INC-\d{8}-\d+", incident)
    assert started["opened_by"] == "alice@example.com"
    assert started["counts"]["temporal"]["running"] >= 1  # our workflow at least
    second = opsdeck("incident", "start", "another", config=config)
    assert second.returncode == 2 and incident in second.stderr

    ok("executions", "terminate", workflow_id, "--reason", "stuck for email=bob@example.com",
       "--yes", config=config)  # fmt: skip
    await wait_status(client, workflow_id, WorkflowExecutionStatus.TERMINATED)
    # a real runbook run on the server (its scan matches nothing: safe beside other tests)
    ok("runbook", "run", "stuck-workflows", "--param", f"query=WorkflowId = '{workflow_id}-x'",
       "--yes", config=config)  # fmt: skip
    correlated = opsdeck("correlate", workflow_id, config=config)
    assert correlated.returncode in (0, 4), correlated.stderr
    assert f"saved to incident {incident}" in correlated.stderr
    ok("incident", "note", "customer", "email=bob@example.com", "confirmed", config=config)
    ok("incident", "close", "--summary", "terminated the stuck order", config=config)
    assert opsdeck("incident", "show", "INC-19990101-1", config=config).returncode == 2

    shown = json.loads(ok("incident", "show", incident, "-o", "json", config=config).stdout)
    assert shown["status"] == "closed" and len(shown["audit_ids"]) == 1
    assert {x["kind"] for x in shown["links"]} == {"counts", "correlation", "runbook_run"}
    done = ok("incident", "report", incident, "--format", "json", config=config)
    report = json.loads(done.stdout)
    opened_slo, closed_slo = (c["slos"]["inc-orders"] for c in report["counts"])
    assert opened_slo["value"] is None  # nothing of ours had closed yet
    assert closed_slo["value"] == 0.0 and closed_slo["met"] is False  # one terminated
    audit = json.loads(ok("audit", "show", str(shown["audit_ids"][0]), "-o", "json",
                          config=config).stdout)  # fmt: skip
    assert audit["incident"] == incident and workflow_id in audit["target"]
    ok("audit", "verify", config=config)

    md = ok("incident", "report", incident, "--format", "md", config=config).stdout
    assert "bob@example.com" not in md
    assert re.search(rf"\| {ISO}\.\d+Z \| opened \| alice@example.com \| Orders stuck \|", md)
    assert re.search(rf"\| {ISO}\.\d+Z \| change \| alice@example.com \| terminate "
                     rf"temporal:default/{workflow_id}\S*: ok \|", md)  # fmt: skip
    assert re.search(rf"\| {ISO}\.\d+Z \| correlation \| alice@example.com \| correlate "
                     rf"{workflow_id}: \d+ timeline row", md)  # fmt: skip
    assert re.search(rf"\| {ISO}\.\d+Z \| note \| alice@example.com \| customer email=\*\*\*", md)
    assert re.search(rf"\| {ISO}\.\d+Z \| runbook_step \| alice@example.com \| "
                     r"stuck-workflows step find: done", md)  # fmt: skip
    assert re.search(rf"\| {ISO}\.\d+Z \| closed \| alice@example.com \| terminated the stuck", md)
    (row,) = [line for line in md.splitlines() if line.startswith("| ") and "| terminate |" in line]
    assert row.count("temporal: running") == 2  # counts before (at open) and after (at close)

    page = tmp_path / "review.html"
    ok("incident", "report", incident, "--format", "html", "--file", str(page), config=config)
    html = page.read_text(encoding="utf-8")
    assert "bob@example.com" not in html
    for external in ("<script", "http:", "https:", "src=", "<link"):
        assert external not in html, external
    dom = chromium_dom(page, tmp_path)
    text = re.sub(r"<[^>]+>", " ", dom)  # the rendered DOM's text
    assert "Orders stuck" in text and incident in text
    entries = re.findall(r'<li class="([a-z_ ]+)">(.*?)</li>', dom, flags=re.S)
    kinds = [k.split()[0] for k, _ in entries]
    assert kinds[0] == "opened" and kinds[-1] == "closed"
    assert {"change", "correlation", "note", "counts", "runbook", "runbook_step"} <= set(kinds)
    change_text = next(re.sub(r"<[^>]+>", "", body) for k, body in entries if k == "change")
    assert "alice@example.com" in change_text and workflow_id in change_text
    assert re.match(ISO, change_text)
    assert dom.count("<svg") == 2 and "<polyline" in dom  # counts and SLO charts rendered


async def test_incident_option_tags_one_command_and_an_unknown_id_changes_nothing(
    config: Path, temporal_server: DevServer
) -> None:
    from console.incidents.store import open_incident

    client = await Client.connect(temporal_server.address, namespace="default")
    first, second = (f"inc-opt-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for workflow_id in (first, second):
        await client.start_workflow("CliTestWorkflow", id=workflow_id, task_queue=TASK_QUEUE)
    current = json.loads(
        ok("incident", "start", "current one", "--no-snapshot", "-o", "json", config=config).stdout
    )["id"]
    # another context's incident, named explicitly (a drill, a second team)
    named = open_incident("named one", context="elsewhere", identity="bob").id
    refused = opsdeck("executions", "terminate", first, "--reason", "r", "--yes",
                      "--incident", "INC-19990101-7", config=config)  # fmt: skip
    assert refused.returncode == 2 and "INC-19990101-7" in refused.stderr
    assert (await client.get_workflow_handle(first).describe()).status == (
        WorkflowExecutionStatus.RUNNING
    )  # nothing was changed
    ok("executions", "terminate", first, "--reason", "r", "--yes", "--incident", named,
       config=config)  # fmt: skip
    ok("executions", "terminate", second, "--reason", "r", "--yes", config=config)
    records = [
        json.loads(line)
        for line in ok("audit", "export", "--format", "jsonl", config=config).stdout.splitlines()
    ]
    by_target = {r["target"].split("/")[1]: r["incident"] for r in records}
    assert by_target == {first: named, second: current}
