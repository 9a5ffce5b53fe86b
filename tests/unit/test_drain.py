"""The drain's pieces without a broker: filters, targets, archive, journal, config."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.actions.drain import (
    Drain,
    DrainArchive,
    DrainFilter,
    DrainJournal,
    DrainSpec,
    build_preview,
    read_archive,
)
from console.config import parse_config
from console.errors import ConfigError
from console.model_queues import DeathInfo, QueueMessage
from console.ports_dlq import Send


def msg(i: int, *, reason: str = "rejected", redrives: int = 0, age_s: float = 60) -> QueueMessage:
    body = json.dumps({"n": i, "email": f"u{i}@x.io", "tier": "gold" if i % 2 else "x"})
    return QueueMessage(
        dedup_id=f"m-{i}",
        body=body.encode(),
        headers={"kind": "order"},
        death=DeathInfo(queue="work", reason=reason, count=1),
        redrives=redrives,
        enqueued=datetime.now(UTC) - timedelta(seconds=age_s),
        handle=i,
    )


def test_filter_criteria_all_must_match() -> None:
    assert DrainFilter().matches(msg(1))
    assert DrainFilter(reasons=("expired",)).matches(msg(1, reason="expired"))
    assert not DrainFilter(reasons=("expired",)).matches(msg(1))
    assert DrainFilter(older_than_s=30).matches(msg(1, age_s=60))
    assert not DrainFilter(older_than_s=120).matches(msg(1, age_s=60))
    assert DrainFilter(newer_than_s=120).matches(msg(1, age_s=60))
    assert DrainFilter(headers=(("kind", "order"),)).matches(msg(1))
    assert not DrainFilter(headers=(("kind", "refund"),)).matches(msg(1))
    assert DrainFilter(body_contains='"n": 7').matches(msg(7))
    assert DrainFilter(jsonpath="$.tier=x").matches(msg(2))
    assert not DrainFilter(jsonpath="$.tier=x").matches(msg(3))
    assert DrainFilter(jsonpath="$.email").matches(msg(3))
    assert not DrainFilter(jsonpath="$.missing").matches(msg(3))
    assert DrainFilter(reasons=("rejected",), jsonpath="$.tier").describe().startswith("reason")


def test_targets_original_other_none_and_parking() -> None:
    spec = DrainSpec("r", "dlq", max_redrives=2)
    assert spec.target(msg(1)) == "work"
    assert spec.target(msg(1, redrives=2)) == "dlq.parking"
    assert DrainSpec("r", "dlq", destination="elsewhere").target(msg(1)) == "elsewhere"
    assert DrainSpec("r", "dlq", destination="none").target(msg(1)) is None
    assert DrainSpec.from_dict(json.loads(json.dumps(spec.as_dict()))) == spec


def test_preview_counts_and_masks(tmp_path: Path) -> None:
    spec = DrainSpec("r", "dlq", filter=DrainFilter(jsonpath="$.tier=x"))
    messages = [msg(i, reason="expired" if i < 4 else "rejected") for i in range(10)]
    preview = build_preview(spec, 10, messages, samples=2, pii_fields=("email",))
    assert preview.matched == 5
    assert preview.by_reason == {"expired": 2, "rejected": 3}
    assert preview.by_destination == {"work": 5}
    assert preview.samples[0]["body"]["email"] == "***"


def test_archive_survives_a_truncated_last_member(tmp_path: Path) -> None:
    archive = DrainArchive(tmp_path, "d1")
    archive.write([{"dedup_id": "a"}, {"dedup_id": "b"}])
    archive.write([{"dedup_id": "c"}])
    archive.close()
    data = archive.path.read_bytes()
    member = gzip.compress(b'{"dedup_id": "d"}\n')
    archive.path.write_bytes(data + member[: len(member) // 2])  # killed mid-write
    assert [r["dedup_id"] for r in read_archive(archive.path)] == ["a", "b", "c"]
    second = DrainArchive(tmp_path, "d1")  # a resumed run writes a new part
    assert second.path != archive.path
    second.close()


def test_journal_settles_batches_committed_before_a_crash(tmp_path: Path) -> None:
    journal = DrainJournal(tmp_path / "j.db")
    journal.mark([("a#0", "a", "archived", "work", "rejected")])
    journal.mark([("b#0", "b", "archived", None, "rejected")])
    journal.mark([("c#0", "c", "sent", "work", "rejected")])
    assert journal.states(["a#0", "c#0", "x#0"]) == {"a#0": "archived", "c#0": "sent"}
    assert journal.settle_committed() == 2
    assert journal.counts() == {"sent": 2, "dropped": 1}
    journal.close()


class FakeSource:
    """A non-atomic source (SQS-like) that can crash between send and delete."""

    atomic_commit = False

    def __init__(self, messages: Sequence[QueueMessage], crash_after_send: bool = False):
        self.queue = list(messages)
        self.sent: list[tuple[str, str | None]] = []
        self.crash_after_send = crash_after_send
        self.inflight: list[QueueMessage] = []

    def depth(self) -> int:
        return len(self.queue)

    def ensure_queue(self, queue: str, *, create: bool = False) -> None:
        return None

    def fetch(self, limit: int, timeout: float) -> list[QueueMessage]:
        out, self.queue = self.queue[:limit], self.queue[limit:]
        self.inflight += out
        return out

    def commit(self, sends: Sequence[Send], on_confirmed: Callable[[], None]) -> None:
        self.sent += [(s.message.dedup_id, s.queue) for s in sends]
        if self.crash_after_send:
            raise KeyboardInterrupt("killed between send and journal")
        on_confirmed()
        self.remove([s.message for s in sends])

    def remove(self, messages: Sequence[QueueMessage]) -> None:
        for m in messages:
            self.inflight.remove(m)

    def release(self, messages: Sequence[QueueMessage]) -> None:
        self.queue = [*messages, *self.queue]
        for m in messages:
            self.inflight.remove(m)

    def reconnect(self) -> None:
        self.queue, self.inflight = [*self.inflight, *self.queue], []

    def close(self) -> None:
        self.reconnect()


def test_resume_removes_what_was_sent_without_resending(tmp_path: Path) -> None:
    messages = [msg(i) for i in range(6)]
    source = FakeSource(messages)
    spec = DrainSpec("r", "dlq", batch_size=4)

    class Crashing(FakeSource):
        calls = 0

        def commit(self, sends: Sequence[Send], on_confirmed: Callable[[], None]) -> None:
            self.sent += [(s.message.dedup_id, s.queue) for s in sends]
            on_confirmed()  # journaled as sent, then killed before the delete
            raise RuntimeError("killed")

    crashing = Crashing(messages)
    report = Drain(crashing, spec, drain_id="d", journal_dir=tmp_path).run()
    assert report.error and len(crashing.sent) == 4
    source.queue = crashing.queue  # the 6 messages are all still in the DLQ
    resumed = Drain(source, spec, drain_id="d", journal_dir=tmp_path).run()
    assert resumed.removed_already_sent == 4 and resumed.sent == 2
    assert [m for m, _ in source.sent] == ["m-4", "m-5"]
    assert resumed.totals == {"sent": 6}


def test_cancel_stops_between_batches_with_exact_counts(tmp_path: Path) -> None:
    source = FakeSource([msg(i) for i in range(10)])
    cancel = threading.Event()
    drain = Drain(
        source,
        DrainSpec("r", "dlq", batch_size=3),
        journal_dir=tmp_path,
        cancel=cancel,
        on_progress=lambda p: cancel.set(),
    )
    report = drain.run()
    assert report.cancelled and report.sent == 3 and report.exit_code == 4
    assert len(source.queue) == 7


def test_config_queues_entries_with_file_line_errors(tmp_path: Path) -> None:
    good = (  # a sandbox context may rely on the local broker's guest/guest
        "contexts:\n  t:\n    sandbox: true\n    engines: []\n    queues:\n"
        "      - kind: rabbitmq\n        queues: [a.dlq]\n"
    )
    config = parse_config(good, tmp_path / "c.yaml")
    (entry,) = config.contexts["t"].queues
    assert entry.kind == "rabbitmq" and entry.settings["queues"] == ["a.dlq"]
    bad = "contexts:\n  t:\n    engines: []\n    queues:\n      - name: x\n"
    with pytest.raises(ConfigError) as info:
        parse_config(bad, tmp_path / "c.yaml")
    assert "c.yaml:5" in str(info.value) and "queues[0].kind" in str(info.value)
    secret = (
        "contexts:\n  t:\n    engines: []\n    queues:\n"
        "      - kind: rabbitmq\n        password: hunter2\n"
    )
    with pytest.raises(ConfigError, match="plain text"):
        parse_config(secret, tmp_path / "c.yaml")


def test_limit_counts_messages_submitted_not_yet_confirmed(tmp_path: Path) -> None:
    class LateConfirm(FakeSource):
        """Confirms a batch only when the next one is committed (a pipelining source)."""

        waiting: Callable[[], None] | None = None

        def commit(self, sends: Sequence[Send], on_confirmed: Callable[[], None]) -> None:
            self.sent += [(s.message.dedup_id, s.queue) for s in sends]
            self.remove([s.message for s in sends])
            if self.waiting:
                self.waiting()
            self.waiting = on_confirmed

        def flush(self) -> None:
            if self.waiting:
                self.waiting()
                self.waiting = None

    source = LateConfirm([msg(i) for i in range(10)])
    report = Drain(source, DrainSpec("r", "dlq", batch_size=2, limit=5), journal_dir=tmp_path).run()
    assert len(source.sent) == 5 and report.sent == 5 and len(source.queue) == 5


class AtomicSource(FakeSource):
    """A transactional source (RabbitMQ-like): publish and remove commit together."""

    atomic_commit = True

    def commit(self, sends: Sequence[Send], on_confirmed: Callable[[], None]) -> None:
        self.sent += [(s.message.dedup_id, s.queue) for s in sends]
        self.remove([s.message for s in sends])
        on_confirmed()


class Killed(BaseException):
    """The process dies: nothing after it runs (the journal is copied at that moment)."""


def test_atomic_source_killed_before_sent_rows_are_journaled(tmp_path: Path) -> None:
    # An atomic source's 'sent' rows ride along with the next batch's journal commit;
    # killed in between, the resumed pass must settle them: exact totals, no resend.
    import shutil

    killed = tmp_path / "at-kill"

    class KilledAtSecondFetch(AtomicSource):
        fetches = 0

        def fetch(self, limit: int, timeout: float) -> list[QueueMessage]:
            self.fetches += 1
            if self.fetches == 2:
                shutil.copytree(tmp_path / "j", killed)  # the journal as a SIGKILL leaves it
                raise Killed
            return super().fetch(limit, timeout)

    messages = [msg(i) for i in range(6)]
    spec = DrainSpec("r", "dlq", batch_size=4)
    first = KilledAtSecondFetch(messages)
    with pytest.raises(Killed):
        Drain(first, spec, drain_id="d", journal_dir=tmp_path / "j").run()
    assert len(first.sent) == 4
    on_disk = DrainJournal(killed / "d.db")
    assert on_disk.counts() == {"archived": 4}  # committed at the broker, not journaled
    on_disk.close()
    rest = AtomicSource(messages[4:])  # the committed batch left the DLQ
    resumed = Drain(rest, spec, drain_id="d", journal_dir=killed).run()
    assert [m for m, _ in rest.sent] == ["m-4", "m-5"]
    assert resumed.settled_after_crash == 4 and resumed.removed_already_sent == 0
    assert resumed.totals == {"sent": 6}


def test_a_copy_confirmed_in_the_previous_batch_is_not_sent_again(tmp_path: Path) -> None:
    source = AtomicSource([msg(0), msg(1), msg(1), msg(2)])  # m-1 dead-lettered twice
    report = Drain(source, DrainSpec("r", "dlq", batch_size=2), journal_dir=tmp_path).run()
    assert [m for m, _ in source.sent] == ["m-0", "m-1", "m-2"]
    assert report.removed_already_sent == 1 and report.totals == {"sent": 3}
    assert not source.queue and not source.inflight
