"""OAuth 2.0 device authorization grant (RFC 8628), the flow behind `opsdeck login`.

POST the issuer's ``device_authorization_endpoint`` (client_id, scope), show the user
the verification URI and code, then poll the ``token_endpoint`` every ``interval``
seconds (default 5): ``authorization_pending`` keeps polling, ``slow_down`` adds 5 s to
the interval, ``expired_token`` and ``access_denied`` stop with the reason. The
response's ``id_token`` is verified (console.identity.oidc) before anyone stores it.
opsdeck is a public client: no client secret, no refresh token kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from console.errors import IdentityError
from console.identity import oidc

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5
SLOW_DOWN_SECONDS = 5


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float


def _post(url: str, form: Mapping[str, str], what: str) -> tuple[int, dict[str, Any]]:
    import httpx

    oidc.check_url(url, what)
    try:
        with oidc.http_client() as client:
            response = client.post(url, data=dict(form), headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise IdentityError(f"issuer unreachable at {url}: {exc or type(exc).__name__}") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise IdentityError(
            f"{what} at {url} answered HTTP {response.status_code} without a JSON object"
        )
    return response.status_code, data


def _oauth_error(data: Mapping[str, Any]) -> str:
    error = str(data.get("error") or "unknown_error")
    description = data.get("error_description")
    return f"{error}: {description}" if description else error


def start(state: oidc.IssuerState, settings: Mapping[str, Any]) -> DeviceCode:
    endpoint = state.endpoint("device_authorization_endpoint")
    if endpoint is None:
        raise IdentityError(
            f"the issuer {state.issuer} offers no device authorization "
            "(no device_authorization_endpoint in its discovery document)",
            hint="enable the device-code grant for the client, or use OPSDECK_ID_TOKEN",
        )
    form = {"client_id": str(settings["client-id"]), "scope": str(settings["scopes"])}
    status, data = _post(endpoint, form, "the device authorization endpoint")
    if status != 200:
        raise IdentityError(f"the issuer refused the device login: {_oauth_error(data)}")
    try:
        interval = float(data.get("interval", DEFAULT_INTERVAL))
        code = DeviceCode(
            device_code=str(data["device_code"]),
            user_code=str(data["user_code"]),
            verification_uri=str(data.get("verification_uri") or data["verification_url"]),
            verification_uri_complete=data.get("verification_uri_complete"),
            expires_in=float(data["expires_in"]),
            interval=max(interval, 1.0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IdentityError(f"the device authorization response lacks {exc}") from None
    oidc.check_url(code.verification_uri, "verification_uri")
    return code


def poll(
    state: oidc.IssuerState,
    settings: Mapping[str, Any],
    code: DeviceCode,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The token endpoint's success response, once the user has signed in."""
    endpoint = state.endpoint("token_endpoint")
    if endpoint is None:
        raise IdentityError(f"the issuer {state.issuer} has no token_endpoint")
    form = {
        "grant_type": GRANT_TYPE,
        "device_code": code.device_code,
        "client_id": str(settings["client-id"]),
    }
    interval = code.interval
    deadline = clock() + code.expires_in
    while True:
        sleep(interval)
        status, data = _post(endpoint, form, "the token endpoint")
        if status == 200:
            return data
        error = data.get("error")
        if error == "authorization_pending":
            pass
        elif error == "slow_down":
            interval += SLOW_DOWN_SECONDS
        elif error == "expired_token":
            raise IdentityError(
                "the login code expired before sign-in finished", hint="run `opsdeck login` again"
            )
        elif error == "access_denied":
            raise IdentityError("sign-in was denied at the issuer (access_denied)")
        else:
            raise IdentityError(f"the token endpoint refused the login: {_oauth_error(data)}")
        if clock() + interval > deadline:
            raise IdentityError(
                f"the login code expired after {code.expires_in:.0f}s without sign-in",
                hint="run `opsdeck login` again",
            )


def login(
    settings: Mapping[str, Any],
    announce: Callable[[DeviceCode], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, oidc.VerifiedToken]:
    """Run the flow; the verified ID token (not yet stored) and what it proves."""
    state = oidc.issuer_state(settings)
    code = start(state, settings)
    announce(code)
    response = poll(state, settings, code, sleep=sleep, clock=clock)
    token = response.get("id_token")
    if not isinstance(token, str) or not token:
        raise IdentityError(
            "the issuer's token response has no id_token", hint="is openid in oidc.scopes?"
        )
    return token, oidc.verify(token, settings)
