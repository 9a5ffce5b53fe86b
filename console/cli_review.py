"""`opsdeck audit review --since 90d`: actions used per identity, and grants never used."""

from __future__ import annotations

import argparse
from pathlib import Path

from console.cli_common import output_format, parse_since
from console.output import emit


def cmd_review(args: argparse.Namespace) -> int:
    from console.audit import AuditJournal
    from console.config import load_config
    from console.policy.gate import PolicyGate
    from console.policy.model import ChangeRequest, Decision, Identity
    from console.policy.review import review

    config = load_config(_config_path(args))
    journal = AuditJournal(pii_fields=config.pii_fields)
    try:
        records = journal.list(None, since=parse_since(args.since))
    finally:
        journal.close()
    gates: dict[str, PolicyGate] = {}

    def decide(context: str, identity: Identity, change: ChangeRequest) -> Decision:
        if context not in gates:
            gates[context] = PolicyGate(config, config.contexts[context])
        return gates[context].decide(change, identity=identity)

    reviews = [r.as_dict() for r in review(records, list(config.contexts), decide)]
    fmt = output_format(args)
    if fmt != "table":
        emit({"since": args.since, "records": len(records), "identities": reviews}, fmt)
        return 0

    def names(items: list[dict[str, str]]) -> str:
        return ", ".join(f"{i['action']}@{i['context']}" for i in items) or "-"

    rows = [
        {
            "identity": r["identity"] + ("" if r["verified"] else " (unverified)"),
            "groups": ", ".join(r["groups"]) or "-",
            "used": ", ".join(f"{u['action']}@{u['context']} x{u['count']}" for u in r["used"]),
            "unused": names(r["unused"]),
        }
        for r in reviews
    ]
    emit(
        rows,
        fmt,
        columns=[
            ("IDENTITY", "identity"),
            ("GROUPS", "groups"),
            ("USED", "used"),
            ("GRANTED, NEVER USED", "unused"),
        ],
        empty=f"No audit records since {args.since}.",
    )
    return 0


def _config_path(args: argparse.Namespace) -> Path | None:
    return Path(args.config) if getattr(args, "config", None) else None
