"""OIDC ID-token verification against the issuer's published keys (docs/identity.md).

``verify_id_token(token, settings)`` checks, in this order: the header's algorithm
(asymmetric only: RS*, PS*, ES*; ``none`` and the shared-secret HS* are refused, so a
token "signed" with the issuer's public key as an HMAC secret never passes), the
signature against the issuer's JWKS (found through its discovery document, whose
``issuer`` must equal the configured one exactly), then ``iss`` (exact), ``aud`` (the
configured audience), ``exp``/``nbf``/``iat`` with 60 s leeway, and the required claims
``iss aud exp iat sub``. Any failure is an IdentityError that says which check failed;
the token itself is never logged, printed or put in an error.

Discovery and JWKS are cached in memory and in ``$XDG_CACHE_HOME/opsdeck/oidc/``
(mode 0600) for the JWKS response's ``Cache-Control: max-age`` (at most an hour; 10
minutes when absent), so a CLI verb does not pay two HTTP round trips. A token whose
``kid`` is not in the cached JWKS makes one refetch (key rotation) before it is refused.

Issuers, JWKS and endpoints must be https, except on loopback (local test issuers): keys
fetched over plain http could be swapped by anyone on the path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt

from console.errors import IdentityError
from console.policy.model import Identity

if TYPE_CHECKING:
    import httpx

    from console.identity.store import StoredToken

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub")
HTTP_TIMEOUT_SECONDS = 10.0
DEFAULT_CACHE_SECONDS = 600
MAX_CACHE_SECONDS = 3600
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class VerifiedToken:
    """A token that passed every check: who it proves, its claims and when it expires."""

    identity: Identity
    claims: Mapping[str, Any]
    expires_at: datetime
    issued_at: datetime | None


@dataclass
class IssuerState:
    """Discovery document and JWKS of one issuer, with the parsed keys."""

    issuer: str
    discovery: dict[str, Any]
    jwks: dict[str, Any]
    fetched_at: float
    max_age: float
    just_fetched: bool = False
    _parsed: dict[tuple[int, str], Any] = field(default_factory=dict)

    @property
    def fresh(self) -> bool:
        return 0 <= time.time() - self.fetched_at < self.max_age

    @property
    def jwks_uri(self) -> str:
        return str(self.discovery["jwks_uri"])

    def endpoint(self, name: str) -> str | None:
        value = self.discovery.get(name)
        if not isinstance(value, str) or not value:
            return None
        check_url(value, name)
        return value

    def signing_algorithms(self) -> tuple[str, ...]:
        algs = self.discovery.get("id_token_signing_alg_values_supported")
        return tuple(str(a) for a in algs) if isinstance(algs, list) else ()

    def keys_for(self, kid: str | None, alg: str) -> list[Any]:
        """Keys of the JWKS that may have signed a token with this kid and alg."""
        found = []
        keys = self.jwks.get("keys")
        for index, jwk in enumerate(keys if isinstance(keys, list) else []):
            if not isinstance(jwk, dict):
                continue
            if kid is not None and jwk.get("kid") != kid:
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
                continue
            parsed = self._parsed.get((index, alg))
            if parsed is None:
                try:
                    parsed = jwt.PyJWK(jwk, algorithm=alg)
                except jwt.PyJWTError:  # wrong key type for alg, or a malformed key
                    continue
                self._parsed[(index, alg)] = parsed
            found.append(parsed)
        return found


_states: dict[str, IssuerState] = {}


def reset_cache() -> None:
    """Forget issuers' keys held in memory (tests; the disk cache stays)."""
    _states.clear()


def check_url(url: str, what: str) -> None:
    """https, or http on loopback only."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return
    raise IdentityError(
        f"{what} {url!r} is not https; keys and tokens are only trusted over https "
        "(plain http only on loopback)"
    )


def http_client() -> httpx.Client:
    import httpx

    return httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False)


def get_json(url: str, what: str) -> tuple[dict[str, Any], Mapping[str, str]]:
    """GET a JSON object; IdentityError naming the URL when unreachable or malformed."""
    import httpx

    check_url(url, what)
    try:
        with http_client() as client:
            response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise IdentityError(f"issuer unreachable at {url}: {exc or type(exc).__name__}") from None
    if response.status_code != 200:
        raise IdentityError(f"{what} at {url} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise IdentityError(f"{what} at {url} is not a JSON object")
    return data, response.headers


def _max_age(headers: Mapping[str, str]) -> float:
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "no-store" or name.lower() == "no-cache":
            return 0.0
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(min(int(value.strip()), MAX_CACHE_SECONDS))
    return float(DEFAULT_CACHE_SECONDS)


def cache_path(issuer: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(issuer.encode()).hexdigest()[:24]
    return Path(base) / "opsdeck" / "oidc" / f"{digest}.json"


def _read_disk_cache(issuer: str) -> IssuerState | None:
    try:
        data = json.loads(cache_path(issuer).read_text(encoding="utf-8"))
        state = IssuerState(
            issuer,
            dict(data["discovery"]),
            dict(data["jwks"]),
            float(data["fetched_at"]),
            float(data["max_age"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if data.get("issuer") != issuer or state.discovery.get("issuer") != issuer:
        return None
    return state if state.fresh else None


def _write_disk_cache(state: IssuerState) -> None:
    """Best effort: at worst the next run fetches again."""
    path = cache_path(state.issuer)
    data = {
        "issuer": state.issuer,
        "discovery": state.discovery,
        "jwks": state.jwks,
        "fetched_at": state.fetched_at,
        "max_age": state.max_age,
    }
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(tmp, path)


def _discover(issuer: str) -> dict[str, Any]:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    discovery, _ = get_json(url, "the issuer's discovery document")
    if discovery.get("issuer") != issuer:
        raise IdentityError(
            f"the discovery document at {url} names issuer {discovery.get('issuer')!r}, "
            f"not {issuer!r} (oidc.issuer must match it exactly)"
        )
    jwks_uri = discovery.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise IdentityError(f"the discovery document at {url} has no jwks_uri")
    check_url(jwks_uri, "jwks_uri")
    return discovery


def _fetch_jwks(discovery: dict[str, Any]) -> tuple[dict[str, Any], float]:
    jwks, headers = get_json(str(discovery["jwks_uri"]), "the issuer's JWKS")
    if not isinstance(jwks.get("keys"), list):
        raise IdentityError(f"the JWKS at {discovery['jwks_uri']} has no keys list")
    return jwks, _max_age(headers)


def issuer_state(settings: Mapping[str, Any], *, refetch_keys: bool = False) -> IssuerState:
    """The issuer's discovery and keys: memory, else disk cache, else the network."""
    issuer = str(settings["issuer"])
    state = _states.get(issuer)
    if not refetch_keys:
        if state is not None and state.fresh:
            state.just_fetched = False
            return state
        state = _read_disk_cache(issuer)
        if state is not None:
            _states[issuer] = state
            return state
    discovery = state.discovery if (refetch_keys and state is not None) else _discover(issuer)
    jwks, max_age = _fetch_jwks(discovery)
    state = IssuerState(issuer, discovery, jwks, time.time(), max_age, just_fetched=True)
    _states[issuer] = state
    _write_disk_cache(state)
    return state


def _when(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value), UTC).isoformat().replace("+00:00", "Z")
    except (TypeError, ValueError, OverflowError):
        return repr(value)


def _now() -> str:
    return _when(time.time())


def _explain(exc: jwt.PyJWTError, token: str, settings: Mapping[str, Any]) -> IdentityError:
    """A claim check failed (the signature was good): say which and with what values."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}
    relogin = "run `opsdeck login` for a new one"
    if isinstance(exc, jwt.ExpiredSignatureError):
        return IdentityError(
            f"the ID token expired at {_when(claims.get('exp'))} "
            f"(now {_now()}, {LEEWAY_SECONDS}s leeway)",
            hint=relogin,
        )
    if isinstance(exc, jwt.InvalidAudienceError):
        return IdentityError(
            f"the ID token is for audience {claims.get('aud')!r}, "
            f"not {settings['audience']!r} (oidc.audience)"
        )
    if isinstance(exc, jwt.InvalidIssuerError):
        return IdentityError(
            f"the ID token was issued by {claims.get('iss')!r}, "
            f"not {settings['issuer']!r} (oidc.issuer)"
        )
    if isinstance(exc, jwt.ImmatureSignatureError):
        if "nbf" in claims and float(claims["nbf"]) > time.time():
            return IdentityError(
                f"the ID token is not valid before {_when(claims['nbf'])} (now {_now()})"
            )
        return IdentityError(
            f"the ID token is issued in the future ({_when(claims.get('iat'))}, now {_now()}); "
            "check this machine's clock"
        )
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return IdentityError(f"the ID token lacks the required claim {exc.claim!r}")
    return IdentityError(f"the ID token is invalid: {exc}")


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or by dotted path into nested objects (realm_access.roles).

    The literal name wins: namespaced claims are often URLs with dots in them.
    """
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def groups_from(claims: Mapping[str, Any], path: str) -> tuple[str, ...]:
    """A list of strings, or a space-separated string; absent: no groups."""
    value = _claim(claims, path)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise IdentityError(
        f"the ID token's claim {path!r} (oidc.groups-claim) is a {type(value).__name__}, "
        "not a list of strings or a space-separated string"
    )


def user_from(claims: Mapping[str, Any], user_claim: str) -> str:
    for name in (user_claim, "email", "sub"):
        value = _claim(claims, name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise IdentityError(f"the ID token names no user ({user_claim}, email and sub are empty)")


def verify(token: str, settings: Mapping[str, Any]) -> VerifiedToken:
    """Every check of the module docstring; IdentityError saying which one failed."""
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise IdentityError(f"the ID token is not a signed JWT ({exc})") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise IdentityError("the ID token is unsigned (alg none); refused")
    if alg.upper().startswith("HS"):
        raise IdentityError(
            f"the ID token is signed with {alg}, a shared-secret algorithm; only the issuer's "
            f"public keys are accepted ({', '.join(ALGORITHMS)})"
        )
    if alg not in ALGORITHMS:
        raise IdentityError(
            f"the ID token's algorithm {alg!r} is not accepted ({', '.join(ALGORITHMS)})"
        )
    kid = header.get("kid")
    kid = kid if isinstance(kid, str) else None
    state = issuer_state(settings)
    supported = state.signing_algorithms()
    if supported and alg not in supported:
        raise IdentityError(
            f"the ID token is signed with {alg}, which the issuer does not sign ID tokens "
            f"with ({', '.join(supported)})"
        )
    keys = state.keys_for(kid, alg)
    if not keys and kid is not None and not state.just_fetched:
        state = issuer_state(settings, refetch_keys=True)  # rotated keys
        keys = state.keys_for(kid, alg)
    if not keys:
        which = f"key {kid!r}" if kid else "a key without kid"
        raise IdentityError(
            f"the ID token is signed with {which} ({alg}), which the issuer does not "
            f"publish at {state.jwks_uri}: the signature does not match the issuer's keys"
        )
    audience = str(settings["audience"])
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=str(settings["issuer"]),
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise _explain(exc, token, settings) from None
        break
    else:
        raise IdentityError(
            f"the ID token's signature does not match the issuer's keys ({state.jwks_uri}): "
            "signed by another key, or changed after signing"
        )
    aud = claims["aud"]
    azp = claims.get("azp")
    if isinstance(aud, list) and len(aud) > 1 and azp is not None and azp != settings["client-id"]:
        raise IdentityError(
            f"the ID token was issued to client {azp!r} (azp), not {settings['client-id']!r}"
        )
    identity = Identity(
        user=user_from(claims, str(settings["user-claim"])),
        groups=groups_from(claims, str(settings["groups-claim"])),
        verified=True,
        issuer=str(settings["issuer"]),
    )
    iat = claims.get("iat")
    return VerifiedToken(
        identity,
        claims,
        datetime.fromtimestamp(float(claims["exp"]), UTC),
        datetime.fromtimestamp(float(iat), UTC) if isinstance(iat, int | float) else None,
    )


def verify_id_token(token: str, settings: Mapping[str, Any]) -> Identity:
    """The verified Identity of a token; IdentityError saying why otherwise."""
    return verify(token, settings).identity


def unverified_expiry(token: str) -> float | None:
    """The ``exp`` of a token without checking it (only to tell a stale stored token)."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return float(exp) if isinstance(exp, int | float) else None


def stored(settings: Mapping[str, Any]) -> StoredToken | None:
    """The token `opsdeck login` stored for this issuer; IdentityError when it expired."""
    from console.identity import store

    found = store.load(str(settings["issuer"]))
    if found is None:
        return None
    exp = unverified_expiry(found.token)
    if exp is None or exp + LEEWAY_SECONDS < time.time():
        what = f"expired at {_when(exp)}" if exp is not None else "is not a readable JWT"
        raise IdentityError(
            f"the ID token stored by `opsdeck login` ({found.where}) {what}",
            hint="run `opsdeck login`",
        )
    return found


def stored_token(settings: Mapping[str, Any]) -> str | None:
    found = stored(settings)
    return found.token if found is not None else None
