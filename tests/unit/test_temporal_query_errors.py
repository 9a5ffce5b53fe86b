"""rejected_query: the server's syntax error position, mapped into the user's query."""

from __future__ import annotations

from adapters.temporal_visibility import rejected_query, visibility_query
from console.errors import UsageError
from console.model import ExecutionStatus, ListQuery

PREFIX = "temporal rejected the query: invalid query: malformed SQL query: "


def test_position_in_the_combined_query_becomes_a_column_of_the_users() -> None:
    query = ListQuery(statuses=(ExecutionStatus.RUNNING,), raw="a = 1 ANDD b")
    sent = visibility_query(query)
    assert sent == "ExecutionStatus = 'Running' AND (a = 1 ANDD b)"
    position = 27 + sent.index("ANDD") + len("ANDD") + 1  # as the server counts
    error = UsageError(f"{PREFIX}syntax error at position {position} near 'ANDD'")
    mapped = rejected_query(error, sent, query.raw)
    assert mapped.message == (
        "temporal rejected the query: syntax error at column 7 of the query, near 'ANDD b'"
    )


def test_anything_unexpected_keeps_the_servers_words() -> None:
    error = UsageError(f"{PREFIX}syntax error at position 40 near 'ANDD'")
    assert rejected_query(error, "a = 1 ANDD b", None) is error  # no user query
    assert rejected_query(error, "x = 1", "a = 1 ANDD b") is error  # not what was sent
    assert rejected_query(error, "a = 1 ANDD b", "a = 1 ANDD b") is error  # token elsewhere
    other = UsageError("temporal rejected the query: invalid search attribute: Foo")
    assert rejected_query(other, "Foo = 1", "Foo = 1") is other
