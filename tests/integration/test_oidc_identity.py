"""Verified identity against a LOCAL OIDC issuer: keys made here, served on loopback.

The issuer is a real HTTP server (discovery, JWKS, device authorization, token
endpoints); verification is never mocked. Refused: expired, wrong audience, wrong key,
tampered claims, alg none, HS256 with the public key as secret, wrong issuer. Accepted:
good tokens (RSA and EC), rotated keys. `opsdeck login|whoami|logout` end to end.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from console.errors import IdentityError
from console.identity import device, oidc, store
from console.identity.current import resolve
from console.identity.settings import validate

OPSDECK = str(Path(sys.executable).parent / "opsdeck")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalIssuer:
    """An OIDC issuer on 127.0.0.1: signs tokens with keys it generated itself."""

    def __init__(self) -> None:
        self.private: dict[str, tuple[Any, str]] = {
            "rsa-1": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
            "ec-1": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
        }
        self.published = ["rsa-1", "ec-1"]
        self.hits: dict[str, int] = {}
        self.forms: dict[str, list[dict[str, str]]] = {}
        self.discovery_issuer: str | None = None
        self.poll_script: list[str] = ["authorization_pending", "slow_down", "ok"]
        self.token_claims: dict[str, Any] = {}
        self.interval = 1
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_key(self, kid: str, *, publish: bool = True) -> None:
        self.private[kid] = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "RS256",
        )
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            key, alg = self.private[kid]
            algo = (
                jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
            )
            jwk = json.loads(algo.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        return {"keys": keys}

    def claims(self, **over: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": "opsdeck",
            "sub": "u-1234",
            "iat": now,
            "exp": now + 600,
            "preferred_username": "alice",
            "email": "alice@example.com",
            "groups": ["oncall", "sre"],
        }
        claims.update(over)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, kid: str = "rsa-1", headers: dict[str, Any] | None = None, **over: Any) -> str:
        key, alg = self.private[kid]
        return jwt.encode(
            self.claims(**over), key, algorithm=alg, headers={"kid": kid, **(headers or {})}
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                issuer.hits[self.path] = issuer.hits.get(self.path, 0) + 1
                if self.path == "/.well-known/openid-configuration":
                    self._json(200, {
                        "issuer": issuer.discovery_issuer or issuer.url,
                        "jwks_uri": f"{issuer.url}/jwks",
                        "token_endpoint": f"{issuer.url}/token",
                        "device_authorization_endpoint": f"{issuer.url}/device",
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    })  # fmt: skip
                elif self.path == "/jwks":
                    self._json(200, issuer.jwks(), {"Cache-Control": "public, max-age=300"})
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                issuer.hits[self.path] = issuer.hits.get(self.path, 0) + 1
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                issuer.forms.setdefault(self.path, []).append(form)
                if self.path == "/device":
                    self._json(200, {
                        "device_code": "dev-code-1",
                        "user_code": "WDJB-MJHT",
                        "verification_uri": f"{issuer.url}/activate",
                        "verification_uri_complete": f"{issuer.url}/activate?user_code=WDJB-MJHT",
                        "expires_in": 600,
                        "interval": issuer.interval,
                    })  # fmt: skip
                elif self.path == "/token":
                    step = issuer.poll_script.pop(0) if issuer.poll_script else "ok"
                    if step == "ok":
                        token = issuer.sign(**issuer.token_claims)
                        self._json(200, {"access_token": "at", "token_type": "Bearer",
                                         "id_token": token, "expires_in": 600})  # fmt: skip
                    else:
                        self._json(400, {"error": step})
                else:
                    self._json(404, {"error": "not_found"})

        return Handler


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    oidc.reset_cache()
    server = LocalIssuer()
    try:
        yield server
    finally:
        server.close()
        oidc.reset_cache()


@pytest.fixture(autouse=True)
def _no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headless like CI: tokens go to the 0600 file unless a test installs a keyring."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("OPSDECK_ID_TOKEN", raising=False)
    monkeypatch.delenv("OPSDECK_IDENTITY", raising=False)


def settings(issuer: LocalIssuer, **over: str) -> dict[str, Any]:
    return validate({"issuer": issuer.url, "client-id": "opsdeck", **over})


def refused(issuer: LocalIssuer, token: str, **over: str) -> str:
    with pytest.raises(IdentityError) as info:
        oidc.verify_id_token(token, settings(issuer, **over))
    assert token not in str(info.value)
    return str(info.value)


# -- accepted ------------------------------------------------------------------------------


def test_good_rsa_token_gives_a_verified_identity_with_groups(issuer: LocalIssuer) -> None:
    identity = oidc.verify_id_token(issuer.sign(), settings(issuer))
    assert identity.user == "alice" and identity.groups == ("oncall", "sre")
    assert identity.verified is True and identity.issuer == issuer.url


def test_good_ec_token(issuer: LocalIssuer) -> None:
    checked = oidc.verify(issuer.sign("ec-1"), settings(issuer))
    assert checked.identity.verified and checked.expires_at.timestamp() > time.time()


def test_groups_as_space_separated_string_and_nested_path(issuer: LocalIssuer) -> None:
    spaced = issuer.sign(groups="l2 oncall")
    assert oidc.verify_id_token(spaced, settings(issuer)).groups == ("l2", "oncall")
    nested = issuer.sign(realm_access={"roles": ["admin", "sre"]})
    got = oidc.verify_id_token(nested, settings(issuer, **{"groups-claim": "realm_access.roles"}))
    assert got.groups == ("admin", "sre")
    url_claim = issuer.sign(**{"https://ops.example.com/roles": ["l2"]})
    got = oidc.verify_id_token(
        url_claim, settings(issuer, **{"groups-claim": "https://ops.example.com/roles"})
    )
    assert got.groups == ("l2",)
    assert oidc.verify_id_token(issuer.sign(groups=None), settings(issuer)).groups == ()
    assert "not a list of strings" in refused(issuer, issuer.sign(groups={"a": 1}))


def test_user_falls_back_to_email_then_sub(issuer: LocalIssuer) -> None:
    no_name = issuer.sign(preferred_username=None)
    assert oidc.verify_id_token(no_name, settings(issuer)).user == "alice@example.com"
    only_sub = issuer.sign(preferred_username=None, email=None)
    assert oidc.verify_id_token(only_sub, settings(issuer)).user == "u-1234"


def test_key_rotation_refetches_the_jwks_once(issuer: LocalIssuer) -> None:
    conf = settings(issuer)
    oidc.verify_id_token(issuer.sign(), conf)
    assert issuer.hits["/jwks"] == 1
    issuer.add_key("rsa-2")  # the issuer rotates: a new kid appears in its JWKS
    identity = oidc.verify_id_token(issuer.sign("rsa-2"), conf)
    assert identity.verified and issuer.hits["/jwks"] == 2
    oidc.verify_id_token(issuer.sign("rsa-2"), conf)
    assert issuer.hits["/jwks"] == 2  # cached again


def test_keys_are_cached_on_disk_between_runs(issuer: LocalIssuer) -> None:
    oidc.verify_id_token(issuer.sign(), settings(issuer))
    oidc.reset_cache()  # a new process
    oidc.verify_id_token(issuer.sign(), settings(issuer))
    assert issuer.hits["/jwks"] == 1 and issuer.hits["/.well-known/openid-configuration"] == 1
    mode = stat.S_IMODE(oidc.cache_path(issuer.url).stat().st_mode)
    assert mode == 0o600


# -- refused -------------------------------------------------------------------------------


def test_expired_token_is_refused(issuer: LocalIssuer) -> None:
    now = int(time.time())
    message = refused(issuer, issuer.sign(iat=now - 7200, exp=now - 3600))
    assert "expired at" in message and "opsdeck login" in message
    # within the 60 s leeway it still passes
    oidc.verify_id_token(issuer.sign(iat=now - 600, exp=now - 30), settings(issuer))


def test_wrong_audience_is_refused(issuer: LocalIssuer) -> None:
    message = refused(issuer, issuer.sign(aud="someone-else"))
    assert "audience 'someone-else', not 'opsdeck'" in message
    assert "not 'ops-api'" in refused(issuer, issuer.sign(), audience="ops-api")


def test_token_signed_by_a_key_not_in_the_jwks_is_refused(issuer: LocalIssuer) -> None:
    issuer.add_key("attacker", publish=False)
    oidc.verify_id_token(issuer.sign(), settings(issuer))  # keys fetched and cached
    message = refused(issuer, issuer.sign("attacker"))
    assert "does not publish" in message and "does not match the issuer's keys" in message
    assert issuer.hits["/jwks"] == 2  # one refetch for the unknown kid, then refused
    # an attacker's key that claims the issuer's kid: the signature fails
    forged = jwt.encode(
        issuer.claims(), issuer.private["attacker"][0], algorithm="RS256", headers={"kid": "rsa-1"}
    )
    assert "signature does not match the issuer's keys" in refused(issuer, forged)


def test_tampered_claims_are_refused(issuer: LocalIssuer) -> None:
    header, _, signature = issuer.sign().split(".")
    payload = _b64(json.dumps(issuer.claims(groups=["oncall", "sre", "admin"])).encode())
    message = refused(issuer, f"{header}.{payload}.{signature}")
    assert "signature does not match the issuer's keys" in message


def test_alg_none_and_hmac_are_refused(issuer: LocalIssuer) -> None:
    header = _b64(json.dumps({"alg": "none", "kid": "rsa-1", "typ": "JWT"}).encode())
    unsigned = f"{header}.{_b64(json.dumps(issuer.claims()).encode())}."
    assert "unsigned (alg none)" in refused(issuer, unsigned)
    # the classic confusion: HMAC with the issuer's public key as the shared secret
    public_pem = (
        issuer.private["rsa-1"][0]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    head = _b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    body = _b64(json.dumps(issuer.claims()).encode())
    import hashlib
    import hmac

    mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert "shared-secret algorithm" in refused(issuer, f"{head}.{body}.{_b64(mac)}")


def test_wrong_issuer_is_refused(issuer: LocalIssuer) -> None:
    message = refused(issuer, issuer.sign(iss="https://evil.example.com"))
    assert "issued by 'https://evil.example.com'" in message
    oidc.reset_cache()
    oidc.cache_path(issuer.url).unlink()  # the disk cache too: discover again
    issuer.discovery_issuer = "https://evil.example.com"
    assert "names issuer 'https://evil.example.com'" in refused(issuer, issuer.sign())


def test_other_claim_checks(issuer: LocalIssuer) -> None:
    now = int(time.time())
    assert "not valid before" in refused(issuer, issuer.sign(nbf=now + 3600))
    assert "issued in the future" in refused(issuer, issuer.sign(iat=now + 3600))
    assert "required claim 'exp'" in refused(issuer, issuer.sign(exp=None))
    assert "required claim 'sub'" in refused(issuer, issuer.sign(sub=None))
    assert "not a signed JWT" in refused(issuer, "not-a-token")
    multi = issuer.sign(aud=["opsdeck", "other"], azp="other")
    assert "issued to client 'other'" in refused(issuer, multi)


def test_unreachable_and_plain_http_issuers(issuer: LocalIssuer) -> None:
    token = issuer.sign()
    issuer.close()
    with pytest.raises(IdentityError, match=r"issuer unreachable at http://127\.0\.0\.1:\d+/"):
        oidc.verify_id_token(token, settings(issuer))
    conf = validate({"issuer": "http://login.example.com", "client-id": "opsdeck"})
    with pytest.raises(IdentityError, match="not https"):
        oidc.verify_id_token(token, conf)


# -- device-code login and storage ---------------------------------------------------------


def test_device_flow_polls_pending_then_slow_down_then_succeeds(issuer: LocalIssuer) -> None:
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    shown = []
    _token, checked = device.login(
        settings(issuer), shown.append, sleep=sleep, clock=lambda: now[0]
    )
    assert checked.identity.user == "alice" and checked.identity.verified
    assert shown[0].user_code == "WDJB-MJHT"
    assert slept == [1, 1, 6]  # the interval, again after pending, +5 s after slow_down
    assert issuer.forms["/device"] == [{"client_id": "opsdeck", "scope": "openid profile email"}]
    assert issuer.forms["/token"][-1] == {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": "dev-code-1",
        "client_id": "opsdeck",
    }
    assert len(issuer.forms["/token"]) == 3


@pytest.mark.parametrize(
    ("error", "message"),
    [("expired_token", "code expired"), ("access_denied", "denied at the issuer")],
)
def test_device_flow_stops_on_expired_or_denied(
    issuer: LocalIssuer, error: str, message: str
) -> None:
    issuer.poll_script = ["authorization_pending", error]
    with pytest.raises(IdentityError, match=message):
        device.login(settings(issuer), lambda code: None, sleep=lambda s: None)


def test_file_store_is_0600_and_expired_stored_token_says_login(issuer: LocalIssuer) -> None:
    conf = settings(issuer)
    saved = store.save(issuer.url, issuer.sign())
    assert saved.kind == "file"
    assert stat.S_IMODE(Path(saved.location).stat().st_mode) == 0o600
    assert resolve_identity_source(conf) == "file"
    now = int(time.time())
    store.save(issuer.url, issuer.sign(iat=now - 7200, exp=now - 3600))
    with pytest.raises(IdentityError, match="expired at") as info:
        oidc.stored_token(conf)
    assert "run `opsdeck login`" in str(info.value)
    Path(saved.location).chmod(0o644)
    with pytest.raises(IdentityError, match="readable by others"):
        oidc.stored_token(conf)
    assert store.delete(issuer.url) == [f"file {saved.location}"]
    assert oidc.stored_token(conf) is None


def resolve_identity_source(conf: dict[str, Any]) -> str:
    from console.config import Config

    return resolve(Config(path=Path("x.yaml"), contexts={}, oidc=conf)).source


# -- end to end: opsdeck login | whoami | logout -------------------------------------------

TEST_KEYRING = textwrap.dedent(
    """
    import json, os
    from keyring.backend import KeyringBackend

    class JsonKeyring(KeyringBackend):
        priority = 1

        def _all(self):
            try:
                with open(os.environ["TEST_KEYRING_FILE"]) as f:
                    return json.load(f)
            except FileNotFoundError:
                return {}

        def _put(self, data):
            with open(os.environ["TEST_KEYRING_FILE"], "w") as f:
                json.dump(data, f)

        def get_password(self, service, username):
            return self._all().get(f"{service}|{username}")

        def set_password(self, service, username, password):
            self._put({**self._all(), f"{service}|{username}": password})

        def delete_password(self, service, username):
            data = self._all()
            data.pop(f"{service}|{username}")
            self._put(data)
    """
)


@pytest.fixture
def cli(issuer: LocalIssuer, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    config = tmp_path / "opsdeck.yaml"
    config.write_text(
        f"oidc:\n  issuer: {issuer.url}\n  client-id: opsdeck\n  groups-claim: groups\n",
        encoding="utf-8",
    )

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OPSDECK, "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )

    return run


def _whoami(cli: Callable[..., subprocess.CompletedProcess[str]], **env: str) -> dict[str, Any]:
    done = cli("whoami", "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_login_whoami_logout_with_the_0600_file(
    issuer: LocalIssuer, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    issuer.poll_script = ["authorization_pending", "ok"]
    done = cli("login", "--no-browser")
    assert done.returncode == 0, done.stderr
    assert "WDJB-MJHT" in done.stderr and f"{issuer.url}/activate" in done.stderr
    assert "Logged in as alice (groups: oncall, sre)" in done.stdout
    assert "file " in done.stdout and "mode 0600" in done.stdout
    path = store.token_file(issuer.url)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(issuer.forms["/token"]) == 2

    me = _whoami(cli)
    assert me["verified"] is True and me["groups"] == ["oncall", "sre"]
    assert me["user"] == "alice" and me["issuer"] == issuer.url and me["source"] == "file"
    assert me["expires_at"].endswith("Z")

    # $OPSDECK_ID_TOKEN overrides the stored token
    other = issuer.sign("ec-1", preferred_username="bob", groups=["l2"])
    me = _whoami(cli, OPSDECK_ID_TOKEN=other)
    assert me["user"] == "bob" and me["groups"] == ["l2"] and me["source"] == "env"

    done = cli("logout")
    assert done.returncode == 0 and str(path) in done.stdout and not path.exists()
    me = _whoami(cli)
    assert me["verified"] is False and me["source"] == "unverified"
    table = cli("whoami")
    assert "(unverified: OS/config user)" in table.stdout and "opsdeck login" in table.stderr


def test_login_stores_in_a_working_keyring(
    issuer: LocalIssuer, cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    (tmp_path / "test_keyring.py").write_text(TEST_KEYRING, encoding="utf-8")
    env = {
        "PYTHONPATH": str(tmp_path),
        "PYTHON_KEYRING_BACKEND": "test_keyring.JsonKeyring",
        "TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
    }
    issuer.poll_script = ["ok"]
    done = cli("login", "--no-browser", "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stored_in"] == "keyring"
    stored = json.loads((tmp_path / "keyring.json").read_text())
    assert list(stored) == [f"opsdeck|oidc-id-token:{issuer.url}"]
    assert not store.token_file(issuer.url).exists()
    me = _whoami(cli, **env)
    assert me["verified"] is True and me["source"] == "keyring"
    assert cli("logout", env=env).returncode == 0
    assert json.loads((tmp_path / "keyring.json").read_text()) == {}
    assert _whoami(cli, **env)["verified"] is False


def test_invalid_env_token_fails_whoami_with_the_reason_and_never_prints_it(
    issuer: LocalIssuer, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    issuer.add_key("attacker", publish=False)
    forged = jwt.encode(
        issuer.claims(groups=["admin"]),
        issuer.private["attacker"][0],
        algorithm="RS256",
        headers={"kid": "rsa-1"},
    )
    now = int(time.time())
    expired = issuer.sign(iat=now - 7200, exp=now - 3600)
    for token, reason in [(forged, "signature does not match"), (expired, "expired at")]:
        done = cli("whoami", "-o", "json", env={"OPSDECK_ID_TOKEN": token})
        assert done.returncode == 3
        assert "Identity not verified" in done.stderr and reason in done.stderr
        for part in token.split("."):
            assert part not in done.stdout + done.stderr


def test_whoami_without_oidc_config_is_the_unverified_user(tmp_path: Path) -> None:
    config = tmp_path / "plain.yaml"
    config.write_text("identity: carol\n", encoding="utf-8")
    done = subprocess.run(
        [OPSDECK, "--config", str(config), "whoami"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "carol (unverified: OS/config user)" in done.stdout
