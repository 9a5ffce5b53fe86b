"""Connecting to Temporal and turning SDK errors into opsdeck errors.

Imports temporalio, so only ever imported lazily (on first use of an engine).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import Message
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    GetWorkflowExecutionHistoryRequest,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import Client, TLSConfig
from temporalio.service import RetryConfig, RPCError, RPCStatusCode, WorkflowService

from adapters.temporal_settings import TemporalSettings
from console.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    NotFound,
    OpsdeckError,
    UsageError,
)
from console.model import ExecutionRef
from console.ports import SecretResolver

T = TypeVar("T")

UNREACHABLE_HINT = "is the server running? check address/TLS"


def _short(text: str) -> str:
    """The useful part of a Rust transport error, e.g. 'Connection refused'."""
    for marker in ('message: "', "message: '"):
        if marker in text:
            return text.split(marker, 1)[1].split(marker[-1], 1)[0]
    return text.splitlines()[0][:200] if text else "no answer"


def translate(error: BaseException, address: str, *, query: bool = False) -> OpsdeckError:
    """Map an SDK or transport error to the opsdeck error an operator can act on."""
    if isinstance(error, OpsdeckError):
        return error
    if isinstance(error, RPCError):
        if error.status == RPCStatusCode.NOT_FOUND:
            return NotFound(error.message)
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return BackendUnavailable(
                "temporal", address, _short(error.message), hint=UNREACHABLE_HINT
            )
        if error.status == RPCStatusCode.UNAUTHENTICATED:
            return BackendUnavailable(
                "temporal", address, error.message, hint="check the api-key or TLS certificate"
            )
        if query and error.status == RPCStatusCode.INVALID_ARGUMENT:
            return UsageError(f"temporal rejected the query: {error.message}")
        return BackendError(f"temporal: {error.message}")
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return BackendUnavailable("temporal", address, "no answer in time", hint=UNREACHABLE_HINT)
    if isinstance(error, RuntimeError) and "connect" in str(error).lower():
        return BackendUnavailable("temporal", address, _short(str(error)), hint=UNREACHABLE_HINT)
    return BackendError(f"temporal: {error}")


@contextmanager
def rpc_errors(address: str, *, query: bool = False) -> Iterator[None]:
    try:
        yield
    except (RPCError, RuntimeError, TimeoutError) as e:
        raise translate(e, address, query=query) from None


def _tls_config(settings: TemporalSettings, resolve: SecretResolver) -> bool | TLSConfig | None:
    tls = settings.tls
    if settings.tls_disabled:
        return False
    if tls is None:
        return None  # the SDK turns TLS on by itself when an API key is set
    ca: bytes | None = None
    if tls.server_ca_file:
        try:
            ca = Path(tls.server_ca_file).expanduser().read_bytes()
        except OSError as e:
            raise ConfigError(f"tls.server-ca-file: cannot read {tls.server_ca_file}: {e}") from e
    return TLSConfig(
        server_root_ca_cert=ca,
        domain=tls.server_name,
        client_cert=resolve(tls.client_cert_ref).encode() if tls.client_cert_ref else None,
        client_private_key=resolve(tls.client_key_ref).encode() if tls.client_key_ref else None,
    )


async def connect(settings: TemporalSettings, resolve: SecretResolver) -> Client:
    api_key = resolve(settings.api_key_ref) if settings.api_key_ref else None
    try:
        return await asyncio.wait_for(
            Client.connect(
                settings.address,
                namespace=settings.namespace,
                api_key=api_key,
                tls=_tls_config(settings, resolve),
                identity=settings.identity,
                # Temporal Cloud's regional API-key endpoints route by this header.
                rpc_metadata={"temporal-namespace": settings.namespace} if api_key else {},
                # Fail in seconds, not the SDK's default minute: an operator is waiting.
                retry_config=RetryConfig(max_elapsed_time_millis=3000, max_retries=3),
                connect_timeout=timedelta(seconds=settings.rpc_timeout),
            ),
            timeout=settings.rpc_timeout + 1,
        )
    except (RPCError, RuntimeError, TimeoutError) as e:
        raise translate(e, settings.address) from None


class Connection:
    """A connected client plus what every call needs: namespace, engine name, timeouts."""

    def __init__(self, client: Client, settings: TemporalSettings, engine: str) -> None:
        self.client = client
        self.settings = settings
        self.engine = engine
        self.namespace = settings.namespace
        self.address = settings.address
        self.identity = settings.identity
        self.timeout = timedelta(seconds=settings.rpc_timeout)

    @property
    def service(self) -> WorkflowService:
        return self.client.workflow_service

    async def call(
        self,
        method: Callable[..., Awaitable[T]],
        request: Message,
        *,
        retry: bool = True,
        query: bool = False,
    ) -> T:
        """One RPC with a deadline; errors become opsdeck errors."""
        with rpc_errors(self.address, query=query):
            return await method(request, retry=retry, timeout=self.timeout)

    def execution(self, ref: ExecutionRef) -> WorkflowExecution:
        return WorkflowExecution(workflow_id=ref.workflow_id, run_id=ref.run_id or "")

    def namespace_of(self, ref: ExecutionRef) -> str:
        return ref.scope or self.namespace

    async def describe(self, ref: ExecutionRef) -> DescribeWorkflowExecutionResponse:
        return await self.call(
            self.service.describe_workflow_execution,
            DescribeWorkflowExecutionRequest(
                namespace=self.namespace_of(ref), execution=self.execution(ref)
            ),
        )

    async def newest_events(self, ref: ExecutionRef, count: int) -> list[HistoryEvent]:
        """The newest ``count`` history events, newest first."""
        resp = await self.call(
            self.service.get_workflow_execution_history_reverse,
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=self.namespace_of(ref),
                execution=self.execution(ref),
                maximum_page_size=count,
            ),
        )
        return list(resp.history.events)[:count]

    async def history_pages(
        self, ref: ExecutionRef, page_size: int = 500
    ) -> AsyncIterator[list[HistoryEvent]]:
        token = b""
        while True:
            resp = await self.call(
                self.service.get_workflow_execution_history,
                GetWorkflowExecutionHistoryRequest(
                    namespace=self.namespace_of(ref),
                    execution=self.execution(ref),
                    maximum_page_size=page_size,
                    next_page_token=token,
                ),
            )
            if resp.history.events:
                yield list(resp.history.events)
            token = resp.next_page_token
            if not token:
                return
