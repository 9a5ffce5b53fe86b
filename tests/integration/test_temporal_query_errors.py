"""A visibility query syntax error points into the user's query, against the real server.

opsdeck sends its own filters first, then ``(the user's query)``; the server's offsets
count in that combined text (and past a ``select ... where`` it parses it inside).
"""

from __future__ import annotations

import pytest

from console.errors import UsageError
from console.model import ExecutionStatus, ListQuery
from console.sandbox.devserver import DevServer
from tests.conftest import make_temporal_engine

pytestmark = pytest.mark.integration


def query(raw: str, *, filters: bool = True) -> ListQuery:
    """With ``filters``, opsdeck adds clauses of its own before the user's query."""
    if not filters:
        return ListQuery(raw=raw)
    return ListQuery(raw=raw, statuses=(ExecutionStatus.RUNNING,), workflow_type="OrderWorkflow")


CASES = [
    ("WorkflowType = 'X' ANDD x", "syntax error at column 20 of the query, near 'ANDD x'"),
    ("  WorkflowType = 'X' ANDD x", "syntax error at column 22 of the query, near 'ANDD x'"),
    ("WorkflowType == 'x'", "syntax error at column 15 of the query, near \"= 'x'\""),
    (
        "WorkflowType = 'X' AND (",
        "syntax error at the end of the query (column 25): is something missing?",
    ),
]


@pytest.mark.parametrize("http", [True, False], ids=["http", "sdk"])
@pytest.mark.parametrize("filters", [False, True], ids=["alone", "with-filters"])
@pytest.mark.parametrize(("raw", "expected"), CASES)
async def test_syntax_error_names_the_users_column(
    temporal_server: DevServer, http: bool, filters: bool, raw: str, expected: str
) -> None:
    engine = make_temporal_engine(temporal_server, http=http)
    sent = query(raw, filters=filters)
    try:
        with pytest.raises(UsageError) as listed:
            async for _ in engine.list(sent):
                pass
        assert listed.value.message == f"temporal rejected the query: {expected}"
        with pytest.raises(UsageError) as counted:
            await engine.count(sent)
        assert counted.value.message == f"temporal rejected the query: {expected}"
    finally:
        await engine.close()


async def test_other_rejections_keep_the_servers_words(temporal_server: DevServer) -> None:
    engine = make_temporal_engine(temporal_server)
    with pytest.raises(UsageError, match="invalid search attribute: Nope"):
        await engine.count(query("Nope = 1"))
