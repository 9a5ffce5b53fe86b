"""A local HTTP double of the Logic Apps management API (stdlib http.server, a thread).

Every payload it serves is an official example from Azure/azure-rest-api-specs
(tests/fixtures/azure-logicapps/, see its SOURCE.md) with only values changed
(names, statuses, times) to make runs that fail, wait or page; no response shape is
made up. The ``error`` of a failed action uses the documented ``{code, message}``
error object. Each request is checked: path under the configured subscription and
resource group, the api-version of the flavour (Consumption 2019-05-01, Standard
hostruntime 2018-11-01) and the bearer token; every request is recorded.

Faults are injected per path fragment: ``double.fail("runs", 429, {"Retry-After": "1"})``
answers the next matching request with that status (ARM error body), or with a
malformed body when ``body`` is given as bytes.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "azure-logicapps"
TOKEN = "test-token"
CONSUMPTION_API = "2019-05-01"
STANDARD_API = "2018-11-01"
SITE = "test-site"


def fixture(name: str) -> tuple[dict[str, Any], Any]:
    """(request parameters, documented 200 response) of one example file.

    Some examples wrap the response as ``"200": {"body": ...}``, others put it directly
    under ``"200"``; both are handled.
    """
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    ok = data["responses"]["200"]
    if isinstance(ok, dict) and "body" in ok and not ({"value", "properties"} & set(ok)):
        ok = ok["body"]
    return data["parameters"], ok


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any = None


@dataclass
class Fault:
    fragment: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    times: int = 1


class LogicAppsDouble:
    def __init__(self) -> None:
        params, _ = fixture("Workflows_ListByResourceGroup")
        self.subscription = params["subscriptionId"]
        self.resource_group = params["resourceGroupName"]
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.resubmitted: list[str] = []
        self.cancel_lag = 1  # GETs that still show Running after a cancel
        self._lock = threading.Lock()
        self._build()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- data (official examples, values changed) -----------------------------------------

    def _build(self) -> None:
        _, listed = fixture("Workflows_ListByResourceGroup")
        _, got = fixture("Workflows_Get")
        self.workflow_name = got["name"]
        self.workflow = copy.deepcopy(got)
        self.workflow_rows = copy.deepcopy(listed["value"])
        _, runs = fixture("WorkflowRuns_List")
        template = runs["value"][0]
        _, actions = fixture("WorkflowRunActions_List")
        action = actions["value"][0]
        self.runs: dict[str, dict[str, Any]] = {}
        self.actions: dict[str, list[dict[str, Any]]] = {}
        ok_name = template["name"]
        self._add_run(template, ok_name, "Succeeded", action, "Succeeded")
        self.failed_run = "08586676746934337772206998657CU23"
        self._add_run(template, self.failed_run, "Failed", action, "Failed",
                      start="2018-08-10T21:16:32.044238Z")  # fmt: skip
        self.waiting_run = "08586676746934337772206998657CU24"
        self._add_run(template, self.waiting_run, "Running", action, "Waiting",
                      start="2018-08-10T22:16:32.044238Z")  # fmt: skip
        for i in range(5):  # enough rows to page through with a small $top
            self._add_run(template, f"0858667674693433777220699865{i:01d}PG00", "Succeeded",
                          action, "Succeeded", start=f"2018-08-09T0{i}:00:00.0000000Z")  # fmt: skip
        _, triggers = fixture("WorkflowTriggers_List")
        self.triggers = copy.deepcopy(triggers["value"])
        _, histories = fixture("WorkflowTriggerHistories_List")
        self.history_template = histories["value"][0]
        _, versions = fixture("WorkflowVersions_List")
        _, version = fixture("WorkflowVersions_Get")
        create_params, _ = fixture("Workflows_CreateOrUpdate")
        self.current_version = got["properties"]["version"]
        self.old_version = fixture("WorkflowVersions_Get")[0]["versionId"]
        old = copy.deepcopy(version)
        old["properties"]["version"] = self.old_version
        old["properties"]["definition"] = create_params["workflow"]["properties"]["definition"]
        old["properties"]["parameters"] = create_params["workflow"]["properties"]["parameters"]
        current = copy.deepcopy(versions["value"][0])
        current["properties"]["version"] = self.current_version
        current["properties"]["definition"] = copy.deepcopy(got["properties"]["definition"])
        self.versions = {self.current_version: current, self.old_version: old}

    def _add_run(
        self,
        template: dict[str, Any],
        name: str,
        status: str,
        action: dict[str, Any],
        action_status: str,
        start: str | None = None,
    ) -> None:
        run = copy.deepcopy(template)
        run["name"] = name
        run["id"] = template["id"].rsplit("/", 1)[0] + f"/{name}"
        props = run["properties"]
        props["status"] = status
        props["correlation"]["clientTrackingId"] = name
        if start:
            props["startTime"] = props["waitEndTime"] = start
        if status in ("Running", "Waiting"):
            props.pop("endTime", None)
        self.runs[name] = run
        act = copy.deepcopy(action)
        act["id"] = f"{run['id']}/actions/{act['name']}"
        ap = act["properties"]
        ap["status"] = action_status
        ap["correlation"]["clientTrackingId"] = name
        if start:
            ap["startTime"] = start
        if action_status == "Failed":
            ap["code"] = "BadRequest"
            ap["error"] = {"code": "BadRequest", "message": "Http request failed: 400 (pet 1)"}
        if action_status == "Waiting":
            ap.pop("endTime", None)
            ap["code"] = "NotSpecified"
        self.actions[name] = [act]

    # -- server ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LogicAppsDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(
        self,
        fragment: str,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        times: int = 1,
    ) -> None:
        self.faults.append(Fault(fragment, status, headers or {}, body, times))

    def settings(self, **extra: Any) -> dict[str, object]:
        """An engine mapping pointing at this double."""
        return {
            "kind": "logicapps",
            "subscription-id": self.subscription,
            "resource-group": self.resource_group,
            "management-url": self.url,
            **extra,
        }

    def calls(self, method: str | None = None, fragment: str = "") -> list[Recorded]:
        return [
            r for r in self.requests
            if (method is None or r.method == method) and fragment in r.path
        ]  # fmt: skip

    def _prefixes(self) -> dict[str, str]:
        group = f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
        return {
            f"{group}/providers/Microsoft.Logic/workflows": CONSUMPTION_API,
            f"{group}/providers/Microsoft.Web/sites/{SITE}/hostruntime/runtime/webhooks/"
            "workflow/api/management/workflows": STANDARD_API,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(
                self, status: int, payload: Any = None, headers: dict[str, str] | None = None
            ) -> None:
                raw = payload if isinstance(payload, bytes) else (
                    b"" if payload is None else json.dumps(payload).encode()
                )  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def _error(self, status: int, code: str, message: str, **headers: str) -> None:
                self._send(status, {"error": {"code": code, "message": message}}, headers)

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                auth = self.headers.get("Authorization")
                with double._lock:
                    double.requests.append(Recorded(method, parts.path, query, auth, body))
                    fault = next((f for f in double.faults if f.fragment in parts.path), None)
                    if fault is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            double.faults.remove(fault)
                if fault is not None:
                    if fault.body is not None:
                        return self._send(fault.status, fault.body, fault.headers)
                    return self._error(fault.status, f"Http{fault.status}", "injected",
                                       **fault.headers)  # fmt: skip
                if auth != f"Bearer {TOKEN}":
                    return self._error(401, "InvalidAuthenticationToken",
                                       "The access token is invalid.")  # fmt: skip
                prefix = next((p for p in double._prefixes() if parts.path.startswith(p)), None)
                if prefix is None:
                    return self._error(404, "ResourceGroupNotFound", f"no {parts.path}")
                api = double._prefixes()[prefix]
                if query.get("api-version") != api:
                    got = query.get("api-version")
                    return self._error(
                        400, "InvalidApiVersionParameter", f"api-version {got} is not {api}"
                    )
                segments = [s for s in parts.path[len(prefix) :].split("/") if s]
                with double._lock:
                    status, payload = double.route(method, segments, query, body, prefix)
                if status >= 400:
                    return self._error(status, "NotFound", str(payload))
                self._send(status, payload)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        return Handler

    # -- routes ------------------------------------------------------------------------

    def route(
        self, method: str, seg: list[str], query: dict[str, str], body: Any, prefix: str
    ) -> tuple[int, Any]:
        if not seg:
            return 200, {"value": self.workflow_rows}
        if seg[0] != self.workflow_name:
            return 404, f"workflow {seg[0]}"
        rest = seg[1:]
        if not rest:
            if method == "PUT":
                return self._put_workflow(body)
            return 200, self.workflow
        if rest == ["runs"]:
            return 200, self._list_runs(query, prefix)
        if rest[0] == "runs" and len(rest) >= 2:
            run = self.runs.get(rest[1])
            if run is None:
                return 404, f"run {rest[1]}"
            if len(rest) == 2:
                return 200, self._read_run(run)
            if rest[2:] == ["actions"]:
                return 200, {"value": self.actions[rest[1]]}
            if rest[2:] == ["cancel"] and method == "POST":
                run["properties"]["_cancel_after"] = self.cancel_lag
                return 200, None
            if rest[2:] == ["resubmit"] and method == "POST":
                self.resubmitted.append(f"{rest[1]} from {body}")
                return 202, None
        if rest == ["triggers"]:
            return 200, {"value": self.triggers}
        if len(rest) >= 3 and rest[0] == "triggers" and rest[2] == "histories":
            if len(rest) == 3:
                return 200, {"value": [self._history(n) for n in self.runs]}
            if rest[4:] == ["resubmit"] and method == "POST":
                if rest[3] not in self.runs:
                    return 404, f"history {rest[3]}"
                self.resubmitted.append(rest[3])
                return 202, None
        if rest == ["versions"]:
            return 200, {"value": list(self.versions.values())}
        if rest[0] == "versions" and len(rest) == 2:
            if rest[1] not in self.versions:
                return 404, f"version {rest[1]}"
            return 200, self.versions[rest[1]]
        return 404, "/".join(seg)

    def _read_run(self, run: dict[str, Any]) -> dict[str, Any]:
        props = run["properties"]
        lag = props.get("_cancel_after")
        if lag is not None:
            if lag <= 0:
                props.pop("_cancel_after")
                props["status"] = "Cancelled"
            else:
                props["_cancel_after"] = lag - 1
        shown = copy.deepcopy(run)
        shown["properties"].pop("_cancel_after", None)
        return shown

    def _history(self, run_name: str) -> dict[str, Any]:
        row = copy.deepcopy(self.history_template)
        row["name"] = run_name
        row["id"] = row["id"].rsplit("/", 1)[0] + f"/{run_name}"
        row["properties"]["run"]["name"] = run_name
        row["properties"]["correlation"]["clientTrackingId"] = run_name
        return row

    def _list_runs(self, query: dict[str, str], prefix: str) -> dict[str, Any]:
        rows = sorted(self.runs.values(), key=lambda r: r["properties"]["startTime"], reverse=True)
        for clause in (query.get("$filter") or "").split(" and "):
            clause = clause.strip()
            if not clause:
                continue
            name, op, value = clause.split(" ", 2)
            value = value.strip("'")
            if name == "status" and op == "eq":
                rows = [r for r in rows if r["properties"]["status"] == value]
            elif name == "clientTrackingId" and op == "eq":
                rows = [r for r in rows
                        if r["properties"]["correlation"]["clientTrackingId"] == value]  # fmt: skip
            elif name == "startTime" and op in ("ge", "lt"):
                bound = value[:19]
                if op == "ge":
                    rows = [r for r in rows if r["properties"]["startTime"][:19] >= bound]
                else:
                    rows = [r for r in rows if r["properties"]["startTime"][:19] < bound]
            else:
                raise ValueError(f"unsupported $filter clause {clause!r}")
        top = int(query.get("$top") or 100)
        skip = int(query.get("$skiptoken") or 0)
        page = [self._read_run(r) for r in rows[skip : skip + top]]
        result: dict[str, Any] = {"value": page}
        if skip + top < len(rows):
            next_query = dict(query, **{"$skiptoken": str(skip + top)})
            result["nextLink"] = (
                f"{self.url}{prefix}/{self.workflow_name}/runs?{urlencode(next_query)}"
            )
        return result

    def _put_workflow(self, body: Any) -> tuple[int, Any]:
        _, created = fixture("Workflows_CreateOrUpdate")
        updated = copy.deepcopy(self.workflow)
        props = updated["properties"]
        props["definition"] = body["properties"]["definition"]
        props["parameters"] = body["properties"].get("parameters", {})
        new_version = str(int(self.current_version) + 1)
        props["version"] = new_version
        props["changedTime"] = created["properties"]["changedTime"]
        self.workflow = updated
        version = copy.deepcopy(self.versions[self.current_version])
        version["properties"].update(
            version=new_version, definition=props["definition"], parameters=props["parameters"]
        )
        self.versions[new_version] = version
        self.current_version = new_version
        return 200, updated
