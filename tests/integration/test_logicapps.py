"""Logic Apps adapter against a local HTTP double serving the official ARM examples."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.logicapps import LogicAppsEngine
from adapters.logicapps_http import retry_after
from console.errors import BackendError, BackendUnavailable, ConfigError, NotAuthorized, NotFound
from console.model import (
    ActionKind,
    ActionRequest,
    Capability,
    ExecutionRef,
    ExecutionStatus,
    ListQuery,
    Outcome,
    StuckRule,
    StuckRules,
)
from tests.integration.logicapps_double import (
    CONSUMPTION_API,
    SITE,
    STANDARD_API,
    TOKEN,
    LogicAppsDouble,
    fixture,
)


def _no_secrets(ref: str) -> str:
    raise AssertionError(ref)


@pytest.fixture
def double() -> Iterator[LogicAppsDouble]:
    d = LogicAppsDouble().start()
    yield d
    d.stop()


def make(double: LogicAppsDouble, token: str = TOKEN, **extra: Any) -> LogicAppsEngine:
    engine = LogicAppsEngine.from_config(
        "la", double.settings(**extra), _no_secrets, token_provider=lambda scope: token
    )
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    engine.arm.sleep = no_sleep
    engine.waits = waits  # type: ignore[attr-defined]
    return engine


@pytest.fixture
def engine(double: LogicAppsDouble) -> LogicAppsEngine:
    return make(double)


def test_fixture_loader_handles_both_layouts() -> None:
    _, wrapped = fixture("Workflows_Get")  # "200": {"body": ...}
    _, direct = fixture("WorkflowRuns_List")  # "200": {...}
    assert wrapped["name"] == "test-workflow" and "value" in direct


def test_settings_validation() -> None:
    base = {"subscription-id": "s", "resource-group": "g"}
    with pytest.raises(ConfigError, match="client-secret: must be a secret reference"):
        LogicAppsEngine.from_config(
            "la", {**base, "credential": "service-principal", "tenant-id": "t",
                   "client-id": "c", "client-secret": "hunter2"}, _no_secrets,
        )  # fmt: skip
    with pytest.raises(ConfigError, match="site: required"):
        LogicAppsEngine.from_config("la", {**base, "sku": "standard"}, _no_secrets)
    with pytest.raises(ConfigError, match="workflows: required"):
        LogicAppsEngine.from_config("la", {**base, "sku": "standard", "site": "x"}, _no_secrets)
    with pytest.raises(ConfigError, match="resource-group: required"):
        LogicAppsEngine.from_config("la", {"subscription-id": "s"}, _no_secrets)
    engine = LogicAppsEngine.from_config("la", base, _no_secrets)
    assert engine.arm._http is None  # never connects at construction
    assert "cancel" in (engine.describe_capability(Capability.TERMINATE) or "")


async def test_list_pages_with_next_link(double: LogicAppsDouble, engine: LogicAppsEngine) -> None:
    rows = [e async for e in engine.list(ListQuery(page_size=3))]
    assert len(rows) == len(double.runs)
    listed = double.calls("GET", "/runs")
    assert len(listed) == 3  # 8 runs, $top=3
    assert all(r.query["api-version"] == CONSUMPTION_API for r in double.requests)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in double.requests)
    assert listed[0].path.endswith("/workflows/test-workflow/runs")
    assert "$skiptoken" in listed[1].query
    by_name = {e.ref.workflow_id: e for e in rows}
    assert by_name[double.failed_run].status is ExecutionStatus.FAILED
    assert by_name[double.waiting_run].status is ExecutionStatus.RUNNING
    ok = by_name["08586676746934337772206998657CU22"]
    assert ok.status is ExecutionStatus.COMPLETED
    assert ok.start_time == datetime(2018, 8, 10, 20, 16, 32, 44238, tzinfo=UTC)
    assert ok.deployment_version == "test-workflow:08586676754160363885"
    assert str(ok.ref) == "la:test-workflow/08586676746934337772206998657CU22"


async def test_filters_go_to_the_server(double: LogicAppsDouble, engine: LogicAppsEngine) -> None:
    failed = [e async for e in engine.list(ListQuery(statuses=(ExecutionStatus.FAILED,)))]
    assert [e.ref.workflow_id for e in failed] == [double.failed_run]
    assert double.calls("GET", "/runs")[-1].query["$filter"] == "status eq 'Failed'"
    since = datetime(2018, 8, 10, 21, 0, tzinfo=UTC)
    assert await engine.count(ListQuery(started_after=since)) == 2
    assert "startTime ge 2018-08-10T21:00:00Z" in double.calls("GET", "/runs")[-1].query["$filter"]
    tracked = ListQuery(raw=f"clientTrackingId eq '{double.waiting_run}'")
    assert [e.ref.workflow_id async for e in engine.list(tracked)] == [double.waiting_run]
    assert await engine.count(ListQuery(limit=2)) == 2


async def test_describe_shows_the_failed_action(
    double: LogicAppsDouble, engine: LogicAppsEngine
) -> None:
    ref = ExecutionRef("la", "test-workflow", double.failed_run)
    detail = await engine.describe(ref)
    assert detail.execution.status is ExecutionStatus.FAILED
    assert detail.last_failure == "HTTP: BadRequest: Http request failed: 400 (pet 1)"
    assert detail.memo["trigger"] == "Recurrence" and detail.memo["actions"] == {"HTTP": "Failed"}
    events = [e async for e in engine.history(ref)]
    assert [e.event_type for e in events] == ["TriggerSucceeded", "ActionFailed", "RunFailed"]
    assert events[1].is_failure and "400" in events[1].summary
    waiting = await engine.describe(ExecutionRef("la", "test-workflow", double.waiting_run))
    assert waiting.pending_activities[0].state == "Waiting"


async def test_trigger_histories_and_versions(
    double: LogicAppsDouble, engine: LogicAppsEngine
) -> None:
    rows = await engine.trigger_histories("test-workflow", "manual")
    assert double.failed_run in {r["name"] for r in rows}
    versions = await engine.versions("test-workflow")
    assert [v.version for v in versions] == [double.current_version, double.old_version]
    assert versions[0].is_current and not versions[1].is_current
    with pytest.raises(NotFound):
        await engine.describe(ExecutionRef("la", "test-workflow", "no-such-run"))


async def test_stuck_waiting_action(double: LogicAppsDouble, engine: LogicAppsEngine) -> None:
    hits = [h async for h in engine.find_stuck(StuckRules(no_progress=timedelta(hours=1)))]
    assert {(h.execution.ref.workflow_id, h.rule) for h in hits} == {
        (double.waiting_run, StuckRule.WAITING_ON_TASK),
        (double.waiting_run, StuckRule.NO_PROGRESS),
    }


async def test_retry_resubmits_the_trigger_history(
    double: LogicAppsDouble, engine: LogicAppsEngine
) -> None:
    failed = ExecutionRef("la", "test-workflow", double.failed_run)
    running = ExecutionRef("la", "test-workflow", double.waiting_run)
    plan = await engine.plan(ActionRequest(ActionKind.RETRY, (failed, running)))
    resubmit, skip = plan.calls
    assert resubmit.call == "ResubmitTriggerHistory" and resubmit.params["trigger"] == "Recurrence"
    assert skip.call == "skip" and "Running" in skip.params["why"]
    assert any("never retried automatically" in w for w in plan.warnings)
    # a 429 on the resubmit is NOT retried: it may repeat side effects
    double.fail("/resubmit", 429, {"Retry-After": "1"})
    [outcome, skipped] = [o async for o in engine.apply(plan, "r1")]
    assert outcome.outcome is Outcome.FAILED and skipped.outcome is Outcome.SKIPPED
    assert len(double.calls("POST", "/resubmit")) == 1 and double.resubmitted == []
    [outcome, _] = [o async for o in engine.apply(plan, "r2")]
    assert outcome.outcome is Outcome.OK, outcome.message
    post = double.calls("POST", "/resubmit")[-1]
    assert post.path.endswith(
        f"/workflows/test-workflow/triggers/Recurrence/histories/{double.failed_run}/resubmit"
    )
    assert double.resubmitted == [double.failed_run]


async def test_cancel_then_read_back(double: LogicAppsDouble, engine: LogicAppsEngine) -> None:
    ref = ExecutionRef("la", "test-workflow", double.waiting_run)
    double.cancel_lag = 2  # the run still reads Running twice after the POST
    plan = await engine.plan(ActionRequest(ActionKind.CANCEL, (ref,)))
    assert plan.calls[0].call == "CancelRun"
    [outcome] = [o async for o in engine.apply(plan, "c1")]
    assert outcome.outcome is Outcome.OK and outcome.details["status"] == "Cancelled"
    assert double.calls("POST", "/cancel")[0].path.endswith(f"/runs/{double.waiting_run}/cancel")
    assert len(double.calls("GET", f"/runs/{double.waiting_run}")) >= 3
    again = await engine.plan(ActionRequest(ActionKind.CANCEL, (ref,)))
    assert again.calls[0].call == "skip"


async def test_rollback_reapplies_a_previous_definition_with_diff(
    double: LogicAppsDouble, engine: LogicAppsEngine
) -> None:
    plan = await engine.plan(
        ActionRequest(ActionKind.ROLLBACK, params={"deployment": "test-workflow"})
    )
    call = plan.calls[0]
    assert call.params["version"] == double.old_version
    diff = "\n".join(call.params["diff"])
    assert '+    "Find_pet_by_ID": {' in diff and diff.startswith("--- test-workflow (current")
    assert plan.warnings[0].startswith("definition change: +")
    [outcome] = [o async for o in engine.apply(plan, "rb1")]
    assert outcome.outcome is Outcome.OK, outcome.message
    put = double.calls("PUT")[0]
    assert put.query["api-version"] == CONSUMPTION_API
    assert "Find_pet_by_ID" in put.body["properties"]["definition"]["actions"]
    assert put.body["location"] == "brazilsouth"
    # the workflow changed since: the same plan is refused
    [again] = [o async for o in engine.apply(plan, "rb2")]
    assert again.outcome is Outcome.FAILED and "changed since the plan" in again.message


async def test_429_and_503_honour_retry_after(
    double: LogicAppsDouble, engine: LogicAppsEngine
) -> None:
    double.fail("/runs", 429, {"Retry-After": "7"})
    double.fail("/runs", 503, {"Retry-After": "2"})
    rows = [e async for e in engine.list(ListQuery(limit=1))]
    assert len(rows) == 1
    assert engine.waits == [7.0, 2.0]  # type: ignore[attr-defined]
    double.fail("/runs", 429, {"Retry-After": "1"}, times=10)
    with pytest.raises(BackendUnavailable, match="429"):
        [e async for e in engine.list(ListQuery(limit=1))]
    assert len(engine.waits) == 2 + 3  # type: ignore[attr-defined]  # max-tries 4


def test_backoff_without_retry_after_is_jittered_and_bounded() -> None:
    waits = {retry_after({}, 3) for _ in range(20)}
    assert len(waits) > 1 and all(4.0 <= w <= 8.0 for w in waits)
    assert retry_after({"Retry-After": "3600"}, 1) == 60.0


async def test_401_names_the_scope(double: LogicAppsDouble) -> None:
    engine = make(double, token="wrong")
    with pytest.raises(NotAuthorized, match=r"rejected the token \(401\)") as info:
        await engine.workflows()
    assert f"{double.url}/.default" in str(info.value)
    assert "InvalidAuthenticationToken" in str(info.value)
    assert len(double.requests) == 2  # one fresh token is tried, then it gives up


async def test_malformed_bodies(double: LogicAppsDouble, engine: LogicAppsEngine) -> None:
    double.fail("/runs", 200, body=b"<html>gateway</html>")
    with pytest.raises(BackendError, match=r"malformed response .* not JSON"):
        [e async for e in engine.list(ListQuery())]
    double.fail("/runs", 200, body=b'{"items": []}')
    with pytest.raises(BackendError, match="no 'value' list"):
        [e async for e in engine.list(ListQuery())]


async def test_unreachable_is_one_line() -> None:
    from console.sandbox.devserver import free_port

    engine = LogicAppsEngine.from_config(
        "la",
        {"subscription-id": "s", "resource-group": "g", "max-tries": 1,
         "management-url": f"http://127.0.0.1:{free_port()}"},
        _no_secrets, token_provider=lambda scope: TOKEN,
    )  # fmt: skip
    with pytest.raises(BackendUnavailable, match=r"Logic Apps at http://127.0.0.1:\d+ is unreach"):
        await engine.workflows()


async def test_standard_runs_cancel_and_resubmit_from_action(double: LogicAppsDouble) -> None:
    engine = make(double, sku="standard", site=SITE, workflows=["test-workflow"])
    assert Capability.ROLLBACK not in engine.capabilities
    assert "redeploy" in (engine.describe_capability(Capability.ROLLBACK) or "")
    rows = [e async for e in engine.list(ListQuery())]
    assert len(rows) == len(double.runs)
    assert all(r.query["api-version"] == STANDARD_API for r in double.requests)
    assert "/Microsoft.Web/sites/test-site/hostruntime/" in double.requests[0].path
    failed = ExecutionRef("la", "test-workflow", double.failed_run)
    plan = await engine.plan(
        ActionRequest(ActionKind.RETRY, (failed,), params={"from_action": "HTTP"})
    )
    [outcome] = [o async for o in engine.apply(plan, "s1")]
    assert outcome.outcome is Outcome.OK
    post = double.calls("POST", "/resubmit")[-1]
    assert post.path.endswith(f"/runs/{double.failed_run}/resubmit")
    assert post.body == {"actionsToResubmit": [{"name": "HTTP"}]}


async def test_service_principal_secret_from_keyring_ref(
    double: LogicAppsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.identity

    made: list[tuple[str, ...]] = []
    scopes: list[str] = []

    class FakeCredential:
        def __init__(self, tenant: str, client: str, secret: str) -> None:
            made.append((tenant, client, secret))

        def get_token(self, scope: str) -> Any:
            scopes.append(scope)
            return type("AccessToken", (), {"token": TOKEN})()

    monkeypatch.setattr(azure.identity, "ClientSecretCredential", FakeCredential)
    resolved: list[str] = []

    def resolve(ref: str) -> str:
        resolved.append(ref)
        return "s3cret"

    engine = LogicAppsEngine.from_config(
        "la",
        double.settings(**{"credential": "service-principal", "tenant-id": "t1",
                           "client-id": "c1", "client-secret": "keyring:opsdeck/sp"}),
        resolve,
    )  # fmt: skip
    assert resolved == [] and made == []  # nothing resolved or built before the first call
    assert await engine.workflows() == ["test-workflow"]
    assert made == [("t1", "c1", "s3cret")] and resolved == ["keyring:opsdeck/sp"]
    assert scopes == [f"{double.url}/.default"]
    assert double.requests[0].authorization == f"Bearer {TOKEN}"
