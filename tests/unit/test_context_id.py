"""Context-ID parsing: examples for each format, and property tests (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.context_id import IdKind, parse_context_id
from console.errors import UsageError
from console.model import ExecutionRef

hex_digits = st.text(alphabet="0123456789abcdef", min_size=1, max_size=1)


def hex_string(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789abcdef", min_size=n, max_size=n).filter(
        lambda s: s.strip("0") != ""
    )


def kinds(text: str) -> list[IdKind]:
    return [c.kind for c in parse_context_id(text).candidates]


def test_traceparent() -> None:
    parsed = parse_context_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert not parsed.ambiguous
    assert parsed.candidates[0].kind is IdKind.TRACEPARENT
    assert parsed.trace_ids == ("4bf92f3577b34da6a3ce929d0e0e4736",)
    assert "W3C traceparent" in parsed.describe()


def test_traceparent_header_form_and_upper_case() -> None:
    header = "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"
    parsed = parse_context_id(header)
    assert parsed.trace_ids == ("4bf92f3577b34da6a3ce929d0e0e4736",)


def test_invalid_traceparent_all_zero_trace_is_not_a_traceparent() -> None:
    parsed = parse_context_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
    assert IdKind.TRACEPARENT not in kinds(parsed.text)


def test_uber_trace_id_64_bit_is_padded() -> None:
    parsed = parse_context_id("uber-trace-id: 7d0e6a2b1c3f4e5a:1a2b3c4d5e6f7a8b:0:1")
    assert kinds(parsed.text) == [IdKind.JAEGER_UBER_TRACE_ID]
    assert parsed.trace_ids == ("00000000000000007d0e6a2b1c3f4e5a",)
    assert parse_context_id("7d0e6a2b1c3f4e5a%3A1a2b%3A0%3A1").trace_ids == parsed.trace_ids


def test_bare_trace_id_is_ambiguous_with_a_workflow_id() -> None:
    parsed = parse_context_id("4bf92f3577b34da6a3ce929d0e0e4736")
    assert parsed.ambiguous
    assert kinds(parsed.text) == [IdKind.TRACE_ID, IdKind.WORKFLOW_ID]
    assert "ambiguous" in parsed.describe() and "trace id" in parsed.describe()


def test_execution_ref() -> None:
    parsed = parse_context_id("temporal:default/order-42/5f1c")
    assert kinds(parsed.text) == [IdKind.EXECUTION_REF]
    assert parsed.candidates[0].ref == ExecutionRef("temporal", "default", "order-42", "5f1c")


def test_step_functions_arn() -> None:
    arn = "arn:aws:states:eu-west-1:123456789012:execution:payments:run-7"
    parsed = parse_context_id(arn)
    assert kinds(arn) == [IdKind.STEPFUNCTIONS_ARN]
    assert parsed.candidates[0].scope == "payments"


def test_logic_apps_run_id_and_arm_path() -> None:
    assert kinds("08585583331113357958449181325CU00") == [IdKind.LOGICAPPS_RUN_ID]
    path = (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/orders"
        "/runs/08585583331113357958449181325CU00"
    )
    parsed = parse_context_id(path)
    assert parsed.candidates[0].kind is IdKind.LOGICAPPS_RUN_ID
    assert parsed.candidates[0].scope == "orders"


def test_free_token_lists_workflow_and_correlation_candidates() -> None:
    parsed = parse_context_id("order-42")
    assert kinds("order-42") == [IdKind.WORKFLOW_ID, IdKind.CORRELATION_ID]
    assert "Temporal workflow id" in parsed.describe()
    assert "correlation id" in parsed.describe()


@pytest.mark.parametrize("text", ["", "   ", "two words"])
def test_not_one_id(text: str) -> None:
    with pytest.raises(UsageError):
        parse_context_id(text)


@given(hex_string(32), hex_string(16), st.sampled_from(["00", "01", "0a"]), hex_digits)
def test_any_valid_traceparent_gives_its_trace_id(
    trace: str, span: str, version: str, flag: str
) -> None:
    parsed = parse_context_id(f"{version}-{trace}-{span}-0{flag}")
    assert [c.kind for c in parsed.candidates] == [IdKind.TRACEPARENT]
    assert parsed.candidates[0].trace_id == trace
    assert parsed.candidates[0].span_id == span


@given(hex_string(32), hex_string(16))
def test_uber_trace_id_roundtrip(trace: str, span: str) -> None:
    parsed = parse_context_id(f"{trace}:{span}:0:1")
    assert parsed.candidates[0].kind is IdKind.JAEGER_UBER_TRACE_ID
    assert parsed.trace_ids == (trace,)


@given(hex_string(32))
def test_bare_32_hex_always_offers_the_trace_id(trace: str) -> None:
    parsed = parse_context_id(trace.upper())
    assert parsed.trace_ids == (trace,)


ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")),
    min_size=1,
    max_size=30,
)


@given(st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True), ids, ids)
def test_every_execution_ref_string_parses_back(engine: str, scope: str, workflow: str) -> None:
    ref = ExecutionRef(engine, scope.strip() or "s", workflow.strip() or "w")
    parsed = parse_context_id(str(ref))
    assert [c.kind for c in parsed.candidates] == [IdKind.EXECUTION_REF]
    assert parsed.candidates[0].ref == ref


@given(ids)
def test_any_single_token_gives_candidates_and_a_description(text: str) -> None:
    stripped = text.strip()
    if not stripped or any(ch.isspace() for ch in stripped):
        return
    parsed = parse_context_id(stripped)
    assert parsed.candidates
    assert parsed.describe().startswith(repr(parsed.text))
    assert parsed.ambiguous == (len(parsed.candidates) > 1)
