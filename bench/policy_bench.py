"""Policy decision cost: in-process regorus vs the OPA-server client over loopback, and
what the gate adds to a whole `opsdeck policy check` process.

    .venv/bin/python bench/policy_bench.py [--n 20000]

Prints µs per decision for the shipped policy and the production-approval example,
in-process and through tests/integration/opa_double.py (OPA's Data API, rego-cpp).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.opa import OpaServerEvaluator  # noqa: E402
from console.config import Context  # noqa: E402
from console.policy.load import DEFAULT_POLICY  # noqa: E402
from console.policy.model import ChangeRequest, Identity, policy_input  # noqa: E402
from console.policy.regorus import RegorusEvaluator  # noqa: E402
from tests.integration.opa_double import opa_server  # noqa: E402

POLICIES = [DEFAULT_POLICY, ROOT / "docs" / "policy-examples" / "prod_bulk_needs_approval.rego"]


def per_decision(decide: object, document: dict[str, object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        decide(document)  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def process_ms(args: list[str], rounds: int = 7) -> float:
    env = dict(os.environ, OPSDECK_CONFIG=str(Path(tempfile.gettempdir()) / "no-config.yaml"))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(args, env=env, capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@contextmanager
def canned_server() -> Iterator[str]:
    """The client's own cost: a loopback HTTP server answering one fixed decision."""
    body = json.dumps({"result": {"result": "allow", "reasons": []}}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    n = parser.parse_args().n
    identity = Identity("olga", ("oncall",), verified=True, issuer="https://idp")
    context = Context("prod", (), production=True, extra={"labels": {"env": "prod"}})
    change = ChangeRequest("terminate", "temporal", tuple(f"t{i}" for i in range(11)))
    document = policy_input(identity, context, change)
    for policy in POLICIES:
        local = RegorusEvaluator(policy)
        us = per_decision(local.decide, document, n)
        with opa_server(policy) as url:
            remote = OpaServerEvaluator(url, "opsdeck/decision")
            remote_us = per_decision(remote.decide, document, max(n // 20, 200))
        print(f"{policy.name}: regorus {us:.1f} us/decision ({1e6 / us:,.0f}/s); OPA Data API "
              f"client (loopback, rego-cpp) {remote_us:.0f} us/decision "
              f"({1e6 / remote_us:,.0f}/s)")  # fmt: skip
    with canned_server() as url:
        client = OpaServerEvaluator(url, "opsdeck/decision")
        client_us = per_decision(client.decide, document, max(n // 10, 500))
    print(f"OPA Data API client alone (loopback server with a fixed answer): "
          f"{client_us:.0f} us/decision ({1e6 / client_us:,.0f}/s)")  # fmt: skip
    opsdeck = str(ROOT / ".venv" / "bin" / "opsdeck")
    version = process_ms([opsdeck, "--version"])
    check = process_ms([opsdeck, "policy", "check", "terminate", "--count", "11", "-o", "json"])
    print(f"whole process: opsdeck --version {version:.0f} ms; policy check {check:.0f} ms")


if __name__ == "__main__":
    main()
