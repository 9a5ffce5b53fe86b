"""The runbook that fits a failure group, and the command that runs it.

First match wins:
1. a runbook tagged ``triage:<workflow type>`` or ``triage:<error type>`` (a hint a
   runbook author adds to its ``tags``);
2. systemic on a worker-deployment version (``DEPLOYMENT:BUILD``): bad-deploy-rollback;
3. a timeout (error type ``Timeout ...``): timeout-cascade;
4. retrying activities or a failing workflow task on open runs: stuck-workflows;
5. otherwise none: retry, or look at the failures by hand.

Only parameters the runbook declares are passed, and only runbooks for the group's
engine kind (a runbook's ``engines``; empty means any) are offered.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from console.runbook.schema import Runbook
from console.triage.groups import SYSTEMIC, FailureGroup

TRIAGE_TAG = "triage:"


@dataclass(frozen=True)
class RunbookMatch:
    name: str
    why: str
    params: dict[str, str] = field(default_factory=dict)

    def command(self) -> str:
        words = ["opsdeck", "runbook", "run", self.name]
        for key, value in self.params.items():
            words += ["--param", f"{key}={value}"]
        return shell_line(words)


def shell_line(words: Sequence[str]) -> str:
    """A command line to copy: double quotes around a word with single quotes in it
    (a visibility query reads better than shlex's '"'"' splices), else shlex quoting."""

    def one(word: str) -> str:
        if "'" in word and not any(c in word for c in '"$`\\!'):
            return f'"{word}"'
        return shlex.quote(word)

    return " ".join(one(w) for w in words)


def match_runbook(
    group: FailureGroup, runbooks: Sequence[Runbook], engine_kind: str | None = None
) -> RunbookMatch | None:
    usable = {
        rb.name: rb
        for rb in runbooks
        if not rb.engines or not engine_kind or engine_kind in rb.engines
    }
    sig = group.signature
    hints = {f"{TRIAGE_TAG}{sig.workflow_type}", f"{TRIAGE_TAG}{sig.error_type}"}
    for rb in usable.values():
        tagged = hints.intersection(rb.tags)
        if tagged:
            return _with_params(rb, f"tagged {sorted(tagged)[0]}", group, engine_kind)
    picks: list[tuple[str, str]] = []
    if group.verdict == SYSTEMIC and sig.version and ":" in sig.version:
        picks.append(("bad-deploy-rollback", f"systemic on version {sig.version}"))
    if sig.error_type.startswith("Timeout"):
        picks.append(("timeout-cascade", f"the failure is a timeout ({sig.error_type})"))
    if {"activity", "workflow_task"} & set(group.kinds) and group.failing:
        picks.append(("stuck-workflows", "activities retrying or a workflow task failing"))
    for name, why in picks:
        if name in usable:
            return _with_params(usable[name], why, group, engine_kind)
    return None


def _with_params(
    runbook: Runbook, why: str, group: FailureGroup, engine_kind: str | None
) -> RunbookMatch:
    sig = group.signature
    offered: dict[str, str] = {"workflow_type": sig.workflow_type}
    if sig.version and ":" in sig.version:
        offered["deployment"] = sig.version.split(":", 1)[0]
    if engine_kind in (None, "temporal"):  # a visibility query is in Temporal's syntax
        offered["query"] = f"WorkflowType = '{sig.workflow_type}'"
    declared = {p.name for p in runbook.parameters}
    return RunbookMatch(runbook.name, why, {k: v for k, v in offered.items() if k in declared})
