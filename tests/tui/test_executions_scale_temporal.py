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

from console.model import ListQuery
from console.sandbox.devserver import DevServer, start_dev_server, stop_process
from console.session import open_session
from console.tui.app import OpsdeckApp
from console.tui.paging import PAGE
from tests.conftest import eventually, make_temporal_engine
from tests.tui.conftest import crumbs_text, executions, ids, notifications, settle, status_text

pytestmark = pytest.mark.integration

WORKFLOWS = 2_500
QUEUE = "scale-nobody-polls"


@pytest.fixture(scope="module")
def scale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path_factory.mktemp("temporal-scale"))
    try:
        asyncio.run(_start_workflows(server))
        yield server
    finally:
        stop_process(server.pid)


async def _start_workflows(server: DevServer) -> None:
    from temporalio.client import Client

    client = await Client.connect(server.address)
    gate = asyncio.Semaphore(100)

    async def start(n: int) -> None:
        async with gate:
            await client.start_workflow("ScaleIdle", id=f"scale-{n:05d}", task_queue=QUEUE)

    await asyncio.gather(*(start(n) for n in range(WORKFLOWS)))
    engine = make_temporal_engine(server)
    try:

        async def all_visible() -> bool:
            return await engine.count(ListQuery()) == WORKFLOWS

        await eventually(all_visible, timeout=60, what=f"{WORKFLOWS} executions visible")
    finally:
        await engine.close()


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
        # Newest first, as the server lists them: the last started is the first row.
        assert listed[0] == f"scale-{WORKFLOWS - 1:05d}"

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
