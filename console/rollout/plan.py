"""A ramp's plan: every step's call, percentage, hold and guard, before anything changes.

The plan also fixes the routing the ramp starts from (``previous``: the version current
before it), so each step knows the exact routing it expects to find, and a rollback
knows what to restore. Plans are plain data (``to_data``/``from_data``) because the
journal keeps them: ``--resume`` rebuilds the ramp from its first journal record.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from console.errors import UsageError
from console.model_chaos import RampState

DEFAULT_STEPS = (10.0, 50.0, 100.0)


@dataclass(frozen=True)
class RampStep:
    index: int  # 1-based
    percentage: float
    call: str  # the API call this step makes
    hold_s: float  # how long it soaks before the guard is asked

    @property
    def promotes(self) -> bool:
        return self.percentage >= 100


@dataclass(frozen=True)
class RampPlan:
    ramp_id: str
    context: str
    engine: str
    target: str  # the audit target, e.g. temporal:default/deployment/orders
    deployment: str
    version: str
    previous: str | None  # current before the ramp; a rollback makes it current again
    steps: tuple[RampStep, ...]
    guard: str  # what the guard checks, for people
    slo: str | None = None
    reason: str = ""

    def after(self, index: int) -> RampState:
        """The routing once step ``index`` is applied (0: where the ramp starts)."""
        if index == 0:
            return RampState(self.deployment, self.previous, None, 0.0)
        step = self.steps[index - 1]
        if step.promotes:
            return RampState(self.deployment, self.version, None, 0.0)
        return RampState(self.deployment, self.previous, self.version, step.percentage)

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = [asdict(s) | {"guard": self.guard} for s in self.steps]
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> RampPlan:
        fields = dict(data)
        fields["steps"] = tuple(
            RampStep(int(s["index"]), float(s["percentage"]), str(s["call"]), float(s["hold_s"]))
            for s in data["steps"]
        )
        return cls(**fields)


def parse_steps(text: str) -> tuple[float, ...]:
    """``10,50,100``: rising percentages ending at 100 (the version becomes current)."""
    values = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise UsageError(f"--steps {text!r}: {part.strip()!r} is not a percentage") from None
        if not 0 < value <= 100:
            raise UsageError(f"--steps {text!r}: {value:g} is not above 0 and at most 100")
        values.append(value)
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise UsageError(f"--steps {text!r}: percentages must rise step by step")
    if not values or values[-1] != 100:
        raise UsageError(f"--steps {text!r}: the last step must be 100 (the version current)")
    return tuple(values)


def build_plan(
    *,
    ramp_id: str,
    context: str,
    engine: str,
    target: str,
    deployment: str,
    version: str,
    start: RampState,
    known_versions: list[str],
    percentages: tuple[float, ...],
    hold_s: float,
    calls: dict[float, str],
    guard: str,
    slo: str | None,
    reason: str,
) -> RampPlan:
    """The plan from the routing the server shows now; UsageError if a ramp cannot start."""
    if known_versions and version not in known_versions:
        raise UsageError(
            f"{deployment} has no version {version!r}; known: {', '.join(known_versions)}"
        )
    if start.current == version:
        raise UsageError(f"{version} is already the current version of {deployment}")
    if start.current is None:  # a rollback would have nothing to restore
        raise UsageError(
            f"{deployment} has no current version to fall back on; make one current first "
            "(`opsdeck versions rollback DEPLOYMENT --to VERSION`)"
        )
    if start.ramping is not None:
        raise UsageError(
            f"{deployment} already ramps {start.ramping} at {start.percentage:g}%: finish or "
            "clear that ramp first (`opsdeck versions ramp --resume ID`, or a rollback)"
        )
    if hold_s < 0:
        raise UsageError("--hold must not be negative")
    steps = tuple(RampStep(i, p, calls[p], hold_s) for i, p in enumerate(percentages, start=1))
    return RampPlan(
        ramp_id=ramp_id,
        context=context,
        engine=engine,
        target=target,
        deployment=deployment,
        version=version,
        previous=start.current,
        steps=steps,
        guard=guard,
        slo=slo,
        reason=reason,
    )
