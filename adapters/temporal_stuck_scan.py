"""Which running executions find_stuck must look at closely, decided from visibility.

A describe costs a round trip per execution; on 10^5 running executions describing all
takes minutes. Each rule gets only the candidates visibility cannot rule out:

- no_pollers: visibility alone, no describes: the distinct task queues in scope, one
  DescribeTaskQueue each, then the executions of the queues without live pollers
  (adapters/temporal_stuck_queues.py);
- no_progress: only executions started before ``now - threshold`` (an execution's
  newest event is never older than its start); those are described and their newest
  event read;
- workflow_task_failing: the server sets ``TemporalReportedProblems`` (category
  WorkflowTaskFailed / WorkflowTaskTimedOut) once a workflow task has failed
  ``REPORTED_AFTER`` times in a row (server 1.28+, dynamic config
  ``system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute``, default 5), so
  from attempt 6 on (measured on the dev server 1.32: attempt 5 pending, not yet set;
  attempt 6, set). With a threshold of 6 or more (the default) only those executions
  are described; below it, or where the server lacks the attribute, every running
  execution is;
- activity_retrying: no visibility field says an activity is retrying, but an activity
  exists only once a workflow task has completed (its commands schedule activities), and
  every completed workflow task stamps ``BuildIds`` on the visibility record (measured
  on 1.32: ``["unversioned"]`` even for a worker that sends no version stamp, carried
  into a reset run, set by deployment-versioned workers and for a delayed start woken
  early by signal-with-start;
  ``TemporalWorkerDeploymentVersion`` is ORed in for versioned workers). Executions
  that never completed a workflow task (a backlog nobody polls, delayed starts not yet
  due) are ruled out; every other running one is described. In production nearly all
  running executions have run a task (they wait on timers, signals, activities), and no
  visibility field tells a retrying activity (TemporalPauseInfo is for paused entities,
  TemporalReportedProblems for workflow tasks): this rule costs a describe each.

``ExecutionTime`` cannot rule out workflow_task_failing below the reported threshold: a
signal-with-start dispatches a delayed workflow's first task at once and leaves
``ExecutionTime`` (and every other visibility field) as it was (measured on 1.32).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.temporal_format import human_duration
from adapters.temporal_visibility import quote
from console.model import StuckRule, StuckRules

REPORTED_AFTER = 5
# no_pollers (adapters/temporal_stuck_queues.py): a scope this small is answered by its
# first page; past QUEUE_CAP distinct task queues the whole running list is read.
PROBE_PAGE = 100
QUEUE_CAP = 200
DUE_MARGIN = timedelta(minutes=5)
REPORTED_PROBLEMS = (
    "TemporalReportedProblems IN ('category=WorkflowTaskFailed', 'category=WorkflowTaskTimedOut')"
)
# Set by the server when a workflow task completes (see above): only then can an
# activity have been scheduled.
COMPLETED_A_TASK = "(BuildIds IS NOT NULL OR TemporalWorkerDeploymentVersion IS NOT NULL)"
# Rules whose narrowing clause a server may not know (older versions reject the query):
# those fall back to describing every running execution.
OPTIONAL_NARROWING = frozenset({StuckRule.ACTIVITY_RETRYING, StuckRule.WORKFLOW_TASK_FAILING})
# What one describe per running execution costs (bench/RESULTS.md, issue 13).
DESCRIBE_COST = (
    "2-3.5 ms of server CPU each: 10,000 running took 15-50 s on a shared 2-core dev "
    "server; the cost line after the scan gives this server's rate"
)
DESCRIBE_RULES = frozenset(
    {StuckRule.ACTIVITY_RETRYING, StuckRule.WORKFLOW_TASK_FAILING, StuckRule.NO_PROGRESS}
)


@dataclass(frozen=True)
class ScanPlan:
    """What a scan lists and describes; ``narrowed`` maps a rule to its candidates' clause."""

    list_all: bool
    describe_all: bool
    narrowed: dict[StuckRule, str]
    how: dict[StuckRule, str]


@dataclass
class ScanStats:
    """Counted during one scan: what it cost the server."""

    listed: int = 0
    candidates: int = 0
    describes: int = 0
    histories: int = 0
    task_queues: int = 0
    queue_probes: int = 0  # no_pollers' visibility queries for the distinct task queues
    no_pollers_path: str = ""  # how no_pollers got its executions (temporal_stuck_queues)
    fallbacks: list[str] = field(default_factory=list)
    by_rule: dict[str, int] = field(default_factory=dict)  # candidates each narrowed rule listed
    seconds: float = 0.0  # the whole scan, list to last hit

    @property
    def describes_per_second(self) -> float | None:
        return self.describes / self.seconds if self.describes and self.seconds else None


def _started_before(moment: datetime) -> str:
    return f"StartTime < {quote(moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ'))}"


def _could_have_run(now: datetime) -> str:
    """Executions whose first workflow task is due, or that have run or reported one.
    ExecutionTime is when a delayed (or backed-off) start's first task is scheduled; the
    margin covers a client clock behind the server's."""
    due = quote((now + DUE_MARGIN).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return f"(ExecutionTime <= {due} OR {COMPLETED_A_TASK} OR {REPORTED_PROBLEMS})"


def scan_plan(rules: StuckRules, now: datetime, reported_after: int = REPORTED_AFTER) -> ScanPlan:
    enabled = rules.enabled
    how: dict[StuckRule, str] = {}
    narrowed: dict[StuckRule, str] = {}
    describe_all = False
    if StuckRule.NO_POLLERS in enabled:
        how[StuckRule.NO_POLLERS] = (
            "visibility alone: the distinct task queues of the running executions (one-row "
            "queries TaskQueue NOT IN (...), one per queue), one DescribeTaskQueue per "
            f"queue, then only the running executions of queues without live pollers; past "
            f"{QUEUE_CAP} queues, the whole running list; no describes"
        )
    if StuckRule.ACTIVITY_RETRYING in enabled:
        narrowed[StuckRule.ACTIVITY_RETRYING] = COMPLETED_A_TASK
        how[StuckRule.ACTIVITY_RETRYING] = (
            f"visibility first: describes only executions with {COMPLETED_A_TASK} (set "
            "once a workflow task completed: none before can have an activity); where "
            "most running executions have run, that is nearly all of them"
        )
    if StuckRule.WORKFLOW_TASK_FAILING in enabled:
        if rules.workflow_task_attempts > reported_after:
            narrowed[StuckRule.WORKFLOW_TASK_FAILING] = REPORTED_PROBLEMS
            how[StuckRule.WORKFLOW_TASK_FAILING] = (
                f"visibility first: describes only executions with {REPORTED_PROBLEMS} "
                f"(the server sets it once {reported_after} attempts have failed)"
            )
        elif rules.skip_not_due:
            narrowed[StuckRule.WORKFLOW_TASK_FAILING] = _could_have_run(now)
            how[StuckRule.WORKFLOW_TASK_FAILING] = (
                f"visibility first (--skip-not-due, a heuristic): describes only executions "
                f"that are due or have run a task: {_could_have_run(now)}; a delayed start "
                f"that a signal-with-start woke early, with its first task failing, is "
                f"missed until the server reports it at attempt {reported_after + 1}"
            )
        else:
            describe_all = True
            how[StuckRule.WORKFLOW_TASK_FAILING] = (
                f"describes every running execution (one describe each, shared with the "
                f"other rules; {DESCRIBE_COST}): the server reports the problem in "
                f"visibility only from attempt {reported_after + 1}, the threshold is "
                f"{rules.workflow_task_attempts}, below the default {reported_after + 1} "
                f"(--task-attempts {reported_after + 1} or more is answered from visibility)"
            )
    if StuckRule.NO_PROGRESS in enabled:
        cutoff = now - rules.no_progress
        narrowed[StuckRule.NO_PROGRESS] = _started_before(cutoff)
        how[StuckRule.NO_PROGRESS] = (
            f"visibility first: describes and reads the newest event only of executions "
            f"started more than {human_duration(rules.no_progress)} ago"
        )
    list_all = describe_all or StuckRule.NO_POLLERS in enabled
    return ScanPlan(list_all, describe_all, {} if describe_all else narrowed, how)
