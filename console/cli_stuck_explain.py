"""`executions stuck --explain`: how each rule is answered and what the scan cost.

Written to stderr, so stdout stays the hits in the chosen format. Engines that can say
how they narrow (``explain_stuck``) and count their scans (``stuck_stats``) do; others
are reported as scanning every running execution.
"""

from __future__ import annotations

import sys
from typing import Any

from console.model import StuckRules


def explain_plan(name: str, engine: Any, rules: StuckRules) -> None:
    explain = getattr(engine, "explain_stuck", None)
    if explain is None:
        print(f"{name}: every rule looks at every running execution", file=sys.stderr)
        return
    for rule, how in explain(rules).items():
        print(f"{name}: {rule}: {how}", file=sys.stderr)


def explain_cost(name: str, engine: Any, hits: int) -> None:
    stats = getattr(engine, "stuck_stats", None)
    if stats is None:
        return
    print(
        f"{name}: listed {stats.listed} running, described {stats.describes} of "
        f"{stats.candidates} candidates, read {stats.histories} histories, "
        f"{stats.task_queues} task queues; {hits} hits",
        file=sys.stderr,
    )
    for note in stats.fallbacks:
        print(f"{name}: {note}", file=sys.stderr)
