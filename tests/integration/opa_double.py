"""A loopback server speaking OPA's REST Data API, evaluating with a second Rego engine.

No OPA binary can be installed on this machine (not on PyPI, not in Debian bookworm,
no Go module proxy), so the OPA-server evaluator is tested against this: the request
and response shapes are OPA's documented ones (POST /v1/data/{path} with {"input": ...}
-> {"result": ...}, no "result" key when the rule is undefined; GET /v1/policies ->
{"result": [{"id", "raw"}]}; errors as {"code", "message"}), and the Rego is evaluated
by rego-cpp (PyPI regopy), not by regorus, so a parity test compares two engines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@contextmanager
def opa_server(policy: Path) -> Iterator[str]:
    import regopy

    source = policy.read_text(encoding="utf-8")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/policies":
                self.reply(200, {"result": [{"id": policy.name, "raw": source}]})
            else:
                self.reply(404, {"code": "resource_not_found", "message": self.path})

        def do_POST(self) -> None:
            if not self.path.startswith("/v1/data/"):
                self.reply(404, {"code": "resource_not_found", "message": self.path})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                document = json.loads(self.rfile.read(length) or b"{}")
            except ValueError as exc:
                self.reply(400, {"code": "invalid_parameter", "message": str(exc)})
                return
            rule = "data." + self.path[len("/v1/data/") :].strip("/").replace("/", ".")
            with lock:
                try:
                    interpreter = regopy.Interpreter()
                    interpreter.add_module(policy.name, source)
                    interpreter.set_input(regopy.Input(document.get("input") or {}))
                    answer = interpreter.query(f"x := {rule}")
                    failed = not answer.ok()
                    text = str(answer).strip()
                except Exception as exc:  # rego-cpp: a module that does not compile
                    failed, text = True, str(exc)
            if failed:  # OPA: 500 {"code": "internal_error", "message", "errors": [...]}
                self.reply(
                    500,
                    {
                        "code": "internal_error",
                        "message": "error(s) occurred while evaluating query",
                        "errors": [{"code": "eval_error", "message": " ".join(text.split())}],
                    },
                )
                return
            try:
                output = json.loads(text)
            except ValueError:  # rego-cpp prints "undefined" (or nothing) for no result
                output = {}
            bindings = output.get("bindings") if isinstance(output, dict) else None
            if not bindings or "x" not in bindings:
                self.reply(200, {})  # undefined: OPA answers without "result"
                return
            self.reply(200, {"result": bindings["x"]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
