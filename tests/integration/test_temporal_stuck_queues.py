"""no_pollers from the distinct task queues, not the whole running list (real dev server).

Four task queues in one scope: two polled by live workers (their executions ran a task
and wait for a signal), two that nobody polls, the executions interleaved. Each way
adapters/temporal_stuck_queues.py can take (queue probes, the first page alone, the full
list past the cap or with the probes off) must give the same hits in the same order,
the "workflow task waited and no worker polled since" signal of a queue whose worker
left included.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from adapters import temporal_stuck_scan
from adapters.temporal import TemporalEngine
from console.cli_stuck_explain import explain_cost
from console.model import ListQuery, StuckHit, StuckRule, StuckRules
from console.sandbox.devserver import DevServer
from tests.conftest import eventually

pytestmark = pytest.mark.integration
CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
EACH = 3  # executions per queue
OPSDECK = str(Path(sys.executable).parent / "opsdeck")
NO_POLLERS = StuckRules(enabled=frozenset({StuckRule.NO_POLLERS}))


@workflow.defn(name="QueuesWaiting")
class Waiting:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@dataclass(frozen=True)
class Scope:
    tag: str
    served: tuple[str, str]
    unpolled: tuple[str, str]

    def query(self) -> ListQuery:
        return ListQuery(search_attributes={"CustomerId": self.tag})

    def ids_on(self, queues: tuple[str, ...]) -> set[str]:
        return {f"{q}-{i}" for q in queues for i in range(EACH)}


@pytest.fixture(scope="module")
async def scope(temporal_server: DevServer) -> AsyncIterator[Scope]:
    tag = f"q{uuid.uuid4().hex[:8]}"
    served = (f"{tag}-served-a", f"{tag}-served-b")
    unpolled = (f"{tag}-nobody-a", f"{tag}-nobody-b")
    client = await Client.connect(temporal_server.address)
    attrs = TypedSearchAttributes([SearchAttributePair(CUSTOMER, tag)])
    async with AsyncExitStack() as stack:
        for queue in served:
            worker = Worker(
                client,
                task_queue=queue,
                workflows=[Waiting],
                workflow_runner=UnsandboxedWorkflowRunner(),
            )
            await stack.enter_async_context(worker)
        # Interleaved: a queue's executions are not one run of the list order.
        for i in range(EACH):
            for queue in (*served, *unpolled):
                await client.start_workflow(
                    "QueuesWaiting",
                    id=f"{queue}-{i}",
                    task_queue=queue,
                    search_attributes=attrs,
                )
        everyone = f"CustomerId = '{tag}'"

        async def ready() -> bool:
            ran = f"{everyone} AND BuildIds IS NOT NULL"  # the served ones ran their task
            total = (await client.count_workflows(everyone)).count
            return total == 4 * EACH and (await client.count_workflows(ran)).count == 2 * EACH

        await eventually(ready, what="all visible, the served ones after their first task")
        yield Scope(tag, served, unpolled)


def key(hits: list[StuckHit]) -> list[tuple[str, str | None, str, str]]:
    return [(h.execution.ref.workflow_id, h.execution.ref.run_id, h.rule, h.evidence) for h in hits]


async def scan(
    engine: TemporalEngine, scope: Scope, rules: StuckRules = NO_POLLERS
) -> list[StuckHit]:
    return [h async for h in engine.find_stuck(rules, scope.query())]


async def test_queue_probes_find_what_the_full_list_finds(
    temporal_engine: TemporalEngine, scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(temporal_stuck_scan, "PROBE_PAGE", 2)  # the scope is larger
    probed = await scan(temporal_engine, scope)
    probe_stats = temporal_engine.stuck_stats
    monkeypatch.setattr(temporal_stuck_scan, "QUEUE_CAP", 0)  # the full list, as before
    listed = await scan(temporal_engine, scope)
    full_stats = temporal_engine.stuck_stats
    assert probe_stats is not None and full_stats is not None

    assert key(probed) == key(listed)
    assert {h.execution.ref.workflow_id for h in probed} == scope.ids_on(scope.unpolled)
    assert all("no worker is polling" in h.evidence for h in probed)
    assert "found 4 task queues, 2 without live pollers" in probe_stats.no_pollers_path
    # 2 rows of the first page, one row per probe, then only the unpolled queues' rows.
    assert probe_stats.listed == 2 + (probe_stats.queue_probes - 1) - 1 + 2 * EACH
    assert full_stats.listed == 4 * EACH and "listed every running" in full_stats.no_pollers_path
    assert (probe_stats.describes, probe_stats.task_queues) == (0, 4)


async def test_past_the_cap_the_full_list_is_read(
    temporal_engine: TemporalEngine, scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(temporal_stuck_scan, "PROBE_PAGE", 2)
    monkeypatch.setattr(temporal_stuck_scan, "QUEUE_CAP", 3)  # the scope has 4 queues
    hits = await scan(temporal_engine, scope)
    stats = temporal_engine.stuck_stats
    assert stats is not None and "more than 3 task queues" in stats.no_pollers_path
    assert {h.execution.ref.workflow_id for h in hits} == scope.ids_on(scope.unpolled)
    monkeypatch.setattr(temporal_stuck_scan, "QUEUE_CAP", 0)
    assert key(hits) == key(await scan(temporal_engine, scope))


async def test_a_scope_smaller_than_the_first_page_is_answered_by_it(
    temporal_engine: TemporalEngine, scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    hits = await scan(temporal_engine, scope)  # 12 running < PROBE_PAGE (100)
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.queue_probes == 1 and stats.listed == 4 * EACH
    assert "first page held all 12" in stats.no_pollers_path
    monkeypatch.setattr(temporal_stuck_scan, "QUEUE_CAP", 0)
    assert key(hits) == key(await scan(temporal_engine, scope))


async def test_all_rules_with_probes_equal_all_rules_with_the_full_list(
    temporal_engine: TemporalEngine, scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default rules: no_pollers first, then the narrowed describes (none ran long
    # or failed here); hits and their order must not depend on how no_pollers listed.
    monkeypatch.setattr(temporal_stuck_scan, "PROBE_PAGE", 2)
    probed = await scan(temporal_engine, scope, StuckRules())
    monkeypatch.setattr(temporal_stuck_scan, "QUEUE_CAP", 0)
    listed = await scan(temporal_engine, scope, StuckRules())
    assert key(probed) == key(listed) and len(probed) == 2 * EACH


async def test_explain_says_which_path_ran_and_what_it_cost(
    temporal_engine: TemporalEngine,
    scope: Scope,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(temporal_stuck_scan, "PROBE_PAGE", 2)
    hits = await scan(temporal_engine, scope)
    explain_cost("temporal", temporal_engine, len(hits))
    err = capsys.readouterr().err
    assert re.search(
        r"temporal: no_pollers: \d+ visibility queries found 4 task queues, 2 without live "
        r"pollers: listed only their running executions",
        err,
    ), err
    assert "4 task queues; 6 hits" in err


async def test_each_probe_finds_one_more_queue(
    temporal_server: DevServer, temporal_engine: TemporalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One execution per queue, a first page of one row: two probes find the other two
    # queues and a third finds none; every queue lacks pollers, all three are hits.
    tag = f"q{uuid.uuid4().hex[:8]}"
    client = await Client.connect(temporal_server.address)
    attrs = TypedSearchAttributes([SearchAttributePair(CUSTOMER, tag)])
    for i in range(3):
        await client.start_workflow(
            "QueuesWaiting", id=f"{tag}-{i}", task_queue=f"{tag}-q{i}", search_attributes=attrs
        )
    three = Scope(tag, ("", ""), ("", ""))

    async def visible() -> bool:
        return (await client.count_workflows(f"CustomerId = '{tag}'")).count == 3

    await eventually(visible, what="visible")
    monkeypatch.setattr(temporal_stuck_scan, "PROBE_PAGE", 1)
    probed = await scan(temporal_engine, three)
    stats = temporal_engine.stuck_stats
    assert stats is not None and stats.queue_probes == 4
    assert "found 3 task queues, 3 without live pollers" in stats.no_pollers_path
    monkeypatch.setattr(temporal_stuck_scan, "QUEUE_CAP", 0)
    assert key(probed) == key(await scan(temporal_engine, three)) and len(probed) == 3


def test_cli_explain_default_threshold_from_visibility_lower_describes(
    scope: Scope, temporal_server: DevServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "current-context: local\ncontexts:\n  local:\n    engines:\n      - kind: temporal\n"
        f"        address: {temporal_server.address}\n"
        f"        http-address: {temporal_server.http_address}\n        namespace: default\n"
    )
    env = dict(os.environ, OPSDECK_CONFIG=str(config))
    base = [OPSDECK, "-o", "json", "executions", "stuck", "--explain"]
    base += ["--query", f"CustomerId = '{scope.tag}'"]

    def stuck(*extra: str) -> tuple[list[dict[str, object]], str]:
        done = subprocess.run([*base, *extra], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout), done.stderr

    hits, err = stuck()
    assert "workflow_task_failing: visibility first" in err
    assert "no_pollers: the first page held all 12 running executions" in err
    assert "described 6 of 6 candidates" in err  # the served ones: they ran a task
    lower_hits, lower_err = stuck("--task-attempts", "3")
    assert "workflow_task_failing: describes every running execution" in lower_err
    assert "the threshold is 3" in lower_err and "described 12 of 12" in lower_err
    assert "no_pollers: checked on the full list the describes read anyway" in lower_err
    assert lower_hits == hits and {h["rule"] for h in hits} == {"no_pollers"}


async def test_a_task_waiting_on_a_queue_whose_worker_left_is_found_by_both_paths(
    temporal_server: DevServer, temporal_engine: TemporalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The "unserved workflow task" signal: the worker polled (so the server still lists
    # it as a poller for minutes), then went away, and a task has waited since. It is
    # read from the queue's DescribeTaskQueue, so the probe path keeps it.
    tag = f"q{uuid.uuid4().hex[:8]}"
    left, kept = f"{tag}-left", f"{tag}-kept"
    client = await Client.connect(temporal_server.address)
    attrs = TypedSearchAttributes([SearchAttributePair(CUSTOMER, tag)])
    runner = UnsandboxedWorkflowRunner()
    async with Worker(client, task_queue=kept, workflows=[Waiting], workflow_runner=runner):
        async with Worker(client, task_queue=left, workflows=[Waiting], workflow_runner=runner):
            await client.start_workflow(
                "QueuesWaiting", id=f"{kept}-0", task_queue=kept, search_attributes=attrs
            )
            first = await client.start_workflow(
                "QueuesWaiting", id=f"{left}-0", task_queue=left, search_attributes=attrs
            )

            async def ran() -> bool:
                query = f"CustomerId = '{tag}' AND BuildIds IS NOT NULL"
                return (await client.count_workflows(query)).count == 2

            await eventually(ran, what="both ran their first task")
        # The worker of `left` is gone: a new execution's first task waits there.
        await client.start_workflow(
            "QueuesWaiting", id=f"{left}-1", task_queue=left, search_attributes=attrs
        )
        scope = Scope(tag, ("", ""), ("", ""))
        monkeypatch.setattr(temporal_stuck_scan, "PROBE_PAGE", 1)

        async def unserved() -> list[StuckHit] | None:
            hits = await scan(temporal_engine, scope)
            return hits if hits else None

        probed = await eventually(unserved, timeout=60, what="the waiting task is reported")
        stats = temporal_engine.stuck_stats
        assert stats is not None and "found 2 task queues, 1 without" in stats.no_pollers_path
        monkeypatch.setattr(temporal_stuck_scan, "QUEUE_CAP", 0)
        listed = await scan(temporal_engine, scope)
        # The evidence names seconds waited, which grow between the two scans.
        assert [k[:3] for k in key(probed)] == [k[:3] for k in key(listed)]
        assert {h.execution.ref.workflow_id for h in probed} == {first.id, f"{left}-1"}
        waited = re.compile(rf"a workflow task has waited .* on task queue '{left}' and no worker")
        assert all(waited.search(h.evidence) for h in probed + listed)
