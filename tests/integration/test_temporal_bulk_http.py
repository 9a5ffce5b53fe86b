"""A bulk change by query over Temporal's HTTP API (engine with http-address) on the
real dev server: one job started and followed over HTTP with the gRPC path's body,
outcomes handed back (and audited) while the job still runs, no temporalio imported,
and a resumed apply that finds the same job."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.workflowservice.v1 import ListBatchOperationsRequest
from temporalio.client import Client

from adapters import temporal_bulk_watch as bulk_watch
from adapters.temporal import TemporalEngine
from adapters.temporal_batch_job import BatchJobs, JobState
from adapters.temporal_bulk import is_query_plan
from adapters.temporal_bulk_watch import apply_by_query
from adapters.temporal_http import HttpVisibility
from adapters.temporal_http_batch import HttpBatchJobs
from console.actions import ActionRunner
from console.audit import AuditJournal
from console.config import Context
from console.errors import BackendError, BackendUnavailable
from console.model import ActionKind, ActionRequest, ExecutionStatus, ListQuery, Outcome, Plan
from console.sandbox.devserver import DevServer
from tests.conftest import eventually, make_temporal_engine

pytestmark = pytest.mark.integration
NO_WORKER = "bulk-http-no-worker"  # nobody polls it: the workflows stay running
IDENTITY = "bulk-http-test@example.com"


@pytest.fixture
def engine(temporal_server: DevServer) -> TemporalEngine:
    return make_temporal_engine(temporal_server, **{"batch-threshold": 3, "identity": IDENTITY})


@pytest.fixture
def quick_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read back every 50 ms: the runs a job closed are seen soon after (HeldOpen keeps
    the job's end from the apply until an outcome came)."""
    monkeypatch.setattr(bulk_watch, "READ_BACK_SECONDS", 0.05)


async def start_running(address: str, n: int) -> str:
    """n running workflows; the query that matches exactly them."""
    client = await Client.connect(address)
    prefix = f"bulkh-{uuid.uuid4().hex[:8]}"
    for i in range(n):
        await client.start_workflow("BulkHttp", id=f"{prefix}-{i:03d}", task_queue=NO_WORKER)
    return f"WorkflowId STARTS_WITH '{prefix}'"


async def visible(engine: TemporalEngine, query: str, n: int) -> None:
    running = ListQuery(raw=query, statuses=(ExecutionStatus.RUNNING,))

    async def all_there() -> bool:
        return await engine.count(running) == n

    await eventually(all_there, what=f"{n} running matches of {query}")


async def plan_terminate(engine: TemporalEngine, query: str, **params: object) -> Plan:
    request = ActionRequest(ActionKind.TERMINATE, (), "bulk http", {"query": query, **params})
    plan = await engine.plan(request)
    assert is_query_plan(plan)
    return plan


async def running_plan(
    engine: TemporalEngine, address: str, n: int, **params: object
) -> tuple[str, Plan]:
    """n running workflows, visible, and the terminate plan by their query."""
    query = await start_running(address, n)
    await visible(engine, query, n)
    return query, await plan_terminate(engine, query, **params)


async def job_ids(address: str) -> list[str]:
    client = await Client.connect(address)
    resp = await client.workflow_service.list_batch_operations(
        ListBatchOperationsRequest(namespace="default", page_size=1000)
    )
    return [op.job_id for op in resp.operation_info]


def job_json(temporal_server: DevServer, job_id: str) -> dict[str, object]:
    """DescribeBatchOperation as the server answers it, straight from its HTTP API."""
    url = (
        f"http://{temporal_server.http_address}/api/v1/namespaces/default/batch-operations/{job_id}"
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        body: dict[str, object] = json.loads(response.read())
    return body


class Recorded:
    """The engine's HTTP batch jobs, with every state they answer noted in ``events``."""

    def __init__(self, jobs: BatchJobs, events: list[tuple[str, str]]) -> None:
        self.jobs, self.events = jobs, events

    async def describe(self, job_id: str) -> JobState | None:
        state = await self.jobs.describe(job_id)
        self.events.append(("job", state.state if state else "none"))
        return state

    async def start(self, plan: Plan, job_id: str) -> None:
        await self.jobs.start(plan, job_id)
        self.events.append(("started", job_id))


class HeldOpen:
    """Batch jobs whose end is reported (``done`` noted) only once ``released()``: until
    then an ended job still says running. The dev server's job for 50 runs takes ~0.5 s
    whatever --rps says, so without this whether an outcome beats the job's end would
    be up to the machine's load; with it, the apply must hand one back while the job
    runs for the end to come at all (else its watch deadline: outcomes SUBMITTED)."""

    def __init__(self, jobs: BatchJobs, released: Callable[[], bool]) -> None:
        self.jobs, self.released = jobs, released
        self.done = False

    async def describe(self, job_id: str) -> JobState | None:
        state = await self.jobs.describe(job_id)
        if state is not None and state.done:
            if not self.released():
                return replace(state, state="running")
            self.done = True
        return state

    async def start(self, plan: Plan, job_id: str) -> None:
        await self.jobs.start(plan, job_id)


async def test_one_job_over_http_with_the_grpc_body_and_an_outcome_per_target(
    engine: TemporalEngine, temporal_server: DevServer
) -> None:
    query, plan = await running_plan(engine, temporal_server.address, 30, rps=50)
    assert len(plan.calls) == 30
    jobs = await engine.batch_jobs()
    assert isinstance(jobs, HttpBatchJobs)  # http-address configured: the HTTP path
    request_id = str(uuid.uuid4())
    outcomes = [o async for o in engine.apply(plan, request_id)]
    assert sorted(o.target for o in outcomes) == sorted(plan.targets)
    assert {o.outcome for o in outcomes} == {Outcome.OK}
    assert {o.details["batch_job_id"] for o in outcomes} == {request_id}
    assert outcomes[-1].details["total"] == 30 and outcomes[-1].details["completed"] == 30
    assert (await job_ids(temporal_server.address)).count(request_id) == 1
    job = job_json(temporal_server, request_id)
    assert job["operationType"] == "BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW"
    assert job["reason"] == "bulk http" and job["identity"] == IDENTITY
    assert job["query"] == plan.calls[0].params["selection"]
    await visible(engine, query, 0)


async def test_a_describe_that_fails_once_mid_job_fails_no_target(
    engine: TemporalEngine, temporal_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 on one DescribeBatchOperation poll (a proxy's blip; the job goes on) is asked
    again, as the SDK does over gRPC: every target OK, none failed with the blip."""
    query, plan = await running_plan(engine, temporal_server.address, 10)
    http = engine._http_visibility()
    assert http is not None
    real, describes = http.send, []

    def send(
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if method == "GET" and path.startswith("batch-operations/"):
            describes.append(path)
            if len(describes) == 2:  # the first poll after the start: the job runs
                raise http._error(503, "Service Unavailable", b'{"code":14,"message":"blip"}')
        return real(method, path, params, body)

    monkeypatch.setattr(http, "send", send)
    outcomes = [o async for o in engine.apply(plan, str(uuid.uuid4()))]
    assert len(describes) > 2
    assert sorted(o.target for o in outcomes) == sorted(plan.targets)
    assert {o.outcome for o in outcomes} == {Outcome.OK}, [o.message for o in outcomes]
    await visible(engine, query, 0)


async def test_a_start_whose_answer_is_lost_follows_the_job_it_started(
    engine: TemporalEngine, temporal_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The POST reached the server and the job runs, but its answer timed out: the apply
    finds the job by its id and reports the targets OK, not failed with the timeout."""
    query, plan = await running_plan(engine, temporal_server.address, 10)
    http = engine._http_visibility()
    assert http is not None
    real = http.send

    def send(
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        answer = real(method, path, params, body)
        if method == "POST":
            raise BackendUnavailable("temporal", http.base_url, "timed out")
        return answer

    monkeypatch.setattr(http, "send", send)
    request_id = str(uuid.uuid4())
    outcomes = [o async for o in engine.apply(plan, request_id)]
    assert sorted(o.target for o in outcomes) == sorted(plan.targets)
    assert {o.outcome for o in outcomes} == {Outcome.OK}, [o.message for o in outcomes]
    assert (await job_ids(temporal_server.address)).count(request_id) == 1
    await visible(engine, query, 0)


class EndsFailed:
    """Batch jobs whose end is reported FAILED: a job stopped (`temporal batch terminate`)
    or failed after it changed runs (here: all of them, the job having completed)."""

    def __init__(self, jobs: BatchJobs) -> None:
        self.jobs = jobs

    async def describe(self, job_id: str) -> JobState | None:
        state = await self.jobs.describe(job_id)
        return replace(state, state="failed") if state is not None and state.done else state

    async def start(self, plan: Plan, job_id: str) -> None:
        await self.jobs.start(plan, job_id)


async def test_a_job_that_fails_after_changing_runs_reports_those_runs_changed(
    engine: TemporalEngine, temporal_server: DevServer
) -> None:
    """The runs a FAILED job had terminated (not yet read back while it ran) are OK, as
    visibility shows them, not failed with the job (their audit records would say so)."""
    _, plan = await running_plan(engine, temporal_server.address, 10)
    jobs = EndsFailed(await engine.batch_jobs())
    # No read-back while the job runs: every target is reported after its end.
    outcomes = [
        o async for o in apply_by_query(jobs, engine, plan, str(uuid.uuid4()), read_every=3600)
    ]
    assert sorted(o.target for o in outcomes) == sorted(plan.targets)
    assert {o.outcome for o in outcomes} == {Outcome.OK}, [o.message for o in outcomes]
    assert outcomes[-1].details["completed"] == 10


@pytest.mark.usefixtures("quick_reads")
async def test_outcomes_are_handed_back_while_the_job_still_runs(
    engine: TemporalEngine, temporal_server: DevServer
) -> None:
    """The first outcome comes before DescribeBatchOperation stops saying running."""
    _, plan = await running_plan(engine, temporal_server.address, 50)
    events: list[tuple[str, str]] = []

    def handed_back() -> bool:
        return any(kind == "outcome" for kind, _ in events)

    jobs = Recorded(HeldOpen(await engine.batch_jobs(), handed_back), events)
    async for outcome in apply_by_query(jobs, engine, plan, str(uuid.uuid4())):
        events.append(("outcome", outcome.outcome.value))
    outcomes = [i for i, (kind, _) in enumerate(events) if kind == "outcome"]
    running = [i for i, event in enumerate(events) if event == ("job", "running")]
    assert len(outcomes) == 50 and {events[i][1] for i in outcomes} == {"ok"}
    end = events.index(("job", "completed"))
    assert running and outcomes[0] < end, events  # an outcome during the job
    assert events[end + 1 :] and all(kind == "outcome" for kind, _ in events[end + 1 :])


@pytest.mark.usefixtures("quick_reads")
async def test_the_runner_audits_outcomes_during_the_job(
    engine: TemporalEngine,
    temporal_server: DevServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, plan = await running_plan(engine, temporal_server.address, 50)
    audit = AuditJournal(tmp_path / "audit.db")
    runner = ActionRunner(
        context=Context(name="dev", engines=()), engines={"temporal": engine}, audit=audit
    )
    request_id = str(uuid.uuid4())
    first: list[int] = []  # the audit records written when the first line printed
    jobs = HeldOpen(await engine.batch_jobs(), lambda: bool(first))

    async def held_open() -> BatchJobs:
        return jobs

    monkeypatch.setattr(engine, "batch_jobs", held_open)

    def on_outcome(outcome: object) -> None:
        if not first:
            first.append(len(audit.list(limit=None, request_id=request_id)))

    report = await runner.apply(plan, request_id=request_id, on_outcome=on_outcome)
    assert report.exit_code == 0 and report.counts["ok"] == 50
    # The job's end reaches the apply only after a line printed: all 50 OK means that
    # line came during the job (else the watch's deadline: SUBMITTED).
    assert jobs.done and first[0] >= 1  # written, then printed
    records = audit.list(limit=None, request_id=request_id)
    assert len(records) == 50 and {r.outcome for r in records} == {"ok"}
    with_counts = [r for r in records if "total" in r.parameters["result"]]
    assert len(with_counts) == 1 and with_counts[0].parameters["result"]["total"] == 50
    assert all(r.parameters["result"]["batch_job_id"] == request_id for r in records)
    assert audit.verify() is None


class BreaksAfter:
    """Batch jobs that say running until ``count()`` outcomes came, then raise a bug (not
    an opsdeck error): e.g. a describe answer the parser chokes on."""

    def __init__(self, jobs: BatchJobs, count: Callable[[], int], after: int) -> None:
        self.jobs, self.count, self.after = jobs, count, after

    async def describe(self, job_id: str) -> JobState | None:
        state = await self.jobs.describe(job_id)
        if state is not None and state.done:
            if self.count() >= self.after:
                raise KeyError("startTime")
            return replace(state, state="running")
        return state

    async def start(self, plan: Plan, job_id: str) -> None:
        await self.jobs.start(plan, job_id)


@pytest.mark.usefixtures("quick_reads")
async def test_a_bug_mid_job_loses_no_outcome_already_seen(
    engine: TemporalEngine,
    temporal_server: DevServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All 10 runs seen closed (9 handed back, one held for the job's counts), then the
    watch breaks: the held one is still audited, then the error is reported."""
    _, plan = await running_plan(engine, temporal_server.address, 10)
    audit = AuditJournal(tmp_path / "audit.db")
    runner = ActionRunner(
        context=Context(name="dev", engines=()), engines={"temporal": engine}, audit=audit
    )
    printed: list[str] = []
    jobs = BreaksAfter(await engine.batch_jobs(), lambda: len(printed), 9)

    async def breaking() -> BatchJobs:
        return jobs

    monkeypatch.setattr(engine, "batch_jobs", breaking)
    request_id = str(uuid.uuid4())
    report = await runner.apply(
        plan, request_id=request_id, on_outcome=lambda o: printed.append(o.target)
    )
    assert report.error is not None and "KeyError" in str(report.error)
    assert sorted(printed) == sorted(plan.targets)
    records = audit.list(limit=None, request_id=request_id)
    assert sorted(r.target for r in records) == sorted(plan.targets)
    assert {r.outcome for r in records} == {"ok"}


@pytest.mark.usefixtures("quick_reads")
async def test_an_interrupted_apply_resumes_by_watching_the_same_job(
    engine: TemporalEngine, temporal_server: DevServer
) -> None:
    _, plan = await running_plan(engine, temporal_server.address, 20, rps=1)
    request_id = str(uuid.uuid4())
    outcomes = engine.apply(plan, request_id)
    first = await anext(outcomes)  # the client goes away after one outcome
    await outcomes.aclose()
    assert first.outcome is Outcome.OK
    events: list[tuple[str, str]] = []
    jobs = Recorded(await engine.batch_jobs(), events)
    again = [o async for o in apply_by_query(jobs, engine, plan, request_id)]
    assert len(again) == 20 and {o.outcome for o in again} == {Outcome.OK}
    assert not [e for e in events if e[0] == "started"]  # found by its id, not started
    assert (await job_ids(temporal_server.address)).count(request_id) == 1


def test_a_bulk_apply_over_http_imports_no_temporalio(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    """The whole CLI apply (plan, job, read-back, audit) in a fresh process."""
    import asyncio

    engine = make_temporal_engine(temporal_server)
    query = asyncio.run(start_running(temporal_server.address, 5))
    asyncio.run(visible(engine, query, 5))
    config = tmp_path / "config.yaml"
    config.write_text(
        "current-context: local\ncontexts:\n  local:\n    engines:\n      - kind: temporal\n"
        f"        address: {temporal_server.address}\n"
        f"        http-address: {temporal_server.http_address}\n"
        "        namespace: default\n        batch-threshold: 2\n"
    )
    argv = ["-o", "json", "executions", "terminate", "--query", query, "--yes"]
    code = (
        "import sys, json; from console.cli import main;"
        f"rc = main({argv!r});"
        "bad = sorted(m for m in sys.modules if m.startswith(('temporalio', 'google.protobuf')));"
        "print(json.dumps({'rc': rc, 'imported': bad}), file=sys.stderr)"
    )
    env = dict(os.environ, OPSDECK_CONFIG=str(config))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result == {"rc": 0, "imported": []}
    report = json.loads(done.stdout)["report"]
    assert report["counts"]["ok"] == 5
    assert {o["details"]["batch_job_id"] for o in report["outcomes"]} == {report["request_id"]}
    asyncio.run(visible(engine, query, 0))


class Canned(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next canned (status, body); notes what it was sent."""

    answers: list[tuple[int, bytes]] = []
    seen: list[tuple[str, str, str]] = []  # method, path, Authorization

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
        status, body = self.answers.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def _exhausted(cause: str, message: str) -> bytes:
    """A 429's body as the server's HTTP API sends it (seen on the dev server)."""
    detail = {
        "@type": "type.googleapis.com/temporal.api.errordetails.v1.ResourceExhaustedFailure",
        "cause": cause,
        "scope": "RESOURCE_EXHAUSTED_SCOPE_NAMESPACE",
    }
    return json.dumps({"code": 8, "message": message, "details": [detail]}).encode()


@pytest.fixture
def canned() -> Iterator[HttpVisibility]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Canned.answers, Canned.seen = [], []
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        yield HttpVisibility(base, "default", api_key="sekrit-api-key")
    finally:
        server.shutdown()
        server.server_close()


def test_a_concurrent_limit_429_is_reported_at_once_a_rate_limit_429_waited_out(
    canned: HttpVisibility,
) -> None:
    busy = _exhausted(
        "RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT", "Max concurrent batch operations is reached"
    )
    Canned.answers = [(429, busy)]
    with pytest.raises(BackendError, match="Max concurrent batch operations") as caught:
        canned.send("POST", "batch-operations/j1", None, {"jobId": "j1"})
    assert len(Canned.seen) == 1  # not sent again: another job holds the namespace's slot
    assert "sekrit" not in str(caught.value)
    assert Canned.seen[0][2] == "Bearer sekrit-api-key"
    qps = _exhausted("RESOURCE_EXHAUSTED_CAUSE_PERSISTENCE_LIMIT", "persistence rate limit")
    Canned.answers = [(429, qps), (200, b"{}")]
    assert canned.send("POST", "batch-operations/j2", None, {"jobId": "j2"}) == {}
    assert [m for m, _, _ in Canned.seen[1:]] == ["POST", "POST"]  # waited, sent again
