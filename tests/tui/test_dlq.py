"""The DLQ view: `:dlq` -> queues -> messages with detail -> drain wizard (plan, progress)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from textual.widgets import Button, DataTable, Input, Static

from console.audit import AuditJournal
from console.model_queues import DeathInfo, QueueInfo, QueueMessage
from console.ports_dlq import Send
from console.tui.screens.dlq import DlqMessagesScreen, DlqScreen, DrainScreen
from tests.tui.conftest import SIZE, make_app, settle, until
from tests.tui.fakes import stub_session


def message(i: int) -> QueueMessage:
    return QueueMessage(
        dedup_id=f"m-{i}",
        body=json.dumps({"n": i, "email": f"u{i}@x.io"}).encode(),
        death=DeathInfo(queue="orders", reason="rejected" if i % 2 else "expired", count=1),
        enqueued=datetime.now(UTC) - timedelta(minutes=5),
        handle=i,
    )


class FakeSource:
    atomic_commit = True

    def __init__(self, backend: FakeDLQ) -> None:
        self.backend = backend
        self.held: list[QueueMessage] = []

    def depth(self) -> int:
        return len(self.backend.messages)

    def ensure_queue(self, queue: str, *, create: bool = False) -> None:
        return None

    def fetch(self, limit: int, timeout: float) -> list[QueueMessage]:
        out = self.backend.messages[:limit]
        del self.backend.messages[:limit]
        self.held += out
        return out

    def commit(self, sends: Sequence[Send], on_confirmed: Callable[[], None]) -> None:
        self.backend.sent += [(s.message.dedup_id, s.queue) for s in sends]
        on_confirmed()
        for s in sends:
            self.held.remove(s.message)

    def remove(self, messages: Sequence[QueueMessage]) -> None:
        for m in messages:
            self.held.remove(m)

    def release(self, messages: Sequence[QueueMessage]) -> None:
        self.backend.messages[:0] = messages
        for m in messages:
            self.held.remove(m)

    def reconnect(self) -> None:
        self.release(list(self.held))

    def close(self) -> None:
        self.reconnect()


class FakeDLQ:
    name = "rabbit"
    kind = "fake"

    def __init__(self, count: int) -> None:
        self.messages = [message(i) for i in range(count)]
        self.sent: list[tuple[str, str | None]] = []

    async def list_queues(self) -> Sequence[QueueInfo]:
        return [QueueInfo("orders.dlq", self.name, len(self.messages), 300.0, ("orders",))]

    async def peek(self, queue: str, limit: int) -> Sequence[QueueMessage]:
        return list(self.messages[:limit])

    def drain_source(self, queue: str, *, batch_size: int, hold_all: bool = False) -> FakeSource:
        return FakeSource(self)

    def recoverable_errors(self) -> tuple[type[BaseException], ...]:
        return ()

    async def close(self) -> None:
        return None


def dlq_session(tmp_path: Path, backend: FakeDLQ, **kw: Any) -> Any:
    session = stub_session(**kw)
    session.dlq_backends = {"rabbit": backend}  # type: ignore[attr-defined]
    session.audit = AuditJournal(tmp_path / "audit.db")  # type: ignore[attr-defined]
    session.config = SimpleNamespace(identity=None, pii_fields=("email",))  # type: ignore[attr-defined]
    from console.config import Config, Context
    from console.policy.gate import PolicyGate
    from console.policy.model import Identity

    # The shipped policy decides, as for a session without a policy: section.
    session.gate = PolicyGate(  # type: ignore[attr-defined]
        Config(path=tmp_path / "config.yaml", contexts={}),
        Context(session.context.name, (), read_only=session.read_only),
        identity=Identity("tester"),
    )
    return session


@pytest.fixture(autouse=True)
def _drains_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


async def test_dlq_view_messages_and_drain_wizard(tmp_path: Path) -> None:
    backend = FakeDLQ(30)
    session = dlq_session(tmp_path, backend)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.run_command("dlq")  # type: ignore[attr-defined]
        await until(pilot, lambda: isinstance(app.screen, DlqScreen), "dlq view")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)[:4]] == ["rabbit", "orders.dlq", "30", "5.0m"]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DlqMessagesScreen), "messages")
        await settle(pilot)
        assert app.screen.query_one(DataTable).row_count == 30
        detail = str(app.screen.query_one("#dlq-detail", Static).render())
        assert "m-0" in detail and "***" in detail and "u0@x.io" not in detail  # PII masked
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, DrainScreen), "wizard")
        wizard = app.screen
        wizard.query_one("#reasons", Input).value = "rejected"
        await pilot.click("#preview")
        await settle(pilot)
        plan = str(wizard.query_one("#drain-plan", Static).render())
        assert "15 match" in plan and "reason rejected: 15" in plan and "to orders: 15" in plan
        assert not wizard.query_one("#start", Button).disabled
        await pilot.click("#start")
        await until(pilot, lambda: not wizard.running, "drain finished", rounds=500)
        status = str(wizard.query_one("#drain-rate", Static).render())
        assert "done: 15 sent" in status and "15 left" in status
        # Back: the messages and the depth are those after the drain, no key pressed.
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DlqMessagesScreen), "messages")
        messages = app.screen.query_one(DataTable)
        await until(pilot, lambda: messages.row_count == 15, "messages reloaded")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DlqScreen), "queues")
        queues = app.screen.query_one(DataTable)
        await until(pilot, lambda: str(queues.get_row_at(0)[2]) == "15", "depth reloaded")
    assert sorted(backend.sent) == sorted((f"m-{i}", "orders") for i in range(1, 30, 2))
    assert len(backend.messages) == 15
    (record,) = session.audit.list()
    assert record.action == "dlq.drain" and record.parameters["counts"]["sent"] == 15


async def test_read_only_hides_the_drain(tmp_path: Path) -> None:
    session = dlq_session(tmp_path, FakeDLQ(3), read_only=True)
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.run_command("dlq")  # type: ignore[attr-defined]
        await until(pilot, lambda: isinstance(app.screen, DlqScreen), "dlq view")
        await settle(pilot)
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert isinstance(app.screen, DlqScreen)
