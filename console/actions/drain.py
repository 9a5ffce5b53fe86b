"""Draining a dead-letter queue: plan -> preview -> apply, with nothing lost or sent twice.

Order of operations for every batch (see docs/dlq.md):

1. fetch a batch (held by the broker, not removed);
2. write every message not yet archived to the archive (gzip JSON lines, one gzip
   member per batch, flushed and fsynced) and journal it as ``archived`` with its target;
3. publish to the destination and remove from the DLQ (RabbitMQ: one transaction);
   only after the destination confirmed, journal ``sent`` / ``parked`` / ``dropped``.

The journal (console.actions.drain_journal) is keyed by ``dedup_id#redrives``, so a
resumed drain (same drain id) never archives or sends a message twice: a message
journaled as sent but still in the DLQ (a non-atomic source killed between send and
delete) is removed without resending. A drain that finishes its pass marks
journaled-``archived`` messages that are no longer in the DLQ as committed (their batch
committed just before a crash). A message already redriven ``max_redrives`` times goes
to the parking queue instead.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.actions.drain_archive import DrainArchive, archive_record
from console.actions.drain_archive import read_archive as read_archive
from console.actions.drain_journal import DONE_STATES, PARK, DrainJournal, drains_dir
from console.audit import mask
from console.errors import BackendError, NotFound, UsageError
from console.model_queues import QueueMessage
from console.ports_dlq import DrainSource, Send

ORIGINAL = "original"
NOWHERE = "none"
ARCHIVE_ONLY = "(archive only)"


@dataclass(frozen=True)
class DrainFilter:
    """Which messages a drain takes; every given criterion must match."""

    reasons: tuple[str, ...] = ()
    older_than_s: float | None = None
    newer_than_s: float | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body_contains: str | None = None
    jsonpath: str | None = None  # "expr" (exists) or "expr=value"

    @property
    def is_all(self) -> bool:
        return self == DrainFilter()

    def describe(self) -> str:
        parts = []
        if self.reasons:
            parts.append("reason in " + ",".join(self.reasons))
        if self.older_than_s is not None:
            parts.append(f"older than {self.older_than_s:g}s")
        if self.newer_than_s is not None:
            parts.append(f"newer than {self.newer_than_s:g}s")
        parts += [f"header {k}={v}" for k, v in self.headers]
        if self.body_contains is not None:
            parts.append(f"body contains {self.body_contains!r}")
        if self.jsonpath is not None:
            parts.append(f"jsonpath {self.jsonpath}")
        return " and ".join(parts) or "all"

    def matches(self, message: QueueMessage, now: datetime | None = None) -> bool:
        if self.reasons and message.reason not in self.reasons:
            return False
        if self.older_than_s is not None or self.newer_than_s is not None:
            if message.enqueued is None:
                return False
            age = ((now or datetime.now(UTC)) - message.enqueued).total_seconds()
            if self.older_than_s is not None and age < self.older_than_s:
                return False
            if self.newer_than_s is not None and age > self.newer_than_s:
                return False
        for key, value in self.headers:
            have = message.headers.get(key, message.properties.get(key))
            if have is None or str(have) != value:
                return False
        if self.body_contains is not None and self.body_contains not in message.body_text():
            return False
        return self.jsonpath is None or _jsonpath_match(self.jsonpath, message.body)


_JSONPATH_CACHE: dict[str, Any] = {}


def _jsonpath_match(spec: str, body: bytes) -> bool:
    expr, sep, wanted = spec.partition("=")
    compiled = _JSONPATH_CACHE.get(expr)
    if compiled is None:
        from jsonpath_ng.ext import parse  # type: ignore[attr-defined]

        try:
            compiled = parse(expr.strip())
        except Exception as exc:
            raise UsageError(f"bad JSONPath {expr!r}: {exc}") from None
        _JSONPATH_CACHE[expr] = compiled
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    values = [m.value for m in compiled.find(doc)]
    if not sep:
        return bool(values)
    return any(str(v) == wanted.strip() for v in values)


@dataclass(frozen=True)
class DrainSpec:
    adapter: str
    queue: str
    filter: DrainFilter = field(default_factory=DrainFilter)
    destination: str = ORIGINAL  # "original", "none" (archive only) or a queue name
    rate: float | None = None  # msgs/s
    batch_size: int = 500
    max_redrives: int = 3
    parking_queue: str | None = None  # default: "<queue>.parking"
    limit: int | None = None

    @property
    def parking(self) -> str:
        return self.parking_queue or f"{self.queue}.parking"

    def target(self, message: QueueMessage) -> str | None:
        """The queue this message goes to (None: archive only)."""
        if self.destination == NOWHERE:
            return None
        if message.redrives >= self.max_redrives:
            return self.parking
        if self.destination == ORIGINAL:
            if not message.death.queue:
                return self.parking  # nowhere to send it back to: keep it, do not lose it
            return message.death.queue
        return self.destination

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filter"]["headers"] = [list(h) for h in self.filter.headers]
        data["filter"]["reasons"] = list(self.filter.reasons)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrainSpec:
        raw = dict(data)
        flt = dict(raw.pop("filter"))
        flt["reasons"] = tuple(flt["reasons"])
        flt["headers"] = tuple(tuple(h) for h in flt["headers"])
        return cls(filter=DrainFilter(**flt), **raw)


# -- preview ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrainPreview:
    spec: DrainSpec
    depth: int
    scanned: int
    matched: int
    by_reason: Mapping[str, int]
    by_destination: Mapping[str, int]
    samples: Sequence[Mapping[str, Any]]


def sample_data(message: QueueMessage, pii_fields: Sequence[str] = ()) -> dict[str, Any]:
    """One message for display, PII masked (body JSON and headers)."""
    body: Any = message.body_text()
    with contextlib.suppress(ValueError):
        body = json.loads(message.body)
    return {
        "dedup_id": message.dedup_id,
        "reason": message.reason,
        "original_queue": message.death.queue,
        "routing_keys": list(message.death.routing_keys),
        "death_count": message.death.count,
        "redrives": message.redrives,
        "enqueued": message.enqueued.isoformat().replace("+00:00", "Z")
        if message.enqueued
        else None,
        "headers": mask(
            json.loads(
                json.dumps(
                    {k: v for k, v in message.headers.items() if k != "x-death"}, default=str
                )
            ),
            pii_fields,
        ),
        "body": mask(body, pii_fields),
    }


def missing_destinations(source: DrainSource, spec: DrainSpec, preview: DrainPreview) -> list[str]:
    """The plan's destination queues that do not exist (one sentence each).

    Checked while planning, so a drain to a wrong name stops before it archives, audits
    or moves anything. The parking queue is left out: the drain creates it.
    """
    wanted = set(preview.by_destination) - {ARCHIVE_ONLY, spec.parking}
    if spec.destination not in (ORIGINAL, NOWHERE):
        wanted.add(spec.destination)
    missing = []
    for queue in sorted(wanted):
        try:
            source.ensure_queue(queue)
        except NotFound as exc:
            missing.append(str(exc))
    return missing


def build_preview(
    spec: DrainSpec,
    depth: int,
    messages: Sequence[QueueMessage],
    *,
    samples: int = 5,
    pii_fields: Sequence[str] = (),
) -> DrainPreview:
    """Counts per reason and destination over the peeked head of the queue."""
    now = datetime.now(UTC)
    matched = [m for m in messages if spec.filter.matches(m, now)]
    by_reason = Counter(m.reason for m in matched)
    by_dest = Counter(spec.target(m) or ARCHIVE_ONLY for m in matched)
    return DrainPreview(
        spec=spec,
        depth=depth,
        scanned=len(messages),
        matched=len(matched),
        by_reason=dict(by_reason),
        by_destination=dict(by_dest),
        samples=[sample_data(m, pii_fields) for m in matched[:samples]],
    )


# -- journal: console.actions.drain_journal; archive: console.actions.drain_archive ------


# -- apply --------------------------------------------------------------------------------


@dataclass
class DrainProgress:
    done: int
    total: int
    rate: float
    eta_s: float | None


@dataclass
class DrainReport:
    drain_id: str
    spec: DrainSpec
    matched: int = 0
    sent: int = 0
    parked: int = 0
    dropped: int = 0
    skipped: int = 0  # did not match the filter: left in the DLQ
    left_in_dlq: int | None = None  # the DLQ's depth when the run ended (None: unknown)
    removed_already_sent: int = 0
    settled_after_crash: int = 0
    reconnects: int = 0
    cancelled: bool = False
    completed: bool = False
    elapsed_s: float = 0.0
    error: str | None = None
    archive_paths: list[str] = field(default_factory=list)
    journal_path: str = ""
    totals: dict[str, int] = field(default_factory=dict)  # all runs of this drain id
    resumed: bool = False

    @property
    def moved(self) -> int:
        return self.sent + self.parked + self.dropped

    @property
    def rate(self) -> float:
        return self.moved / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return 4 if self.moved else 1
        if self.cancelled:
            return 4
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "drain_id": self.drain_id,
            "queue": self.spec.queue,
            "adapter": self.spec.adapter,
            "filter": self.spec.filter.describe(),
            "destination": self.spec.destination,
            "matched": self.matched,
            "sent": self.sent,
            "parked": self.parked,
            "archived_only": self.dropped,
            "left_in_dlq": self.left_in_dlq,
            "not_matching": self.skipped,
            "removed_already_sent": self.removed_already_sent,
            "settled_after_crash": self.settled_after_crash,
            "reconnects": self.reconnects,
            "cancelled": self.cancelled,
            "completed": self.completed,
            "resumed": self.resumed,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(self.rate, 1),
            "error": self.error,
            "archive_paths": self.archive_paths,
            "journal": self.journal_path,
            "totals": self.totals,
            "exit_code": self.exit_code,
        }


class Drain:
    """One drain run (new or resumed) against a blocking DrainSource; call ``run``."""

    def __init__(
        self,
        source: DrainSource,
        spec: DrainSpec,
        *,
        drain_id: str | None = None,
        archive_dir: Path | None = None,
        journal_dir: Path | None = None,
        recoverable: tuple[type[BaseException], ...] = (),
        on_progress: Callable[[DrainProgress], None] | None = None,
        cancel: threading.Event | None = None,
        fetch_timeout: float = 1.0,
        max_reconnects: int = 20,
    ) -> None:
        self.source = source
        self.drain_id = drain_id or uuid.uuid4().hex[:12]
        base = journal_dir or drains_dir()
        self.journal = DrainJournal.open(self.drain_id, journal_dir)
        stored = self.journal.get_meta("spec")
        self.resumed = stored is not None
        if stored is not None:
            spec = DrainSpec.from_dict(json.loads(stored))  # a resume keeps its first spec
        else:
            self.journal.set_meta("spec", json.dumps(spec.as_dict()))
        self.spec = spec
        stored_dir = self.journal.get_meta("archive_dir")
        if stored_dir is None:
            stored_dir = str(archive_dir or base)
            self.journal.set_meta("archive_dir", stored_dir)
        self.archive_dir = Path(stored_dir)
        self.recoverable = recoverable
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.fetch_timeout = fetch_timeout
        self.max_reconnects = max_reconnects
        self._submitted = 0
        # Confirmed rows not yet journaled: with an atomic source they ride along with
        # the next batch's archived rows (one journal commit per batch, not two); a crash
        # first leaves them 'archived', which the resumed pass settles (settle_committed).
        self._confirmed_rows: list[tuple[str, str, str, str | None, str | None]] = []

    def run(self) -> DrainReport:
        spec = self.spec
        report = DrainReport(
            self.drain_id, spec, journal_path=self.journal.location, resumed=self.resumed
        )
        started = time.monotonic()
        archive: DrainArchive | None = None
        held: list[QueueMessage] = []
        failures_in_row = 0
        try:
            # Checked before the archive exists: a run that cannot send leaves no trace.
            if spec.destination not in (ORIGINAL, NOWHERE):
                self.source.ensure_queue(spec.destination)
            archive = DrainArchive(self.archive_dir, self.drain_id)
            report.archive_paths.append(str(archive.path))
            budget = self.source.depth()
            total = budget if spec.limit is None else min(budget, spec.limit)
            seen = 0
            while not self.cancel.is_set():
                want = min(spec.batch_size, budget - seen)
                if spec.limit is not None:
                    want = min(want, spec.limit - self._submitted)
                if want <= 0:
                    report.completed = spec.limit is None or self._submitted < spec.limit
                    break
                try:
                    batch = self.source.fetch(want, self.fetch_timeout)
                    if not batch:
                        report.completed = True
                        break
                    seen += len(batch)
                    held += self._batch(batch, archive, report)
                    failures_in_row = 0
                except self.recoverable as exc:
                    failures_in_row += 1
                    report.reconnects += 1
                    if failures_in_row > self.max_reconnects:
                        raise BackendError(
                            f"connection lost {failures_in_row} times: {exc}"
                        ) from exc
                    time.sleep(min(0.2 * 2**failures_in_row, 5.0))
                    held = []  # a dropped connection gave every held message back
                    report.skipped = 0
                    self._reconnect()
                    budget, seen = self.source.depth(), 0
                    continue
                self._pace(report, started)
                elapsed = time.monotonic() - started
                if self.on_progress is not None:
                    # Submitted, not only confirmed: commit-oks may still be in flight.
                    done = self._submitted
                    rate = done / elapsed if elapsed > 0 else 0.0
                    left = max(total - done - report.skipped, 0)
                    self.on_progress(
                        DrainProgress(done, total, rate, left / rate if rate else None)
                    )
            self._flush()
            self._journal_confirmed()
            report.cancelled = self.cancel.is_set() and not report.completed
            if report.completed and spec.limit is None:
                report.settled_after_crash = self.journal.settle_committed()
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
        finally:
            try:
                if held:
                    self.source.release(held)
            except Exception as exc:  # closing the connection gives them back anyway
                report.error = report.error or f"releasing held messages: {exc}"
            self.source.close()
            report.left_in_dlq = self._depth_after_close()
            if archive is not None:
                archive.close()
            report.elapsed_s = time.monotonic() - started
            with contextlib.suppress(Exception):  # confirmed before the failure
                self._journal_confirmed()
            report.totals = self.journal.counts()
            self.journal.close()
        return report

    def _depth_after_close(self) -> int | None:
        """What is really left: measured on a new session, once every message this run
        held went back (a report must never claim fewer than remain)."""
        try:
            return self.source.depth()
        except Exception:
            return None
        finally:
            with contextlib.suppress(Exception):
                self.source.close()

    def _journal_confirmed(
        self, also: Sequence[tuple[str, str, str, str | None, str | None]] = ()
    ) -> None:
        rows, self._confirmed_rows = [*self._confirmed_rows, *also], []
        if rows:
            self.journal.mark(rows)

    def _flush(self) -> None:
        """Wait for commits still in flight (a pipelining source confirms them later)."""
        flush = getattr(self.source, "flush", None)
        if flush is not None:
            flush()

    def _reconnect(self) -> None:
        for attempt in range(self.max_reconnects):
            try:
                self.source.reconnect()
                return
            except self.recoverable:
                time.sleep(min(0.2 * 2**attempt, 5.0))
        self.source.reconnect()

    def _pace(self, report: DrainReport, started: float) -> None:
        rate = self.spec.rate
        if not rate:
            return
        ahead = report.moved / rate - (time.monotonic() - started)
        while ahead > 0 and not self.cancel.is_set():
            time.sleep(min(ahead, 0.2))
            ahead = report.moved / rate - (time.monotonic() - started)

    def _batch(
        self, batch: Sequence[QueueMessage], archive: DrainArchive, report: DrainReport
    ) -> list[QueueMessage]:
        """Handle one fetched batch; returns the messages to hold (not matching)."""
        spec = self.spec
        now = datetime.now(UTC)
        keys = [f"{m.dedup_id}#{m.redrives}" for m in batch]
        stamp = now.isoformat().replace("+00:00", "Z")
        states = self.journal.states(keys)
        states.update((row[0], row[2]) for row in self._confirmed_rows)  # not on disk yet
        sends: list[Send] = []
        send_keys: list[str] = []
        already: list[QueueMessage] = []
        hold: list[QueueMessage] = []
        to_archive: list[dict[str, Any]] = []
        archived_rows: list[tuple[str, str, str, str | None, str | None]] = []
        for key, message in zip(keys, batch, strict=True):
            state = states.get(key)
            if state in DONE_STATES:
                already.append(message)
                continue
            if not spec.filter.matches(message, now):
                hold.append(message)
                continue
            target = spec.target(message)
            if target is not None and target != spec.parking:
                self.source.ensure_queue(target)
            elif target is not None:
                self.source.ensure_queue(target, create=True)
            sends.append(Send(message, target))
            send_keys.append(key)
            if state is None:
                to_archive.append(archive_record(message, spec.queue, target, self.drain_id, stamp))
                journal_target = PARK if target == spec.parking else target
                archived_rows.append(
                    (key, message.dedup_id, "archived", journal_target, message.reason)
                )
        # 1. archive, fsynced, before anything leaves the DLQ
        archive.write(to_archive)
        if archived_rows or self._confirmed_rows:
            self._journal_confirmed(archived_rows)
        # 2. messages a crashed run already sent (non-atomic sources): remove, do not resend
        if already:
            self.source.remove(already)
            report.removed_already_sent += len(already)
        # 3. send + remove; journal after the destination confirmed
        if sends:

            def confirmed() -> None:
                rows = []
                for key, send in zip(send_keys, sends, strict=True):
                    if send.queue is None:
                        state = "dropped"
                        report.dropped += 1
                    elif send.queue == spec.parking:
                        state = "parked"
                        report.parked += 1
                    else:
                        state = "sent"
                        report.sent += 1
                    message = send.message
                    rows.append((key, message.dedup_id, state, send.queue, message.reason))
                if self.source.atomic_commit:
                    self._confirmed_rows += rows
                else:  # SQS: 'sent' is on disk before the deletes (no resend after a crash)
                    self.journal.mark(rows)
                report.matched += len(sends)

            self._submitted += len(sends)  # counted now: confirmations may come later
            self.source.commit(sends, confirmed)
        report.skipped += len(hold)
        return hold


def new_drain_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
