"""Failures grouped by signature, each group judged systemic or transient.

A signature is what two occurrences of the same fault share: engine, workflow type,
activity type (if any), error type, normalised message (console.triage.normalise) and
version. The verdict follows TriageThresholds (defaults documented in docs/triage.md);
its reason names the numbers, e.g. "systemic: 12 executions, all on orders:v3, 9 in
the last 10 min vs 3 before".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from console.model import ExecutionRef
from console.model_triage import FailureKind, ObservedFailure
from console.triage.normalise import mask_pii, normalise

SYSTEMIC = "systemic"
TRANSIENT = "transient"


@dataclass(frozen=True)
class TriageThresholds:
    """When a group is systemic; the rest is transient. Defaults in docs/triage.md."""

    # At least this many executions still failing (not retried through) for "many".
    min_executions: int = 5
    # "Concentrated in one version": this share of the executions ran one version.
    version_share: float = 0.8
    # "Rising": the last ``recent`` window's rate is ``rise_factor`` times the rate
    # before it (from ``since``), or there was nothing before it.
    recent: timedelta = timedelta(minutes=10)
    rise_factor: float = 2.0
    # This many executions failing is systemic however they are spread.
    always_systemic: int = 25
    # Most runs of the workflow type that triage read failed this way (at least this
    # share of them, and at least ``min_most_fail`` runs): systemic even when few, e.g.
    # a new version's first handful of runs at a ramp's first step.
    most_fail_share: float = 0.5
    min_most_fail: int = 3


@dataclass(frozen=True, order=True)
class Signature:
    engine: str
    workflow_type: str
    activity_type: str | None
    error_type: str
    message: str  # normalised
    version: str | None

    def label(self) -> str:
        where = self.workflow_type + (f"/{self.activity_type}" if self.activity_type else "")
        return f"{where}: {self.error_type}: {self.message}"

    def __str__(self) -> str:
        on = f" on {self.version}" if self.version else ""
        return f"{self.engine}: {self.label()}{on}"


@dataclass(frozen=True)
class FailureGroup:
    signature: Signature
    count: int  # occurrences (a run whose activity failed twice and healed counts once)
    executions: tuple[ExecutionRef, ...]  # distinct runs, newest failure first
    first_seen: datetime | None
    last_seen: datetime | None
    versions: tuple[str, ...]
    verdict: str  # "systemic" | "transient"
    reason: str
    kinds: tuple[str, ...] = ()  # execution, activity, workflow_task (FailureKind values)
    retried_through: int = 0  # executions whose failures here all healed
    example: str = ""  # one raw message, as the engine reported it (e-mails masked)
    max_attempt: int | None = None
    failing: tuple[ExecutionRef, ...] = ()  # ``executions`` less those retried through

    @property
    def systemic(self) -> bool:
        return self.verdict == SYSTEMIC


def signature_of(failure: ObservedFailure) -> Signature:
    ref = failure.execution.ref
    message = normalise(failure.message, (ref.workflow_id, ref.run_id))
    return Signature(
        engine=ref.engine,
        workflow_type=failure.execution.workflow_type,
        activity_type=failure.activity_type,
        error_type=failure.error_type,
        message=message,
        version=failure.version,
    )


def group_failures(
    failures: Iterable[ObservedFailure],
    *,
    since: datetime,
    now: datetime,
    thresholds: TriageThresholds | None = None,
    runs_by_type: Mapping[tuple[str, str], int] | None = None,
) -> list[FailureGroup]:
    """Groups sorted systemic first, then by executions affected, then by newest.

    The version is part of the signature, so one fault on two builds gives two groups;
    "concentrated in one version" compares a group with the same fault on the other
    versions (its share of the runs that fault hit), and counts as evidence only when
    the failures seen span two or more versions: on a namespace where everything runs
    one build it says nothing. ``runs_by_type``: runs read per (engine, workflow type),
    failing or not, for "most runs fail".
    """
    limits = thresholds or TriageThresholds()
    buckets: dict[Signature, list[ObservedFailure]] = {}
    for failure in failures:
        buckets.setdefault(signature_of(failure), []).append(failure)
    versions_seen = {sig.version for sig in buckets}
    across: Counter[Signature] = Counter()  # runs per fault, every version together
    for sig, items in buckets.items():
        across[_unversioned(sig)] += len({f.execution.ref for f in items})
    groups = [
        _group(
            sig,
            items,
            since,
            now,
            limits,
            across[_unversioned(sig)],
            len(versions_seen),
            (runs_by_type or {}).get((sig.engine, sig.workflow_type)),
        )
        for sig, items in buckets.items()
    ]
    return sort_groups(groups)


def sort_groups(groups: Iterable[FailureGroup]) -> list[FailureGroup]:
    """Systemic first, then by executions affected, then the most recently seen."""

    def newest(group: FailureGroup) -> float:
        return group.last_seen.timestamp() if group.last_seen else float("-inf")

    return sorted(groups, key=lambda g: (g.verdict != SYSTEMIC, -len(g.executions), -newest(g)))


def _unversioned(signature: Signature) -> Signature:
    return Signature(
        signature.engine,
        signature.workflow_type,
        signature.activity_type,
        signature.error_type,
        signature.message,
        None,
    )


def _group(
    signature: Signature,
    items: Sequence[ObservedFailure],
    since: datetime,
    now: datetime,
    limits: TriageThresholds,
    fault_runs: int,
    versions_seen: int,
    type_runs: int | None,
) -> FailureGroup:
    times = [f.time for f in items if f.time is not None]
    newest_first = sorted(items, key=lambda f: f.time or since, reverse=True)
    refs = tuple(dict.fromkeys(f.execution.ref for f in newest_first))
    healed = {f.execution.ref for f in items if f.retried_through}
    healed -= {f.execution.ref for f in items if not f.retried_through}
    versions = sorted({f.version for f in items if f.version})
    attempts = [f.attempt for f in items if f.attempt is not None]
    verdict, reason = judge(
        executions=len(refs),
        healed=len(healed),
        version=signature.version if versions_seen > 1 else None,
        fault_runs=fault_runs,
        type_runs=type_runs,
        workflow_type=signature.workflow_type,
        times=[f.time for f in _one_per_run(items) if f.time is not None],
        since=since,
        now=now,
        limits=limits,
    )
    return FailureGroup(
        signature=signature,
        count=len(items),
        executions=refs,
        first_seen=min(times) if times else None,
        last_seen=max(times) if times else None,
        versions=tuple(versions),
        verdict=verdict,
        reason=reason,
        kinds=tuple(sorted({f.kind.value for f in items}, key=_kind_order)),
        retried_through=len(healed),
        example=mask_pii(newest_first[0].message),
        max_attempt=max(attempts) if attempts else None,
        failing=tuple(r for r in refs if r not in healed),
    )


def _kind_order(kind: str) -> int:
    return [k.value for k in FailureKind].index(kind)


def _one_per_run(items: Sequence[ObservedFailure]) -> list[ObservedFailure]:
    """The newest occurrence of each run: rates and versions count executions."""
    newest: dict[ExecutionRef, ObservedFailure] = {}
    for f in items:
        seen = newest.get(f.execution.ref)
        if seen is None or (f.time and (seen.time is None or f.time > seen.time)):
            newest[f.execution.ref] = f
    return list(newest.values())


def judge(
    *,
    executions: int,
    healed: int,
    version: str | None,
    fault_runs: int,
    times: Sequence[datetime],
    type_runs: int | None = None,
    workflow_type: str = "",
    since: datetime,
    now: datetime,
    limits: TriageThresholds,
) -> tuple[str, str]:
    """(verdict, reason): the rules of docs/triage.md, with the numbers that decided.

    ``version``: the group's version when versions tell something apart (else None);
    ``fault_runs``: runs the same fault hit on every version, this one included;
    ``type_runs``: runs of ``workflow_type`` triage read (None: unknown).
    """
    failing = executions - healed
    runs = _plural(executions, "execution")
    if failing == 0:
        return TRANSIENT, f"transient: {runs}, all retried through (a later attempt succeeded)"
    version_text, concentrated = _versions(version, executions, fault_runs, limits)
    trend_text, rising = _trend(times, since, now, limits)
    healed_text = f", {healed} retried through" if healed else ""
    most_fail = (
        type_runs is not None
        and type_runs > 0
        and failing >= limits.min_most_fail
        and failing / type_runs >= limits.most_fail_share
    )
    share_text = f"{failing} of {type_runs} {workflow_type} runs read" if most_fail else ""
    facts = ", ".join(t for t in (version_text, trend_text, share_text) if t)
    facts = f", {facts}" if facts else ""
    failing_text = _plural(failing, "execution")
    if failing < limits.min_executions and not most_fail:
        return TRANSIENT, (
            f"transient: few, {failing_text} failing{healed_text}{facts} "
            f"(systemic from {limits.min_executions})"
        )
    # No "before" to compare with (the window is all recent): many is enough.
    if failing >= limits.always_systemic or concentrated or most_fail or rising is not False:
        return SYSTEMIC, f"systemic: {failing_text}{healed_text}{facts}"
    return TRANSIENT, (
        f"transient: {failing_text} spread out{healed_text}{facts} "
        f"(not concentrated in one version, not rising)"
    )


def _versions(
    version: str | None, executions: int, fault_runs: int, limits: TriageThresholds
) -> tuple[str, bool]:
    if version is None:
        return "", False
    elsewhere = fault_runs - executions
    share = executions / fault_runs if fault_runs else 0.0
    if elsewhere <= 0:
        return f"all on {version}", True
    return (
        f"{executions} on {version} vs {elsewhere} on other versions",
        share >= limits.version_share,
    )


def _trend(
    times: Sequence[datetime], since: datetime, now: datetime, limits: TriageThresholds
) -> tuple[str, bool | None]:
    """'9 in the last 10 min vs 3 before', and whether that is rising (None: the whole
    window is recent, nothing before to compare with)."""
    if not times:
        return "", False
    cut = now - limits.recent
    window = _minutes(limits.recent)
    if cut <= since:  # the whole triage window is "recent": there is no before
        span = _minutes(now - since)
        return f"all {len(times)} in the last {span}", None
    recent = sum(t >= cut for t in times)
    before = len(times) - recent
    text = f"{recent} in the last {window} vs {before} before"
    before_rate = before / max((cut - since).total_seconds(), 1.0)
    recent_rate = recent / max(limits.recent.total_seconds(), 1.0)
    rising = recent >= 2 and (before == 0 or recent_rate >= limits.rise_factor * before_rate)
    return text + (" (rising)" if rising else ""), rising


def _minutes(value: timedelta) -> str:
    minutes = value.total_seconds() / 60
    if minutes >= 120:
        return f"{minutes / 60:.0f} h"
    return f"{max(minutes, 1):.0f} min"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
