from __future__ import annotations

import json
import urllib.request

from console.sandbox.devserver import DevServer


def test_dev_server_serves_http_api(temporal_server: DevServer) -> None:
    url = f"http://{temporal_server.http_address}/api/v1/namespaces/default"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["namespaceInfo"]["name"] == "default"
