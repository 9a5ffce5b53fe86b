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
        """sha256 over the server's policy ids and sources; "" while it cannot be had
        (asked again next time, never raises)."""
        if self._hash is None:
            self._hash = self._policies_hash() or None
        return self._hash or ""

    def _policies_hash(self) -> str:
        import http.client

        try:
            body = self._request("GET", f"{self.server}/v1/policies", None)
        except (OSError, ValueError, http.client.HTTPException):
            return ""
        policies = body.get("result")
        if not isinstance(policies, list):
            return ""
        digest = hashlib.sha256()
        entries = [p for p in policies if isinstance(p, dict)]
        for policy in sorted(entries, key=lambda p: str(p.get("id"))):
            digest.update(str(policy.get("id")).encode() + b"\0")
            digest.update(str(policy.get("raw", "")).encode() + b"\0")
        return f"sha256:{digest.hexdigest()}"

    def _request(self, method: str, url: str, payload: Any) -> dict[str, Any]:
        """The JSON object answered; ValueError when the body is not one."""
        import urllib.request

        data = None if payload is None else json.dumps(payload, default=str).encode()
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            parsed = json.loads(response.read() or b"{}")
        if not isinstance(parsed, dict):
            raise ValueError(f"expected a JSON object, got {type(parsed).__name__}")
        return parsed

    def decide(self, document: Mapping[str, Any]) -> Decision:
        import http.client
        import urllib.error

        try:
            body = self._request("POST", self.url, {"input": document})
        except urllib.error.HTTPError as exc:
            return self._deny(f"OPA server {self.url} answered {exc.code}: {error_text(exc)}")
        except ValueError as exc:
            return self._deny(f"OPA server {self.url} answered no JSON object: {exc}")
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, TimeoutError) or isinstance(
                getattr(exc, "reason", None), TimeoutError
            ):
                return self._deny(f"OPA server {self.url} did not answer within {self.timeout:g}s")
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


def error_text(exc: Any) -> str:
    """OPA's error body ({"code", "message", "errors": [{"message", "location"}]}) as
    one line; the raw body (cut short) when it is not that shape."""
    try:
        raw = exc.read().decode("utf-8", "replace")
    except OSError:
        raw = ""
    try:
        body = json.loads(raw)
    except ValueError:
        return " ".join(raw.split())[:200] or str(exc.reason)
    if not isinstance(body, dict) or "message" not in body:
        return " ".join(raw.split())[:200]
    text = f"{body.get('code', 'error')}: {body['message']}"
    details = body.get("errors")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        first = details[0]
        where = first.get("location")
        if isinstance(where, dict) and where.get("file"):
            text += f"; {where['file']}:{where.get('row', '?')}:{where.get('col', '?')}"
        if first.get("message"):
            text += f": {first['message']}"
    return text
