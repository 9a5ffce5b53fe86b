"""`opsdeck versions ramp`: a guarded rollout with automatic rollback (issue 14)."""

from __future__ import annotations

from typing import Any


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `versions` subparsers (`sub` as in console.cli)."""
