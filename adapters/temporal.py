"""Temporal adapter: a WorkflowEngine over the temporalio SDK and Temporal's HTTP API.

Start-up cost matters (the CLI lists 1000 executions in about the time the Temporal
CLI does), so this module imports no temporalio: list and count go through the HTTP
API with stdlib urllib when ``http-address`` is configured, and everything else
imports the SDK-based helpers (adapters/temporal_*.py) on first use. Nothing
connects until the first call that needs the server.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from adapters.temporal_settings import TemporalSettings, parse_settings
from adapters.temporal_visibility import execution_from_json, rejected_query, visibility_query
from console.errors import ConfigError, UsageError
from console.model import (
    ActionKind,
    ActionRequest,
    Capability,
    Execution,
    ExecutionDetail,
    ExecutionRef,
    HistoryEvent,
    ListQuery,
    Plan,
    StuckHit,
    StuckRules,
    TargetOutcome,
    Version,
)
from console.model_chaos import RampState, TaskQueueStats
from console.model_triage import ObservedFailure
from console.ports import SecretResolver

if TYPE_CHECKING:
    from adapters.temporal_batch_job import BatchJobs
    from adapters.temporal_client import Connection
    from adapters.temporal_http import HttpVisibility
    from adapters.temporal_stuck_scan import ScanStats
    from console.model import ExecutionStatus

Row = dict[str, Any]


class TemporalEngine:
    """One Temporal namespace of one cluster (self-hosted or Temporal Cloud)."""

    kind = "temporal"
    capabilities = frozenset(Capability)

    def __init__(self, name: str, settings: TemporalSettings, resolve_secret: SecretResolver):
        self.name = name
        self.settings = settings
        self._resolve = resolve_secret
        self._connection: Connection | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._http: HttpVisibility | None = None
        self._warming: asyncio.Future[None] | None = None  # plan by query: the SDK, early
        self.stuck_stats: ScanStats | None = None

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> TemporalEngine:
        """Validate settings (ConfigError names the field); never connects."""
        return cls(name, parse_settings(settings), resolve_secret)

    def __repr__(self) -> str:
        return f"TemporalEngine({self.name!r}, {self.settings.address}, {self.namespace!r})"

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def describe_capability(self, capability: Capability) -> str | None:
        return None if capability in self.capabilities else f"{capability} is not supported"

    # -- connections ---------------------------------------------------------------

    async def connection(self) -> Connection:
        """The SDK connection, made on first use (imports temporalio then)."""
        if self._connection is None:
            if self._connect_lock is None:
                self._connect_lock = asyncio.Lock()
            async with self._connect_lock:
                if self._connection is None:
                    from adapters.temporal_client import Connection, connect

                    client = await connect(self.settings, self._resolve)
                    self._connection = Connection(client, self.settings, self.name)
        return self._connection

    def _http_visibility(self) -> HttpVisibility | None:
        base = self.settings.http_base
        if base is None:
            return None
        if self._http is None:
            from adapters.temporal_http import HttpVisibility, ssl_context

            s, tls, resolve = self.settings, self.settings.tls, self._resolve
            context = None
            if base.startswith("https://") and tls is not None:
                context = ssl_context(
                    tls.server_ca_file,
                    resolve(tls.client_cert_ref) if tls.client_cert_ref else None,
                    resolve(tls.client_key_ref) if tls.client_key_ref else None,
                )
            api_key = resolve(s.api_key_ref) if s.api_key_ref else None
            self._http = HttpVisibility(
                base, s.namespace, api_key=api_key, context=context, timeout=s.rpc_timeout
            )
        return self._http

    # -- reads -----------------------------------------------------------------------

    async def _pages(
        self, query: str, page_size: int, want: int | None = None
    ) -> AsyncIterator[builtins.list[Row]]:
        """Raw protobuf-JSON rows, page by page, from HTTP if configured, else the SDK.

        The next page is requested before this one is handed over: on a long list the
        server's time per page dominates, and the caller's work on a page (converting,
        writing) overlaps it. Over HTTP a thread of its own asks for it
        (adapters/temporal_http_pages.py). Never asks for a page past ``want`` rows.
        """
        http = self._http_visibility()
        if http is not None:
            from adapters.temporal_http_pages import http_pages

            async for rows in http_pages(http, query, page_size, want):
                yield rows
            return

        async def fetch(token: Any) -> tuple[builtins.list[Row], Any]:
            return await self._sdk_page(query, page_size, token)

        pending: asyncio.Future[tuple[builtins.list[Row], Any]] | None
        pending = asyncio.ensure_future(fetch(None))
        fetched = 0
        try:
            while pending is not None:
                rows, token = await pending
                fetched += len(rows)
                more = bool(token) and (want is None or fetched < want)
                pending = asyncio.ensure_future(fetch(token)) if more else None
                if rows:
                    yield rows
        finally:
            if pending is not None and pending.done() and not pending.cancelled():
                pending.exception()  # the caller stopped early: a failed prefetch is moot
            elif pending is not None:
                pending.cancel()  # a page already in a thread just ends, unread

    async def _sdk_page(
        self, query: str, page_size: int, token: bytes | None
    ) -> tuple[builtins.list[Row], bytes | None]:
        from google.protobuf.json_format import MessageToDict
        from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest

        conn = await self.connection()
        resp = await conn.call(
            conn.service.list_workflow_executions,
            ListWorkflowExecutionsRequest(
                namespace=self.namespace,
                page_size=page_size,
                next_page_token=token or b"",
                query=query,
            ),
            query=True,
        )
        rows = [MessageToDict(e) for e in resp.executions]
        return rows, bytes(resp.next_page_token) or None

    async def list(self, query: ListQuery) -> AsyncIterator[Execution]:
        async for execution in self._list(query, visibility_query(query)):
            yield execution

    async def list_pages(self, query: ListQuery) -> AsyncIterator[builtins.list[Execution]]:
        """``list`` as the server's pages (console.ports.PagedLister): streaming output
        writes and flushes each page as it arrives."""
        async for page in self._list_pages(query, visibility_query(query)):
            yield page

    async def _list(self, query: ListQuery, text: str) -> AsyncIterator[Execution]:
        async for page in self._list_pages(query, text):
            for execution in page:
                yield execution

    async def _list_pages(
        self, query: ListQuery, text: str
    ) -> AsyncIterator[builtins.list[Execution]]:
        remaining = query.limit
        page_size = max(1, min(query.page_size, remaining or query.page_size))
        try:
            async for rows in self._pages(text, page_size, remaining):
                if remaining is not None:
                    rows = rows[:remaining]
                    remaining -= len(rows)
                yield [execution_from_json(row, self.name, self.namespace) for row in rows]
                if remaining is not None and remaining <= 0:
                    return
        except UsageError as exc:
            raise rejected_query(exc, text, query.raw) from None

    async def count(self, query: ListQuery) -> int:
        text = visibility_query(query)
        try:
            return await self._count(text)
        except UsageError as exc:
            raise rejected_query(exc, text, query.raw) from None

    async def _count(self, text: str) -> int:
        http = self._http_visibility()
        if http is not None:
            return await asyncio.to_thread(http.count, text)
        from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest

        conn = await self.connection()
        resp = await conn.call(
            conn.service.count_workflow_executions,
            CountWorkflowExecutionsRequest(namespace=self.namespace, query=text),
            query=True,
        )
        return int(resp.count)

    async def count_by_status(self, query: ListQuery) -> dict[ExecutionStatus, int]:
        """Counts per status in one call (GROUP BY ExecutionStatus); console.slo uses it."""
        from adapters.temporal_counts import count_by_status

        return await count_by_status(self, query)

    async def describe(self, ref: ExecutionRef) -> ExecutionDetail:
        from adapters.temporal_describe import detail_from

        conn = await self.connection()
        resp = await conn.describe(ref)
        pinned = ExecutionRef(ref.engine, ref.scope, ref.workflow_id,
                              resp.workflow_execution_info.execution.run_id)  # fmt: skip
        newest = await conn.newest_events(pinned, 20)
        return detail_from(resp, self.name, conn.namespace_of(ref), newest)

    async def history(self, ref: ExecutionRef) -> AsyncIterator[HistoryEvent]:
        from adapters.temporal_history import convert_event

        conn = await self.connection()
        async for page in conn.history_pages(ref):
            for event in page:
                yield convert_event(event)

    async def find_stuck(
        self, rules: StuckRules, query: ListQuery | None = None
    ) -> AsyncIterator[StuckHit]:
        """Visibility narrows the candidates first (adapters/temporal_stuck_scan.py);
        ``stuck_stats`` counts what the last scan cost."""
        from adapters.temporal_stuck import find_stuck
        from adapters.temporal_stuck_scan import ScanStats

        query = query or ListQuery()
        conn = await self.connection()
        base = visibility_query(query, only_running=True)

        def running(clause: str | None, limit: int | None = None) -> AsyncIterator[Execution]:
            text = f"{base} AND {clause}" if clause else base
            if limit is None:
                return self._list(query, text)
            limit = min(limit, query.limit or limit)  # a probe: one small page
            return self._list(dataclasses.replace(query, limit=limit, page_size=limit), text)

        self.stuck_stats = ScanStats()
        async for hit in find_stuck(conn, running, rules, self.stuck_stats):
            yield hit

    async def failures(self, execution: Execution) -> builtins.list[ObservedFailure]:
        """console.ports_triage.FailureReader: what failed in this run, structured."""
        from adapters.temporal_failures import failures

        return await failures(await self.connection(), execution)

    def explain_stuck(self, rules: StuckRules) -> dict[str, str]:
        """Per enabled rule, how a scan answers it: from visibility, or by describes."""
        from datetime import UTC, datetime

        from adapters.temporal_stuck_scan import scan_plan

        plan = scan_plan(rules, datetime.now(UTC))
        return {rule.value: text for rule, text in plan.how.items()}

    async def versions(self, workflow: str) -> builtins.list[Version]:
        from adapters.temporal_versions import versions

        return await versions(await self.connection(), workflow)

    # -- changes ---------------------------------------------------------------------

    # A request with params["query"] is planned by query: one batch job started with the
    # query itself (adapters/temporal_bulk.py); its targets, if any, are ignored.
    plans_by_query = True

    async def plan(self, request: ActionRequest) -> Plan:
        threshold = self.settings.batch_threshold
        if "query" in request.params and request.kind != ActionKind.ROLLBACK:
            from adapters.temporal_bulk import plan_by_query

            async def exact(named: ActionRequest) -> Plan:
                from adapters.temporal_actions import plan

                return await plan(await self.connection(), named, threshold)

            # Planning by query reads visibility only; without http-address the SDK
            # apply needs is imported and connected meanwhile (0.3-0.7 s otherwise after).
            if self.settings.http_base is None:
                self._warming = asyncio.ensure_future(self._warm_connection())
            return await plan_by_query(self, self.name, request, threshold, exact)
        from adapters.temporal_actions import plan

        return await plan(await self.connection(), request, threshold)

    async def _warm_connection(self) -> None:
        # First let the plan's reads go out (they wait on the server in threads), then
        # import on the loop: never in a thread (protobuf modules imported by two
        # threads at once can see each other half-built).
        for _ in range(3):  # three turns of the loop: counts and listing are in threads
            await asyncio.sleep(0)
        try:
            import adapters.temporal_batch_grpc  # noqa: F401

            await self.connection()
        except Exception:  # the call that needs the connection reports it
            return

    async def apply(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:
        from adapters.temporal_bulk import is_query_plan

        if plan.engine != self.name:
            raise ConfigError(f"plan is for engine {plan.engine!r}, not {self.name!r}")
        if is_query_plan(plan):
            outcomes = await self._apply_by_query(plan, request_id)
        else:
            from adapters.temporal_actions import apply

            outcomes = apply(await self.connection(), plan, request_id)
        async for outcome in outcomes:
            yield outcome

    async def _apply_by_query(self, plan: Plan, request_id: str) -> AsyncIterator[TargetOutcome]:
        from adapters.temporal_bulk_watch import apply_by_query

        return apply_by_query(await self.batch_jobs(), self, plan, request_id)

    async def batch_jobs(self) -> BatchJobs:
        """Batch jobs over HTTP when configured (imports no temporalio), else gRPC."""
        http = self._http_visibility()
        if http is not None:
            from adapters.temporal_http_batch import HttpBatchJobs

            return HttpBatchJobs(http, self.settings.identity)
        from adapters.temporal_batch_grpc import GrpcBatchJobs

        return GrpcBatchJobs(await self.connection())

    # -- chaos ports (console.ports_chaos) ------------------------------------------------

    async def ramping(self, deployment: str) -> RampState:
        from adapters.temporal_chaos import ramping

        return await ramping(await self.connection(), deployment)

    async def set_ramping(
        self, deployment: str, build_id: str | None, percentage: float
    ) -> RampState:
        from adapters.temporal_chaos import set_ramping

        return await set_ramping(await self.connection(), deployment, build_id, percentage)

    # -- guarded rollout (console.ports.VersionRamp; adapters/temporal_ramp.py) -----------

    def ramp_call(self, percentage: float) -> str:
        from adapters.temporal_ramp import ramp_call

        return ramp_call(percentage)

    async def version_query(self, deployment: str, version: str) -> str | None:
        from adapters.temporal_ramp import version_query

        return version_query(deployment, version)

    async def ramp_routing(self, deployment: str, version: str) -> RampState:
        from adapters.temporal_ramp import routing

        return await routing(await self.connection(), deployment)

    async def set_ramp(
        self, deployment: str, version: str, percentage: float, expected: RampState
    ) -> RampState:
        from adapters.temporal_ramp import set_ramp

        return await set_ramp(await self.connection(), deployment, version, percentage, expected)

    async def restore_routing(
        self, deployment: str, version: str, previous: str | None, expected: RampState
    ) -> RampState:
        from adapters.temporal_ramp import restore

        return await restore(await self.connection(), deployment, previous, expected)

    async def pause_activity(self, workflow_id: str, activity_type: str, reason: str) -> None:
        from adapters.temporal_chaos import pause_activity

        await pause_activity(await self.connection(), workflow_id, activity_type, reason)

    async def unpause_activity(self, workflow_id: str, activity_type: str) -> None:
        from adapters.temporal_chaos import unpause_activity

        await unpause_activity(await self.connection(), workflow_id, activity_type)

    async def task_queue_stats(self, task_queue: str, kind: str) -> TaskQueueStats:
        from adapters.temporal_chaos import task_queue_stats

        return await task_queue_stats(await self.connection(), task_queue, kind)

    async def close(self) -> None:
        """Drop the connection; the SDK closes channels when the client is collected."""
        self._connection = None
        if self._http is not None:
            self._http.close()
        self._http = None
