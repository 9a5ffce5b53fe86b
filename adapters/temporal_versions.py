"""Worker-deployment versions and rollback (SetWorkerDeploymentCurrentVersion).

Rollback is guarded twice: the plan records which version was current, and apply
refuses if someone changed it since (then uses the server's conflict token, so a
change racing with ours fails instead of being overwritten).
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentResponse,
    SetWorkerDeploymentCurrentVersionRequest,
)

from adapters.temporal_client import Connection
from adapters.temporal_format import enum_text, time_of
from console.errors import NotFound, OpsdeckError, UsageError
from console.model import ActionRequest, Outcome, PlannedCall, TargetOutcome, Version

ROLLBACK_CALL = "SetWorkerDeploymentCurrentVersion"


async def describe_deployment(conn: Connection, name: str) -> DescribeWorkerDeploymentResponse:
    try:
        return await conn.call(
            conn.service.describe_worker_deployment,
            DescribeWorkerDeploymentRequest(namespace=conn.namespace, deployment_name=name),
        )
    except NotFound:
        raise NotFound(
            f"no worker deployment {name!r} in namespace {conn.namespace!r}",
            hint="deployments appear once a versioned worker polls",
        ) from None


def versions_from(resp: DescribeWorkerDeploymentResponse) -> list[Version]:
    info = resp.worker_deployment_info
    routing = info.routing_config
    current = routing.current_deployment_version.build_id
    ramping = routing.ramping_deployment_version.build_id
    result = []
    for summary in info.version_summaries:
        build = summary.deployment_version.build_id or summary.version.rsplit(".", 1)[-1]
        result.append(
            Version(
                deployment=info.name,
                version=build,
                is_current=bool(current) and build == current,
                ramping_percentage=(
                    float(routing.ramping_version_percentage)
                    if ramping and build == ramping
                    else None
                ),
                created_time=time_of(summary, "create_time"),
                status=enum_text(
                    WorkerDeploymentVersionStatus.Name(summary.status),
                    "WORKER_DEPLOYMENT_VERSION_STATUS_",
                ),
            )
        )
    result.sort(key=lambda v: (v.created_time is None, v.created_time), reverse=True)
    return result


async def versions(conn: Connection, deployment: str) -> list[Version]:
    return versions_from(await describe_deployment(conn, deployment))


def _previous_build(resp: DescribeWorkerDeploymentResponse, current: str) -> str | None:
    """The version that was current most recently before the current one."""
    candidates = [
        (time_of(s, "last_current_time"), s.deployment_version.build_id)
        for s in resp.worker_deployment_info.version_summaries
        if s.deployment_version.build_id != current and s.HasField("last_current_time")
    ]
    return max(candidates)[1] if candidates else None


def deployment_target(engine: str, namespace: str, deployment: str) -> str:
    return f"{engine}:{namespace}/deployment/{deployment}"


async def plan_rollback(conn: Connection, request: ActionRequest) -> tuple[PlannedCall, list[str]]:
    deployment = request.params.get("deployment")
    if not isinstance(deployment, str) or not deployment:
        raise UsageError("rollback needs params {'deployment': NAME[, 'version': BUILD_ID]}")
    resp = await describe_deployment(conn, deployment)
    current = resp.worker_deployment_info.routing_config.current_deployment_version.build_id
    wanted = request.params.get("version") or _previous_build(resp, current)
    known = [v.version for v in versions_from(resp)]
    if not wanted:
        raise UsageError(
            f"deployment {deployment!r} has no previous current version; name one of: "
            f"{', '.join(known)}"
        )
    if wanted not in known:
        raise UsageError(
            f"deployment {deployment!r} has no version {wanted!r}; known: {', '.join(known)}"
        )
    warnings = []
    if wanted == current:
        warnings.append(f"{wanted} is already the current version of {deployment}")
    params: dict[str, Any] = {
        "deployment": deployment,
        "build_id": wanted,
        "expected_current": current or None,
        "reason": request.reason,
        "identity": conn.identity,
    }
    if request.params.get("allow_no_pollers"):
        params["allow_no_pollers"] = True
    target = deployment_target(conn.engine, conn.namespace, deployment)
    return PlannedCall(target, ROLLBACK_CALL, params), warnings


async def apply_rollback(conn: Connection, call: PlannedCall) -> TargetOutcome:
    params = call.params
    deployment, wanted = str(params["deployment"]), str(params["build_id"])
    try:
        resp = await describe_deployment(conn, deployment)
        current = resp.worker_deployment_info.routing_config.current_deployment_version.build_id
        if current == wanted:
            return TargetOutcome(call.target, Outcome.OK, f"{wanted} is current")
        if (current or None) != params.get("expected_current"):
            return TargetOutcome(
                call.target,
                Outcome.FAILED,
                f"current version changed since the plan (was {params.get('expected_current')},"
                f" now {current or 'unversioned'}); plan again",
            )
        await conn.call(
            conn.service.set_worker_deployment_current_version,
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=conn.namespace,
                deployment_name=deployment,
                build_id=wanted,
                conflict_token=resp.conflict_token,
                identity=conn.identity,
                allow_no_pollers=bool(params.get("allow_no_pollers")),
            ),
            retry=False,
        )
    except OpsdeckError as e:
        return TargetOutcome(call.target, Outcome.FAILED, str(e))
    return TargetOutcome(
        call.target,
        Outcome.OK,
        f"current version of {deployment}: {current or 'unversioned'} -> {wanted}",
        {"previous_build_id": current, "build_id": wanted},
    )
