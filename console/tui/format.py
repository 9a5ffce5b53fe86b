"""Pure helpers for the TUI: relative times, row filters, `:` commands.

No textual imports here, so these are cheap to import and test on their own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from console.model import HistoryEvent


def relative_time(when: datetime | None, now: datetime) -> str:
    """Compact age like k9s shows it: ``42s ago``, ``5m ago``, ``3h ago``, ``2d ago``.

    A time still ahead (a next retry, a timer) reads ``in 40s``; it is rounded up, so
    one a fraction of a second away never reads as ``0s ago``.
    """
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    ahead = (when - now).total_seconds()
    if ahead > 0:
        return f"in {_amount(math.ceil(ahead))}"
    return f"{_amount(int(-ahead))} ago"


def _amount(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def parse_time(text: str | None) -> datetime | None:
    """An ISO-8601 timestamp as the journals write it (``...Z``); None if unreadable."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def next_retry_text(when: datetime | None, now: datetime) -> str:
    """``in 3s``; ``due now`` once the time has passed (the server is starting the
    attempt: "2s ago" would read as if a retry had been missed); ``-`` when none."""
    if when is None:
        return "-"
    return "due now" if when <= now else relative_time(when, now)


def attempt_text(attempt: int, maximum: int | None) -> str:
    """``7 / 10``; ``7 (no limit)`` when the retry policy has none (maximum 0, as the
    model says); just ``7`` when the engine does not know the maximum (None)."""
    if maximum:
        return f"{attempt} / {maximum}"
    if maximum == 0:
        return f"{attempt} (no limit)"
    return str(attempt)


# Temporal closes the reset run's last workflow task with this cause: it records an
# operator's reset, it is not something that failed.
RESET_CAUSE = "RESET_WORKFLOW"
RESET_FAILURE_TEXT = "workflow task failed: reset workflow"


def is_reset_record(event: HistoryEvent) -> bool:
    if event.event_type != "WorkflowTaskFailed":
        return False
    cause = str(event.details.get("cause", ""))
    return cause.endswith(RESET_CAUSE) or event.summary.startswith("reset workflow")


def counts_as_failure(event: HistoryEvent) -> bool:
    return event.is_failure and not is_reset_record(event)


def is_reset_failure_text(text: str | None) -> bool:
    """A describe "last failure" that is only the record of a reset."""
    return bool(text) and str(text).startswith(RESET_FAILURE_TEXT)


def clock_time(when: datetime | None) -> str:
    """Absolute timestamp in UTC, second precision."""
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


@dataclass(frozen=True)
class RowFilter:
    """A k9s-style filter: a case-insensitive regex (plain substring when the text is
    not a valid regex); a leading ``!`` keeps the rows that do NOT match."""

    text: str = ""

    @property
    def inverse(self) -> bool:
        return self.text.startswith("!")

    @property
    def pattern(self) -> str:
        return self.text[1:] if self.inverse else self.text

    @property
    def active(self) -> bool:
        return bool(self.pattern)

    def _regex(self) -> re.Pattern[str]:
        try:
            return re.compile(self.pattern, re.IGNORECASE)
        except re.error:
            return re.compile(re.escape(self.pattern), re.IGNORECASE)

    def matches(self, fields: Iterable[str]) -> bool:
        if not self.active:
            return True
        regex = self._regex()
        hit = any(regex.search(value) for value in fields if value)
        return hit != self.inverse


@dataclass(frozen=True)
class Command:
    """One parsed `:` command."""

    name: str
    argument: str = ""


# Aliases accepted in command mode, k9s style; each maps to a canonical command name.
COMMAND_ALIASES = {
    "q": "quit",
    "q!": "quit",
    "quit": "quit",
    "exit": "quit",
    "stuck": "stuck",
    "slo": "slo",
    "slos": "slo",
    "triage": "triage",
    "tr": "triage",
    "all": "all",
    "executions": "all",
    "wf": "all",
    "ctx": "ctx",
    "context": "ctx",
    "refresh": "refresh",
    "help": "help",
    "filter": "filter",
    "runbooks": "runbooks",
    "rb": "runbooks",
    "corr": "corr",
    "correlate": "corr",
    "dlq": "dlq",
    "dlqs": "dlq",
    "chaos": "chaos",
    "cx": "chaos",
    "approvals": "approvals",
    "ap": "approvals",
    "drills": "drills",
    "drill": "drills",
}

COMMAND_HELP = {
    "all": "show all executions (leave stuck-only mode)",
    "stuck": "show stuck executions only, with rule and evidence",
    "slo": "SLOs: value, error budget left, burn rates, alerts, trend",
    "triage [SINCE] [QUERY]": "failure groups since 1h (or SINCE): systemic or transient, why",
    "ctx NAME": "switch to another context of the config file",
    "corr ID": "correlate a trace id, traceparent, execution ref or workflow id",
    "runbooks [NAME]": "runbooks: guided runs, and journaled runs to resume",
    "dlq": "dead-letter queues: depth, messages, drain",
    "chaos [NAME]": "chaos experiments: plans, runs with live progress, reports, rollbacks",
    "approvals [ID]": "approval requests: approve, deny, apply an approved change",
    "drills": "training drills in the sandbox: start, hints, check, stop",
    "refresh [SECONDS|off]": "refresh now, or set / stop the auto-refresh interval",
    "filter TEXT": "same as /TEXT",
    "help": "list the key bindings",
    "q": "quit",
}


class CommandError(ValueError):
    """A `:` command that is not understood; the message lists what is."""


def parse_command(text: str) -> Command:
    text = text.strip().lstrip(":").strip()
    if not text:
        raise CommandError("empty command")
    word, _, rest = text.partition(" ")
    name = COMMAND_ALIASES.get(word.lower())
    if name is None:
        known = ", ".join(sorted(COMMAND_HELP))
        raise CommandError(f"unknown command {word!r}; known: {known}")
    return Command(name, rest.strip())
