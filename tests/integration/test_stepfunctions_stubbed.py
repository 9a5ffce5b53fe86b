"""Calls moto lacks, through botocore's Stubber (each request is validated against the
real Step Functions service model): RedriveExecution, PublishStateMachineVersion,
ListStateMachineVersions and the UpdateStateMachineAlias rollback with read-back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from adapters.stepfunctions import StepFunctionsEngine
from adapters.stepfunctions_actions import client_token
from adapters.stepfunctions_versions import publish_version
from console.errors import NotAuthorized
from console.model import ActionKind, ActionRequest, ExecutionRef, Outcome

ACCOUNT = "123456789012"
MACHINE = f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:orders"
EXECUTION = f"arn:aws:states:eu-west-1:{ACCOUNT}:execution:orders:order-42"
ALIAS = f"{MACHINE}:live"
NOW = datetime.now(UTC)


def _no_secrets(ref: str) -> str:
    raise AssertionError(ref)


@pytest.fixture
def stubbed() -> Iterator[tuple[StepFunctionsEngine, Stubber]]:
    engine = StepFunctionsEngine.from_config(
        "sfn",
        {"region": "eu-west-1", "state-machines": [MACHINE], "rollback-verify-timeout": 5},
        _no_secrets,
    )
    client = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1"
    ).client("stepfunctions")
    stubber = Stubber(client)
    engine.client.set_client(client)
    with stubber:
        yield engine, stubber
        stubber.assert_no_pending_responses()


def _describe(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": EXECUTION,
        "stateMachineArn": MACHINE,
        "name": "order-42",
        "status": status,
        "startDate": NOW - timedelta(hours=1),
        "stopDate": NOW - timedelta(minutes=5),
        "input": '{"order": 42}',
        **extra,
    }


REF = ExecutionRef("sfn", "orders", "order-42")


async def test_redrive_with_client_token(stubbed: tuple[StepFunctionsEngine, Stubber]) -> None:
    engine, stub = stubbed
    stub.add_response(
        "describe_execution",
        _describe("FAILED", redriveCount=1, redriveStatus="REDRIVABLE"),
        {"executionArn": EXECUTION},
    )
    plan = await engine.plan(ActionRequest(ActionKind.RETRY, (REF,), reason="fixed the bug"))
    assert plan.calls[0].call == "RedriveExecution" and not plan.warnings
    token = client_token("req-1", str(REF))
    stub.add_response(
        "redrive_execution",
        {"redriveDate": NOW},
        {"executionArn": EXECUTION, "clientToken": token},
    )
    [outcome] = [o async for o in engine.apply(plan, "req-1")]
    assert outcome.outcome is Outcome.OK and outcome.details["clientToken"] == token
    assert len(token) <= 64  # the service model's limit, also checked by the Stubber


async def test_not_redrivable_says_why(stubbed: tuple[StepFunctionsEngine, Stubber]) -> None:
    engine, stub = stubbed
    reason = "Execution is not redrivable: history has 25,000 events"
    stub.add_response(
        "describe_execution",
        _describe("FAILED", redriveStatus="NOT_REDRIVABLE", redriveStatusReason=reason),
        {"executionArn": EXECUTION},
    )
    plan = await engine.plan(ActionRequest(ActionKind.RETRY, (REF,)))
    call = plan.calls[0]
    assert call.call == "StartExecution" and call.params["why_not_redrive"] == reason
    assert call.params["input"] == '{"order": 42}'
    assert reason in plan.warnings[0]
    stub.add_client_error(
        "describe_execution", "ExecutionDoesNotExist", "no", 400,
        expected_params={"executionArn": ANY},
    )  # fmt: skip
    stub.add_response(
        "start_execution",
        {"executionArn": f"{EXECUTION}-rreq2", "startDate": NOW},
        {"stateMachineArn": MACHINE, "name": "order-42-rreq2", "input": '{"order": 42}'},
    )
    [outcome] = [o async for o in engine.apply(plan, "req-2")]
    assert outcome.outcome is Outcome.OK and "same input" in outcome.message
    assert outcome.details["instead_of"] == "RedriveExecution"


async def test_access_denied_names_the_scope(stubbed: tuple[StepFunctionsEngine, Stubber]) -> None:
    engine, stub = stubbed
    stub.add_client_error(
        "describe_execution", "AccessDeniedException", "User is not authorized", 400
    )
    with pytest.raises(NotAuthorized, match=r"states:DescribeExecution on .*order-42"):
        await engine.describe(REF)


async def test_publish_version(stubbed: tuple[StepFunctionsEngine, Stubber]) -> None:
    engine, stub = stubbed
    stub.add_response(
        "publish_state_machine_version",
        {"stateMachineVersionArn": f"{MACHINE}:3", "creationDate": NOW},
        {"stateMachineArn": MACHINE, "description": "release 3", "revisionId": "rev-9"},
    )
    assert await publish_version(engine, "orders", "release 3", "rev-9") == f"{MACHINE}:3"


def _routing(*pairs: tuple[int, int]) -> list[dict[str, Any]]:
    return [{"stateMachineVersionArn": f"{MACHINE}:{v}", "weight": w} for v, w in pairs]


def _alias(routing: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "stateMachineAliasArn": ALIAS,
        "name": "live",
        "routingConfiguration": routing,
        "creationDate": NOW,
        "updateDate": NOW,
    }


def _versions_and_alias(stub: Stubber, routing: list[dict[str, Any]]) -> None:
    stub.add_response(
        "list_state_machine_aliases",
        {"stateMachineAliases": [{"stateMachineAliasArn": ALIAS, "creationDate": NOW}]},
        {"stateMachineArn": MACHINE, "maxResults": 100},
    )
    stub.add_response(
        "describe_state_machine_alias", _alias(routing), {"stateMachineAliasArn": ALIAS}
    )


def _version_list(stub: Stubber) -> None:
    stub.add_response(
        "list_state_machine_versions",
        {"stateMachineVersions": [
            {"stateMachineVersionArn": f"{MACHINE}:{n}", "creationDate": NOW - timedelta(days=n)}
            for n in (3, 2, 1)
        ]},
        {"stateMachineArn": MACHINE, "maxResults": 1000},
    )  # fmt: skip


async def test_versions_show_alias_routing(stubbed: tuple[StepFunctionsEngine, Stubber]) -> None:
    engine, stub = stubbed
    _version_list(stub)
    _versions_and_alias(stub, _routing((3, 90), (2, 10)))
    versions = await engine.versions("orders")
    by = {v.version: v for v in versions}
    assert [v.version for v in versions] == ["3", "2", "1"]
    assert by["3"].is_current and by["3"].status == "live 90%"
    assert by["2"].ramping_percentage == 10.0 and not by["2"].is_current
    assert not by["1"].is_current and by["1"].status is None


async def test_rollback_sets_alias_and_reads_back(
    stubbed: tuple[StepFunctionsEngine, Stubber],
) -> None:
    engine, stub = stubbed
    _versions_and_alias(stub, _routing((3, 100)))
    _version_list(stub)
    plan = await engine.plan(
        ActionRequest(ActionKind.ROLLBACK, params={"deployment": "orders"}, reason="bad v3")
    )
    call = plan.calls[0]
    assert call.target == "sfn:orders/alias/live"
    assert call.params["routingConfiguration"] == _routing((2, 100))
    stub.add_response(
        "describe_state_machine_alias", _alias(_routing((3, 100))), {"stateMachineAliasArn": ALIAS}
    )
    stub.add_response(
        "update_state_machine_alias",
        {"updateDate": NOW},
        {
            "stateMachineAliasArn": ALIAS,
            "description": "opsdeck rollback: bad v3",
            "routingConfiguration": _routing((2, 100)),
        },
    )
    # eventually consistent: the first read-back still shows the old routing
    stub.add_response(
        "describe_state_machine_alias", _alias(_routing((3, 100))), {"stateMachineAliasArn": ALIAS}
    )
    stub.add_response(
        "describe_state_machine_alias", _alias(_routing((2, 100))), {"stateMachineAliasArn": ALIAS}
    )
    [outcome] = [o async for o in engine.apply(plan, "req-rb")]
    assert outcome.outcome is Outcome.OK, outcome.message
    assert "read back" in outcome.message and outcome.details["routing"] == {"2": 100}


async def test_rollback_refuses_when_routing_changed(
    stubbed: tuple[StepFunctionsEngine, Stubber],
) -> None:
    engine, stub = stubbed
    _versions_and_alias(stub, _routing((3, 100)))
    _version_list(stub)
    plan = await engine.plan(
        ActionRequest(ActionKind.ROLLBACK, params={"deployment": "orders:live", "version": 1})
    )
    assert plan.calls[0].params["routingConfiguration"] == _routing((1, 100))
    stub.add_response(
        "describe_state_machine_alias",
        _alias(_routing((3, 50), (2, 50))),
        {"stateMachineAliasArn": ALIAS},
    )
    [outcome] = [o async for o in engine.apply(plan, "req-rb2")]
    assert outcome.outcome is Outcome.FAILED and "changed since the plan" in outcome.message


async def test_list_by_alias_with_redrive_filters(
    stubbed: tuple[StepFunctionsEngine, Stubber],
) -> None:
    engine, stub = stubbed
    stub.add_response(
        "list_executions",
        {"executions": [{
            "executionArn": EXECUTION, "stateMachineArn": MACHINE, "name": "order-42",
            "status": "FAILED", "startDate": NOW, "stopDate": NOW, "redriveCount": 2,
            "stateMachineAliasArn": ALIAS,
        }]},
        {"stateMachineArn": ALIAS, "statusFilter": "FAILED", "redriveFilter": "REDRIVEN",
         "maxResults": 1000},
    )  # fmt: skip
    from console.model import ListQuery

    query = ListQuery(raw=f"status=FAILED redrive=REDRIVEN state-machine={ALIAS}")
    [row] = [e async for e in engine.list(query)]
    assert row.ref == REF and row.deployment_version == "orders:live"
    assert row.search_attributes["redriveCount"] == 2


async def test_pending_redrive_children_of_a_map_run(
    stubbed: tuple[StepFunctionsEngine, Stubber],
) -> None:
    engine, stub = stubbed
    map_run = f"arn:aws:states:eu-west-1:{ACCOUNT}:mapRun:orders/fanout:0b1c"
    child = f"arn:aws:states:eu-west-1:{ACCOUNT}:execution:orders/fanout:item-7"
    stub.add_response(
        "list_executions",
        {"executions": [{"executionArn": child, "stateMachineArn": MACHINE, "name": "item-7",
                         "status": "PENDING_REDRIVE", "startDate": NOW}]},
        {"mapRunArn": map_run, "statusFilter": "PENDING_REDRIVE", "maxResults": 1000},
    )  # fmt: skip
    from console.model import ExecutionStatus, ListQuery

    [row] = [
        e async for e in engine.list(ListQuery(raw=f"status=PENDING_REDRIVE map-run={map_run}"))
    ]
    assert (
        row.status is ExecutionStatus.PAUSED
        and row.search_attributes["status"] == "PENDING_REDRIVE"
    )
    assert row.ref == ExecutionRef("sfn", "orders/fanout", "item-7")
    assert ExecutionRef.parse(str(row.ref)) == row.ref
    assert await engine.execution_arn(row.ref) == child


async def test_map_run_with_failed_items_is_stuck(
    stubbed: tuple[StepFunctionsEngine, Stubber],
) -> None:
    from console.model import StuckRule, StuckRules

    engine, stub = stubbed
    map_run = f"arn:aws:states:eu-west-1:{ACCOUNT}:mapRun:orders/fanout:0b1c"
    stub.add_response(
        "list_executions",
        {"executions": [{"executionArn": EXECUTION, "stateMachineArn": MACHINE,
                         "name": "order-42", "status": "RUNNING", "startDate": NOW}]},
        {"stateMachineArn": MACHINE, "statusFilter": "RUNNING", "maxResults": 1000},
    )  # fmt: skip
    stub.add_response(
        "get_execution_history",
        {"events": [
            {"timestamp": NOW, "type": "MapRunStarted", "id": 5, "previousEventId": 4,
             "mapRunStartedEventDetails": {"mapRunArn": map_run}},
            {"timestamp": NOW, "type": "MapStateEntered", "id": 4, "previousEventId": 3,
             "stateEnteredEventDetails": {"name": "FanOut"}},
        ]},
        {"executionArn": EXECUTION, "reverseOrder": True, "maxResults": 20},
    )  # fmt: skip
    stub.add_response(
        "list_map_runs",
        {"mapRuns": [{"executionArn": EXECUTION, "mapRunArn": map_run,
                      "stateMachineArn": MACHINE, "startDate": NOW}]},
        {"executionArn": EXECUTION, "maxResults": 100},
    )  # fmt: skip
    counts = {"pending": 0, "running": 10, "succeeded": 85, "failed": 5, "timedOut": 0,
              "aborted": 0, "total": 100, "resultsWritten": 90}  # fmt: skip
    stub.add_response(
        "describe_map_run",
        {"mapRunArn": map_run, "executionArn": EXECUTION, "status": "RUNNING",
         "startDate": NOW, "maxConcurrency": 10, "toleratedFailurePercentage": 10.0,
         "toleratedFailureCount": 10, "itemCounts": counts, "executionCounts": counts},
        {"mapRunArn": map_run},
    )  # fmt: skip
    rules = StuckRules(enabled=frozenset({StuckRule.MAP_ITEMS_FAILED}))
    [hit] = [h async for h in engine.find_stuck(rules)]
    assert hit.rule is StuckRule.MAP_ITEMS_FAILED
    assert hit.evidence == "map run 0b1c: 5 of 100 items failed (RUNNING)"


async def test_history_is_paged_lazily(stubbed: tuple[StepFunctionsEngine, Stubber]) -> None:
    engine, stub = stubbed

    def event(n: int, kind: str, **details: Any) -> dict[str, Any]:
        return {"timestamp": NOW, "type": kind, "id": n, "previousEventId": n - 1, **details}

    stub.add_response(
        "get_execution_history",
        {"events": [event(1, "ExecutionStarted")], "nextToken": "page-2"},
        {"executionArn": EXECUTION, "maxResults": 1000},
    )
    stream = engine.history(REF)
    first = await anext(stream)
    assert first.event_type == "ExecutionStarted"
    stub.assert_no_pending_responses()  # the second page is not fetched yet
    failed = {"error": "States.TaskFailed", "cause": "Lambda timed out"}
    stub.add_response(
        "get_execution_history",
        {"events": [event(2, "TaskFailed", taskFailedEventDetails={
            "resourceType": "lambda", "resource": "invoke", **failed})]},
        {"executionArn": EXECUTION, "maxResults": 1000, "nextToken": "page-2"},
    )  # fmt: skip
    [second] = [e async for e in stream]
    assert second.is_failure and second.summary == "States.TaskFailed: Lambda timed out"
