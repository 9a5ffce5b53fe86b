"""adapters/temporal_counts.py on the real dev server: GROUP BY ExecutionStatus through
the HTTP API and through the SDK give the same counts; a bad query is a UsageError."""

from __future__ import annotations

import pytest

from console.errors import UsageError
from console.model import ExecutionStatus, ListQuery
from console.sandbox.devserver import DevServer
from tests.conftest import make_temporal_engine
from tests.integration.slo_scenario import runs

pytestmark = pytest.mark.integration


async def test_counts_by_status_over_http_and_grpc(temporal_server: DevServer) -> None:
    async with runs(temporal_server.address) as r:
        await r.start("completed", 3)
        await r.start("failed", 2)
        want = {ExecutionStatus.COMPLETED: 3, ExecutionStatus.FAILED: 2}
        for http in (True, False):
            engine = make_temporal_engine(temporal_server, http=http)
            try:
                assert await engine.count_by_status(ListQuery(raw=r.query)) == want
                only_failed = ListQuery(statuses=(ExecutionStatus.FAILED,), raw=r.query)
                assert await engine.count_by_status(only_failed) == {ExecutionStatus.FAILED: 2}
                with pytest.raises(UsageError):
                    await engine.count_by_status(ListQuery(raw="WorkflowType = "))
            finally:
                await engine.close()
