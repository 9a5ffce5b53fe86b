"""Remediation steps for experiments (``type: python``, ``module: chaos.remediation``).

An experiment can prove that opsdeck's own remediation copes with the fault it injects:
these run the same code as the CLI (``opsdeck dlq drain``), with its policy check,
archive, journal and ONE audit record (``dlq.drain``, carrying the run id). They are
not faults, so they have no rollback: what they do is the fix (a drain archives every
message before it moves it, see docs/dlq.md).
"""

from __future__ import annotations

import uuid
from typing import Any

from chaos import _context as ctx
from chaos._context import Configuration

__all__ = ["drain_dlq"]


def drain_dlq(
    queue: str,
    destination: str = "original",
    max_redrives: int = 3,
    parking_queue: str | None = None,
    backend: str | None = None,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Drain DLQ ``queue`` as `opsdeck dlq drain` does: redrive to ``destination``
    (``original``: each message's own queue), park a message already redriven
    ``max_redrives`` times (or with no original queue) in ``parking_queue`` (default
    ``QUEUE.parking``); every message is archived first. The drain's report."""
    from console.actions.drain import DrainSpec
    from console.actions.drain_service import pick_queue_backend, run_drain, session_queues

    session, run = ctx.session_and_run(configuration)
    picked = pick_queue_backend(session_queues(session), backend, session.context.name)
    spec = DrainSpec(
        adapter=picked.name,
        queue=queue,
        destination=destination,
        max_redrives=max_redrives,
        parking_queue=parking_queue,
    )
    drain_id = f"drain-{uuid.uuid4().hex[:12]}"
    reason = f"chaos experiment {run.experiment!r} (run {run.run_id})"
    report, audit_id = run_drain(
        session, picked, spec, drain_id=drain_id, reason=reason, run_id=run.run_id
    )
    data = dict(report.as_dict())
    data["audit_id"] = audit_id
    data["exit_code"] = report.exit_code
    return data
