"""`opsdeck policy check|test|show` (docs/policy.md)."""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.cli_common import output_format
from console.output import emit


def _config(args: argparse.Namespace) -> Any:
    from console.config import load_config

    return load_config(Path(args.config) if getattr(args, "config", None) else None)


def _policy_info(config: Any, evaluator: Any) -> dict[str, Any]:
    from console.policy.load import policy_file

    server = config.policy.get("server")
    return {
        "file": None if server else str(policy_file(config)),
        "server": server,
        "decision": config.policy.get("decision", "opsdeck/decision"),
        "hash": evaluator.policy_hash,
        "evaluator": evaluator.name,
    }


def cmd_check(args: argparse.Namespace) -> int:
    """Explain what the policy decides for one change: exit 0 allow, 3 deny or approve."""
    from console.errors import UsageError
    from console.policy.gate import PolicyGate
    from console.policy.model import ChangeRequest, Identity, policy_input

    config = _config(args)
    context = config.context(getattr(args, "context", None))
    gate = PolicyGate(config, context, read_only=bool(getattr(args, "read_only", False)))
    identity = gate.identity
    if args.user:
        identity = Identity(args.user, tuple(args.group), args.verified)
    targets = list(args.target)
    if args.count is not None:
        if args.count < 0:
            raise UsageError("--count: expected 0 or more")
        targets += [f"target-{i + 1}" for i in range(args.count - len(targets))]
    when = None
    if args.at:
        try:
            when = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--at: expected an ISO time, got {args.at!r}") from None
        if when.tzinfo is None:
            raise UsageError("--at: give a timezone (e.g. 2026-12-02T10:00:00Z)")
    change = ChangeRequest(
        args.action,
        args.engine,
        tuple(targets),
        reason=args.reason,
        runbook=args.runbook,
        experiment=args.experiment,
    )
    when = when or datetime.now(UTC)  # one instant for the decision and the input shown
    decision = gate.decide(change, identity=identity, now=when)
    document = policy_input(identity, context, change, read_only=gate.read_only, now=when)
    data = {
        "decision": decision.as_dict(),
        "input": document,
        "policy": _policy_info(config, gate.evaluator),
    }
    fmt = output_format(args)
    if fmt != "table":
        emit(data, fmt)
    else:
        out = sys.stdout
        out.write(f"{decision.result.upper()}: {args.action} by {identity} in {context.name}\n")
        for reason in decision.reasons:
            out.write(f"  because: {reason}\n")
        if decision.result == "approve":
            groups = ", ".join(decision.approver_groups) or "anyone but the requester"
            out.write(f"  needs {decision.approvals} approval(s) from {groups}\n")
        info = data["policy"]
        out.write(
            f"  policy: {info['file'] or info['server']} ({info['hash']}, {info['evaluator']})\n"
        )
    return 0 if decision.result == "allow" else 3


_RULE = re.compile(r"^(test_[A-Za-z0-9_]+)\s*(?:if\b|:=|=|\{)", re.MULTILINE)


def merged_source(policy: Path, tests: list[Path]) -> tuple[str, dict[int, tuple[str, int]]]:
    """The policy with its same-package test files appended (opa-eval takes one file), and
    a map from merged line numbers back to FILE, LINE for located errors."""
    lines: list[str] = []
    where: dict[int, tuple[str, int]] = {}
    for index, path in enumerate([policy, *tests]):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if index > 0 and re.match(r"^\s*(package|import)\b", line):
                line = ""  # one package; its imports are the policy's
            lines.append(line)
            where[len(lines)] = (str(path), number)
    return "\n".join(lines) + "\n", where


def cmd_test(args: argparse.Namespace) -> int:
    """Run every test_ rule; exit 1 when one fails, 2 when a file does not load."""
    import opa_eval

    from console.policy.load import policy_file
    from console.policy.regorus import UNDEFINED, located

    files = [Path(f) for f in args.files] or [policy_file(_config(args))]
    policies = [f for f in files if not f.name.endswith("_test.rego")]
    tests = [f for f in files if f.name.endswith("_test.rego")]
    if not tests:  # the policy's companion: team.rego -> team_test.rego
        tests = [p.with_name(p.stem + "_test.rego") for p in policies]
        tests = [t for t in tests if t.exists()]
    if len(policies) != 1:
        from console.errors import UsageError

        raise UsageError("give one policy file and its *_test.rego files")
    for path in [*policies, *tests]:
        if not path.exists():
            print(f"opsdeck: {path}: no such file", file=sys.stderr)
            return 2
    source, where = merged_source(policies[0], tests)
    rules = sorted(set(_RULE.findall(source)))
    package = re.search(r"^package\s+([\w.]+)", source, re.MULTILINE)
    prefix = f"data.{package.group(1) if package else 'opsdeck'}"
    results: list[dict[str, Any]] = []
    with tempfile.NamedTemporaryFile("w", suffix=".rego", delete=False) as tmp:
        tmp.write(source)
    try:
        try:  # regorus parses when loading: a syntax error is the file's, not a test's
            opa_eval.OpaEval(tmp.name, query=f"{prefix}.{rules[0] if rules else 'decision'}")
        except RuntimeError as exc:
            print(f"opsdeck: policy error: {located(str(exc), str(policies[0]), where)}",
                  file=sys.stderr)  # fmt: skip
            return 2
        for rule in rules:
            try:
                value = opa_eval.OpaEval(tmp.name, query=f"{prefix}.{rule}").evaluate_parsed("{}")
            except RuntimeError as exc:
                failure = located(str(exc), str(policies[0]), where)
                results.append({"rule": rule, "passed": False, "error": failure})
                continue
            passed = value is True
            why = "undefined" if value in (None, UNDEFINED) else f"got {value!r}"
            error = None if passed else why
            results.append({"rule": rule, "passed": passed, "error": error})
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    failed = [r for r in results if not r["passed"]]
    fmt = output_format(args)
    if fmt != "table":
        emit({"tests": results, "passed": len(results) - len(failed), "failed": len(failed)}, fmt)
    else:
        for r in results:
            error = f"  {r['error']}" if r["error"] else ""
            print(f"{'PASS' if r['passed'] else 'FAIL'}  {r['rule']}{error}")
        print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if not results:
        print("opsdeck: no test_ rules found", file=sys.stderr)
        return 1
    return 1 if failed else 0


def cmd_show(args: argparse.Namespace) -> int:
    from console.policy.load import load_evaluator

    config = _config(args)
    emit(_policy_info(config, load_evaluator(config)), output_format(args))
    return 0
