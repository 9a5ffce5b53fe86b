"""The AWS part of the sandbox: moto_server with demo Step Functions state machines.

``seed_demo(client, sqs)`` creates three state machines and starts one execution of
each, so Step Functions can be tried without an AWS account:

- ``opsdeck-demo-succeed``: Pass -> succeeds (two published versions and alias ``live``
  at version 2, so rollback has somewhere to go);
- ``opsdeck-demo-fail``: fails with error ``Demo.PaymentDeclined`` and a cause;
- ``opsdeck-demo-wait``: waits on a callback task token (``sqs:sendMessage
  .waitForTaskToken``) that nobody answers, so it stays RUNNING and shows as stuck.
  moto cannot run activity tasks (GetActivityTask is missing), so the "waiting worker"
  demo is a callback task, which is the same situation for an operator;
- ``opsdeck-demo-sleep``: a one-hour Wait state, to try cancel/terminate on (moto
  cannot stop a run blocked on a callback: its status stays RUNNING).

This module imports boto3 only inside functions (CLI start-up).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from console.errors import BackendUnavailable

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/opsdeck-demo"
PREFIX = "opsdeck-demo-"
SUCCEED, FAIL, WAIT = f"{PREFIX}succeed", f"{PREFIX}fail", f"{PREFIX}wait"
SLEEP = f"{PREFIX}sleep"
CALLBACK_QUEUE = "opsdeck-demo-callbacks"
ALIAS = "live"


def definitions(queue_url: str) -> dict[str, dict[str, Any]]:
    return {
        SUCCEED: {
            "Comment": "opsdeck demo: succeeds",
            "StartAt": "Charge",
            "States": {"Charge": {"Type": "Pass", "Result": {"ok": True}, "End": True}},
        },
        FAIL: {
            "Comment": "opsdeck demo: fails",
            "StartAt": "Charge",
            "States": {
                "Charge": {
                    "Type": "Fail",
                    "Error": "Demo.PaymentDeclined",
                    "Cause": "card 4242 declined by the demo gateway",
                }
            },
        },
        WAIT: {
            "Comment": "opsdeck demo: waits on a callback task token nobody answers",
            "StartAt": "AwaitApproval",
            "States": {
                "AwaitApproval": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {
                        "QueueUrl": queue_url,
                        "MessageBody": {"token.$": "$$.Task.Token", "order.$": "$.order"},
                    },
                    "End": True,
                }
            },
        },
        SLEEP: {
            "Comment": "opsdeck demo: sleeps an hour (try cancel on it)",
            "StartAt": "Sleep",
            "States": {"Sleep": {"Type": "Wait", "Seconds": 3600, "End": True}},
        },
    }


def seed_demo(sfn: Any, sqs: Any, suffix: str = "") -> dict[str, str]:
    """Create the demo state machines (idempotent) and start one execution of each.

    Returns ids: ``{"succeed": ARN, "fail": ARN, "wait": ARN, "<kind>_execution": ARN,
    "alias": ARN}``. ``suffix`` makes names unique (tests sharing one moto_server).
    """
    queue_url = sqs.create_queue(QueueName=f"{CALLBACK_QUEUE}{suffix}")["QueueUrl"]
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    ids: dict[str, str] = {}
    for name, definition in definitions(queue_url).items():
        full = f"{name}{suffix}"
        kind = name.removeprefix(PREFIX)
        if full in existing:
            arn = existing[full]
        else:
            arn = sfn.create_state_machine(
                name=full, definition=json.dumps(definition), roleArn=ROLE, publish=True
            )["stateMachineArn"]
            if name == SUCCEED:
                changed = dict(definition, Comment="opsdeck demo: succeeds (v2)")
                sfn.update_state_machine(
                    stateMachineArn=arn, definition=json.dumps(changed), publish=True
                )
                sfn.create_state_machine_alias(
                    name=ALIAS,
                    routingConfiguration=[{"stateMachineVersionArn": f"{arn}:2", "weight": 100}],
                )
        ids[kind] = arn
        started = sfn.start_execution(
            stateMachineArn=arn,
            name=f"{kind}-{int(time.time() * 1000)}",
            input=json.dumps({"order": f"order-{kind}"}),
        )
        ids[f"{kind}_execution"] = started["executionArn"]
    ids["alias"] = f"{ids['succeed']}:{ALIAS}"
    return ids


def engine_settings(endpoint: str, region: str = REGION) -> dict[str, object]:
    """The `stepfunctions` engine mapping of the sandbox context."""
    return {
        "name": "stepfunctions",
        "kind": "stepfunctions",
        "region": region,
        "endpoint-url": endpoint,
        "name-prefix": PREFIX,
        "emulator": True,
    }


def enable_execution(endpoint: str) -> None:
    """Make moto really run state machines."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    req = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")
    urllib.request.urlopen(req, timeout=2).close()


def start_moto(port: int, log: Path, timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """moto_server on 127.0.0.1:port, detached (outlives the CLI), state machines running."""
    binary = Path(sys.executable).parent / "moto_server"
    command = [str(binary)] if binary.exists() else [sys.executable, "-m", "moto.server"]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            enable_execution(endpoint)
            return proc
        except OSError as e:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise BackendUnavailable(
                    "moto_server", endpoint, str(e), hint=f"see {log}; is moto[server] installed?"
                ) from None
            time.sleep(0.1)


def clients(endpoint: str, region: str = REGION) -> tuple[Any, Any]:
    """(stepfunctions, sqs) boto3 clients for moto (dummy credentials: moto accepts any)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name=region
    )
    return (
        session.client("stepfunctions", endpoint_url=endpoint),
        session.client("sqs", endpoint_url=endpoint),
    )


# -- lifecycle (called by `opsdeck sandbox up|down|status`) ------------------------------

STATE_FILE = "aws.json"


def _read(data_dir: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((data_dir / STATE_FILE).read_text())
        return state
    except (OSError, ValueError):
        return None


def status(data_dir: Path) -> dict[str, Any] | None:
    """{"pid", "port", "endpoint", "demo_ids"} of the running moto_server, else None."""
    from console.sandbox import _alive

    state = _read(data_dir)
    if state is None or not _alive(int(state.get("pid", 0)), "moto"):
        return None
    return state


def up(data_dir: Path, timeout: float = 30.0) -> dict[str, Any]:
    """Start moto_server (on the previous port when free) and seed the demo; idempotent.

    moto keeps everything in memory, so a restarted server is seeded afresh.
    """
    from console.sandbox import _port_free
    from console.sandbox.devserver import free_port

    data_dir.mkdir(parents=True, exist_ok=True)
    running = status(data_dir)
    if running is not None:
        return running
    previous = _read(data_dir) or {}
    port = int(previous.get("port", 0))
    if not port or not _port_free(port):
        port = free_port()
    proc = start_moto(port, data_dir / "moto.log", timeout)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        ids = seed_demo(*clients(endpoint))
    except Exception as e:
        proc.kill()
        raise BackendUnavailable("moto_server", endpoint, f"seeding failed: {e}") from None
    state = {"pid": proc.pid, "port": port, "endpoint": endpoint, "demo_ids": ids}
    tmp = data_dir / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(data_dir / STATE_FILE)
    return state


def down(data_dir: Path) -> bool:
    """Stop moto_server; True if it was running."""
    state = status(data_dir)
    if state is None:
        return False
    from console.sandbox.devserver import stop_process

    return bool(stop_process(int(state["pid"])))


def summary(state: dict[str, Any]) -> str:
    ids = state.get("demo_ids", {})
    lines = [f"  Step Functions: {state['endpoint']}  (moto_server, engine `stepfunctions`)"]
    for kind in ("succeed", "fail", "wait", "sleep"):
        arn = ids.get(f"{kind}_execution", "")
        if arn:
            scope, name = arn.split(":execution:", 1)[-1].rsplit(":", 1)
            lines.append(f"    stepfunctions:{scope}/{name}")
    return "\n".join(lines)


def try_up(data_dir: Path) -> dict[str, Any] | None:
    """``up`` for `opsdeck sandbox up`: a failure is a note, never the end of the sandbox
    (Temporal still works without the Step Functions part)."""
    import sys

    try:
        return up(data_dir)
    except (OSError, BackendUnavailable) as e:
        print(f"Step Functions sandbox not started: {e}", file=sys.stderr)
        return None
