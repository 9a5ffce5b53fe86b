"""`opsdeck slo list|show`: service-level objectives per context (issue 14)."""

from __future__ import annotations

from typing import Any


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `verbs` subparsers (`sub` as in console.cli)."""
