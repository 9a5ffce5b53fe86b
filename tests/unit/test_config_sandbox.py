"""`sandbox: true` contexts: the only place a local broker's guest/guest login is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import load_config, upsert_context
from console.errors import ConfigError


def config(tmp_path: Path, queue: str, *, sandbox: bool) -> Path:
    path = tmp_path / "config.yaml"
    flag = "    sandbox: true\n" if sandbox else ""
    path.write_text(
        f"contexts:\n  t:\n{flag}    engines: []\n    queues:\n      - kind: rabbitmq\n{queue}"
    )
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    return str(info.value)


LOCAL = "        url: amqp://127.0.0.1:5672/%2F\n"
REMOTE = "        url: amqp://mq.internal:5672/%2F\n"


@pytest.mark.parametrize(
    "queue",
    [LOCAL, LOCAL + "        password: guest\n", LOCAL + "        username: guest\n", ""],
    ids=["default-login", "plain-guest", "guest-user", "no-url"],
)
def test_sandbox_context_may_use_the_local_guest_login(tmp_path: Path, queue: str) -> None:
    context = load_config(config(tmp_path, queue, sandbox=True)).context("t")
    assert context.sandbox and context.queues[0].kind == "rabbitmq"


def test_plain_guest_elsewhere_is_a_located_error(tmp_path: Path) -> None:
    path = config(tmp_path, LOCAL + "        password: guest\n", sandbox=False)
    assert error_of(path).startswith(
        f"{path}:7: contexts.t.queues[0].password: secrets must not be stored in plain text"
    )
    path = config(tmp_path, REMOTE + "        password: guest\n", sandbox=True)
    assert error_of(path).startswith(f"{path}:8: contexts.t.queues[0].password: secrets must")


def test_relying_on_the_default_login_elsewhere_is_a_located_error(tmp_path: Path) -> None:
    expected = (
        "contexts.t.queues[0].password: required: write a keyring reference "
        "(keyring:opsdeck/NAME); the built-in guest/guest login is only for a broker on "
        "127.0.0.1 in a `sandbox: true` context"
    )
    path = config(tmp_path, LOCAL, sandbox=False)
    assert error_of(path) == f"{path}:5: {expected}"
    path = config(tmp_path, REMOTE, sandbox=True)
    assert error_of(path) == f"{path}:6: {expected}"
    path = config(tmp_path, LOCAL + "        username: ops\n", sandbox=True)
    assert error_of(path) == f"{path}:6: {expected}"
    path = config(tmp_path, LOCAL + "        password: keyring:opsdeck/rabbit\n", sandbox=False)
    assert load_config(path).context("t").queues[0].settings["password"].startswith("keyring:")


def test_sandbox_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("contexts:\n  t:\n    sandbox: yes please\n    engines: []\n")
    assert (
        error_of(path) == f"{path}:3: contexts.t.sandbox: expected true or false, got 'yes please'"
    )


def test_upsert_writes_sandbox_and_keeps_the_users_queues(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    engines = [{"kind": "temporal", "address": "127.0.0.1:1"}]
    upsert_context("sandbox", engines, path=path, sandbox=True)
    assert load_config(path).context("sandbox").sandbox
    text = path.read_text().replace(
        "    engines:\n", "    queues:\n    - {kind: rabbitmq, password: guest}\n    engines:\n", 1
    )
    path.write_text(text)
    engines[0]["address"] = "127.0.0.1:2"
    upsert_context("sandbox", engines, path=path, sandbox=True)
    context = load_config(path).context("sandbox")
    assert context.sandbox and context.engines[0].settings["address"] == "127.0.0.1:2"
    assert context.queues[0].settings == {"kind": "rabbitmq", "password": "guest"}


def test_upsert_context_writes_the_sandbox_queues_and_keeps_the_users(tmp_path: Path) -> None:
    from console.sandbox import rabbit

    path = tmp_path / "config.yaml"
    demo = rabbit.queue_settings({"url": rabbit.URL})
    upsert_context("sandbox", [], path=path, sandbox=True, queues=[demo])
    (written,) = load_config(path).context("sandbox").queues
    assert (written.name, written.kind) == ("rabbit", "rabbitmq")
    assert written.settings["queues"] == [rabbit.DLQ, rabbit.PARKING_QUEUE]
    text = path.read_text().replace(
        "    queues:\n",
        "    queues:\n    - {name: mine, kind: rabbitmq, url: 'amqp://127.0.0.1:5673/%2F'}\n",
        1,
    )
    path.write_text(text)
    upsert_context("sandbox", [], path=path, sandbox=True, queues=[demo])
    assert [q.name for q in load_config(path).context("sandbox").queues] == ["rabbit", "mine"]
    upsert_context("sandbox", [], path=path, sandbox=True)  # no broker this time: kept
    assert [q.name for q in load_config(path).context("sandbox").queues] == ["rabbit", "mine"]


def test_sandbox_rabbit_without_a_broker_is_none() -> None:
    from console.sandbox import rabbit
    from console.sandbox.devserver import free_port

    assert rabbit.try_up(port=free_port()) is None
    assert "no broker" in rabbit.summary(None)


def test_upsert_writes_the_demo_slos_once_and_keeps_the_users(tmp_path: Path) -> None:
    from console.sandbox.slos import demo_slos

    path = tmp_path / "config.yaml"
    engines = [{"kind": "temporal", "address": "127.0.0.1:1"}]
    upsert_context("sandbox", engines, path=path, sandbox=True, slos=demo_slos())
    slos = load_config(path).context("sandbox").slos
    assert [(s.name, s.kind, s.objective) for s in slos] == [
        ("orders-success", "success_rate", 0.99),
        ("demo-completion", "completion_time", 0.95),
    ]
    edited = path.read_text().replace("success-rate: 99%", "success-rate: 95%")
    path.write_text(edited)
    upsert_context("sandbox", engines, path=path, sandbox=True, slos=demo_slos())  # up again
    (orders, _) = load_config(path).context("sandbox").slos
    assert orders.objective == 0.95
