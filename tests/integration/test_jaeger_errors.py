"""Every HTTP source turns 4xx/5xx, timeouts and malformed JSON into an error naming it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.jaeger import JaegerSource
from adapters.loki import LokiSource
from adapters.prometheus import PrometheusSource
from adapters.tempo import TempoSource
from console.errors import BackendError, BackendUnavailable, ConfigError
from tests.integration.telemetry_double import serve

NOW = datetime(2026, 1, 2, tzinfo=UTC)
CASES: list[tuple[str, str, Any]] = [
    ("jaeger", "/api/traces/abc", lambda s: s.get_trace("abc")),
    ("tempo", "/api/traces/abc", lambda s: s.get_trace("abc")),
    ("loki", "/loki/api/v1/query_range", lambda s: s.find(["x"], NOW, NOW)),
    ("prometheus", "/api/v1/query_range", lambda s: s.query_range("up", NOW, NOW, 15)),
]


def make(kind: str, url: str, timeout: float = 5.0) -> Any:
    settings: dict[str, object] = {"url": url, "timeout": timeout, "selector": '{a="b"}'}
    cls = {"jaeger": JaegerSource, "tempo": TempoSource, "loki": LokiSource}.get(
        kind, PrometheusSource
    )
    return cls.from_config(f"my-{kind}", settings, lambda ref: "secret")


@pytest.mark.parametrize(("kind", "path", "call"), CASES)
@pytest.mark.parametrize("status", [401, 500])
async def test_http_error_names_the_source(kind: str, path: str, call: Any, status: int) -> None:
    with serve() as double:
        double.raw(path, b"upstream broke", status=status)
        source = make(kind, double.url)
        with pytest.raises(BackendError, match=f"{kind} source 'my-{kind}' answered HTTP {status}"):
            await call(source)
        await source.close()


@pytest.mark.parametrize(("kind", "path", "call"), CASES)
async def test_malformed_json(kind: str, path: str, call: Any) -> None:
    with serve() as double:
        double.raw(path, b"{not json")
        source = make(kind, double.url)
        with pytest.raises(BackendError, match=f"{kind} source 'my-{kind}'.*malformed JSON"):
            await call(source)
        await source.close()


@pytest.mark.parametrize(("kind", "path", "call"), CASES)
async def test_timeout(kind: str, path: str, call: Any) -> None:
    with serve() as double:
        double.json(path, {}, delay=1.0)
        source = make(kind, double.url, timeout=0.2)
        with pytest.raises(BackendUnavailable, match=f"{kind} source 'my-{kind}'.*0.2 s"):
            await call(source)
        await source.close()


async def test_connection_refused_names_address() -> None:
    from console.sandbox.devserver import free_port

    url = f"http://127.0.0.1:{free_port()}"
    source = make("jaeger", url)
    with pytest.raises(BackendUnavailable, match=f"jaeger source 'my-jaeger' at {url}"):
        await source.get_trace("abc")
    await source.close()


def test_token_must_be_a_keyring_ref_and_is_sent_as_bearer() -> None:
    with pytest.raises(ConfigError, match="token: must be a keyring reference"):
        JaegerSource.from_config("j", {"url": "https://j", "token": "plain"}, str)
    source = JaegerSource.from_config(
        "j",
        {"url": "https://j", "token": "keyring:opsdeck/j", "headers": {"X": "keyring:opsdeck/x"}},
        lambda ref: f"<{ref}>",
    )
    assert source.headers == {
        "X": "<keyring:opsdeck/x>",
        "Authorization": "Bearer <keyring:opsdeck/j>",
    }
