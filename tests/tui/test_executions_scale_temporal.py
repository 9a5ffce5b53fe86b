"""Virtual rows on a real Temporal dev server with a few thousand executions (issue 13).

A dev server of its own: thousands of open workflows on a queue nobody polls would
show up in every other test's stuck view on the shared one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from console.model import ListQuery
from console.sandbox.devserver import DevServer, start_dev_server, stop_process
from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.paging import PAGE
from tests.conftest import eventually, make_temporal_engine
from tests.tui.conftest import (
    crumbs_text,
    executions,
    ids,
    notifications,
    settle,
    status_text,
    until,
)

pytestmark = pytest.mark.integration

WORKFLOWS = 2_500
QUEUE = "scale-nobody-polls"
LAST_STARTED = {f"scale-{n:05d}" for n in range(WORKFLOWS - 100, WORKFLOWS)}


@pytest.fixture(scope="module")
def scale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path_factory.mktemp("temporal-scale"))
    try:
        asyncio.run(_start_workflows(server))
        yield server
    finally:
        stop_process(server.pid)


async def _start_workflows(server: DevServer) -> None:
    client = await Client.connect(server.address)
    gate = asyncio.Semaphore(100)

    async def start(n: int) -> None:
        async with gate:
            await start_retrying(client, f"scale-{n:05d}")

    await asyncio.gather(*(start(n) for n in range(WORKFLOWS)))
    engine = make_temporal_engine(server)
    try:

        async def all_visible() -> bool:
            return await engine.count(ListQuery()) == WORKFLOWS

        await eventually(all_visible, timeout=60, what=f"{WORKFLOWS} executions visible")
    finally:
        await engine.close()


async def start_retrying(client: Client, workflow_id: str) -> None:
    """A dev server under heavy load (2 cores, several suites) now and then answers
    'Namespace default is not found' while its namespace cache refreshes: ask again."""
    from temporalio.service import RPCError, RPCStatusCode

    for attempt in range(20):
        try:
            await client.start_workflow("ScaleIdle", id=workflow_id, task_queue=QUEUE)
            return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or attempt == 19:
                raise
            await asyncio.sleep(0.5)


def _config(server: DevServer) -> None:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "opsdeck" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "current-context: scale\n"
        "contexts:\n"
        "  scale:\n"
        "    engines:\n"
        "      - kind: temporal\n"
        f"        address: {server.address}\n"
        f"        http-address: {server.http_address}\n"
        "        namespace: default\n"
    )


async def test_scrolling_reads_more_and_the_count_is_the_servers(scale_server: DevServer) -> None:
    _config(scale_server)
    app = OpsdeckApp(open_session("scale"), refresh_interval=0, engine_timeout=30)
    async with app.run_test(size=(150, 45)) as pilot:
        await settle(pilot)
        assert len(ids(app)) == PAGE
        assert f"temporal: {PAGE} / 2,500 rows" in status_text(app)
        assert f"{PAGE} loaded / 2,500" in crumbs_text(app)

        for _ in range(3):
            await pilot.press("end")
            await settle(pilot)
        listed = ids(app)
        assert len(listed) == 4 * PAGE and len(set(listed)) == 4 * PAGE
        assert "temporal: 400 / 2,500 rows" in status_text(app)
        # Newest first, as the server lists them: one of the last started (100 are in
        # flight at once, so the very last id need not be the newest) is the first row.
        assert listed[0] in LAST_STARTED, listed[0]

        query = "WorkflowId STARTS_WITH 'scale-000'"
        await pilot.press("slash", *query, "enter")
        await settle(pilot)
        assert executions(app).server_query == query
        assert sorted(ids(app)) == [f"scale-{n:05d}" for n in range(100)]
        assert "temporal: 100 rows" in status_text(app)  # all of them: no more to read

        await pilot.press("slash", "ctrl+a", "ctrl+k", *"WorkflowId = ", "enter")
        await settle(pilot)
        refused = [n for n in notifications(app) if n.startswith("temporal: query refused")]
        assert refused and "syntax error at the end of the query" in refused[0]  # the server's
        assert executions(app).server_query == query and len(ids(app)) == 100


def hint_text(app: OpsdeckApp) -> str:
    from textual.widgets import Static

    hint = executions(app).query_one("#filter-hint", Static)
    return str(hint.render()) if hint.has_class("-shown") else ""


async def test_an_id_beyond_the_loaded_rows_is_searched_for_on_the_server(
    scale_server: DevServer,
) -> None:
    """`/` + an id no loaded row has: the hint says so, enter finds it on the server,
    escape gives the listing back as it was (issue 13, found by CI)."""
    _config(scale_server)
    app = OpsdeckApp(open_session("scale"), refresh_interval=0, engine_timeout=30)
    async with app.run_test(size=(150, 45)) as pilot:
        await settle(pilot)
        await pilot.press("end")  # read a second page: escape must bring both back
        await settle(pilot)
        await pilot.press("up", "up")
        before, cursor = ids(app), executions(app).table.cursor_row
        assert len(before) == 2 * PAGE and before[0] in LAST_STARTED

        wanted = "scale-00042"  # started early: far beyond the loaded newest pages
        await pilot.press("slash", *wanted)
        assert ids(app) == []  # the filter is local and instant
        hint = hint_text(app)
        assert f"no match in the {2 * PAGE} loaded rows of 2,500" in hint, hint
        assert "enter searches the server" in hint

        await pilot.press("enter")
        await until(pilot, lambda: ids(app) == [wanted], "found on the server", 3000)
        await settle(pilot)
        assert f"search '{wanted}'" in crumbs_text(app)
        assert "temporal: 1 rows" in status_text(app)
        assert "escape goes back" in hint_text(app)

        await pilot.press("escape")  # back to the listing as it was, cursor included
        await settle(pilot)
        assert ids(app) == before and executions(app).table.cursor_row == cursor
        assert executions(app).search is None and executions(app).server_query is None
        assert "temporal: 200 / 2,500 rows" in status_text(app)
        assert hint_text(app) == ""


async def test_ctrl_f_searches_even_with_loaded_matches_and_quotes_are_escaped(
    scale_server: DevServer,
) -> None:
    client = await Client.connect(scale_server.address)
    quoted_id = "o'brien-\\7"  # a quote and a backslash: both must reach the server as such
    await start_retrying(client, quoted_id)
    engine = make_temporal_engine(scale_server)
    try:

        async def listed() -> bool:
            return await engine.count(ListQuery()) == WORKFLOWS + 1

        await eventually(listed, timeout=60, what="the quoted id visible")
    finally:
        await engine.close()
    _config(scale_server)
    app = OpsdeckApp(open_session("scale"), refresh_interval=0, engine_timeout=30)
    async with app.run_test(size=(150, 45)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"o'brien")  # newest: on the first page, matched here
        assert ids(app) == [quoted_id]
        assert "1 match in the 100 loaded rows of 2,501 · ctrl+f searches" in hint_text(app)
        await pilot.press("ctrl+f")
        await until(pilot, lambda: executions(app).search is not None, "searched", 3000)
        await settle(pilot)
        refused = [n for n in notifications(app) if "query refused" in n]
        assert not refused, refused
        assert ids(app) == [quoted_id] and "temporal: 1 rows" in status_text(app)
        assert not executions(app).row_filter.active  # the server's answer, unfiltered
