"""Which change actions the selected rows' engines can do, and why not.

The executions view hides a key whose action no selected row's engine supports (k9s
hides what a resource cannot do) and says why when it is pressed anyway. No textual
imports here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from console.model import Capability, ExecutionRef
from console.ports import WorkflowEngine

# Action name (the binding's action) -> the capability it needs.
ACTION_CAPABILITY = {
    "retry": Capability.RETRY,
    "retry_activity": Capability.RETRY,
    "cancel": Capability.CANCEL,
    "terminate": Capability.TERMINATE,
    "signal": Capability.SIGNAL,
}
CHANGE_ACTIONS = frozenset(ACTION_CAPABILITY)
READ_ONLY = "read-only: changes are disabled in this context"


def why_not(engine: WorkflowEngine | None, capability: Capability) -> str | None:
    """None when the engine can (or is unknown: the runner still refuses), else why not."""
    if engine is None or capability in engine.capabilities:
        return None
    reason = engine.describe_capability(capability)
    return str(reason or f"{engine.name} cannot {capability.value}")


def split_targets(
    action: str, targets: Sequence[ExecutionRef], engines: Mapping[str, WorkflowEngine]
) -> tuple[list[ExecutionRef], dict[str, str]]:
    """Targets whose engine can do ``action``, and engine name -> why not for the rest."""
    capability = ACTION_CAPABILITY[action]
    able: list[ExecutionRef] = []
    refused: dict[str, str] = {}
    for ref in targets:
        reason = why_not(engines.get(ref.engine), capability)
        if reason is None:
            able.append(ref)
        else:
            refused[ref.engine] = reason
    return able, refused


def refusal(
    action: str,
    targets: Sequence[ExecutionRef],
    engines: Mapping[str, WorkflowEngine],
    read_only: bool,
) -> str | None:
    """Why ``action`` cannot run on any of ``targets``; None when it can run on some."""
    if action not in CHANGE_ACTIONS:
        return None
    if read_only:
        return READ_ONLY
    able, refused = split_targets(action, targets, engines)
    if able or not refused:
        return None
    return next(iter(refused.values()))
