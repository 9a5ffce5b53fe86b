"""Approval requests in $XDG_DATA_HOME/opsdeck/approvals.db or the team store.

A change the policy marks "approve" is filed here with its frozen plan and that plan's
hash. Rules, each a clear refusal: nobody approves their own request; an approver must
be in one of the request's approver groups when it names any; one person counts once;
a deny by anyone (the requester withdrawing included) ends it; a request expires at
``expires_at``; an approved request is applied once (``mark_applied`` is single use).
Every state change runs in one serialized store transaction (SQLite ``BEGIN
IMMEDIATE``, PostgreSQL an advisory lock), so two approvers or two appliers at the same
moment cannot both win.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import NotFound, PolicyDenied, UsageError
from console.sqlite_journal import data_dir, now_text
from console.stores.migrations import Schema, Step

if TYPE_CHECKING:
    from console.policy.model import ChangeRequest, Decision, Identity
    from console.stores.port import Database

_SQLITE_V1 = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    requester TEXT NOT NULL,
    requester_identity TEXT NOT NULL,
    context TEXT NOT NULL,
    action TEXT NOT NULL,
    engine TEXT NOT NULL,
    change TEXT NOT NULL,
    plan TEXT NOT NULL,
    plan_hash TEXT NOT NULL,
    decision TEXT NOT NULL,
    needed INTEGER NOT NULL,
    approver_groups TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    command TEXT,
    applied_by TEXT,
    applied_at TEXT
);
CREATE TABLE IF NOT EXISTS verdicts (
    request_id TEXT NOT NULL REFERENCES requests(id),
    user TEXT NOT NULL,
    identity TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (request_id, user, verdict)
);
"""

# ``user`` is a reserved word in PostgreSQL; quoted, both dialects read it the same.
_POSTGRES_V1 = (
    _SQLITE_V1.replace("IF NOT EXISTS ", "")
    .replace("    user TEXT", '    "user" TEXT')
    .replace("(request_id, user, verdict)", '(request_id, "user", verdict)')
)

SCHEMA = Schema("approvals", (Step(1, _SQLITE_V1, _POSTGRES_V1),))


def plan_hash(plan: Mapping[str, Any]) -> str:
    """sha256 over the plan's canonical JSON (key order does not matter)."""
    import hashlib

    text = json.dumps(plan, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """What changed between a frozen plan and the plan made now, in one sentence."""
    old_calls = {str(c.get("target")): c for c in old.get("calls") or ()}
    new_calls = {str(c.get("target")): c for c in new.get("calls") or ()}
    parts = [
        f"target {t} is no longer in the plan (closed, or not the latest run)"
        for t in sorted(set(old_calls) - set(new_calls))
    ]
    parts += [f"target {t} is new in the plan" for t in sorted(set(new_calls) - set(old_calls))]
    for target in sorted(set(old_calls) & set(new_calls)):
        before, after = old_calls[target], new_calls[target]
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                parts.append(
                    f"{target}: {key} was {_short(before.get(key))}, now {_short(after.get(key))}"
                )
    for key in sorted((set(old) | set(new)) - {"calls"}):
        if old.get(key) != new.get(key):
            parts.append(f"{key} was {_short(old.get(key))}, now {_short(new.get(key))}")
    return "; ".join(parts) or "the plan's hash differs"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class Verdict:
    user: str
    verdict: str  # approve | deny
    reason: str
    time: str
    identity: Mapping[str, Any]


@dataclass(frozen=True)
class ApprovalRequest:
    id: str
    created: str
    requester: str
    requester_identity: Mapping[str, Any]
    context: str
    action: str
    engine: str
    change: Mapping[str, Any]
    plan: Mapping[str, Any]
    plan_hash: str
    decision: Mapping[str, Any]
    needed: int
    approver_groups: tuple[str, ...]
    expires_at: str
    command: tuple[str, ...] | None
    applied_by: str | None
    applied_at: str | None
    verdicts: tuple[Verdict, ...] = ()

    @property
    def approvals(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.verdict == "approve"]

    @property
    def denial(self) -> Verdict | None:
        return next((v for v in self.verdicts if v.verdict == "deny"), None)

    def status_at(self, now: datetime) -> str:
        if self.applied_at:
            return "applied"
        if self.denial is not None:
            return "denied"
        if now >= datetime.fromisoformat(self.expires_at.replace("Z", "+00:00")):
            return "expired"
        return "approved" if len(self.approvals) >= self.needed else "pending"

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status_at(now or datetime.now(UTC)),
            "created": self.created,
            "requester": self.requester,
            "requester_identity": dict(self.requester_identity),
            "context": self.context,
            "action": self.action,
            "engine": self.engine,
            "targets": list(self.change.get("targets") or ()),
            "reason": self.change.get("reason", ""),
            "decision": dict(self.decision),
            "needed": self.needed,
            "approver_groups": list(self.approver_groups),
            "approvals": [
                {"user": v.user, "time": v.time, "reason": v.reason} for v in self.approvals
            ],
            "denied": (
                {"user": d.user, "time": d.time, "reason": d.reason} if (d := self.denial) else None
            ),
            "expires_at": self.expires_at,
            "plan_hash": self.plan_hash,
            "plan": dict(self.plan),
            "command": list(self.command) if self.command else None,
            "applied_by": self.applied_by,
            "applied_at": self.applied_at,
        }


class ApprovalStore:
    def __init__(self, path: Path | None = None, *, store: Database | None = None) -> None:
        """``path``: this SQLite file; ``store``: this open store; neither: the configured
        store, else the default file."""
        self._explicit_path = path
        self.path = path or data_dir() / "approvals.db"
        self._db: Database | None = store
        self._lock = threading.Lock()

    @property
    def db(self) -> Database:
        if self._db is None:
            from console.stores.settings import open_store

            self._db = open_store("approvals", self._explicit_path)
        return self._db

    @property
    def location(self) -> str:
        return self.db.location

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def _tx(self) -> Iterator[Database]:
        with self._lock:
            db = self.db
            with db.transaction():
                yield db

    def create(
        self,
        *,
        context: str,
        change: ChangeRequest,
        plan: Mapping[str, Any],
        decision: Decision,
        requester: Identity,
        expires_in: int,
        command: list[str] | None = None,
    ) -> ApprovalRequest:
        from dataclasses import asdict

        request_id = f"apr-{secrets.token_hex(4)}"
        expires = datetime.now(UTC) + timedelta(seconds=expires_in)
        change_data = asdict(change)
        change_data["targets"] = list(change.targets)
        with self._tx() as db:
            db.execute(
                "INSERT INTO requests (id, created, requester, requester_identity, context, "
                "action, engine, change, plan, plan_hash, decision, needed, approver_groups, "
                "expires_at, command) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    request_id,
                    now_text(),
                    requester.user,
                    json.dumps(requester.as_input()),
                    context,
                    change.action,
                    change.engine,
                    json.dumps(change_data, default=str),
                    json.dumps(plan, default=str),
                    plan_hash(plan),
                    json.dumps(decision.as_dict()),
                    max(decision.approvals, 1),
                    json.dumps(list(decision.approver_groups)),
                    expires.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    json.dumps(command) if command else None,
                ),
            )
        return self.get(request_id)

    def get(self, request_id: str) -> ApprovalRequest:
        rows = self.db.execute("SELECT * FROM requests WHERE id = ?", (request_id,))
        if not rows:
            raise NotFound(
                f"no approval request {request_id!r}", hint="`opsdeck approvals list --all`"
            )
        return self._request(rows[0])

    def list(self, *, include_closed: bool = False) -> list[ApprovalRequest]:
        rows = self.db.execute("SELECT * FROM requests ORDER BY created DESC")
        found = [self._request(r) for r in rows]
        if include_closed:
            return found
        now = datetime.now(UTC)
        return [r for r in found if r.status_at(now) in ("pending", "approved")]

    def approve(self, request_id: str, identity: Identity, reason: str = "") -> ApprovalRequest:
        return self._verdict(request_id, identity, "approve", reason)

    def deny(self, request_id: str, identity: Identity, reason: str) -> ApprovalRequest:
        if not reason.strip():
            raise UsageError("a denial needs a reason (--reason)")
        return self._verdict(request_id, identity, "deny", reason)

    def _verdict(
        self, request_id: str, identity: Identity, verdict: str, reason: str
    ) -> ApprovalRequest:
        with self._tx() as db:
            request = self.get(request_id)
            status = request.status_at(datetime.now(UTC))
            if status not in ("pending", "approved") or (
                verdict == "approve" and status == "approved"
            ):
                raise UsageError(f"request {request_id} is {status}; nothing to {verdict}")
            if verdict == "approve":
                if identity.user == request.requester:
                    raise PolicyDenied(
                        f"{identity.user} filed request {request_id} and cannot approve "
                        "their own request",
                        hint="a second person approves (their login or OPSDECK_IDENTITY)",
                    )
                groups = set(request.approver_groups)
                if groups and not groups & set(identity.groups):
                    raise PolicyDenied(
                        f"{identity.user} is not in {', '.join(sorted(groups))}, who approve "
                        f"request {request_id} (groups: {', '.join(identity.groups) or 'none'})"
                    )
            db.execute(
                "INSERT INTO verdicts VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                (
                    request_id,
                    identity.user,
                    json.dumps(identity.as_input()),
                    verdict,
                    reason,
                    now_text(),
                ),
            )
        return self.get(request_id)

    def mark_applied(self, request_id: str, identity: Identity) -> ApprovalRequest:
        with self._tx() as db:
            request = self.get(request_id)
            if request.applied_at:
                raise PolicyDenied(
                    f"request {request_id} was already applied at {request.applied_at} "
                    f"by {request.applied_by}; an approval is used once"
                )
            status = request.status_at(datetime.now(UTC))
            if status != "approved":
                raise PolicyDenied(f"request {request_id} is {status}; nothing applied")
            db.execute(
                "UPDATE requests SET applied_by = ?, applied_at = ? WHERE id = ?",
                (identity.user, now_text(), request_id),
            )
        return self.get(request_id)

    def _request(self, row: Any) -> ApprovalRequest:
        verdicts = self.db.execute(
            "SELECT * FROM verdicts WHERE request_id = ? ORDER BY time", (row["id"],)
        )
        return ApprovalRequest(
            id=row["id"],
            created=row["created"],
            requester=row["requester"],
            requester_identity=json.loads(row["requester_identity"]),
            context=row["context"],
            action=row["action"],
            engine=row["engine"],
            change=json.loads(row["change"]),
            plan=json.loads(row["plan"]),
            plan_hash=row["plan_hash"],
            decision=json.loads(row["decision"]),
            needed=int(row["needed"]),
            approver_groups=tuple(json.loads(row["approver_groups"])),
            expires_at=row["expires_at"],
            command=tuple(json.loads(row["command"])) if row["command"] else None,
            applied_by=row["applied_by"],
            applied_at=row["applied_at"],
            verdicts=tuple(
                Verdict(v["user"], v["verdict"], v["reason"], v["time"], json.loads(v["identity"]))
                for v in verdicts
            ),
        )
