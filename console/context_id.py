"""Context-ID parsing: whatever ID the operator has at hand, and what it was taken for.

Recognised, strongest first:

- W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``), also as ``traceparent: ...``
- Jaeger ``uber-trace-id`` (``<trace>:<span>:<parent>:<flags>``, ``%3A`` accepted)
- Step Functions execution ARN (``arn:aws:states:REGION:ACCOUNT:execution:SM:NAME``,
  also ``express:``)
- Logic Apps run id (``08585...CU00``) or its ARM path (``.../workflows/WF/runs/RUN``)
- an opsdeck execution reference (``temporal:default/order-42[/run]``, see DESIGN.md)
- a bare trace id: 32 hex digits (W3C) or 16 hex digits (Jaeger 64-bit)
- anything else that is one token: a Temporal workflow id, or a business correlation
  id / Logic Apps clientTrackingId carried in search attributes, log labels or tags.

Formats with a fixed shape give one candidate. A bare trace id could also be a workflow
id, and a free-form token could be either a workflow id or a correlation id, so those
inputs list several candidates; the correlation tries each and reports which one matched.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import unquote

from console.errors import UsageError
from console.model import ExecutionRef, RefError
from console.model_telemetry import normalise_trace_id


class IdKind(enum.StrEnum):
    TRACEPARENT = "traceparent"
    JAEGER_UBER_TRACE_ID = "uber-trace-id"
    TRACE_ID = "trace-id"
    EXECUTION_REF = "execution-ref"
    STEPFUNCTIONS_ARN = "stepfunctions-execution-arn"
    LOGICAPPS_RUN_ID = "logicapps-run-id"
    WORKFLOW_ID = "workflow-id"
    CORRELATION_ID = "correlation-id"


_DESCRIPTIONS = {
    IdKind.TRACEPARENT: "W3C traceparent",
    IdKind.JAEGER_UBER_TRACE_ID: "Jaeger uber-trace-id",
    IdKind.TRACE_ID: "trace id",
    IdKind.EXECUTION_REF: "execution reference",
    IdKind.STEPFUNCTIONS_ARN: "Step Functions execution ARN",
    IdKind.LOGICAPPS_RUN_ID: "Logic Apps run id",
    IdKind.WORKFLOW_ID: "Temporal workflow id",
    IdKind.CORRELATION_ID: "business correlation id (or Logic Apps clientTrackingId)",
}

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_UBER = re.compile(r"([0-9a-f]{1,32}):([0-9a-f]{1,16}):([0-9a-f]{1,16}|0):([0-9a-f]{1,2})")
_SFN_ARN = re.compile(
    r"arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):(execution|express):([^:\s]+):([^:\s]+)"
)
_LOGICAPPS_RUN = re.compile(r"\d{20,}CU\d{1,4}")
_LOGICAPPS_PATH = re.compile(r"/subscriptions/[^/]+/.*/workflows/([^/]+)/runs/([^/?\s]+)", re.I)
_HEADER = re.compile(r"(traceparent|uber-trace-id)\s*[:=]\s*(.+)", re.IGNORECASE)
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")


@dataclass(frozen=True)
class Candidate:
    """One reading of the input; ``trace_id``/``ref``/``scope`` say what it points at."""

    kind: IdKind
    value: str
    trace_id: str | None = None
    span_id: str | None = None
    ref: ExecutionRef | None = None
    scope: str | None = None  # state machine (Step Functions), workflow (Logic Apps)

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self.kind]


@dataclass(frozen=True)
class ParsedId:
    text: str
    candidates: tuple[Candidate, ...]

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1

    @property
    def trace_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.trace_id for c in self.candidates if c.trace_id))

    def describe(self) -> str:
        """'recognised as W3C traceparent (trace 4bf9...)' or a list of candidates."""
        parts = [_candidate_text(c) for c in self.candidates]
        if not self.ambiguous:
            return f"{self.text!r} recognised as {parts[0]}"
        return f"{self.text!r} is ambiguous; candidates: " + "; ".join(parts)


def _candidate_text(candidate: Candidate) -> str:
    text = candidate.description
    if candidate.trace_id:
        text += f" (trace {candidate.trace_id})"
    elif candidate.ref is not None:
        text += f" ({candidate.ref})"
    elif candidate.scope:
        text += f" ({candidate.scope}: {candidate.value})"
    return text


def parse_context_id(text: str) -> ParsedId:
    """Recognise ``text``; raises UsageError only for empty or multi-word input."""
    raw = text.strip()
    if not raw:
        raise UsageError("empty context id; pass a trace id, traceparent, execution ref or id")
    if any(ch.isspace() for ch in raw) and not _HEADER.fullmatch(raw):
        raise UsageError(f"{text!r} is not one id (it contains spaces); quote one id only")
    header = _HEADER.fullmatch(raw)
    if header:
        raw = header.group(2).strip()
    return ParsedId(text=text.strip(), candidates=tuple(_candidates(raw)))


def _candidates(raw: str) -> list[Candidate]:
    lower = raw.lower()
    match = _TRACEPARENT.fullmatch(lower)
    if match and match.group(1) != "ff" and _nonzero(match.group(2)) and _nonzero(match.group(3)):
        return [Candidate(IdKind.TRACEPARENT, raw, match.group(2), match.group(3))]
    uber = _UBER.fullmatch(unquote(lower))
    if uber and _nonzero(uber.group(1)):
        trace_id = normalise_trace_id(uber.group(1))
        return [Candidate(IdKind.JAEGER_UBER_TRACE_ID, raw, trace_id, uber.group(2).rjust(16, "0"))]
    arn = _SFN_ARN.fullmatch(raw)
    if arn:
        return [Candidate(IdKind.STEPFUNCTIONS_ARN, raw, scope=arn.group(4))]
    path = _LOGICAPPS_PATH.search(raw)
    if path:
        return [Candidate(IdKind.LOGICAPPS_RUN_ID, path.group(2), scope=path.group(1))]
    if _LOGICAPPS_RUN.fullmatch(raw):
        return [Candidate(IdKind.LOGICAPPS_RUN_ID, raw)]
    if not raw.startswith("arn:"):
        try:
            ref = ExecutionRef.parse(raw)
        except RefError:
            pass
        else:
            if re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", ref.engine):
                return [Candidate(IdKind.EXECUTION_REF, raw, ref=ref)]
    found: list[Candidate] = []
    if (_HEX32.fullmatch(raw) or _HEX16.fullmatch(raw)) and _nonzero(lower):
        found.append(Candidate(IdKind.TRACE_ID, raw, normalise_trace_id(lower)))
    found.append(Candidate(IdKind.WORKFLOW_ID, raw))
    if not found[0].trace_id:
        found.append(Candidate(IdKind.CORRELATION_ID, raw))
    return found


def _nonzero(hex_digits: str) -> bool:
    return any(ch != "0" for ch in hex_digits)
