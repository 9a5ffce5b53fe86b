"""State machine versions and aliases; rollback = UpdateStateMachineAlias.

Rollback points the alias 100% at one version (by default the newest version older
than the one the alias mostly routes to now). The plan records the routing it saw;
apply refuses if the routing changed since, then updates and reads the alias back
until the new routing shows (UpdateStateMachineAlias is eventually consistent), for
at most ``rollback-verify-timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from adapters.stepfunctions_format import as_utc, qualifier
from console.errors import BackendError, NotFound, OpsdeckError, UsageError
from console.model import ActionRequest, Outcome, PlannedCall, TargetOutcome, Version
from console.model_chaos import RampState

if TYPE_CHECKING:
    from adapters.stepfunctions import StepFunctionsEngine

ROLLBACK_CALL = "UpdateStateMachineAlias"
Routing = list[dict[str, Any]]


def _split(workflow: str) -> tuple[str, str | None]:
    name, _, alias = workflow.partition(":")
    return name, alias or None


async def _version_rows(engine: StepFunctionsEngine, machine: str) -> list[dict[str, Any]]:
    try:
        return await _listed_versions(engine, machine)
    except BackendError:
        if not engine.settings.emulator:
            raise
    # moto lacks ListStateMachineVersions: probe version ARNs 1, 2, ... instead.
    rows: list[dict[str, Any]] = []
    for number in range(1, 1001):
        try:
            desc = await engine.client.call(
                "describe_state_machine", stateMachineArn=f"{machine}:{number}"
            )
        except NotFound:
            break
        rows.append({"stateMachineVersionArn": f"{machine}:{number}",
                     "creationDate": desc.get("creationDate")})  # fmt: skip
    return rows


async def _listed_versions(engine: StepFunctionsEngine, machine: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"stateMachineArn": machine, "maxResults": 1000}
        if token:
            params["nextToken"] = token
        page = await engine.client.call("list_state_machine_versions", **params)
        rows.extend(page.get("stateMachineVersions", []))
        token = page.get("nextToken")
        if not token:
            return rows


async def _aliases(engine: StepFunctionsEngine, machine: str) -> dict[str, dict[str, Any]]:
    """alias name -> DescribeStateMachineAlias response."""
    page = await engine.client.call(
        "list_state_machine_aliases", stateMachineArn=machine, maxResults=100
    )
    result = {}
    for row in page.get("stateMachineAliases", []):
        arn = str(row["stateMachineAliasArn"])
        result[arn.rsplit(":", 1)[-1]] = await engine.client.call(
            "describe_state_machine_alias", stateMachineAliasArn=arn
        )
    return result


def _weights(routing: Routing) -> dict[str, int]:
    return {str(qualifier(r["stateMachineVersionArn"])): int(r["weight"]) for r in routing}


async def versions(engine: StepFunctionsEngine, workflow: str) -> list[Version]:
    name, only_alias = _split(workflow)
    machine = await engine.machine_arn(name)
    rows = await _version_rows(engine, machine)
    aliases = await _aliases(engine, machine)
    if only_alias is not None:
        if only_alias not in aliases:
            raise NotFound(f"state machine {name!r} has no alias {only_alias!r}")
        aliases = {only_alias: aliases[only_alias]}
    routed: dict[str, list[tuple[str, int]]] = {}
    for alias, desc in aliases.items():
        for number, weight in _weights(desc.get("routingConfiguration", [])).items():
            routed.setdefault(number, []).append((alias, weight))
    result = []
    for row in rows:
        number = str(qualifier(row["stateMachineVersionArn"]))
        routes = routed.get(number, [])
        top = max((w for _, w in routes), default=0)
        result.append(
            Version(
                deployment=name,
                version=number,
                is_current=top >= 50,
                ramping_percentage=float(top) if 0 < top < 50 else None,
                created_time=as_utc(row.get("creationDate")),
                status=", ".join(f"{a} {w}%" for a, w in routes) or None,
            )
        )
    result.sort(key=lambda v: int(v.version) if v.version.isdigit() else -1, reverse=True)
    return result


async def publish_version(
    engine: StepFunctionsEngine,
    state_machine: str,
    description: str,
    revision_id: str | None = None,
) -> str:
    """PublishStateMachineVersion of the current revision; returns the version ARN.

    ``revision_id`` guards against publishing a revision other than the one reviewed.
    Publishing the same revision again returns the existing version (AWS de-duplicates).
    """
    params: dict[str, Any] = {
        "stateMachineArn": await engine.machine_arn(state_machine),
        "description": description[:256],
    }
    if revision_id:
        params["revisionId"] = revision_id
    resp = await engine.client.call("publish_state_machine_version", **params)
    return str(resp["stateMachineVersionArn"])


def _major(routing: Routing) -> str | None:
    weights = _weights(routing)
    return max(weights, key=lambda k: weights[k]) if weights else None


async def plan_rollback(
    engine: StepFunctionsEngine, request: ActionRequest
) -> tuple[PlannedCall, list[str]]:
    workflow = request.params.get("deployment") or request.params.get("state_machine")
    if not isinstance(workflow, str) or not workflow:
        raise UsageError(
            "rollback needs params {'deployment': 'STATE_MACHINE[:ALIAS]'[, 'version': N]}"
        )
    name, alias = _split(workflow)
    alias = alias or request.params.get("alias")
    machine = await engine.machine_arn(name)
    aliases = await _aliases(engine, machine)
    if alias is None:
        if len(aliases) != 1:
            raise UsageError(
                f"state machine {name!r} has aliases {', '.join(sorted(aliases)) or 'none'}; "
                f"name one: {name}:ALIAS"
            )
        alias = next(iter(aliases))
    if alias not in aliases:
        raise NotFound(f"state machine {name!r} has no alias {alias!r}")
    desc = aliases[alias]
    routing: Routing = desc.get("routingConfiguration", [])
    current = _major(routing)
    numbers = sorted(
        (int(n) for r in await _version_rows(engine, machine)
         if (n := qualifier(r["stateMachineVersionArn"])) and n.isdigit()),
        reverse=True,
    )  # fmt: skip
    wanted = request.params.get("version")
    if wanted is None:
        older = [n for n in numbers if current is None or n < int(current)]
        if not older:
            raise UsageError(
                f"alias {name}:{alias} routes to version {current}; no older version to roll "
                f"back to (versions: {', '.join(map(str, numbers)) or 'none'})"
            )
        wanted = older[0]
    wanted = str(wanted)
    if not wanted.isdigit() or int(wanted) not in numbers:
        raise UsageError(
            f"{name} has no version {wanted}; versions: {', '.join(map(str, numbers))}"
        )
    warnings = []
    if _weights(routing) == {wanted: 100}:
        warnings.append(f"alias {alias} already routes 100% to version {wanted}")
    params = {
        "stateMachineAliasArn": f"{machine}:{alias}",
        "routingConfiguration": [{"stateMachineVersionArn": f"{machine}:{wanted}", "weight": 100}],
        "expected_routing": _weights(routing),
        "reason": request.reason,
    }
    target = f"{engine.name}:{name}/alias/{alias}"
    return PlannedCall(target, ROLLBACK_CALL, params), warnings


async def apply_rollback(engine: StepFunctionsEngine, call: PlannedCall) -> TargetOutcome:
    params = call.params
    alias_arn = str(params["stateMachineAliasArn"])
    routing: Routing = [dict(r) for r in params["routingConfiguration"]]
    wanted = _weights(routing)
    try:
        desc = await engine.client.call(
            "describe_state_machine_alias", stateMachineAliasArn=alias_arn
        )
        seen = _weights(desc.get("routingConfiguration", []))
        if seen == wanted:
            return TargetOutcome(call.target, Outcome.OK, f"already routes {_text(wanted)}")
        if seen != dict(params.get("expected_routing") or {}):
            return TargetOutcome(
                call.target,
                Outcome.FAILED,
                f"routing changed since the plan (was {_text(params.get('expected_routing'))}, "
                f"now {_text(seen)}); plan again",
            )
        await engine.client.call(
            "update_state_machine_alias",
            stateMachineAliasArn=alias_arn,
            description=f"opsdeck rollback: {params.get('reason') or 'no reason given'}"[:256],
            routingConfiguration=routing,
        )
        deadline = time.monotonic() + engine.settings.rollback_verify_timeout
        now_seen = seen
        while True:
            desc = await engine.client.call(
                "describe_state_machine_alias", stateMachineAliasArn=alias_arn
            )
            now_seen = _weights(desc.get("routingConfiguration", []))
            if now_seen == wanted or time.monotonic() >= deadline:
                break
            await asyncio.sleep(1.0)
    except OpsdeckError as e:
        return TargetOutcome(call.target, Outcome.FAILED, str(e))
    if now_seen != wanted:
        return TargetOutcome(
            call.target,
            Outcome.FAILED,
            f"update accepted but the alias still reads {_text(now_seen)} after "
            f"{engine.settings.rollback_verify_timeout:g}s (eventually consistent); check again",
            {"previous_routing": seen, "routing": now_seen},
        )
    return TargetOutcome(
        call.target,
        Outcome.OK,
        f"routing {_text(seen)} -> {_text(wanted)} (read back)",
        {"previous_routing": seen, "routing": now_seen},
    )


def _text(weights: Any) -> str:
    if not weights:
        return "nothing"
    return " + ".join(f"v{k} {v}%" for k, v in dict(weights).items())


# -- guarded rollout (console.ports.VersionRamp): alias weights between two versions -----

RAMP_CALL = ROLLBACK_CALL


async def _ramp_alias(engine: StepFunctionsEngine, workflow: str) -> str:
    """The alias ARN a ramp of ``STATE_MACHINE[:ALIAS]`` moves (the only alias if unnamed)."""
    name, alias = _split(workflow)
    machine = await engine.machine_arn(name)
    aliases = await _aliases(engine, machine)
    if alias is None and len(aliases) == 1:
        alias = next(iter(aliases))
    if alias is None:
        raise UsageError(
            f"state machine {name!r} has aliases {', '.join(sorted(aliases)) or 'none'}; "
            f"name one: {name}:ALIAS"
        )
    if alias not in aliases:
        raise NotFound(f"state machine {name!r} has no alias {alias!r}")
    return f"{machine}:{alias}"


def ramp_state(workflow: str, weights: dict[str, int], version: str) -> RampState:
    """Alias weights as a ramp of ``version`` sees them."""
    if weights.get(version) == 100:
        return RampState(workflow, version, None, 0.0)
    others = sorted((k for k in weights if k != version), key=lambda k: -weights[k])
    share = weights.get(version, 0)
    return RampState(
        workflow,
        others[0] if others else None,
        version if share else None,
        float(share),
    )


async def _alias_weights(engine: StepFunctionsEngine, alias_arn: str) -> dict[str, int]:
    desc = await engine.client.call("describe_state_machine_alias", stateMachineAliasArn=alias_arn)
    return _weights(desc.get("routingConfiguration", []))


async def ramp_routing(engine: StepFunctionsEngine, workflow: str, version: str) -> RampState:
    return ramp_state(workflow, await _alias_weights(engine, await _ramp_alias(engine, workflow)),
                      version)  # fmt: skip


async def _route(
    engine: StepFunctionsEngine,
    workflow: str,
    version: str,
    wanted: dict[str, int],
    expected: RampState,
    why: str,
) -> RampState:
    """Update the alias to ``wanted`` if it still routes as ``expected``; read it back until
    the new weights show (UpdateStateMachineAlias is eventually consistent)."""
    alias_arn = await _ramp_alias(engine, workflow)
    seen = ramp_state(workflow, await _alias_weights(engine, alias_arn), version)
    if seen != expected:
        raise BackendError(
            f"the routing of {workflow} changed under the ramp: expected {expected}, found {seen}"
        )
    machine = alias_arn.rsplit(":", 1)[0]
    await engine.client.call(
        "update_state_machine_alias",
        stateMachineAliasArn=alias_arn,
        description=f"opsdeck ramp: {why}"[:256],
        routingConfiguration=[
            {"stateMachineVersionArn": f"{machine}:{number}", "weight": weight}
            for number, weight in wanted.items()
        ],
    )
    deadline = time.monotonic() + engine.settings.rollback_verify_timeout
    while True:
        now_seen = await _alias_weights(engine, alias_arn)
        if now_seen == wanted:
            return ramp_state(workflow, now_seen, version)
        if time.monotonic() >= deadline:
            raise BackendError(
                f"update accepted but alias {workflow} still reads {_text(now_seen)} after "
                f"{engine.settings.rollback_verify_timeout:g}s (eventually consistent)"
            )
        await asyncio.sleep(1.0)


async def set_ramp(
    engine: StepFunctionsEngine,
    workflow: str,
    version: str,
    percentage: float,
    expected: RampState,
) -> RampState:
    share = int(percentage)
    if share != percentage or not 0 < share <= 100:
        raise UsageError(f"alias weights are whole percentages from 1 to 100, not {percentage:g}")
    if share < 100 and expected.current in (None, version):
        raise UsageError(f"alias {workflow} routes to no other version to ramp {version} beside")
    wanted = {version: 100} if share == 100 else {str(expected.current): 100 - share,
                                                   version: share}  # fmt: skip
    return await _route(engine, workflow, version, wanted, expected, f"{version} at {share}%")


async def restore_routing(
    engine: StepFunctionsEngine,
    workflow: str,
    version: str,
    previous: str | None,
    expected: RampState,
) -> RampState:
    if previous is None:
        raise UsageError(f"alias {workflow}: no previous version to restore")
    why = f"rollback of {version} to {previous}"
    return await _route(engine, workflow, version, {previous: 100}, expected, why)
