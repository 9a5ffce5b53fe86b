"""`executions stuck --explain`: how each rule is answered and what the scan cost.

Before the scan, each rule's way (visibility, or a describe per running execution);
after it, what it cost: listed, described, candidates per narrowed rule, time and the
describe rate, which is what a describe-every-execution rule costs on that server.

Written to stderr, so stdout stays the hits in the chosen format. Engines that can say
how they narrow (``explain_stuck``) and count their scans (``stuck_stats``) do; others
are reported as scanning every running execution.
"""

from __future__ import annotations

import sys
from typing import Any

from console.model import StuckRules

RATE_FROM = 200


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
    path = getattr(stats, "no_pollers_path", "")
    if path:
        print(f"{name}: no_pollers: {path}", file=sys.stderr)
    by_rule = getattr(stats, "by_rule", None)
    if by_rule:
        counted = ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items()))
        print(f"{name}: candidates listed per narrowed rule: {counted}", file=sys.stderr)
    seconds = getattr(stats, "seconds", 0.0)
    if seconds:
        # Over a few describes the list dominates: a rate means something from hundreds.
        rate = stats.describes / seconds if stats.describes >= RATE_FROM else 0.0
        line = f"{name}: scan took {seconds:.2f} s"
        if rate:
            line += (
                f"; {rate:,.0f} describes/s (a rule that describes every running "
                f"execution costs about listed / {rate:,.0f} s on this server)"
            )
        print(line, file=sys.stderr)
    for note in stats.fallbacks:
        print(f"{name}: {note}", file=sys.stderr)
