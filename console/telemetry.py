"""OpenTelemetry for opsdeck's own actions: spans per apply and per target.

Configured by the top-level ``telemetry:`` key of the config file::

    telemetry:
      export: otlp-http        # otlp-http | console | none (default: none, nothing exported)
      endpoint: http://otel-collector:4318/v1/traces   # otlp-http only

Only ``opentelemetry-api`` is a runtime dependency. The SDK (``opentelemetry-sdk``)
is imported only when export is configured, and ``otlp-http`` also needs
``opentelemetry-exporter-otlp-proto-http``; a missing package is a clear config error.
Spans are exported synchronously (``SimpleSpanProcessor``): an action has few targets
and the CLI ends with ``os._exit``, which would drop a batch.

The incident's trace context joins the spans to the failure's trace: ``--traceparent``
on change verbs, else the ``TRACEPARENT`` environment variable (W3C, extracted with
``opentelemetry.propagate``). The provider is opsdeck's own, never the global one, so
embedding opsdeck does not change the host's tracing.

Nothing here is imported by ``opsdeck --version`` or read-only verbs; opentelemetry
is imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from console.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.context import Context as OtelContext
    from opentelemetry.trace import Tracer

EXPORTS = ("none", "console", "otlp-http")
TRACER_NAME = "opsdeck"
ENV_TRACEPARENT = "TRACEPARENT"

_provider: Any = None  # opentelemetry.sdk.trace.TracerProvider when export is on
_settings: dict[str, str] = {}


def validate(settings: Mapping[str, Any], where: str = "telemetry") -> dict[str, str]:
    """The checked ``telemetry:`` mapping (plain strings); ConfigError names the field."""
    unknown = set(settings) - {"export", "endpoint"}
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key (expected export, endpoint)")
    export = str(settings.get("export", "none") or "none")
    if export not in EXPORTS:
        raise ConfigError(f"{where}.export: expected one of {', '.join(EXPORTS)}, got {export!r}")
    out = {"export": export}
    endpoint = settings.get("endpoint")
    if endpoint is not None:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.endpoint: expected an http(s) URL, got {endpoint!r}")
        out["endpoint"] = endpoint
    return out


def configure(settings: Mapping[str, Any] | None, *, span_exporter: Any = None) -> bool:
    """Set up export from the ``telemetry:`` settings; True if spans will be exported.

    ``span_exporter`` replaces the configured exporter (tests: InMemorySpanExporter);
    it is used only when export is on, so "off" stays off.
    """
    global _provider, _settings
    checked = validate(settings or {})
    if checked == _settings and _provider is not None and span_exporter is None:
        return True
    _settings = checked
    if _provider is not None:
        _provider.shutdown()
    _provider = None
    if checked["export"] == "none":
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    except ImportError:
        raise ConfigError(
            f"telemetry.export: {checked['export']} needs the OpenTelemetry SDK",
            hint="pip install opentelemetry-sdk (or set telemetry.export: none)",
        ) from None
    exporter = span_exporter or _exporter(checked)
    provider = TracerProvider(resource=Resource.create({"service.name": "opsdeck"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _provider = provider
    return True


def _exporter(settings: Mapping[str, str]) -> Any:
    if settings["export"] == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigError(
            "telemetry.export: otlp-http needs opentelemetry-exporter-otlp-proto-http",
            hint="pip install opentelemetry-exporter-otlp-proto-http",
        ) from None
    endpoint = settings.get("endpoint")
    return OTLPSpanExporter(endpoint=endpoint, timeout=5) if endpoint else OTLPSpanExporter()


def enabled() -> bool:
    return _provider is not None


def tracer() -> Tracer:
    """opsdeck's tracer; a no-op tracer when export is off."""
    from opentelemetry import trace

    if _provider is None:
        return trace.NoOpTracer()
    return _provider.get_tracer(TRACER_NAME)  # type: ignore[no-any-return]


def incident_context(traceparent: str | None = None) -> OtelContext | None:
    """The incident's trace context from ``traceparent`` (else $TRACEPARENT); None if
    neither is given. A malformed value is a usage error, not silently a new trace."""
    value = traceparent or os.environ.get(ENV_TRACEPARENT)
    if not value:
        return None
    from opentelemetry import trace
    from opentelemetry.propagate import extract
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": value.strip()}
    context = TraceContextTextMapPropagator().extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        from console.errors import UsageError

        source = "--traceparent" if traceparent else f"${ENV_TRACEPARENT}"
        raise UsageError(
            f"{source}: not a W3C traceparent: {value!r}",
            hint="expected 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>",
        )
    # Let any globally configured propagators (baggage...) see the carrier too.
    return extract(carrier, context=context)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span (for passing on), if any."""
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


__all__ = [
    "EXPORTS",
    "configure",
    "current_traceparent",
    "enabled",
    "incident_context",
    "tracer",
    "validate",
]
