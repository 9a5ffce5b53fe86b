"""`chaos validate`: Chaos Toolkit's own validation plus opsdeck's checks, located.

chaoslib stops at its first error and does not say where; opsdeck validates each
activity with chaoslib's ``ensure_activity_is_valid`` to place an error on its line, runs
``ensure_experiment_is_valid`` for the rest, then adds: every argument unknown to (or
missing from) a ``chaos.*`` function, and every changing action (``chaos.actions``)
without its rollback in ``rollbacks``; SLO entries (slo.py) and safeguards
(safeguards.py) are checked on their own lines.
"""

from __future__ import annotations

import logging

from console.experiments.activities import (
    activities,
    argument_problems,
    is_changing,
    is_checked,
    is_rollback_func,
    rollback_func,
    undoing,
)
from console.experiments.safeguards import safeguard_problems
from console.experiments.source import ExperimentFile, ExperimentInvalid, Where


def quiet_chaoslib() -> None:
    """chaoslib logs to the 'chaostoolkit' logger; opsdeck prints its own progress."""
    logger = logging.getLogger("chaostoolkit")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


def _top_where(experiment: ExperimentFile, message: str) -> Where:
    for key in ("title", "description", "method", "steady-state-hypothesis", "configuration"):
        if key in message:
            return (key,)
    return ()


def problems(experiment: ExperimentFile) -> list[str]:
    from chaoslib.activity import ensure_activity_is_valid
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    quiet_chaoslib()
    out: list[str] = list(experiment.load_problems)
    located = activities(experiment)
    for item in located:
        if not item.activity:
            out.append(experiment.problem(item.where, "an activity must be a mapping"))
            continue
        if item.phase == "safeguards":
            if "type" not in item.activity and "ref" not in item.activity:
                continue  # an SLO entry that did not expand: its problems are in load_problems
            out += [experiment.problem(w, m) for w, m in safeguard_problems(item)]
        # opsdeck's argument check first: it lists every argument, each on its line
        found = argument_problems(item) if is_checked(item) else []
        if found:
            out += [experiment.problem(w, m) for w, m in found]
            continue
        try:
            ensure_activity_is_valid(item.activity)
        except ChaosException as exc:
            out.append(experiment.problem(item.where, str(exc)))
    if not out:
        try:
            ensure_experiment_is_valid(experiment.data)
        except ChaosException as exc:
            out.append(experiment.problem(_top_where(experiment, str(exc)), str(exc)))
        except Exception as exc:  # chaoslib assumes well-shaped input
            out.append(experiment.problem((), f"{type(exc).__name__}: {exc}"))
    rollbacks = [i for i in located if i.phase == "rollbacks"]
    for item in located:
        if is_changing(item) and not is_rollback_func(item) and undoing(item, rollbacks) is None:
            wanted = rollback_func(item)
            named = f" ({item.module}.{wanted})" if wanted else ""
            out.append(
                experiment.problem(
                    item.where,
                    f"action {item.name!r} changes a live system but the experiment has no "
                    f"rollback for it{named} under rollbacks",
                )
            )
    return out


def ensure_valid(experiment: ExperimentFile) -> None:
    found = problems(experiment)
    if found:
        raise ExperimentInvalid(found)
