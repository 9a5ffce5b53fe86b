"""SLO shorthand, expanded at load time into Chaos Toolkit probes of ``chaos.probes``.

An entry names one probe function with its arguments and one bound::

    {"success_rate": {"workflow_type": "DemoOrder", "window": "5m", "at_least": 0.99}}
    {"latency_p95": {"window": "5m", "at_most_s": 2.0}, "name": "p95 under 2s"}

It becomes ``{"type": "probe", "name": ..., "provider": {"type": "python", "module":
"chaos.probes", "func": KIND, "arguments": {...}}, "tolerance": ...}``: Chaos Toolkit's
own range tolerance, the open side closed by the probe's natural bound (a rate is at
most 1, counts and seconds at least 0); for ``latency_p95``, which returns None without
data (chaoslib's range check fails on None), a probe tolerance
(``console.experiments.tolerance.within``): no data is not met.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from console.experiments.source import ExperimentFile, Where

PROBES_MODULE = "chaos.probes"  # tests point this at a provider of their own


def _range(low: Any, high: Any) -> Any:
    return lambda x: {
        "type": "range",
        "range": [x if low is None else low, x if high is None else high],
    }


def _at_most_number(x: float) -> dict[str, Any]:
    """chaoslib's range tolerance cannot take None (no data): a probe tolerance can."""
    provider = {"type": "python", "module": "console.experiments.tolerance", "func": "within"}
    return {
        "type": "probe",
        "name": f"at most {x}",
        "provider": {**provider, "arguments": {"at_most": x}},
    }


# kind -> (bound key, tolerance builder)
BOUNDS: dict[str, tuple[str, Any]] = {
    "success_rate": ("at_least", _range(None, 1.0)),
    "latency_p95": ("at_most_s", _at_most_number),
    "stuck_count": ("at_most", _range(0, None)),
    "dlq_depth": ("at_most", _range(0, None)),
    "dlq_oldest_age_s": ("at_most_s", _range(0, None)),
    "task_queue_backlog": ("at_most", _range(0, None)),
}
ENTRY_KEYS = ("name",)

Problem = tuple[Where, str]


def _argument_problems(kind: str, arguments: dict[str, Any], at: Where) -> list[Problem]:
    try:
        func = getattr(importlib.import_module(PROBES_MODULE), kind)
        params = inspect.signature(func).parameters
    except Exception as exc:
        return [(at, f"cannot load {PROBES_MODULE}.{kind}: {exc}")]
    known = set(params) - {"configuration", "secrets"}
    out = [
        ((*at, name), f"{kind}() has no argument {name!r} (takes: {', '.join(sorted(known))})")
        for name in arguments
        if name not in known
    ]
    for name, p in params.items():
        if name in known and name not in arguments and p.default is inspect.Parameter.empty:
            out.append((at, f"{kind}() needs argument {name!r}"))
    return out


def slo_probe(entry: Any, at: Where, extra_keys: tuple[str, ...] = ()) -> tuple[Any, list[Problem]]:
    """The probe for one SLO entry at ``at``, or None and the problems found."""
    if not isinstance(entry, dict):
        return None, [(at, "an SLO entry must be a mapping, e.g. {success_rate: {...}}")]
    kinds = [k for k in entry if k not in (*ENTRY_KEYS, *extra_keys)]
    known = ", ".join(BOUNDS)
    if len(kinds) != 1 or kinds[0] not in BOUNDS:
        what = f"unknown SLO {kinds[0]!r}" if len(kinds) == 1 else "an SLO entry names one probe"
        return None, [(at, f"{what} (known: {known})")]
    kind = kinds[0]
    spec = entry[kind]
    kind_at: Where = (*at, kind)
    if not isinstance(spec, dict):
        return None, [(kind_at, "must be a mapping of arguments and a bound")]
    bound_key, make_tolerance = BOUNDS[kind]
    bound = spec.get(bound_key)
    if isinstance(bound, bool) or not isinstance(bound, int | float):
        return None, [(kind_at, f"needs {bound_key}: a number")]
    if kind == "success_rate" and not 0 <= bound <= 1:
        return None, [((*kind_at, bound_key), "a rate is between 0 and 1")]
    if bound < 0:
        return None, [((*kind_at, bound_key), "must not be negative")]
    arguments = {k: v for k, v in spec.items() if k != bound_key}
    problems = _argument_problems(kind, arguments, kind_at)
    if problems:
        return None, problems
    op = ">=" if bound_key.startswith("at_least") else "<="
    shown = ", ".join(str(v) for v in arguments.values())
    probe = {
        "type": "probe",
        "name": str(entry.get("name") or f"slo {kind}({shown}) {op} {bound}"),
        "provider": {
            "type": "python",
            "module": PROBES_MODULE,
            "func": kind,
            "arguments": arguments,
        },
        "tolerance": make_tolerance(bound),
    }
    return probe, []


def expand(experiment: ExperimentFile) -> None:
    """Replace ``steady-state-hypothesis.slo`` by probes appended to its ``probes``, and
    each SLO entry of ``safeguards`` by its probe (keeping its ``frequency``), in place;
    problems go to ``experiment.load_problems``, located on the SLO entry."""
    data = experiment.data

    def problem(where: Where, message: str) -> None:
        experiment.load_problems.append(experiment.problem(where, message))

    ssh = data.get("steady-state-hypothesis")
    if isinstance(ssh, dict) and "slo" in ssh:
        base: Where = ("steady-state-hypothesis",)
        entries = ssh.pop("slo")
        probes = ssh.setdefault("probes", [])
        if not isinstance(entries, list) or not isinstance(probes, list):
            problem((*base, "slo"), "must be a list of SLO entries (and probes a list)")
        else:
            for j, entry in enumerate(entries):
                probe, found = slo_probe(entry, (*base, "slo", j))
                for where, message in found:
                    problem(where, message)
                line = experiment.line((*base, "slo", j))
                if probe is not None:
                    if line:
                        experiment.lines[(*base, "probes", len(probes))] = line
                    probes.append(probe)
    guards = data.get("safeguards")
    if "safeguards" in data and not isinstance(guards, list):
        problem(("safeguards",), "must be a list of probes or SLO entries")
    items: list[Any] = guards if isinstance(guards, list) else []
    for i, entry in enumerate(items):
        if isinstance(entry, dict) and ("type" in entry or "ref" in entry):
            continue  # a Chaos Toolkit probe, or a reference to one
        probe, found = slo_probe(entry, ("safeguards", i), ("frequency",))
        for where, message in found:
            problem(where, message)
        if probe is not None:
            if "frequency" in entry:
                probe["frequency"] = entry["frequency"]
            items[i] = probe
