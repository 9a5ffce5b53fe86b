"""`executions stuck --explain` cost lines: candidates per narrowed rule, time, rate."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from adapters.temporal_stuck_scan import ScanStats
from console.cli_stuck_explain import explain_cost


def test_cost_names_each_narrowed_rule_and_the_describe_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stats = ScanStats(
        listed=10020, candidates=10020, describes=10020, histories=10, task_queues=2,
        by_rule={"no_progress": 5, "activity_retrying": 10}, seconds=15.0,
    )  # fmt: skip
    explain_cost("temporal", SimpleNamespace(stuck_stats=stats), hits=20)
    err = capsys.readouterr().err
    assert "listed 10020 running, described 10020 of 10020 candidates, read 10" in err
    assert "candidates listed per narrowed rule: activity_retrying 10, no_progress 5" in err
    assert "scan took 15.00 s; 668 describes/s" in err


def test_no_rate_from_a_handful_of_describes(capsys: pytest.CaptureFixture[str]) -> None:
    stats = ScanStats(listed=10020, candidates=10, describes=10, seconds=2.5)
    explain_cost("temporal", SimpleNamespace(stuck_stats=stats), hits=10)
    err = capsys.readouterr().err
    assert "scan took 2.50 s" in err and "describes/s" not in err


def test_engines_that_count_nothing_print_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    explain_cost("sfn", SimpleNamespace(), hits=0)
    assert capsys.readouterr().err == ""


def test_skip_not_due_is_opt_in_on_the_command_line() -> None:
    from console.cli import build_parser
    from console.cli_executions import _rules

    parser = build_parser()
    assert _rules(parser.parse_args(["executions", "stuck"])).skip_not_due is False
    args = parser.parse_args(["executions", "stuck", "--skip-not-due"])
    assert _rules(args).skip_not_due is True
