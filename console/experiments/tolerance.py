"""Tolerance functions for SLO probes that may return no number (``type: probe``
tolerances: chaoslib passes the probe's output as ``value``)."""

from __future__ import annotations

from typing import Any


def within(value: Any = None, at_least: float | None = None, at_most: float | None = None) -> bool:
    """A number within the bounds; anything else (``None``: no data yet) is not."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return False
    return (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
