"""An OPA server as the policy evaluator: POST /v1/data/<decision> with {"input": ...}.

The answer's ``result`` is the decision object; no result (the rule is undefined), an
HTTP error or a timeout is a deny naming the server: fail closed, never allow.
The policy hash is asked of the server once (GET /v1/policies: ids and raw sources).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from console.policy.model import Decision


class OpaServerEvaluator:
    name = "opa-server"
    remote = True

    def __init__(self, server: str, decision_path: str, *, timeout: float = 2.0) -> None:
        self.server = server.rstrip("/")
        self.url = f"{self.server}/v1/data/{decision_path}"
        self.timeout = timeout
        self._hash: str | None = None

    @property
    def policy_hash(self) -> str:
        if self._hash is None:
            self._hash = self._policies_hash()
        return self._hash

    def _policies_hash(self) -> str:
        try:
            body = self._request("GET", f"{self.server}/v1/policies", None)
        except OSError:
            return ""
        digest = hashlib.sha256()
        for policy in sorted(body.get("result") or [], key=lambda p: str(p.get("id"))):
            digest.update(str(policy.get("id")).encode() + b"\0")
            digest.update(str(policy.get("raw", "")).encode() + b"\0")
        return f"sha256:{digest.hexdigest()}"

    def _request(self, method: str, url: str, payload: Any) -> dict[str, Any]:
        import urllib.request

        data = None if payload is None else json.dumps(payload, default=str).encode()
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            parsed: dict[str, Any] = json.loads(response.read() or b"{}")
            return parsed

    def decide(self, document: Mapping[str, Any]) -> Decision:
        import urllib.error

        try:
            body = self._request("POST", self.url, {"input": document})
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            return self._deny(f"OPA server {self.url} answered {exc.code}: {detail}")
        except (OSError, ValueError) as exc:
            return self._deny(f"OPA server {self.url} unreachable: {exc}")
        if "result" not in body:
            return self._deny(f"OPA server {self.url}: the decision rule is undefined")
        return Decision.from_result(
            body["result"], policy_hash=self.policy_hash, evaluator=self.name, where=self.url
        )

    def _deny(self, reason: str) -> Decision:
        return Decision(
            "deny",
            (f"policy error, every change is denied: {reason}",),
            policy_hash=self._hash or "",
            evaluator=self.name,
        )
