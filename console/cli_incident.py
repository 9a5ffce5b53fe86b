"""`opsdeck incident start|note|close|list|show|report` (issue 15)."""

from __future__ import annotations

from typing import Any


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `verbs` subparsers (`sub` as in console.cli)."""
