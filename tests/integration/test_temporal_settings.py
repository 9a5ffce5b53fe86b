"""TemporalEngine.from_config: validation names the field, nothing connects."""

from __future__ import annotations

import pytest

from adapters.temporal import TemporalEngine
from console.errors import ConfigError, NotFound
from console.model import ExecutionRef, ListQuery
from console.sandbox.devserver import DevServer


def make(**settings: object) -> TemporalEngine:
    return TemporalEngine.from_config("prod", dict(settings), lambda ref: f"secret-of-{ref}")


def test_defaults_and_no_connection() -> None:
    engine = make(address="temporal.invalid:7233", kind="temporal", name="prod")
    assert engine.name == "prod" and engine.kind == "temporal"
    assert engine.namespace == "default"
    assert engine.settings.batch_threshold == 10
    assert engine.settings.identity.startswith("opsdeck:")
    assert engine.settings.http_base is None
    assert engine._connection is None  # an unresolvable host is fine until first use


def test_cloud_settings() -> None:
    engine = make(
        address="ns.acct.tmprl.cloud:7233",
        namespace="ns.acct",
        **{"http-address": "ns.acct.tmprl.cloud:443", "api-key": "keyring:opsdeck/cloud"},
        identity="alice@example.com",
    )
    assert engine.settings.http_base == "https://ns.acct.tmprl.cloud:443"
    assert engine.settings.api_key_ref == "keyring:opsdeck/cloud"
    assert engine.settings.identity == "alice@example.com"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({}, "address: required"),
        ({"address": "no-port"}, "address: expected HOST:PORT"),
        ({"address": "h:1", "batch-threshold": 0}, "batch-threshold"),
        ({"address": "h:1", "api-key": "sk-live raw key"}, "api-key: must be a secret reference"),
        ({"address": "h:1", "tls": {"client-cert": "keyring:a/b"}}, "tls: client-cert and"),
        ({"address": "h:1", "tls": {"cert": "x"}}, "tls.cert: unknown field"),
        ({"address": "h:1", "adress": "h:2"}, "adress: unknown field"),
        ({"address": "h:1", "namespace": 3}, "namespace: must be a non-empty string"),
    ],
)
def test_invalid_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        make(**settings)
    assert field in str(info.value)


def test_tls_with_keyring_refs() -> None:
    engine = make(
        address="h:7233",
        tls={"client-cert": "keyring:o/cert", "client-key": "keyring:o/key", "server-name": "x"},
    )
    assert engine.settings.tls is not None
    assert engine.settings.tls.client_cert_ref == "keyring:o/cert"


async def test_api_key_is_resolved_on_first_use_only(temporal_server: DevServer) -> None:
    asked: list[str] = []

    def resolve(ref: str) -> str:
        asked.append(ref)
        return "test-api-key"

    settings: dict[str, object] = {
        "address": temporal_server.address,
        "http-address": temporal_server.http_address,
        "api-key": "keyring:opsdeck/test",
        "tls": False,  # the dev server speaks plain text; the key still goes out as Bearer
    }
    engine = TemporalEngine.from_config("t", settings, resolve)
    assert asked == [] and engine.settings.http_base == f"http://{temporal_server.http_address}"
    assert await engine.count(ListQuery()) >= 0  # HTTP path, Authorization header sent
    assert asked == ["keyring:opsdeck/test"]
    with pytest.raises(NotFound):  # the SDK path connected with the key, then asked
        await engine.describe(ExecutionRef("t", "default", "no-such-workflow"))
