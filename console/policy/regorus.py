"""In-process Rego: the regorus engine through PyPI ``opa-eval`` (~10 us a decision).

Fail closed: a policy that does not load (syntax, unknown function) or fails while
evaluating becomes a deny whose reason names the file, line and column, never an allow.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.policy.model import Decision

_LOCATION = re.compile(r"-->\s*(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+)")
UNDEFINED = "<undefined>"  # what opa-eval answers when the rule has no value
_MESSAGE = re.compile(r"^error:[ \t]*(?P<message>.+)$", re.MULTILINE)


def located(error: str, path: str, line_map: Mapping[int, tuple[str, int]] | None = None) -> str:
    """regorus' multi-line error as one line: 'FILE:LINE:COL: message'.

    regorus names the file as it was opened; ``path`` is the name to show instead, and
    ``line_map`` maps lines of a merged source (policy test) back to FILE, LINE. A second
    location (a rule conflict's "defined here") is appended to the message.
    """
    places = list(_LOCATION.finditer(error))
    what = _MESSAGE.search(error)
    message = what.group("message").strip() if what else " ".join(error.split())
    if not places:
        return f"{path}: {message}"

    def place(match: re.Match[str]) -> str:
        file, line = path, int(match.group("line"))
        if line_map and line in line_map:
            file, line = line_map[line]
        return f"{file}:{line}:{match.group('col')}"

    if len(places) > 1:
        message = f"{message.rstrip(':')} (see {place(places[1])})"
    return f"{place(places[0])}: {message}"


def policy_hash(*sources: bytes) -> str:
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source)
    return f"sha256:{digest.hexdigest()}"


def rule_query(decision_path: str) -> str:
    return "data." + decision_path.replace("/", ".")


class FailClosed:
    """A policy that could not be loaded: every decision is a deny saying why."""

    name = "fail-closed"
    remote = False

    def __init__(self, reason: str, policy_hash: str = "") -> None:
        self.reason = reason
        self.policy_hash = policy_hash

    def decide(self, document: Mapping[str, Any]) -> Decision:
        return Decision(
            "deny",
            (f"policy error, every change is denied: {self.reason}",),
            policy_hash=self.policy_hash,
            evaluator=self.name,
        )


class RegorusEvaluator:
    """One policy file, one decision rule, evaluated in this process."""

    name = "regorus"
    remote = False

    def __init__(self, path: Path, decision_path: str = "opsdeck/decision") -> None:
        import opa_eval

        self.path = path
        self.policy_hash = policy_hash(path.read_bytes())
        self.query = rule_query(decision_path)
        self._evaluator = opa_eval.OpaEval(str(path), query=self.query)

    def decide(self, document: Mapping[str, Any]) -> Decision:
        try:
            value = self._evaluator.evaluate_parsed(json.dumps(document, default=str))
        except RuntimeError as exc:
            reason = located(str(exc), str(self.path))
            return FailClosed(reason, self.policy_hash).decide(document)
        if value == UNDEFINED:
            return Decision(
                "deny",
                (f"{self.path}: {self.query} is undefined for this input; denying",),
                policy_hash=self.policy_hash,
                evaluator="fail-closed",
            )
        return Decision.from_result(
            value, policy_hash=self.policy_hash, evaluator=self.name, where=str(self.path)
        )


def load(path: Path, decision_path: str) -> RegorusEvaluator | FailClosed:
    """The evaluator for ``path``, or a FailClosed one naming what is wrong with it."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        return FailClosed(f"{path}: cannot read the policy: {exc.strerror or exc}")
    try:
        return RegorusEvaluator(path, decision_path)
    except RuntimeError as exc:
        return FailClosed(located(str(exc), str(path)), policy_hash(source))
