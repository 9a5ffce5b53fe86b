"""`opsdeck executions triage`: failures grouped by signature, transient or systemic (issue 14)."""

from __future__ import annotations

from typing import Any


def add_verbs(group: Any, sub: Any) -> None:
    """Add this module's verbs to the `executions` subparsers (`sub` as in console.cli)."""
