"""Step Functions settings and the boto3 client wrapper (calls off the event loop).

boto3 costs ~150 ms to import, so it is imported inside the worker thread on the first
call, never at module import (CLI start-up). Every call goes through ``Client.call``,
which runs it with ``asyncio.to_thread`` and maps botocore errors to opsdeck's typed
errors: unreachable endpoint or missing credentials -> BackendUnavailable naming the
endpoint/region and what to check; 401/403-type codes -> NotAuthorized naming the
operation and resource; *DoesNotExist/ResourceNotFound -> NotFound.

Credentials always come from the standard AWS chain (environment, shared files,
``profile``, SSO, instance roles); a key in the config file is refused.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.settings_fields import positive_number, reject_unknown
from adapters.settings_fields import text as _text
from console.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    NotAuthorized,
    NotFound,
    OpsdeckError,
)

BACKEND = "Step Functions"
_KNOWN = {
    "name", "kind", "region", "profile", "endpoint-url", "state-machines", "name-prefix",
    "emulator", "rollback-verify-timeout",
}  # fmt: skip
_KEY_FIELDS = {
    "aws-access-key-id", "aws-secret-access-key", "aws-session-token", "access-key-id",
    "access-key", "secret-access-key", "secret-key", "session-token", "credentials",
}  # fmt: skip
_AUTH_CODES = {
    "AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
    "InvalidSignatureException", "ExpiredToken", "ExpiredTokenException",
    "InvalidClientTokenId", "NotAuthorized", "MissingAuthenticationToken",
}  # fmt: skip


@dataclass(frozen=True)
class StepFunctionsSettings:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    state_machines: tuple[str, ...] = ()  # state machine, alias or version ARNs
    name_prefix: str | None = None
    # A local emulator (moto_server, LocalStack) on a loopback endpoint: when the AWS
    # chain has no credentials, sign with fixed dummy ones (emulators accept any).
    emulator: bool = False
    rollback_verify_timeout: float = 30.0

    @property
    def address(self) -> str:
        """Where requests go, for error messages."""
        return self.endpoint_url or f"region {self.region or '(from the AWS chain)'}"


def parse_settings(settings: Mapping[str, object]) -> StepFunctionsSettings:
    """Validate an engine mapping; ConfigError names the offending field."""
    keys = {k for k in settings if k.lower().replace("_", "-") in _KEY_FIELDS}
    if keys:
        raise ConfigError(
            f"{sorted(keys)[0]}: AWS keys never go in the config file",
            hint="use a profile (`profile: NAME`) or the standard AWS credential chain",
        )
    reject_unknown(settings, _KNOWN, "stepfunctions")
    machines = settings.get("state-machines") or []
    if isinstance(machines, str):
        machines = [machines]
    if not isinstance(machines, list) or not all(
        isinstance(m, str) and m.startswith("arn:") and ":stateMachine:" in m for m in machines
    ):
        raise ConfigError(
            "state-machines: expected a list of state machine, alias or version ARNs "
            "(arn:aws:states:REGION:ACCOUNT:stateMachine:NAME[:ALIAS|:VERSION])"
        )
    endpoint = _text(settings, "endpoint-url")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"endpoint-url: expected http(s)://HOST:PORT, got {endpoint!r}")
    emulator = settings.get("emulator", False)
    if not isinstance(emulator, bool):
        raise ConfigError(f"emulator: must be true or false, got {emulator!r}")
    if emulator and not _is_loopback(endpoint):
        raise ConfigError("emulator: only for a local emulator on a loopback endpoint-url")
    timeout = positive_number(settings, "rollback-verify-timeout", 30.0)
    return StepFunctionsSettings(
        region=_text(settings, "region"),
        profile=_text(settings, "profile"),
        endpoint_url=endpoint,
        state_machines=tuple(machines),
        name_prefix=_text(settings, "name-prefix"),
        emulator=emulator,
        rollback_verify_timeout=float(timeout),
    )


class Client:
    """A lazily built boto3 Step Functions client; ``call`` runs in a worker thread."""

    def __init__(self, settings: StepFunctionsSettings, engine: str) -> None:
        self.settings = settings
        self.engine = engine
        self._client: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                s = self.settings
                config = Config(
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=5,
                    read_timeout=30,
                )
                session = boto3.session.Session(profile_name=s.profile, region_name=s.region)
                if s.emulator and session.get_credentials() is None:
                    session = boto3.session.Session(
                        aws_access_key_id="emulator",
                        aws_secret_access_key="emulator",
                        region_name=s.region or "us-east-1",
                    )
                self._client = session.client(
                    "stepfunctions", endpoint_url=s.endpoint_url, config=config
                )
            return self._client

    def set_client(self, client: Any) -> None:
        """Use a ready client (tests: a client with botocore's Stubber activated)."""
        self._client = client

    def _call_sync(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            client = self._build()
            result: dict[str, Any] = getattr(client, operation)(**params)
        except OpsdeckError:
            raise
        except Exception as exc:
            raise self.map_error(exc, operation, params) from None
        result.pop("ResponseMetadata", None)
        return result

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """``client.<operation>(**params)`` in a thread, errors mapped."""
        return await asyncio.to_thread(self._call_sync, operation, params)

    def map_error(self, exc: Exception, operation: str, params: Mapping[str, Any]) -> OpsdeckError:
        from botocore import exceptions as bx

        where = self.settings.address
        resource = next(
            (str(params[k]) for k in ("executionArn", "stateMachineArn",
             "stateMachineAliasArn", "mapRunArn") if k in params),
            "the account",
        )  # fmt: skip
        if isinstance(exc, bx.NoRegionError):
            return ConfigError(
                f"{self.engine}: no AWS region", hint="set `region:` on the engine or AWS_REGION"
            )
        if isinstance(exc, bx.ProfileNotFound):
            return ConfigError(f"{self.engine}: {exc}", hint="check `profile:` and ~/.aws/config")
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
            return BackendUnavailable(
                BACKEND,
                where,
                "no AWS credentials found",
                hint=f"log in (aws sso login{' --profile ' + self.settings.profile if self.settings.profile else ''}) "  # noqa: E501
                "or set AWS_PROFILE; keys never go in the opsdeck config",
            )
        if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError
                      | bx.ReadTimeoutError | bx.ConnectionClosedError):  # fmt: skip
            return BackendUnavailable(
                BACKEND,
                where,
                type(exc).__name__,
                hint="check the region/endpoint-url, the network and any proxy",
            )
        if isinstance(exc, bx.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = _one_line(str(error.get("Message", "")) or code)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _AUTH_CODES or status in (401, 403):
                return NotAuthorized(
                    f"{BACKEND} refused states:{_action(operation)} on {resource}: {message}",
                    hint=f"the credentials in use need states:{_action(operation)} on that "
                    "resource (IAM policy, profile, SSO session)",
                )
            if code.endswith("DoesNotExist") or code in ("ResourceNotFound", "NotFound"):
                return NotFound(f"{resource} does not exist at {where} ({code})")
            hint = None
            if self.settings.emulator and (status or 0) >= 500:
                hint = (
                    f"the emulator may not implement {_action(operation)} (moto lacks "
                    "RedriveExecution, ListStateMachineVersions, PublishStateMachineVersion)"
                )
            return BackendError(f"{BACKEND} {_action(operation)}: {code}: {message}", hint=hint)
        if isinstance(exc, bx.BotoCoreError):
            return BackendUnavailable(BACKEND, where, str(exc))
        return BackendError(f"{BACKEND} {_action(operation)}: {type(exc).__name__}: {exc}")


def _one_line(message: str) -> str:
    """A backend message fit for one line: HTML error pages become their title."""
    if "<html" in message.lower() or "<!doctype" in message.lower():
        start = message.lower().find("<title>")
        end = message.lower().find("</title>")
        if 0 <= start < end:
            return message[start + 7 : end].strip()
        return "HTML error page"
    line = " ".join(message.split())
    return line if len(line) <= 300 else f"{line[:297]}..."


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _action(operation: str) -> str:
    """list_executions -> ListExecutions (the IAM action name)."""
    return "".join(part.capitalize() for part in operation.split("_"))
