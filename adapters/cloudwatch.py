"""CloudWatch Logs as a LogSource: FilterLogEvents (boto3, imported on first use).

Settings: ``log-group`` (required), ``region``, ``profile``, ``endpoint-url`` (moto or a
VPC endpoint). Credentials come from the normal AWS chain (profile, environment, role);
none are stored in the config. Ids are searched with an OR filter pattern
(``?"id1" ?"id2"``) and each returned line is checked to contain one of the ids.
boto3 blocks, so each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from console.errors import BackendError, BackendUnavailable, ConfigError
from console.model_telemetry import LogLine
from console.ports import SecretResolver


class CloudWatchLogsSource:
    kind = "cloudwatch"

    def __init__(
        self,
        name: str,
        log_group: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.log_group = log_group
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.timeout = timeout
        self._client: Any = None

    @classmethod
    def from_config(
        cls, name: str, settings: dict[str, object], resolve_secret: SecretResolver
    ) -> CloudWatchLogsSource:
        group = settings.get("log-group")
        if not isinstance(group, str) or not group:
            raise ConfigError(f"source {name!r} (cloudwatch): log-group: required")
        timeout = settings.get("timeout", 10.0)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"source {name!r} (cloudwatch): timeout: expected seconds > 0")

        def text(key: str) -> str | None:
            value = settings.get(key)
            return str(value) if value else None

        return cls(
            name,
            group,
            region=text("region"),
            profile=text("profile"),
            endpoint_url=text("endpoint-url"),
            timeout=float(timeout),
        )

    @property
    def label(self) -> str:
        return f"cloudwatch source {self.name!r}"

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            session = boto3.Session(profile_name=self.profile, region_name=self.region)
            self._client = session.client(
                "logs",
                endpoint_url=self.endpoint_url,
                config=Config(
                    connect_timeout=self.timeout,
                    read_timeout=self.timeout,
                    retries={"mode": "standard", "max_attempts": 2},
                ),
            )
        return self._client

    async def find(
        self, needles: Sequence[str], start: datetime, end: datetime, limit: int = 500
    ) -> Sequence[LogLine]:
        return await asyncio.to_thread(self._find, list(needles), start, end, limit)

    def _find(
        self, needles: list[str], start: datetime, end: datetime, limit: int
    ) -> list[LogLine]:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        terms = [f'"{n.replace(chr(34), "")}"' for n in needles]
        pattern = terms[0] if len(terms) == 1 else " ".join(f"?{t}" for t in terms)
        kwargs: dict[str, Any] = {
            "logGroupName": self.log_group,
            "startTime": int(start.timestamp() * 1000),
            "endTime": int(end.timestamp() * 1000),
            "limit": min(limit, 10000),
        }
        if pattern:
            kwargs["filterPattern"] = pattern
        lines: list[LogLine] = []
        address = self.endpoint_url or f"CloudWatch Logs {self.region or ''}".strip()
        try:
            client = self.client()
            # FilterLogEvents pages oldest first and cannot go backward: read every page,
            # keeping only the newest ``limit`` lines (bounded memory).
            while True:
                page = client.filter_log_events(**kwargs)
                for event in page.get("events", []):
                    message = event.get("message", "")
                    if needles and not any(n in message for n in needles):
                        continue  # emulators may ignore ?-patterns; keep only real matches
                    when = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
                    labels = {
                        "log_group": self.log_group,
                        "log_stream": event.get("logStreamName", ""),
                    }
                    lines.append(LogLine(when, message.rstrip("\n"), labels))
                if len(lines) > 2 * limit:
                    lines = _newest(lines, limit)
                token = page.get("nextToken")
                if not token:
                    break
                kwargs["nextToken"] = token
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise BackendError(
                f"{self.label}: {error.get('Code', 'error')}: {error.get('Message', exc)}",
                hint="check log-group, region and AWS credentials",
            ) from None
        except EndpointConnectionError as exc:
            raise BackendUnavailable(self.label, address, str(exc)) from None
        except BotoCoreError as exc:
            raise BackendUnavailable(self.label, address, str(exc)) from None
        return _newest(lines, limit)

    async def close(self) -> None:
        self._client = None


def _newest(lines: list[LogLine], limit: int) -> list[LogLine]:
    """The newest ``limit`` lines, oldest first."""
    lines.sort(key=lambda item: item.time or datetime.min.replace(tzinfo=UTC))
    return lines[-limit:] if limit > 0 else []
