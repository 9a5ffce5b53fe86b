"""Error budgets and burn rates, as the Google SRE workbook's alerting chapter has them.

For an objective ``o`` (0.995) the error budget is the bad fraction ``1 - o`` of all
events (executions) in the window. Over any window ``w`` the burn rate is the bad
fraction seen in ``w`` divided by that budget fraction: 1 spends the budget exactly
over the SLO window, 14.4 spends 2% of a 30-day budget in one hour. An alert fires
when both its long and its short window burn faster than its threshold (the short
one makes it stop soon after the burning stops). No events in a window: burn 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from console.config_slo import BurnAlert


@dataclass(frozen=True)
class Counts:
    """Good and total events (executions) over one window."""

    good: float
    total: float

    @property
    def bad(self) -> float:
        return max(0.0, self.total - self.good)

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.good + other.good, self.total + other.total)


def ratio(counts: Counts) -> float | None:
    """The good fraction; None without events."""
    return counts.good / counts.total if counts.total > 0 else None


def burn_rate(counts: Counts, objective: float) -> float:
    """Bad fraction over the budget fraction; 0 without events."""
    if counts.total <= 0:
        return 0.0
    return (counts.bad / counts.total) / (1.0 - objective)


@dataclass(frozen=True)
class Budget:
    left: float  # fraction of the window's budget not spent: 1 untouched, < 0 overspent
    left_count: float  # bad events the window can still take (negative: over by that many)
    allowed: float  # bad events the objective allows over the window's total


def budget(counts: Counts, objective: float) -> Budget:
    allowed = (1.0 - objective) * counts.total
    if counts.total <= 0:
        return Budget(left=1.0, left_count=0.0, allowed=0.0)
    return Budget(left=1.0 - counts.bad / allowed, left_count=allowed - counts.bad, allowed=allowed)


@dataclass(frozen=True)
class AlertState:
    state: str  # "none" | "ticket" | "page"
    reason: str


def alert_state(
    alerts: Sequence[BurnAlert], burns: Mapping[float, float], label: Mapping[float, str]
) -> AlertState:
    """The most severe alert that fires (page before ticket) and why.

    ``burns`` maps a window's length in seconds to its burn rate; ``label`` names it.
    """
    for severity in ("page", "ticket"):
        for alert in alerts:
            if alert.severity != severity:
                continue
            long_burn, short_burn = burns[alert.long_s], burns[alert.short_s]
            if long_burn > alert.burn_rate and short_burn > alert.burn_rate:
                return AlertState(
                    severity,
                    f"{severity}: burn rate {long_burn:.1f} over {label[alert.long_s]} and "
                    f"{short_burn:.1f} over {label[alert.short_s]}, both above "
                    f"{alert.burn_rate:g}",
                )
    return AlertState("none", "no burn-rate alert fires")


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (p95: the smallest value at or above 95% of them)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered) - 1e-9))  # 1e-9: 0.95 * 20 is 19
    return ordered[min(rank, len(ordered)) - 1]
