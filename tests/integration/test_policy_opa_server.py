"""The same policy gives the same decisions in-process (regorus) and through the OPA
server evaluator (OPA's Data API, rego-cpp behind it: see opa_double); a server that
is down or answers undefined denies (fail closed)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from adapters.opa import OpaServerEvaluator
from console.config import Config, Context
from console.policy.load import DEFAULT_POLICY, load_evaluator
from console.policy.model import ChangeRequest, Identity, policy_input
from console.policy.regorus import RegorusEvaluator

from .opa_double import opa_server

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "policy-examples"
L2 = Identity("lee", ("l2",), verified=True, issuer="https://idp")
ONCALL = Identity("olga", ("oncall",), verified=True, issuer="https://idp")
NOBODY = Identity("root")
DEV = Context("dev", ())
PROD = Context("prod", (), production=True, extra={"labels": {"env": "prod"}})
PROD_CHAOS = Context("prod", (), production=True, extra={"chaos": {"allowed": True}})
RO = Context("ro", (), read_only=True)


def cases() -> list[dict[str, object]]:
    from datetime import UTC, datetime

    tuesday_noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    out = []
    for who in (L2, ONCALL, NOBODY):
        for context in (DEV, PROD, PROD_CHAOS, RO):
            for change in (
                ChangeRequest("retry", "temporal", ("t1",)),
                ChangeRequest("retry", "temporal", ("t1",), runbook="stuck-activity"),
                ChangeRequest("terminate", "temporal", tuple(f"t{i}" for i in range(11))),
                ChangeRequest("chaos.run", "chaos", ("kill",), experiment="worker loss"),
                ChangeRequest("chaos.stop_demo_worker", "chaos", ("a", "b")),
                ChangeRequest("dlq.drain", "rabbitmq", ("rabbitmq:orders.dlq",)),
            ):
                for now in (tuesday_noon, saturday):
                    out.append(policy_input(who, context, change, now=now))
    return out


@pytest.mark.parametrize(
    "policy",
    [DEFAULT_POLICY, *sorted(p for p in EXAMPLES.glob("*.rego") if "_test" not in p.name)],
    ids=lambda p: p.name,
)
def test_in_process_and_server_decide_alike(policy: Path) -> None:
    local = RegorusEvaluator(policy)
    documents = cases()
    with opa_server(policy) as url:
        remote = OpaServerEvaluator(url, "opsdeck/decision")
        results = set()
        for document in documents:
            mine, theirs = local.decide(document), remote.decide(document)
            assert (mine.result, mine.reasons, mine.approvals, mine.approver_groups) == (
                theirs.result, theirs.reasons, theirs.approvals, theirs.approver_groups,
            ), document  # fmt: skip
            results.add(mine.result)
        assert remote.policy_hash.startswith("sha256:")
    expected = {"allow", "deny", "approve"} if "approval" in policy.name else {"allow", "deny"}
    assert results == expected  # the table exercises every kind of answer of the policy


def test_server_down_or_undefined_denies(tmp_path: Path) -> None:
    down = OpaServerEvaluator("http://127.0.0.1:9", "opsdeck/decision", timeout=0.5)
    decision = down.decide({"action": "retry"})
    assert decision.result == "deny" and "unreachable" in decision.reasons[0]
    policy = tmp_path / "narrow.rego"
    policy.write_text(
        "package opsdeck\n\nimport rego.v1\n\n"
        'decision := {"result": "allow"} if input.action == "retry"\n'
    )
    with opa_server(policy) as url:
        config = Config(
            path=tmp_path / "c.yaml",
            contexts={},
            policy={"server": url, "decision": "opsdeck/decision"},
        )
        evaluator = load_evaluator(config)
        assert evaluator.name == "opa-server" and evaluator.remote
        assert evaluator.decide({"action": "retry"}).result == "allow"
        undefined = evaluator.decide({"action": "cancel"})
        assert undefined.result == "deny" and "undefined" in undefined.reasons[0]
        missing = OpaServerEvaluator(url, "other/decision").decide({"action": "retry"})
        assert missing.result == "deny"


@contextmanager
def http_double(status: int, body: bytes, delay: float = 0.0) -> Iterator[str]:
    """A server that answers every request with ``status`` and ``body``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_server_errors_deny_naming_the_server_and_opas_message() -> None:
    opa_error = json.dumps({
        "code": "internal_error",
        "message": "error(s) occurred while evaluating query",
        "errors": [{
            "code": "eval_conflict_error",
            "message": "complete rules must not produce multiple outputs",
            "location": {"file": "team.rego", "row": 6, "col": 1},
        }],
    }).encode()  # fmt: skip
    with http_double(500, opa_error) as url:
        evaluator = OpaServerEvaluator(url, "opsdeck/decision")
        decision = evaluator.decide({"action": "retry"})
        assert decision.result == "deny" and decision.evaluator == "opa-server"
        assert decision.reasons == (
            f"policy error, every change is denied: OPA server {url}/v1/data/opsdeck/decision "
            "answered 500: internal_error: error(s) occurred while evaluating query; "
            "team.rego:6:1: complete rules must not produce multiple outputs",
        )
        assert evaluator.policy_hash == ""  # GET /v1/policies fails too; never raises
    with http_double(200, b"[1, 2]") as url:
        odd = OpaServerEvaluator(url, "opsdeck/decision")
        assert odd.policy_hash == ""
        decision = odd.decide({"action": "retry"})
        assert decision.result == "deny" and "no JSON object" in decision.reasons[0]
    with http_double(200, b"<html>proxy</html>") as url:
        decision = OpaServerEvaluator(url, "opsdeck/decision").decide({})
        assert decision.result == "deny" and "no JSON object" in decision.reasons[0]
    with http_double(200, json.dumps({"result": "yes"}).encode()) as url:
        decision = OpaServerEvaluator(url, "opsdeck/decision").decide({})
        assert decision.result == "deny" and "allow|deny|approve" in decision.reasons[0]


def test_a_slow_server_denies_after_the_timeout() -> None:
    body = json.dumps({"result": {"result": "allow"}}).encode()
    # The server answers after 4 s; denying well before that is the timeout at work
    # (the margin is wide so a loaded CI machine cannot flake it).
    with http_double(200, body, delay=4.0) as url:
        evaluator = OpaServerEvaluator(url, "opsdeck/decision", timeout=0.2)
        started = time.perf_counter()
        decision = evaluator.decide({"action": "retry"})
        assert time.perf_counter() - started < 3.0
        assert decision.result == "deny"
        assert decision.reasons[0].endswith("did not answer within 0.2s")


def test_an_error_in_the_policy_denies_on_both_engines(tmp_path: Path) -> None:
    conflict = tmp_path / "conflict.rego"
    conflict.write_text(
        "package opsdeck\n\nimport rego.v1\n\n"
        'decision := {"result": "allow"} if input.a\n'
        'decision := {"result": "deny"} if input.b\n'
    )
    local = RegorusEvaluator(conflict)
    with opa_server(conflict) as url:
        remote = OpaServerEvaluator(url, "opsdeck/decision")
        for document in ({"a": True}, {"b": True}, {"a": True, "b": True}, {}):
            mine, theirs = local.decide(document), remote.decide(document)
            assert mine.result == theirs.result, document
        both = remote.decide({"a": True, "b": True})
        assert both.result == "deny" and "answered 500: internal_error" in both.reasons[0]
