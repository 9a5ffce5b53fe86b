"""`opsdeck sandbox drill list|start|status|check|stop` (issue 15)."""

from __future__ import annotations

from typing import Any


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `sandbox` subparsers (`sub` as in console.cli)."""
