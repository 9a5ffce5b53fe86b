"""Every activity of an experiment, where it is, and what opsdeck knows about it."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from console.experiments.source import ExperimentFile, Where

# Python providers in these modules get opsdeck's argument checks.
CHECKED_PREFIXES: tuple[str, ...] = ("chaos.",)
# Actions from these modules change a live system and need a rollback.
CHANGING_MODULES: tuple[str, ...] = ("chaos.actions",)


@dataclass(frozen=True)
class Located:
    phase: str  # steady-state, safeguards, method, rollbacks
    where: Where
    activity: dict[str, Any]  # a ref is resolved to the activity it names

    @property
    def name(self) -> str:
        return str(self.activity.get("name") or "")

    @property
    def provider(self) -> dict[str, Any]:
        provider = self.activity.get("provider")
        return provider if isinstance(provider, dict) else {}

    @property
    def module(self) -> str:
        return str(self.provider.get("module") or "")

    @property
    def func(self) -> str:
        return str(self.provider.get("func") or "")


def _items(data: dict[str, Any], key: Any, where: Where) -> Iterator[tuple[Where, Any]]:
    items = data.get(key) if isinstance(data, dict) else None
    if isinstance(items, list):
        for i, item in enumerate(items):
            yield (*where, i), item


def activities(experiment: ExperimentFile) -> list[Located]:
    data = experiment.data
    hypothesis = data.get("steady-state-hypothesis")
    raw: list[tuple[str, Where, Any]] = []
    if isinstance(hypothesis, dict):
        ssh: Where = ("steady-state-hypothesis",)
        raw += [("steady-state", w, a) for w, a in _items(hypothesis, "probes", (*ssh, "probes"))]
    raw += [("safeguards", w, a) for w, a in _items(data, "safeguards", ("safeguards",))]
    raw += [("method", w, a) for w, a in _items(data, "method", ("method",))]
    raw += [("rollbacks", w, a) for w, a in _items(data, "rollbacks", ("rollbacks",))]
    by_name = {a.get("name"): a for _, _, a in raw if isinstance(a, dict) and "ref" not in a}
    out = []
    for phase, where, activity in raw:
        if not isinstance(activity, dict):
            activity = {}
        if "ref" in activity:
            activity = by_name.get(activity["ref"], activity)
        out.append(Located(phase, where, activity))
    return out


def function(located: Located) -> Callable[..., Any] | None:
    """The provider's Python function, or None when it cannot be imported."""
    if located.provider.get("type") != "python" or not located.module or not located.func:
        return None
    try:
        module = importlib.import_module(located.module)
    except Exception:
        return None
    func = getattr(module, located.func, None)
    return func if callable(func) else None


def is_checked(located: Located) -> bool:
    return located.provider.get("type") == "python" and located.module.startswith(CHECKED_PREFIXES)


def is_changing(located: Located) -> bool:
    return (
        located.activity.get("type") == "action"
        and located.phase == "method"
        and located.provider.get("type") == "python"
        and located.module in CHANGING_MODULES
    )


def rollback_func(located: Located) -> str | None:
    """The rollback the extension names for this action (the function's ``rollback``
    attribute, or the module's ``ROLLBACKS`` mapping), or None when it names none."""
    func = function(located)
    named = getattr(func, "rollback", None) if func else None
    if isinstance(named, str):
        return named
    try:
        mapping = getattr(importlib.import_module(located.module), "ROLLBACKS", None)
    except Exception:
        return None
    found = mapping.get(located.func) if isinstance(mapping, dict) else None
    return found if isinstance(found, str) else None


def is_rollback_func(located: Located) -> bool:
    """True for a function the module's ``ROLLBACKS`` lists only as a rollback."""
    try:
        mapping = getattr(importlib.import_module(located.module), "ROLLBACKS", None)
    except Exception:
        return False
    if not isinstance(mapping, dict):
        return False
    return located.func in mapping.values() and located.func not in mapping


def undoing(located: Located, rollbacks: list[Located]) -> Located | None:
    """The experiment's rollback that undoes this action, if it has one."""
    wanted = rollback_func(located)
    for rb in rollbacks:
        if rb.module == located.module and (wanted is None or rb.func == wanted):
            return rb
    return None


def argument_problems(located: Located) -> list[tuple[Where, str]]:
    """Unknown and missing arguments against the function's signature."""
    func = function(located)
    if func is None:
        return []
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    params = sig.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        known = None
    else:
        known = {n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    given = located.provider.get("arguments") or {}
    if not isinstance(given, dict):
        return [((*located.where, "provider", "arguments"), "must be a mapping")]
    out: list[tuple[Where, str]] = []
    args_at: Where = (*located.where, "provider", "arguments")
    for name in given:
        if known is not None and name not in known:
            choices = ", ".join(sorted(known - {"configuration", "secrets"})) or "none"
            out.append(
                ((*args_at, name), f"{located.func}() has no argument {name!r} (takes: {choices})")
            )
    for name, p in params.items():
        if name in ("configuration", "secrets") or name in given:
            continue
        if p.default is inspect.Parameter.empty and p.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            out.append((args_at, f"{located.func}() needs argument {name!r}"))
    return out
