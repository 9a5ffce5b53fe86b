"""Argument parsers of the governance verbs: policy, approvals, login/logout/whoami.

Kept beside cli.py so that module stays a table of contents; handlers live in
cli_policy.py, cli_approvals.py and cli_identity.py and are imported when they run.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Sub = Callable[..., argparse.ArgumentParser]


def add_approval_option(parser: argparse.ArgumentParser) -> None:
    """``--approval ID`` on every change verb: apply what request ID froze and others approved."""
    parser.add_argument(
        "--approval",
        metavar="ID",
        help="an approved request (opsdeck approvals list): apply exactly its frozen plan",
    )


def add_verbs(verbs: Any, sub: Sub) -> None:
    po = verbs.add_parser("policy", help="the Rego policy: explain a decision, run its tests")
    pov = po.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    p = sub(pov, "check", "cli_policy:cmd_check", "what the policy decides for a change, and why")
    p.add_argument("action", metavar="ACTION", help="retry, terminate, rollback, dlq.drain, ...")
    p.add_argument("--engine", default="", help="engine (or queue backend) name")
    p.add_argument("--target", action="append", default=[], metavar="REF", help="a target (repeat)")
    p.add_argument("--count", type=int, help="N targets (when not listing them)")
    p.add_argument("--runbook", help="as a step of this runbook")
    p.add_argument("--experiment", help="as part of this chaos experiment")
    p.add_argument("--reason", default="")
    p.add_argument("--user", help="decide for this user instead of the current identity")
    p.add_argument("--group", action="append", default=[], help="with --user: a group (repeat)")
    p.add_argument("--verified", action="store_true", help="with --user: as a verified identity")
    p.add_argument("--at", metavar="ISO", help="decide as at this time (default: now)")
    p = sub(pov, "test", "cli_policy:cmd_test", "run the policy's test_ rules")
    p.add_argument("files", nargs="*", metavar="FILE", help="policy files (default: configured)")
    sub(pov, "show", "cli_policy:cmd_show", "which policy is in force: file, hash, evaluator")

    ap = verbs.add_parser("approvals", help="changes waiting for a second person")
    apv = ap.add_subparsers(dest="subverb", metavar="SUBVERB", required=True)
    p = sub(apv, "list", "cli_approvals:cmd_list", "requests, newest first")
    p.add_argument("--all", action="store_true", help="also decided, applied and expired ones")
    p = sub(apv, "show", "cli_approvals:cmd_show", "one request: its frozen plan and decisions")
    p.add_argument("id", metavar="ID")
    p = sub(apv, "approve", "cli_approvals:cmd_approve", "approve (never your own request)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--reason", default="")
    p = sub(apv, "deny", "cli_approvals:cmd_deny", "deny, with a reason")
    p.add_argument("id", metavar="ID")
    p.add_argument("--reason", required=True)
    p = sub(apv, "apply", "cli_approvals:cmd_apply", "apply an approved request's frozen plan")
    p.add_argument("id", metavar="ID")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask y/N")
    p.add_argument("--confirm", metavar="TEXT", help="production: the confirmation text")

    p = sub(verbs, "login", "cli_identity:cmd_login", "OIDC device-code login (oidc: in config)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL and code")
    sub(verbs, "logout", "cli_identity:cmd_logout", "forget the stored ID token")
    sub(verbs, "whoami", "cli_identity:cmd_whoami", "the identity the policy sees")
