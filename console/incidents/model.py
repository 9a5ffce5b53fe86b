"""Incident domain types (frozen, no I/O) and the errors the incident verbs raise."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from console.errors import UsageError

SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
DEFAULT_SEVERITY = "sev3"

# Link kinds: what can be tagged with an incident besides audit records (which carry
# the incident id in their own, hash-chained, ``incident`` field).
RUNBOOK_RUN = "runbook_run"
CHAOS_RUN = "chaos_run"
CORRELATION = "correlation"
COUNTS = "counts"
LINK_KINDS = (RUNBOOK_RUN, CHAOS_RUN, CORRELATION, COUNTS, "audit", "other")


class IncidentError(UsageError):
    """Unknown incident, none open, one already open, or it is closed: exit 2."""

    title = "Incident"


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    severity: str
    status: str  # open | closed
    context: str
    opened_by: str
    opened: str  # ISO-8601 UTC
    closed: str | None = None
    closed_by: str | None = None
    summary: str = ""

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Note:
    incident_id: str
    time: str
    who: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Link:
    """Something tagged with the incident: ``ref`` is its id in its own journal."""

    incident_id: str
    time: str
    kind: str
    ref: str
    summary: str
    who: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, *, with_data: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not with_data:
            out.pop("data")
        return out
