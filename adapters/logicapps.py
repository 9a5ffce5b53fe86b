"""Azure Logic Apps adapter: a WorkflowEngine over the ARM REST API (httpx).

Consumption (``sku: consumption``, default): Microsoft.Logic/workflows, api-version
2019-05-01. Standard (``sku: standard`` + ``site``): the hostruntime workflow
management API of one Logic App (Standard), which serves runs, actions, cancel and
resubmit in the same shapes; versions and rollback are Consumption-only.

References are ``ENGINE:WORKFLOW/RUN_NAME`` (a run name is unique per workflow).
``ListQuery.raw`` is passed as the OData ``$filter`` of the runs list (e.g.
``clientTrackingId eq 'order-42'``) and combined with the status and start-time
filters of the query. Nothing is imported or connected until the first call.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.logicapps_http import (
    ArmClient,
    LogicAppsSettings,
    TokenProvider,
    azure_token_provider,
    parse_settings,
)
from adapters.newest_first import newest_first
from console.errors import ConfigError, Unsupported
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
    StuckRule,
    StuckRules,
    TargetOutcome,
    Version,
)
from console.ports import SecretResolver

STATUS_IN = {
    "Running": ExecutionStatus.RUNNING,
    "Waiting": ExecutionStatus.RUNNING,
    "Succeeded": ExecutionStatus.COMPLETED,
    "Failed": ExecutionStatus.FAILED,
    "Faulted": ExecutionStatus.FAILED,
    "Cancelled": ExecutionStatus.CANCELED,
    "TimedOut": ExecutionStatus.TIMED_OUT,
    "Aborted": ExecutionStatus.TERMINATED,
    "Suspended": ExecutionStatus.PAUSED,
    "Paused": ExecutionStatus.PAUSED,
}
STATUS_OUT = {
    ExecutionStatus.RUNNING: "Running",
    ExecutionStatus.COMPLETED: "Succeeded",
    ExecutionStatus.FAILED: "Failed",
    ExecutionStatus.CANCELED: "Cancelled",
    ExecutionStatus.TIMED_OUT: "TimedOut",
    ExecutionStatus.TERMINATED: "Aborted",
    ExecutionStatus.PAUSED: "Suspended",
}
_FAILED_ACTION = {"Failed", "Faulted", "TimedOut", "Aborted"}
_WHY_NOT = {
    Capability.TERMINATE: "Logic Apps has no terminate: cancel is the only way to stop a run",
    Capability.SIGNAL: "Logic Apps runs take no signals: send the event to the workflow's "
    "trigger or callback URL instead",
    Capability.BATCH: "Logic Apps has no server-side batch jobs: opsdeck calls each run in turn",
}
_STANDARD_WHY_NOT = {
    Capability.VERSIONS: "Logic Apps Standard workflows are files of the app, with no version "
    "history in the API: use your deployment pipeline or slots",
    Capability.ROLLBACK: "Logic Apps Standard workflows are files of the app: roll back by "
    "redeploying the previous package or swapping slots",
}


def parse_time(value: Any) -> datetime | None:
    """ARM timestamps (7 fractional digits, 'Z') -> aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def error_text(error: Any) -> str | None:
    """An action or run ``error`` (documented as an object) as one line."""
    if not error:
        return None
    if isinstance(error, Mapping):
        inner = error.get("error", error)
        if isinstance(inner, Mapping) and ("code" in inner or "message" in inner):
            return f"{inner.get('code', 'Error')}: {inner.get('message', '')}".rstrip(": ")
    import json

    return json.dumps(error, sort_keys=True)[:500]


def _odata_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LogicAppsEngine:
    """The Logic Apps workflows of one resource group (or one Standard app)."""

    kind = "logicapps"

    def __init__(
        self,
        name: str,
        settings: LogicAppsSettings,
        resolve_secret: SecretResolver,
        token_provider: TokenProvider | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        tokens = token_provider or azure_token_provider(settings, resolve_secret)
        self.arm = ArmClient(settings, tokens, name)
        unsupported = set(_WHY_NOT)
        if settings.sku == "standard":
            unsupported |= set(_STANDARD_WHY_NOT)
        self.capabilities = frozenset(Capability) - unsupported

    @classmethod
    def from_config(
        cls,
        name: str,
        settings: dict[str, object],
        resolve_secret: SecretResolver,
        token_provider: TokenProvider | None = None,
    ) -> LogicAppsEngine:
        """Validate settings (ConfigError names the field); never connects."""
        return cls(name, parse_settings(settings), resolve_secret, token_provider)

    def __repr__(self) -> str:
        s = self.settings
        return f"LogicAppsEngine({self.name!r}, {s.sku}, {s.resource_group!r})"

    def describe_capability(self, capability: Capability) -> str | None:
        if capability in self.capabilities:
            return None
        return (
            _STANDARD_WHY_NOT.get(capability)
            or _WHY_NOT.get(capability)
            or f"{capability} is not supported by Logic Apps"
        )

    # -- paths ---------------------------------------------------------------------------

    def workflow_path(self, workflow: str) -> str:
        return f"{self.settings.workflows_path}/{workflow}"

    def run_path(self, ref: ExecutionRef) -> str:
        return f"{self.workflow_path(ref.scope)}/runs/{ref.workflow_id}"

    # -- reads ---------------------------------------------------------------------------

    async def workflows(self) -> builtins.list[str]:
        """Workflow names: the configured ones, else all (Standard: of the app)."""
        if self.settings.workflows:
            return builtins.list(self.settings.workflows)
        names = []
        async for page in self.arm.pages(self.settings.workflows_path):
            for row in page:
                name = str(row.get("name", ""))
                prefix = self.settings.name_prefix
                if name and (prefix is None or name.startswith(prefix)):
                    names.append(name)
        return sorted(names)

    def _filter(self, query: ListQuery, status: str | None) -> str | None:
        clauses = []
        if status:
            clauses.append(f"status eq '{status}'")
        if query.started_after:
            clauses.append(f"startTime ge {_odata_time(query.started_after)}")
        if query.started_before:
            clauses.append(f"startTime lt {_odata_time(query.started_before)}")
        if query.raw:
            clauses.append(query.raw)
        return " and ".join(clauses) or None

    def execution_from(self, workflow: str, row: Mapping[str, Any]) -> Execution:
        props = row.get("properties") or {}
        status = str(props.get("status", ""))
        trigger = props.get("trigger") or {}
        correlation = props.get("correlation") or {}
        version = (props.get("workflow") or {}).get("name")
        attributes = {
            "status": status,
            "trigger": trigger.get("name"),
            "clientTrackingId": correlation.get("clientTrackingId"),
            "id": row.get("id"),
        }
        return Execution(
            ref=ExecutionRef(self.name, workflow, str(row.get("name", ""))),
            workflow_type=workflow,
            status=STATUS_IN.get(status, ExecutionStatus.UNKNOWN),
            start_time=parse_time(props.get("startTime")),
            close_time=parse_time(props.get("endTime")),
            # "WORKFLOW:VERSION" (like Temporal's "deployment:build"): the execution view
            # lists the workflow's versions and can roll it back.
            deployment_version=f"{workflow}:{version}" if version else None,
            search_attributes={k: v for k, v in attributes.items() if v is not None},
        )

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        """Newest first across every workflow (a lazy merge of their run pages)."""
        wanted = [STATUS_OUT[s] for s in query.statuses if s in STATUS_OUT]
        # One status filters server-side; several are filtered here.
        server_status = wanted[0] if len(wanted) == 1 else None
        keep = set(wanted) if len(wanted) > 1 else set()
        if ExecutionStatus.RUNNING in query.statuses:  # Waiting is running too
            keep, server_status = {*wanted, "Waiting"}, None
        remaining = query.limit
        top = max(1, min(query.page_size, 250, remaining or 250))
        workflows = await self.workflows()
        if query.workflow_type:
            workflows = [w for w in workflows if w == query.workflow_type]
        params = {"$top": str(top)}
        odata = self._filter(query, server_status)
        if odata:
            params["$filter"] = odata
        streams = [self._runs(w, dict(params), keep) for w in workflows]
        async for execution in newest_first(streams):
            yield execution
            if remaining is not None:
                remaining -= 1
                if remaining <= 0:
                    return

    async def _runs(
        self, workflow: str, params: dict[str, str], keep: set[str]
    ) -> AsyncIterator[Execution]:
        async for page in self.arm.pages(f"{self.workflow_path(workflow)}/runs", params):
            for row in page:
                if keep and (row.get("properties") or {}).get("status") not in keep:
                    continue
                yield self.execution_from(workflow, row)

    async def count(self, query: ListQuery) -> int:
        """The runs API has no count: this lists and counts."""
        total = 0
        async for _ in self.list(query):
            total += 1
        return total

    async def run(self, ref: ExecutionRef) -> dict[str, Any]:
        data: dict[str, Any] = await self.arm.get(self.run_path(ref))
        return data

    async def actions(self, ref: ExecutionRef) -> builtins.list[dict[str, Any]]:
        rows: builtins.list[dict[str, Any]] = []
        async for page in self.arm.pages(f"{self.run_path(ref)}/actions"):
            rows.extend(page)
        return rows

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail:
        run = await self.run(ref)
        actions = await self.actions(ref)
        execution = self.execution_from(ref.scope, run)
        props = run.get("properties") or {}
        failed = [a for a in actions if (a.get("properties") or {}).get("status") in _FAILED_ACTION]
        last_failure = None
        if failed:
            action = failed[-1]
            p = action.get("properties") or {}
            why = error_text(p.get("error")) or p.get("code") or p.get("status")
            last_failure = f"{action.get('name')}: {why}"
        elif props.get("error"):
            last_failure = error_text(props.get("error"))
        pending = tuple(
            PendingActivity(
                activity_id=str(a.get("name")),
                activity_type=str((a.get("properties") or {}).get("code") or "action"),
                state=str((a.get("properties") or {}).get("status")),
                attempt=len((a.get("properties") or {}).get("retryHistory") or []) + 1,
                last_started_time=parse_time((a.get("properties") or {}).get("startTime")),
            )
            for a in actions
            if (a.get("properties") or {}).get("status") in ("Running", "Waiting")
        )
        times = [
            t
            for a in actions
            for t in (
                parse_time((a.get("properties") or {}).get("startTime")),
                parse_time((a.get("properties") or {}).get("endTime")),
            )
            if t is not None
        ]
        times += [t for t in (execution.start_time, execution.close_time) if t is not None]
        memo = {
            "id": run.get("id"),
            "trigger": (props.get("trigger") or {}).get("name"),
            "clientTrackingId": (props.get("correlation") or {}).get("clientTrackingId"),
            "version": (props.get("workflow") or {}).get("name"),
            "actions": {
                str(a.get("name")): (a.get("properties") or {}).get("status") for a in actions
            },
        }
        return ExecutionDetail(
            execution=execution,
            pending_activities=pending,
            last_failure=last_failure,
            build_id=(execution.deployment_version or ":").split(":", 1)[1] or None,
            memo={k: v for k, v in memo.items() if v is not None},
            last_event_time=max(times) if times else None,
        )

    async def history(self, ref: ExecutionRef) -> AsyncIterator[HistoryEvent]:
        """The trigger, then each action by start time (Logic Apps keeps no event log)."""
        run = await self.run(ref)
        props = run.get("properties") or {}
        events: builtins.list[HistoryEvent] = []
        trigger = props.get("trigger") or {}
        if trigger:
            status = str(trigger.get("status", ""))
            events.append(
                HistoryEvent(
                    event_id=1,
                    time=parse_time(trigger.get("startTime")),
                    event_type=f"Trigger{status}",
                    summary=f"{trigger.get('name')} {trigger.get('code', '')}".strip(),
                    is_failure=status in _FAILED_ACTION,
                    details=dict(trigger),
                )
            )
        actions = sorted(
            await self.actions(ref),
            key=lambda a: (a.get("properties") or {}).get("startTime") or "",
        )
        for action in actions:
            p = action.get("properties") or {}
            status = str(p.get("status", ""))
            failure = error_text(p.get("error"))
            summary = str(action.get("name"))
            if failure or status in _FAILED_ACTION:
                summary = f"{summary}: {failure or p.get('code') or status}"
            events.append(
                HistoryEvent(
                    event_id=len(events) + 1,
                    time=parse_time(p.get("startTime")),
                    event_type=f"Action{status}",
                    summary=summary,
                    is_failure=status in _FAILED_ACTION,
                    details=dict(p),
                )
            )
        status = str(props.get("status", ""))
        if props.get("endTime"):
            events.append(
                HistoryEvent(
                    event_id=len(events) + 1,
                    time=parse_time(props.get("endTime")),
                    event_type=f"Run{status}",
                    summary=error_text(props.get("error")) or str(props.get("code") or status),
                    is_failure=status in _FAILED_ACTION,
                )
            )
        for event in events:
            yield event

    async def trigger_histories(self, workflow: str, trigger: str) -> builtins.list[dict[str, Any]]:
        rows: builtins.list[dict[str, Any]] = []
        path = f"{self.workflow_path(workflow)}/triggers/{trigger}/histories"
        async for page in self.arm.pages(path):
            rows.extend(page)
        return rows

    async def find_stuck(
        self, rules: StuckRules, query: ListQuery | None = None
    ) -> AsyncIterator[StuckHit]:
        """no_progress: a running run with no action start/end for longer than T;
        waiting_on_task: an action Waiting (e.g. a webhook or approval) longer than T."""
        base = query or ListQuery()
        running = ListQuery(
            statuses=(ExecutionStatus.RUNNING,),
            workflow_type=base.workflow_type,
            raw=base.raw,
            limit=base.limit,
        )
        now = datetime.now(UTC)
        limit = rules.no_progress
        async for execution in self.list(running):
            detail = await self.describe(execution.ref)
            for pending in detail.pending_activities:
                since = pending.last_started_time
                if (
                    StuckRule.WAITING_ON_TASK in rules.enabled
                    and pending.state == "Waiting"
                    and since is not None
                    and now - since > limit
                ):
                    yield StuckHit(
                        execution,
                        StuckRule.WAITING_ON_TASK,
                        f"action {pending.activity_id} waiting since {since:%Y-%m-%d %H:%M}Z",
                        {"action": pending.activity_id, "since": since.isoformat()},
                    )
            last = detail.last_event_time
            if StuckRule.NO_PROGRESS in rules.enabled and last is not None and now - last > limit:
                minutes = int((now - last).total_seconds() // 60)
                yield StuckHit(
                    execution,
                    StuckRule.NO_PROGRESS,
                    f"no action started or ended for {minutes}m",
                    {"last_event_time": last.isoformat()},
                )

    async def versions(self, workflow: str) -> builtins.list[Version]:
        """Versions of a Consumption workflow, newest first; the workflow's own version
        is current."""
        if self.settings.sku == "standard":
            raise Unsupported(_STANDARD_WHY_NOT[Capability.VERSIONS])
        current = await self.arm.get(self.workflow_path(workflow))
        current_version = (current.get("properties") or {}).get("version")
        result = []
        async for page in self.arm.pages(f"{self.workflow_path(workflow)}/versions"):
            for row in page:
                p = row.get("properties") or {}
                number = str(p.get("version") or row.get("name"))
                result.append(
                    Version(
                        deployment=workflow,
                        version=number,
                        is_current=number == current_version,
                        created_time=parse_time(p.get("changedTime") or p.get("createdTime")),
                        status=p.get("state"),
                    )
                )
        result.sort(key=lambda v: v.version, reverse=True)
        return result

    # -- changes -----------------------------------------------------------------------

    async def plan(self, request: ActionRequest) -> Plan:
        from adapters.logicapps_actions import plan

        return await plan(self, request)

    async def apply(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:
        from adapters.logicapps_actions import apply

        if plan.engine != self.name:
            raise ConfigError(f"plan is for engine {plan.engine!r}, not {self.name!r}")
        async for outcome in apply(self, plan, request_id):
            yield outcome

    async def close(self) -> None:
        await self.arm.close()
