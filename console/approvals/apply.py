"""What applying an approved request means, shared by `approvals apply` and the TUI.

Engine actions (retry, cancel, terminate, signal, rollback) are planned again from the
request's change and applied with the approval id: the gate compares the new plan with
the frozen one and stops if the world moved. Queue and chaos requests re-run the
command they were filed by, with ``--approval``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.model import ActionKind, ActionRequest, ExecutionRef, RefError

if TYPE_CHECKING:
    from console.approvals.store import ApprovalRequest

ENGINE_ACTIONS = frozenset({"retry", "cancel", "terminate", "signal", "rollback"})


def is_engine_action(request: ApprovalRequest) -> bool:
    return request.action in ENGINE_ACTIONS


def engine_request(request: ApprovalRequest) -> ActionRequest:
    """The ActionRequest the approved change was planned from."""
    change = request.change
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
