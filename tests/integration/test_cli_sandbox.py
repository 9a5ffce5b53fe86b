"""`opsdeck sandbox up|status|down` end to end: the path `make run` takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

OPSDECK = str(Path(sys.executable).parent / "opsdeck")


def opsdeck(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPSDECK, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_sandbox_up_writes_current_context(tmp_path: Path) -> None:
    config_file = tmp_path / "config" / "opsdeck" / "config.yaml"
    assert opsdeck("sandbox", "status").returncode == 1
    done = opsdeck("sandbox", "up", "-o", "json")
    try:
        assert done.returncode == 0, done.stderr
        state = json.loads(done.stdout)["state"]
        assert state["data_dir"] == str(tmp_path / "data" / "opsdeck" / "sandbox")
        config = yaml.safe_load(config_file.read_text())
        assert config["current-context"] == "sandbox"
        assert config["contexts"]["sandbox"]["sandbox"] is True
        engine, sfn = config["contexts"]["sandbox"]["engines"]
        assert sfn["kind"] == "stepfunctions" and sfn["endpoint-url"].startswith("http://127.")
        assert engine["address"] == f"127.0.0.1:{state['grpc_port']}"
        assert engine["http-address"] == f"127.0.0.1:{state['http_port']}"
        (demo_queues,) = config["contexts"]["sandbox"]["queues"]  # the broker runs here
        assert demo_queues["name"] == "rabbit" and demo_queues["kind"] == "rabbitmq"
        assert demo_queues["queues"] == [
            "opsdeck-demo.orders.dlq",
            "opsdeck-demo.orders.dlq.parking",
        ]

        deadline = time.monotonic() + 30
        while True:  # the demo workflows appear as visibility catches up
            listed = opsdeck("-o", "json", "executions", "list")
            assert listed.returncode == 0, listed.stderr
            ids = {row["workflow_id"] for row in json.loads(listed.stdout)}
            if {"demo-completed", "demo-stuck-activity"} <= ids:
                break
            assert time.monotonic() < deadline, ids
        status = opsdeck("sandbox", "status")
        assert status.returncode == 0 and "Sandbox running" in status.stdout
        assert "Step Functions: http://127.0.0.1:" in status.stdout

        # a second `up` keeps the user's other contexts, comments and the sandbox's queues
        text = config_file.read_text().replace(
            "contexts:\n", "# my notes\ncontexts:\n  mine:\n    engines: []\n", 1
        )
        text = text.replace(
            "    queues:\n",
            "    queues:\n    - {name: mq, kind: rabbitmq, url: 'amqp://127.0.0.1:5673/%2F'}\n",
            1,
        )
        config_file.write_text(text)
        assert opsdeck("context", "use", "mine").returncode == 0
        again = opsdeck("sandbox", "up")
        assert again.returncode == 0, again.stderr
        after = config_file.read_text()
        assert "# my notes" in after and "current-context: mine" in after
        assert yaml.safe_load(after)["contexts"]["sandbox"]["engines"][0] == engine
        kept = yaml.safe_load(after)["contexts"]["sandbox"]["queues"]
        assert [q["name"] for q in kept] == ["rabbit", "mq"]  # the user's entry is kept
    finally:
        down = opsdeck("sandbox", "down")
    assert down.returncode == 0, down.stderr
    assert opsdeck("sandbox", "status").returncode == 1
