"""Who may change what: read-only contexts refuse, production contexts want a typed phrase."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.errors import Aborted, PolicyDenied
from console.model import ActionKind, ExecutionRef, Plan, RefError

if TYPE_CHECKING:
    from console.config import Context


def check_change_allowed(context: Context, *, read_only: bool) -> None:
    """PolicyDenied (exit 3) when the context or the session is read-only."""
    if context.read_only:
        raise PolicyDenied(
            f"context {context.name!r} is read-only; changes are refused",
            hint="set read-only: false for this context in the config to allow changes",
        )
    if read_only:
        raise PolicyDenied(
            "opsdeck runs in read-only mode (--read-only); changes are refused",
        )


def confirmation_phrase(context: Context, plan: Plan) -> str | None:
    """None: a yes/no is enough. Else the exact text the operator must type.

    Production contexts ask for the target's workflow id (one target), the deployment
    name (rollback), or "N executions" for many targets, as kubectl/k9s-style tools do,
    so a slip of the finger on a bulk action cannot pass.
    """
    if not context.production:
        return None
    request = plan.request
    if request.kind is ActionKind.ROLLBACK:
        deployment = request.params.get("deployment")
        if deployment:
            return str(deployment)
    targets = request.targets or tuple(_refs(plan.targets))
    if len(targets) == 1:
        return targets[0].workflow_id
    count = len(targets) or len(plan.calls)
    return f"{count} executions" if count != 1 else "1 execution"


def check_typed_confirmation(context: Context, plan: Plan, typed: str | None) -> None:
    phrase = confirmation_phrase(context, plan)
    if phrase is None:
        return
    if typed is None:
        raise PolicyDenied(
            f"context {context.name!r} is production: type {phrase!r} to confirm",
        )
    if typed.strip() != phrase:
        raise Aborted(f"typed confirmation {typed.strip()!r} does not match {phrase!r}")


def _refs(targets: tuple[str, ...]) -> list[ExecutionRef]:
    out = []
    for target in targets:
        try:
            out.append(ExecutionRef.parse(target))
        except RefError:
            continue
    return out
