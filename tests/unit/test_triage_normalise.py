"""The normaliser on real failure messages: one fault, one text; different faults differ."""

from __future__ import annotations

import pytest

from console.triage.normalise import MAX_LENGTH, mask_pii, normalise


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # console/sandbox/workflows.py, as the dev server reports them
        ("order x-41: v3 cannot price orders", "order x-<n>: v<n> cannot price orders"),
        ("payment gateway timed out for order-1234", "payment gateway timed out for order-<n>"),
        ("injected fault (failure_rate 0.25)", "injected fault (failure_rate <n>)"),
        # Temporal's own timeout failures
        ("activity StartToClose timeout", "activity StartToClose timeout"),
        # psycopg / asyncpg
        (
            'connection to server at "10.0.3.17", port 5432 failed: Connection refused',
            'connection to server at "<ip>", port <n> failed: Connection refused',
        ),
        ("connection reset by 10.0.3.2:5432", "connection reset by <ip>"),
        # uuids, hex ids, timestamps
        (
            "Row 'f47ac10b-58cc-4372-a567-0e02b2c3d479' not found",
            "Row '<uuid>' not found",
        ),
        (
            "execution 01a23c2f-8f7b-7739-b7fe-8fc61b27f2a8 not found",
            "execution <uuid> not found",
        ),
        ("deadline exceeded at 2026-12-03T13:54:40.566Z", "deadline exceeded at <time>"),
        (
            "lock held by worker 3fde9d24da3a0f2e since 2026-12-03",
            "lock held by worker <hex> since <time>",
        ),
        ("segfault at 0x7ffd5c3e in libfoo", "segfault at <hex> in libfoo"),
        # Stripe-like ids; HTTP statuses are kept (503 and 404 are different faults)
        (
            "HTTP 503 from https://api.example.com/v1/charges/ch_3MtwBwLkdIwHu7ix28a3tqPa",
            "HTTP 503 from https://api.example.com/v<n>/charges/<id>",
        ),
        (
            "upstream returned status 404 after 3 tries",
            "upstream returned status 404 after <n> tries",
        ),
        # quoted words without digits name the bug: kept
        ("KeyError: 'customer_id'", "KeyError: 'customer_id'"),
        ("KeyError: 'item-17'", "KeyError: <id>"),
        # PII never reaches a signature
        ("no account for jane.doe@example.com", "no account for <email>"),
        ("  spaces\n  and\tnewlines  ", "spaces and newlines"),
    ],
)
def test_real_messages(message: str, expected: str) -> None:
    assert normalise(message) == expected


def test_ids_without_digits_are_found_by_the_runs_own_ids() -> None:
    text = "order demo-failed rejected: card declined"
    assert normalise(text, ["demo-failed", None]) == "order <id> rejected: card declined"
    assert (
        normalise("demo bug: total of order demo-wft-failing is negative", ["demo-wft-failing"])
        == "demo bug: total of order <id> is negative"
    )


def test_same_fault_same_text_different_faults_differ() -> None:
    a = normalise("order x-1: v3 cannot price orders")
    b = normalise("order x-987: v3 cannot price orders")
    c = normalise("order x-1: card declined")
    assert a == b != c


def test_long_messages_are_clipped() -> None:
    out = normalise("word " * 100)
    assert len(out) == MAX_LENGTH and out.endswith("…")


def test_examples_shown_raw_mask_emails_only() -> None:
    raw = "no account 42 for jane.doe@example.com"
    assert mask_pii(raw) == "no account 42 for <email>"
