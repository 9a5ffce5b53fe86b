"""Which engine a CLI argument goes to, when the context has several.

- ``ENGINE:SCOPE/ID[/RUN]`` goes to that engine; an unknown ENGINE is a usage error
  listing the known ones.
- A bare id (or a Step Functions execution ARN) is described in each engine that can
  describe: one match is used; several are a usage error listing the candidate refs;
  none is "not found" naming the engines asked. A one-engine context skips the lookup.
- A deployment goes to the engines with the VERSIONS capability; with several, to the
  one that knows it (several that know it: pick with --engine).
- A raw ``--query`` is in one engine's syntax: with several engines, those that reject
  it (UsageError) are left out; when every one rejects it, the error names each reason.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from console.cli_common import engine_scope
from console.errors import NotFound, OpsdeckError, Unsupported, UsageError
from console.model import Capability, ExecutionDetail, ExecutionRef, RefError, Version

if TYPE_CHECKING:
    from console.session import Session

T = TypeVar("T")

_ENGINE_PREFIX = re.compile(r"([A-Za-z][\w.-]*):([^/]*/.+)")
_SFN_ARN = re.compile(
    r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:(?:execution|express):([^:]+):([^:]+)"
)
# A bare id is not found in an engine when it says so, or calls the id malformed.
_MISSES = (NotFound, UsageError)


def warn(message: str) -> None:
    print(f"opsdeck: warning: {message}", file=sys.stderr)


def known(session: Session) -> str:
    return ", ".join(session.engines) or "none"


@dataclass(frozen=True)
class Resolved:
    ref: ExecutionRef
    detail: ExecutionDetail | None = None  # set when finding the engine described it


def prefixed_ref(session: Session, text: str) -> ExecutionRef | None:
    """The ref when ``text`` names an engine; None for a bare id."""
    match = _ENGINE_PREFIX.fullmatch(text)
    if match is None or text.startswith("arn:"):
        return None
    engine = match.group(1)
    if engine not in session.engines:
        raise UsageError(f"unknown engine {engine} (known: {known(session)})")
    try:
        return ExecutionRef.parse(text)
    except RefError as exc:
        raise UsageError(str(exc)) from None


def bare_candidates(session: Session, text: str) -> list[ExecutionRef]:
    """Where a bare id could be: each engine's default scope, or an ARN's state machine."""
    arn = _SFN_ARN.fullmatch(text)
    if arn:  # an ARN is only ever a Step Functions execution
        machine, name = arn.groups()
        return [
            ExecutionRef(n, machine, name)
            for n, e in session.engines.items()
            if e.kind == "stepfunctions"
        ]
    return [
        ExecutionRef(n, engine_scope(session, n), text)
        for n, e in session.engines.items()
        if Capability.DESCRIBE in e.capabilities
    ]


async def resolve_ref(session: Session, text: str) -> Resolved:
    if not text:
        raise UsageError("an empty execution reference")
    ref = prefixed_ref(session, text)
    if ref is not None:
        return Resolved(ref)
    candidates = bare_candidates(session, text)
    if len(session.engines) == 1 and candidates:
        return Resolved(candidates[0])
    if not candidates:
        raise UsageError(f"{text!r}: no engine of context {session.context.name!r} can look it up")
    hits = await _ask_each(
        [c.engine for c in candidates],
        [session.engines[c.engine].describe(c) for c in candidates],
        what=repr(text),
    )
    answers = dict(hits)
    found = [Resolved(c, answers[c.engine]) for c in candidates if c.engine in answers]
    if len(found) > 1:
        refs = ", ".join(str(r.ref) for r in found)
        raise UsageError(f"{text!r} is in several engines: {refs}; pass one of these refs")
    if found:
        return found[0]
    asked = ", ".join(c.engine for c in candidates)
    raise NotFound(f"execution {text!r} not found in engines {asked}")


async def _ask_each(
    names: Sequence[str], calls: Sequence[Awaitable[T]], *, what: str
) -> list[tuple[str, T]]:
    """Run the lookups at once: (engine, answer) for each that found it.

    Not found (or "malformed for me") is a miss. Another error fails the lookup when
    nothing was found, and is a warning when something was.
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    hits: list[tuple[str, T]] = []
    problems: list[tuple[str, OpsdeckError]] = []
    for name, result in zip(names, results, strict=True):
        if isinstance(result, _MISSES):
            continue
        if isinstance(result, OpsdeckError):
            problems.append((name, result))
        elif isinstance(result, BaseException):
            raise result
        else:
            hits.append((name, result))
    if problems and not hits:
        raise problems[0][1]
    for name, error in problems:
        warn(f"engine {name} could not be asked for {what}: {error}")
    return hits


async def resolve_refs(session: Session, texts: Sequence[str]) -> list[ExecutionRef]:
    return [(await resolve_ref(session, text)).ref for text in texts]


async def versions_engine(
    session: Session, name: str | None, deployment: str
) -> tuple[str, list[Version]]:
    """The engine that holds ``deployment``, and its versions."""
    if name:
        if name not in session.engines:
            raise UsageError(f"unknown engine {name} (known: {known(session)})")
        return name, list(await session.engines[name].versions(deployment))
    able = [n for n, e in session.engines.items() if Capability.VERSIONS in e.capabilities]
    if not able:
        why = "; ".join(
            f"{n}: {e.describe_capability(Capability.VERSIONS)}" for n, e in session.engines.items()
        )
        raise Unsupported(f"no engine of context {session.context.name!r} has versions ({why})")
    if len(able) == 1:
        return able[0], list(await session.engines[able[0]].versions(deployment))
    hits = await _ask_each(
        able, [session.engines[n].versions(deployment) for n in able], what=repr(deployment)
    )
    if len(hits) > 1:
        raise UsageError(
            f"deployment {deployment!r} is in several engines: "
            f"{', '.join(n for n, _ in hits)}; pick one with --engine NAME"
        )
    if not hits:
        raise NotFound(f"deployment {deployment!r} not found in engines {', '.join(able)}")
    return hits[0][0], list(hits[0][1])


async def fan_out(
    names: Sequence[str],
    work: Callable[[str], Awaitable[T]],
    *,
    raw_query: str | None = None,
) -> dict[str, T]:
    """``work(engine)`` on each engine at once, results in ``names`` order.

    With a raw query and several engines, an engine rejecting it is left out.
    """
    results = await asyncio.gather(*(work(n) for n in names), return_exceptions=True)
    done: dict[str, T] = {}
    rejected: list[tuple[str, UsageError]] = []
    for name, result in zip(names, results, strict=True):
        if isinstance(result, UsageError) and raw_query and len(names) > 1:
            rejected.append((name, result))
        elif isinstance(result, BaseException):
            raise result
        else:
            done[name] = result
    if rejected and not done:
        reasons = "; ".join(f"{n}: {e}" for n, e in rejected)
        raise UsageError(f"no engine takes the query {raw_query!r} ({reasons})")
    return done
