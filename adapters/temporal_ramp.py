"""Guarded rollout on a worker deployment (console.ports.VersionRamp): ramping percentages,
then the new version current at 100; restore puts the previous version back.

Every change is guarded twice, as rollback is (adapters/temporal_versions.py): the
routing must still be what the caller last saw (``expected``), and the call carries the
conflict token read with it, so a change racing with ours fails instead of being
overwritten. Each call returns the routing read back after it.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentResponse,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)

from adapters.temporal_client import Connection
from adapters.temporal_versions import describe_deployment
from console.errors import BackendError, UsageError
from console.model_chaos import RampState

RAMP_CALL = "SetWorkerDeploymentRampingVersion"
PROMOTE_CALL = "SetWorkerDeploymentCurrentVersion"


def ramp_call(percentage: float) -> str:
    return PROMOTE_CALL if percentage >= 100 else RAMP_CALL


def version_query(deployment: str, version: str) -> str:
    """Visibility query for the executions a version ran (the server's search attribute)."""
    return f"TemporalWorkerDeploymentVersion = '{deployment}:{version}'"


def _state(deployment: str, resp: DescribeWorkerDeploymentResponse) -> RampState:
    routing = resp.worker_deployment_info.routing_config
    ramping = routing.ramping_deployment_version.build_id or None
    return RampState(
        deployment=deployment,
        current=routing.current_deployment_version.build_id or None,
        ramping=ramping,
        percentage=float(routing.ramping_version_percentage) if ramping else 0.0,
    )


async def routing(conn: Connection, deployment: str) -> RampState:
    return _state(deployment, await describe_deployment(conn, deployment))


async def _guarded(conn: Connection, deployment: str, expected: RampState) -> bytes:
    """The conflict token, if the routing is still ``expected``; else BackendError."""
    resp = await describe_deployment(conn, deployment)
    seen = _state(deployment, resp)
    if seen != expected:
        raise BackendError(
            f"the routing of {deployment} changed under the ramp: expected {describe(expected)},"
            f" found {describe(seen)}"
        )
    return bytes(resp.conflict_token)


async def _set_current(conn: Connection, deployment: str, build: str, token: bytes) -> None:
    await conn.call(
        conn.service.set_worker_deployment_current_version,
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=conn.namespace,
            deployment_name=deployment,
            build_id=build,
            conflict_token=token,
            identity=conn.identity,
        ),
        retry=False,  # a retry of a call that landed would fail on its spent conflict token
    )


async def _set_ramping(
    conn: Connection, deployment: str, build: str, percentage: float, token: bytes
) -> None:
    await conn.call(
        conn.service.set_worker_deployment_ramping_version,
        SetWorkerDeploymentRampingVersionRequest(
            namespace=conn.namespace,
            deployment_name=deployment,
            build_id=build,
            percentage=percentage,
            conflict_token=token,
            identity=conn.identity,
        ),
        retry=False,
    )


async def set_ramp(
    conn: Connection, deployment: str, version: str, percentage: float, expected: RampState
) -> RampState:
    """Route ``percentage`` of new workflows to ``version`` (100: make it current)."""
    if not 0 < percentage <= 100:
        raise UsageError(f"a ramp step is above 0 and at most 100 percent, not {percentage:g}")
    token = await _guarded(conn, deployment, expected)
    if percentage >= 100:
        await _set_current(conn, deployment, version, token)
        after = await routing(conn, deployment)
        if after.ramping == version:  # servers that keep the ramp on the new current
            after = await _clear_ramp(conn, deployment, after)
        return after
    await _set_ramping(conn, deployment, version, float(percentage), token)
    return await routing(conn, deployment)


async def _clear_ramp(conn: Connection, deployment: str, expected: RampState) -> RampState:
    token = await _guarded(conn, deployment, expected)
    await _set_ramping(conn, deployment, "", 0.0, token)  # "": unset, no version ramps
    return await routing(conn, deployment)


async def restore(
    conn: Connection, deployment: str, previous: str | None, expected: RampState
) -> RampState:
    """``previous`` current again and no version ramping (the rollback of a ramp)."""
    state = expected
    if state.ramping is not None:
        state = await _clear_ramp(conn, deployment, state)
    if previous is not None and state.current != previous:
        token = await _guarded(conn, deployment, state)
        await _set_current(conn, deployment, previous, token)
        state = await routing(conn, deployment)
    return state


def describe(state: RampState) -> str:
    current = state.current or "unversioned"
    if state.ramping is None:
        return f"current {current}, nothing ramping"
    return f"current {current}, {state.ramping} ramping at {state.percentage:g}%"
