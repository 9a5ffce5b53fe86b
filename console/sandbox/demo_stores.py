"""DEMO PART, for the sandbox only: tiny read-only trace and log stores.

Not Jaeger, not Loki, and not for production: this process serves the spans and log
lines the sandbox demo workers append to ``DIR/spans.jsonl`` and ``DIR/logs.jsonl``
(console.sandbox.worker_telemetry) through just enough of two public APIs for opsdeck's
sources to read them:

- Jaeger query API v1 ``GET /api/traces/{trace_id}``: ``{"data": [{"traceID", "spans",
  "processes", "warnings"}], "total", "limit", "offset", "errors"}`` (span times in
  microseconds, parents as ``CHILD_OF`` references, tags as ``{key, type, value}``);
  an unknown trace is a 404 with ``{"data": null, "errors": [{"code": 404, ...}]}``.
- Loki ``GET /loki/api/v1/query_range``: ``{"status": "success", "data": {"resultType":
  "streams", "result": [{"stream": {labels}, "values": [["<ns>", "line"]]}]}}``. The
  LogQL understood is a selector of ``label="value"`` matchers and at most one line
  filter ``|~ "regex"`` or ``|= "text"``; anything else is a 400.

Run: ``python -m console.sandbox.demo_stores --dir DIR --port PORT``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*')
_FILTER = re.compile(r'^\s*\|(~|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


def _records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a line being written
    except FileNotFoundError:
        return


def _tag(key: str, value: Any) -> dict[str, Any]:
    kind = (
        "bool"
        if isinstance(value, bool)
        else "int64"
        if isinstance(value, int)
        else "float64"
        if isinstance(value, float)
        else "string"
    )
    return {"key": key, "type": kind, "value": value}


def jaeger_trace(directory: Path, trace_id: str) -> dict[str, Any] | None:
    """The Jaeger v1 ``/api/traces/{id}`` document, or None if no span has this id."""
    wanted = trace_id.lower().rjust(32, "0")
    spans = []
    for record in _records(directory / "spans.jsonl"):
        if record.get("trace_id") != wanted:
            continue
        tags = [_tag(k, v) for k, v in sorted((record.get("attributes") or {}).items())]
        if record.get("error"):
            tags.append(_tag("error", True))
        parent = record.get("parent_id")
        start = int(record["start_ns"]) // 1000
        spans.append(
            {
                "traceID": wanted,
                "spanID": record["span_id"],
                "operationName": record.get("name", ""),
                "references": (
                    [{"refType": "CHILD_OF", "traceID": wanted, "spanID": parent}] if parent else []
                ),
                "startTime": start,
                "duration": max(0, int(record.get("end_ns") or 0) // 1000 - start),
                "tags": tags,
                "logs": [],
                "processID": "p1",
                "warnings": None,
            }
        )
    if not spans:
        return None
    service = "opsdeck-sandbox-workers"
    return {
        "data": [
            {
                "traceID": wanted,
                "spans": spans,
                "processes": {"p1": {"serviceName": service, "tags": []}},
                "warnings": None,
            }
        ],
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }


def parse_logql(query: str) -> tuple[dict[str, str], tuple[str, str] | None]:
    """``{a="b", c="d"} |~ "re"`` -> ({a: b, c: d}, ("~", "re")); ValueError otherwise."""
    query = query.strip()
    if not query.startswith("{") or "}" not in query:
        raise ValueError('expected a stream selector {label="value", ...}')
    body, rest = query[1:].split("}", 1)
    labels: dict[str, str] = {}
    for part in filter(str.strip, body.split(",")):
        match = _MATCHER.fullmatch(part)
        if match is None:
            raise ValueError(f'only label="value" matchers are supported, got {part.strip()!r}')
        labels[match.group(1)] = json.loads(f'"{match.group(2)}"')
    line_filter = None
    if rest.strip():
        found = _FILTER.match(rest)
        if found is None:
            raise ValueError(f'only one |~ "regex" or |= "text" filter is supported: {rest!r}')
        line_filter = (found.group(1), json.loads(f'"{found.group(2)}"'))
    return labels, line_filter


def loki_query_range(
    directory: Path, query: str, start_ns: int, end_ns: int, limit: int, forward: bool
) -> dict[str, Any]:
    labels, line_filter = parse_logql(query)
    pattern = re.compile(line_filter[1]) if line_filter and line_filter[0] == "~" else None
    streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
    count = 0
    for record in _records(directory / "logs.jsonl"):
        ts = int(record.get("ts_ns") or 0)
        line = str(record.get("line", ""))
        stream = {str(k): str(v) for k, v in (record.get("labels") or {}).items()}
        if not start_ns <= ts <= end_ns or any(stream.get(k) != v for k, v in labels.items()):
            continue
        if line_filter:
            hit = pattern.search(line) is not None if pattern else line_filter[1] in line
            if not hit:
                continue
        streams.setdefault(tuple(sorted(stream.items())), []).append([str(ts), line])
        count += 1
    result = []
    for key, values in streams.items():
        values.sort(key=lambda v: int(v[0]), reverse=not forward)
        result.append({"stream": dict(key), "values": values[:limit]})
    return {
        "status": "success",
        "data": {"resultType": "streams", "result": result, "stats": {}},
    }


def make_handler(directory: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if path.startswith("/api/traces/"):
                trace = jaeger_trace(directory, path.rsplit("/", 1)[-1])
                if trace is None:
                    error = {"code": 404, "msg": "trace not found"}
                    self.send(
                        404, {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [error]}
                    )
                else:
                    self.send(200, trace)
            elif path == "/loki/api/v1/query_range":
                try:
                    body = loki_query_range(
                        directory,
                        params.get("query", ""),
                        int(params.get("start", 0)),
                        int(params.get("end", 2**63 - 1)),
                        int(params.get("limit", 100)),
                        params.get("direction", "backward") == "forward",
                    )
                except (ValueError, re.error) as exc:
                    self.send(400, {"status": "error", "errorType": "bad_data", "error": str(exc)})
                    return
                self.send(200, body)
            elif path in ("/ready", "/"):
                self.send(200, {"status": "ready", "demo": "opsdeck sandbox demo stores"})
            else:
                self.send(404, {"error": f"not found: {path}"})

        def send(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="opsdeck sandbox demo trace/log stores")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.dir))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
