"""Alias weights for the chaos extension (console.ports_chaos.AliasWeights).

``set_alias_weights`` refuses a routing that changed under it (it compares with what
it read first) and returns the routing it replaced, so the rollback can restore it.
Step Functions allows at most two versions per alias, weights summing to 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from console.errors import UsageError

if TYPE_CHECKING:
    from adapters.stepfunctions import StepFunctionsEngine


def _weights(routing: list[dict[str, object]]) -> dict[str, int]:
    return {
        str(r["stateMachineVersionArn"]).rsplit(":", 1)[-1]: int(str(r["weight"])) for r in routing
    }


async def alias_weights(
    engine: StepFunctionsEngine, state_machine: str, alias: str
) -> dict[str, int]:
    machine = await engine.machine_arn(state_machine)
    desc = await engine.client.call(
        "describe_state_machine_alias", stateMachineAliasArn=f"{machine}:{alias}"
    )
    return _weights(desc.get("routingConfiguration", []))


def check_weights(weights: Mapping[str, int]) -> dict[str, int]:
    clean = {str(k): int(v) for k, v in weights.items()}
    if not 1 <= len(clean) <= 2 or sum(clean.values()) != 100:
        raise UsageError(f"alias weights {clean}: one or two versions whose weights add up to 100")
    if any(not k.isdigit() or v < 0 for k, v in clean.items()):
        raise UsageError(f"alias weights {clean}: version numbers to weights of 0..100")
    return clean


async def set_alias_weights(
    engine: StepFunctionsEngine, state_machine: str, alias: str, weights: Mapping[str, int]
) -> dict[str, int]:
    """Route ``alias`` by ``weights`` ({version: percent}); the routing it replaced."""
    wanted = check_weights(weights)
    machine = await engine.machine_arn(state_machine)
    before = await alias_weights(engine, state_machine, alias)
    await engine.client.call(
        "update_state_machine_alias",
        stateMachineAliasArn=f"{machine}:{alias}",
        description="opsdeck chaos experiment",
        routingConfiguration=[
            {"stateMachineVersionArn": f"{machine}:{version}", "weight": weight}
            for version, weight in wanted.items()
        ],
    )
    return before
