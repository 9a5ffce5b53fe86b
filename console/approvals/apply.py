"""What applying an approved request means, shared by `approvals apply` and the TUI.

Engine actions (retry, cancel, terminate, signal, rollback) are planned again from the
request's change and applied with the approval id: the gate compares the new plan with
the frozen one and stops if the world moved. Queue and chaos requests re-run the
command they were filed by, with ``--approval``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from console.errors import UsageError
from console.model import ActionKind, ActionRequest, ExecutionRef, RefError

if TYPE_CHECKING:
    from console.approvals.store import ApprovalRequest

ENGINE_ACTIONS = frozenset({"retry", "cancel", "terminate", "signal", "rollback"})


def is_engine_action(request: ApprovalRequest) -> bool:
    return request.action in ENGINE_ACTIONS


def masked_paths(value: Any, path: str = "") -> list[str]:
    """Where a frozen value holds the mask (PII or secrets): its real value is not kept."""
    from console.audit import MASK

    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in masked_paths(v, f"{path}{k}.")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in masked_paths(v, f"{path}{i}.")]
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            return masked_paths(json.loads(value), path)  # a raw JSON input, masked inside
        except ValueError:
            return []
    return [path.rstrip(".")] if value == MASK else []


def engine_request(request: ApprovalRequest) -> ActionRequest:
    """The ActionRequest the approved change was planned from.

    A request filed with masked parameters cannot be rebuilt from what was kept: the
    applier gives them again by re-running the change with ``--approval``, and the
    frozen plan's digest of the real values proves they are the ones approved.
    """
    change = request.change
    hidden = masked_paths(change.get("params") or {})
    if hidden:
        raise UsageError(
            f"request {request.id} was filed with masked parameters ({', '.join(hidden)}): "
            "their values are not kept, so it cannot be applied from the request alone",
            hint=f"run the original command again with --approval {request.id}",
        )
    refs = []
    for target in change.get("targets") or ():
        try:
            refs.append(ExecutionRef.parse(str(target)))
        except RefError:
            continue  # a rollback's target is its deployment, carried in params
    return ActionRequest(
        ActionKind(request.action),
        tuple(refs) if request.action != "rollback" else (),
        str(change.get("reason") or ""),
        dict(change.get("params") or {}),
    )
