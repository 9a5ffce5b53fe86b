"""AWS Step Functions adapter: a WorkflowEngine over boto3 (calls off the event loop).

Settings (one engine entry): ``region``, ``profile``, ``endpoint-url`` (moto_server,
LocalStack), ``state-machines`` (state machine, alias or version ARNs) and/or
``name-prefix`` to choose the state machines shown, ``emulator: true`` for a local
emulator without credentials, ``rollback-verify-timeout`` (seconds). Credentials come
from the standard AWS chain; keys in the config are refused.

References are ``ENGINE:STATE_MACHINE/EXECUTION_NAME`` (see stepfunctions_format).
``ListQuery.raw`` takes Step Functions filters as space-separated ``key=value``:
``status=PENDING_REDRIVE|RUNNING|...``, ``redrive=REDRIVEN|NOT_REDRIVEN``,
``state-machine=ARN`` (an alias or version ARN lists the executions started through
it) and ``map-run=ARN`` (the child executions of a Distributed Map run).
Nothing imports boto3 or connects until the first call.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.newest_first import newest_first
from adapters.stepfunctions_client import Client, StepFunctionsSettings, parse_settings
from adapters.stepfunctions_format import (
    STATUS_OUT,
    as_utc,
    convert_event,
    execution_arn,
    execution_from,
    failure_text,
    machine_arn_base,
    machine_name,
    open_task,
    qualifier,
)
from console.errors import ConfigError, NotFound, UsageError
from console.model import (
    ActionRequest,
    Capability,
    Execution,
    ExecutionDetail,
    ExecutionRef,
    ExecutionStatus,
    HistoryEvent,
    ListQuery,
    PendingActivity,
    Plan,
    StuckHit,
    StuckRules,
    TargetOutcome,
    Version,
)
from console.model_chaos import RampState
from console.model_triage import ObservedFailure
from console.ports import SecretResolver

STUCK_PARALLEL = 8  # executions checked at once by find_stuck
NEWEST_EVENTS = 20  # newest history events read by describe and the stuck scan
_MEMO_KEYS = (
    "redriveCount", "redriveStatus", "redriveStatusReason", "redriveDate",
    "stateMachineVersionArn", "stateMachineAliasArn", "mapRunArn",
    "executionArn", "stateMachineArn", "input", "output", "traceHeader",
)  # fmt: skip
_RAW_KEYS = {"status", "redrive", "state-machine", "map-run"}
_WHY_NOT = {
    Capability.SIGNAL: "Step Functions has no signals: a waiting callback task is completed "
    "by whoever holds its task token (SendTaskSuccess/SendTaskFailure)",
    Capability.BATCH: "Step Functions has no server-side batch jobs: opsdeck calls each "
    "execution in turn",
}


def parse_raw(raw: str | None) -> dict[str, str]:
    """``status=FAILED redrive=NOT_REDRIVEN`` -> {"status": "FAILED", ...}."""
    result: dict[str, str] = {}
    for word in (raw or "").split():
        key, sep, value = word.partition("=")
        if not sep or key not in _RAW_KEYS or not value:
            raise UsageError(
                f"{word!r}: Step Functions filters are key=value with keys "
                f"{', '.join(sorted(_RAW_KEYS))}, e.g. status=PENDING_REDRIVE redrive=REDRIVEN"
            )
        result[key] = value
    return result


class StepFunctionsEngine:
    """The Standard state machines of one AWS account and region."""

    kind = "stepfunctions"
    capabilities = frozenset(Capability) - {Capability.SIGNAL, Capability.BATCH}

    def __init__(self, name: str, settings: StepFunctionsSettings) -> None:
        self.name = name
        self.settings = settings
        self.client = Client(settings, name)
        self._machines: dict[str, str] | None = None  # name -> unqualified ARN

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> StepFunctionsEngine:
        """Validate settings (ConfigError names the field); never connects."""
        return cls(name, parse_settings(settings))

    def __repr__(self) -> str:
        return f"StepFunctionsEngine({self.name!r}, {self.settings.address})"

    def describe_capability(self, capability: Capability) -> str | None:
        if capability in self.capabilities:
            return None
        return _WHY_NOT.get(capability, f"{capability} is not supported by Step Functions")

    # -- state machines ----------------------------------------------------------------

    async def machines(self) -> dict[str, str]:
        """State machine name -> unqualified ARN, as configured (listed once, cached)."""
        if self._machines is None:
            found: dict[str, str] = {}
            for arn in self.settings.state_machines:
                found.setdefault(machine_name(arn), machine_arn_base(arn))
            if not self.settings.state_machines:
                token: str | None = None
                while True:
                    kwargs: dict[str, Any] = {"maxResults": 1000}
                    if token:
                        kwargs["nextToken"] = token
                    page = await self.client.call("list_state_machines", **kwargs)
                    for row in page.get("stateMachines", []):
                        prefix = self.settings.name_prefix
                        if prefix is None or str(row["name"]).startswith(prefix):
                            found[str(row["name"])] = str(row["stateMachineArn"])
                    token = page.get("nextToken")
                    if not token:
                        break
            self._machines = found
        return self._machines

    async def machine_arn(self, name: str) -> str:
        machines = await self.machines()
        if name not in machines:
            self._machines = None  # maybe created since we listed
            machines = await self.machines()
        try:
            return machines[name]
        except KeyError:
            known = ", ".join(sorted(machines)) or "none"
            raise NotFound(
                f"no state machine {name!r} at {self.settings.address} (known: {known})"
            ) from None

    # -- chaos ports (console.ports_chaos) ---------------------------------------------

    async def alias_weights(self, state_machine: str, alias: str) -> dict[str, int]:
        from adapters.stepfunctions_chaos import alias_weights

        return await alias_weights(self, state_machine, alias)

    async def set_alias_weights(
        self, state_machine: str, alias: str, weights: dict[str, int]
    ) -> dict[str, int]:
        from adapters.stepfunctions_chaos import set_alias_weights

        return await set_alias_weights(self, state_machine, alias, weights)

    # -- guarded rollout (console.ports.VersionRamp): alias weights -------------------

    def ramp_call(self, percentage: float) -> str:
        from adapters.stepfunctions_versions import RAMP_CALL

        return RAMP_CALL

    async def version_query(self, deployment: str, version: str) -> str | None:
        """The executions of that version: ``state-machine=<version ARN>``."""
        machine = await self.machine_arn(deployment.partition(":")[0])
        return f"state-machine={machine}:{version}"

    async def ramp_routing(self, deployment: str, version: str) -> RampState:
        from adapters.stepfunctions_versions import ramp_routing

        return await ramp_routing(self, deployment, version)

    async def set_ramp(
        self, deployment: str, version: str, percentage: float, expected: RampState
    ) -> RampState:
        from adapters.stepfunctions_versions import set_ramp

        return await set_ramp(self, deployment, version, percentage, expected)

    async def restore_routing(
        self, deployment: str, version: str, previous: str | None, expected: RampState
    ) -> RampState:
        from adapters.stepfunctions_versions import restore_routing

        return await restore_routing(self, deployment, version, previous, expected)

    async def execution_arn(self, ref: ExecutionRef) -> str:
        machine = await self.machine_arn(ref.scope.split("/", 1)[0])
        return execution_arn(machine, ref.scope, ref.workflow_id)

    # -- reads -------------------------------------------------------------------------

    async def _sources(self, query: ListQuery, raw: Mapping[str, str]) -> builtins.list[str]:
        """The ARNs (state machine, alias, version or map run) to list executions of."""
        if "map-run" in raw:
            return [raw["map-run"]]
        if "state-machine" in raw:
            return [raw["state-machine"]]
        configured = [a for a in self.settings.state_machines if a.count(":") > 6]
        machines = await self.machines()
        names = sorted(machines)
        if query.workflow_type:
            names = [n for n in names if n == query.workflow_type]
        # Qualified ARNs in the config (aliases/versions) list through that qualifier.
        by_name = {machine_name(a): a for a in configured}
        return [by_name.get(n, machines[n]) for n in names]

    def _status_filter(
        self, query: ListQuery, raw: Mapping[str, str]
    ) -> tuple[str | None, set[str]]:
        """(server-side statusFilter, statuses to keep client-side; empty = all)."""
        if "status" in raw:
            return raw["status"].upper(), set()
        wanted = {STATUS_OUT[s] for s in query.statuses if s in STATUS_OUT}
        if len(wanted) == 1:
            return next(iter(wanted)), set()
        return None, wanted

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        """Newest first across every state machine (a lazy merge of their pages), so the
        first N rows are the newest N, not the first machine's."""
        raw = parse_raw(query.raw)
        remaining = query.limit
        page_size = max(1, min(query.page_size, 1000, remaining or 1000))
        sources = [
            self._list_source(source, query, raw, page_size)
            for source in await self._sources(query, raw)
        ]
        async for execution in newest_first(sources):
            yield execution
            if remaining is not None:
                remaining -= 1
                if remaining <= 0:
                    return

    async def _list_source(
        self, source: str, query: ListQuery, raw: dict[str, str], page_size: int
    ) -> AsyncIterator[Execution]:
        server_status, keep = self._status_filter(query, raw)
        after, before = as_utc(query.started_after), as_utc(query.started_before)
        token: str | None = None
        while True:
            params: dict[str, Any] = {"maxResults": page_size}
            params["mapRunArn" if ":mapRun:" in source else "stateMachineArn"] = source
            if server_status:
                params["statusFilter"] = server_status
            if "redrive" in raw:
                params["redriveFilter"] = raw["redrive"].upper()
            if token:
                params["nextToken"] = token
            page = await self.client.call("list_executions", **params)
            for row in page.get("executions", []):
                if keep and row.get("status") not in keep:
                    continue
                execution = execution_from(row, self.name)
                start = execution.start_time
                if before is not None and start is not None and start >= before:
                    continue
                if after is not None and start is not None and start < after:
                    return  # newest first: the rest of this source is older
                yield execution
            token = page.get("nextToken")
            if not token:
                return

    async def count(self, query: ListQuery) -> int:
        """Step Functions has no count API: this lists (ids only) and counts."""
        total = 0
        async for _ in self.list(query):
            total += 1
        return total

    async def newest_events(
        self, arn: str, n: int = NEWEST_EVENTS
    ) -> builtins.list[dict[str, Any]]:
        """The newest ``n`` history events, newest first.

        Asks for reverse order; an emulator that ignores it (moto) returns oldest first,
        which is detected from the ids and then paged forward to the end.
        """
        page = await self.client.call(
            "get_execution_history", executionArn=arn, reverseOrder=True, maxResults=n
        )
        events: builtins.list[dict[str, Any]] = list(page.get("events", []))
        ascending = len(events) > 1 and events[0].get("id", 0) < events[-1].get("id", 0)
        if ascending or (events and events[0].get("id") == 1 and page.get("nextToken")):
            token = page.get("nextToken")
            while token:
                more = await self.client.call(
                    "get_execution_history", executionArn=arn, maxResults=1000, nextToken=token
                )
                events.extend(more.get("events", []))
                token = more.get("nextToken")
            events.sort(key=lambda e: int(e.get("id", 0)), reverse=True)
            events = events[:n]
        return events

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail:
        arn = await self.execution_arn(ref)
        resp = await self.client.call("describe_execution", executionArn=arn)
        newest = await self.newest_events(arn) if resp.get("status") != "PENDING_REDRIVE" else []
        return self._detail(resp, newest)

    def _detail(
        self, resp: Mapping[str, Any], newest: builtins.list[dict[str, Any]]
    ) -> ExecutionDetail:
        execution = execution_from(resp, self.name)
        memo: dict[str, Any] = {}
        for key in _MEMO_KEYS:
            if resp.get(key) is not None:
                value = resp[key]
                memo[key] = value.isoformat() if isinstance(value, datetime) else value
        pending: tuple[PendingActivity, ...] = ()
        task = open_task(newest) if execution.status is ExecutionStatus.RUNNING else None
        if task is not None:
            pending = (
                PendingActivity(
                    activity_id=task.state,
                    activity_type=task.resource,
                    state=("STARTED" if task.started else "SCHEDULED")
                    if task.kind == "activity"
                    else "WAITING_FOR_TASK_TOKEN",
                    attempt=1,
                    last_started_time=task.since,
                ),
            )
        last_failure = failure_text(resp)
        if last_failure is None:
            last_failure = next(
                (text for e in newest if (text := convert_event(e).summary)
                 and convert_event(e).is_failure),
                None,
            )  # fmt: skip
        return ExecutionDetail(
            execution=execution,
            pending_activities=pending,
            last_failure=last_failure,
            build_id=(execution.deployment_version or ":").split(":", 1)[1] or None,
            memo=memo,
            last_event_time=as_utc(newest[0].get("timestamp")) if newest else None,
        )

    async def failures(self, execution: Execution) -> builtins.list[ObservedFailure]:
        """console.ports_triage.FailureReader: a closed execution's error and cause."""
        from adapters.stepfunctions_failures import failures

        async def describe(listed: Execution) -> Mapping[str, Any]:
            arn = await self.execution_arn(listed.ref)
            described: Mapping[str, Any] = await self.client.call(
                "describe_execution", executionArn=arn
            )
            return described

        return await failures(execution, describe)

    async def history(self, ref: ExecutionRef) -> AsyncIterator[HistoryEvent]:
        arn = await self.execution_arn(ref)
        token: str | None = None
        while True:
            params: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
            if token:
                params["nextToken"] = token
            page = await self.client.call("get_execution_history", **params)
            for event in page.get("events", []):
                yield convert_event(event)
            token = page.get("nextToken")
            if not token:
                return

    async def find_stuck(
        self, rules: StuckRules, query: ListQuery | None = None
    ) -> AsyncIterator[StuckHit]:
        """Rules: no_progress (no new history event for T), waiting_on_task (an activity
        or callback task open for longer than T), map_items_failed (a Map Run of the
        execution has failed items). T is ``rules.no_progress``."""
        from adapters.stepfunctions_stuck import check

        base = query or ListQuery()
        running = ListQuery(
            statuses=(ExecutionStatus.RUNNING,),
            workflow_type=base.workflow_type,
            started_after=base.started_after,
            started_before=base.started_before,
            raw=base.raw,
            limit=base.limit,
            page_size=base.page_size,
        )
        now = datetime.now(UTC)
        batch: builtins.list[Execution] = []
        listed = self.list(running)
        while True:
            execution = await anext(listed, None)
            if execution is not None:
                batch.append(execution)
            if batch and (execution is None or len(batch) >= STUCK_PARALLEL):
                # History reads of a batch run concurrently (boto3 clients are thread-safe).
                found = await asyncio.gather(*(check(self, e, rules, now) for e in batch))
                batch = []
                for hits in found:
                    for hit in hits:
                        yield hit
            if execution is None:
                return

    async def versions(self, workflow: str) -> builtins.list[Version]:
        """Published versions of a state machine and how its aliases route to them.
        ``workflow`` is STATE_MACHINE or STATE_MACHINE:ALIAS (only that alias counts)."""
        from adapters.stepfunctions_versions import versions

        return await versions(self, workflow)

    # -- changes -----------------------------------------------------------------------

    async def plan(self, request: ActionRequest) -> Plan:
        from adapters.stepfunctions_actions import plan

        return await plan(self, request)

    async def apply(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:
        from adapters.stepfunctions_actions import apply

        if plan.engine != self.name:
            raise ConfigError(f"plan is for engine {plan.engine!r}, not {self.name!r}")
        async for outcome in apply(self, plan, request_id):
            yield outcome

    async def close(self) -> None:
        self._machines = None


def version_of(arn: str | None) -> str | None:
    """Version number of a version ARN (None for aliases and unqualified ARNs)."""
    q = qualifier(arn)
    return q if q is not None and q.isdigit() else None
