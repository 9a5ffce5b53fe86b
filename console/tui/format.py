"""Pure helpers for the TUI: relative times, row filters, `:` commands.

No textual imports here, so these are cheap to import and test on their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def relative_time(when: datetime | None, now: datetime) -> str:
    """Compact age like k9s shows it: ``42s ago``, ``5m ago``, ``3h ago``, ``2d ago``."""
    if when is None:
        return "-"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int((now - when).total_seconds())
    suffix = "ago"
    if seconds < 0:
        seconds, suffix = -seconds, "from now"
    if seconds < 60:
        amount = f"{seconds}s"
    elif seconds < 3600:
        amount = f"{seconds // 60}m"
    elif seconds < 86400:
        amount = f"{seconds // 3600}h"
    else:
        amount = f"{seconds // 86400}d"
    return f"{amount} {suffix}"


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
}

COMMAND_HELP = {
    "all": "show all executions (leave stuck-only mode)",
    "stuck": "show stuck executions only, with rule and evidence",
    "ctx NAME": "switch to another context of the config file",
    "corr ID": "correlate a trace id, traceparent, execution ref or workflow id",
    "runbooks [NAME]": "runbooks: guided runs, and journaled runs to resume",
    "dlq": "dead-letter queues: depth, messages, drain",
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
