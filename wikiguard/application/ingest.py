"""Ingest: the live feed into the event log, gap-free across reconnects, crashes and broker restarts.

Every record read ends in exactly one place: published (watched page), filtered out, counted as a
canary, or dead-lettered with its reason. The resume position (the SSE id sent as `Last-Event-ID`)
only moves past a record once the log has confirmed it, or once the record needed no delivery and
everything read before it is confirmed; so a crash can repeat events but never lose one. A record
the log gives up on is spooled to durable local storage and retried, never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator

import attrs

from wikiguard.application.batches.parse import decode_payload
from wikiguard.application.ports import (
    AcknowledgingChangeSource,
    Clock,
    ConfirmingEventLog,
    ResumeStore,
    SourceRecord,
    Spool,
    SpooledRecord,
)
from wikiguard.domain.allowlist import Allowlist
from wikiguard.domain.events import Rejection, parse_change

logger = logging.getLogger(__name__)

SSE_EVENT_ID = "sse_event_id"
INGEST_TIME = "ingest_time"
CANONICAL_ENTITY = "canonical_entity"


@attrs.define
class IngestCounters:
    """What ingest has done since it started; `read = kept + filtered + canaries + dead_lettered`."""

    read: int = 0
    kept: int = 0
    filtered: int = 0
    canaries: int = 0
    dead_lettered: int = 0
    sent: int = 0  # delivery confirmed (main and dead-letter topics, spool retries included)
    failed: int = 0  # delivery reports with an error (each one spooled)
    spool_retried: int = 0

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


class _Pending:
    """One record read, in read order, until it no longer holds the resume position back.

    A published record keeps what was sent (key, payload, headers, dead-letter reason) so a failed
    delivery can be spooled as it was.
    """

    __slots__ = ("event_id", "done", "sent")

    def __init__(
        self, event_id: str | None, done: bool, sent: tuple[str, str, dict[str, str], str | None] | None
    ):
        self.event_id = event_id
        self.done = done
        self.sent = sent


def load_resume_id(store: ResumeStore, fallback: ResumeStore | None = None) -> str | None:
    """The id to resume after: the store's, else the fallback's (e.g. the log's own last records)."""
    found = store.load()
    if found is None and fallback is not None:
        found = fallback.load()
        if found is not None:
            logger.info("no saved resume id; resuming from the event log's last records")
    return found


@attrs.define(eq=False)
class Ingest:
    """Reads the change source and publishes watched changes, keyed by canonical entity.

    `handle` runs on the reading thread; `service` (delivery reports, spool retries) may run on
    another one. Everything they share is guarded by one lock.
    """

    source: AcknowledgingChangeSource
    log: ConfirmingEventLog
    allowlist: Callable[[], Allowlist]
    clock: Clock
    resume_store: ResumeStore
    spool: Spool
    persist_every_s: float = 1.0  # at most this often the resume id is written (a crash repeats <= this)
    spool_retry_every_s: float = 30.0
    spool_max_attempts: int = 5  # then to the dead-letter topic (spooled until it lands)
    monotonic: Callable[[], float] = time.monotonic
    counters: IngestCounters = attrs.field(factory=IngestCounters)
    last_read_at: float | None = None  # monotonic time of the last record read (canaries included)
    last_canary_at: float | None = None
    _pending: deque[_Pending] = attrs.field(factory=deque)
    _acked: str | None = None
    _saved: str | None = None
    _saved_at: float = 0.0
    _spool_tried_at: float | None = None
    _spool_in_flight: set[str] = attrs.field(factory=set)
    _lock: threading.RLock = attrs.field(factory=threading.RLock)
    _stop: threading.Event = attrs.field(factory=threading.Event)

    # -- the loop -------------------------------------------------------------------------
    def run(self, *, max_events: int | None = None, duration_s: float | None = None) -> IngestCounters:
        """Ingest until `stop()`, the source ends, or a bound is reached; then flush and persist."""
        deadline = None if duration_s is None else self.monotonic() + duration_s
        try:
            for record in self._records():
                self.handle(record)
                self.service(0.0)
                if self._stop.is_set() or (max_events is not None and self.counters.read >= max_events):
                    break
                if deadline is not None and self.monotonic() >= deadline:
                    break
        finally:
            self.source.close()
            self.finish()
        return self.counters

    def _records(self) -> Iterator[SourceRecord]:
        # The SSE source resumes by Last-Event-ID; there are no per-partition positions to pass.
        yield from self.source.records({})

    def stop(self) -> None:
        """Stop reading (safe from a signal handler or another thread); `run` then flushes."""
        self._stop.set()
        self.source.close()

    def finish(self, timeout: float = 30.0) -> int:
        """Retry the spool once more, wait for outstanding deliveries, persist; returns undelivered."""
        self.retry_spool(force=True)
        remaining = self.log.flush(timeout)
        if remaining:
            logger.warning("%d records still undelivered at shutdown; they will be read again", remaining)
        with self._lock:
            self._persist(force=True)
        return remaining

    # -- one record -----------------------------------------------------------------------
    def handle(self, record: SourceRecord) -> None:
        now = self.monotonic()
        with self._lock:
            self.counters.read += 1
            self.last_read_at = now
            value = decode_payload(record.payload)
            parsed = value if isinstance(value, Rejection) else parse_change(value)
            if isinstance(parsed, Rejection):
                self.counters.dead_lettered += 1
                headers = self._headers(record, meta_id=parsed.meta_id or "")
                report = self._track(record.event_id, ("", record.payload, headers, parsed.reason))
                self.log.dead_letter(record.payload, parsed.reason, headers, report)
                return
            if parsed.is_canary:
                # Wikimedia's synthetic heartbeat: proof the stream is alive, not a change.
                self.counters.canaries += 1
                self.last_canary_at = now
                self._skip(record.event_id)
                return
            entity = self.allowlist().match(parsed.wiki, parsed.title)
            if entity is None:
                self.counters.filtered += 1
                self._skip(record.event_id)
                return
            self.counters.kept += 1
            headers = self._headers(record, canonical_entity=entity)
            self.log.publish(
                entity,
                record.payload,
                headers,
                self._track(record.event_id, (entity, record.payload, headers, None)),
            )

    def _headers(self, record: SourceRecord, **extra: str) -> dict[str, str]:
        return {SSE_EVENT_ID: record.event_id or "", INGEST_TIME: self.clock.now().isoformat(), **extra}

    def _skip(self, event_id: str | None) -> None:
        self._pending.append(_Pending(event_id, True, None))
        self._advance()

    def _track(
        self, event_id: str | None, sent: tuple[str, str, dict[str, str], str | None]
    ) -> Callable[[str | None], None]:
        pending = _Pending(event_id, False, sent)
        self._pending.append(pending)

        def on_delivery(error: str | None) -> None:
            self._delivered(pending, error)

        return on_delivery

    # -- delivery reports -----------------------------------------------------------------
    def service(self, timeout: float = 0.0) -> None:
        """Serve delivery reports, retry the spool when due, persist the position when due."""
        self.log.poll(timeout)
        self.retry_spool()
        with self._lock:
            self._persist()

    def _delivered(self, pending: _Pending, error: str | None) -> None:
        with self._lock:
            if error is None:
                self.counters.sent += 1
            else:
                self.counters.failed += 1
                # The delivery was given up: keep it durably before the position may move past it.
                self.spool.add(self._spooled(pending, error))
            pending.done = True
            pending.sent = None
            self._advance()

    @staticmethod
    def _spooled(pending: _Pending, error: str) -> SpooledRecord:
        assert pending.sent is not None, "only published records get delivery reports"
        key, payload, headers, reason = pending.sent
        pending.sent = None  # the spool has it now; do not keep two copies in memory
        return SpooledRecord(_new_spool_id(), key, payload, tuple(headers.items()), error, 1, reason)

    def _advance(self) -> None:
        moved = False
        while self._pending and self._pending[0].done:
            head = self._pending.popleft()
            if head.event_id:
                self._acked = head.event_id
                moved = True
        if moved and self._acked is not None:
            self.source.acknowledge(self._acked)

    def _persist(self, force: bool = False) -> None:
        if self._acked is None or self._acked == self._saved:
            return
        now = self.monotonic()
        if force or now - self._saved_at >= self.persist_every_s:
            self.resume_store.save(self._acked)
            self._saved, self._saved_at = self._acked, now

    @property
    def resume_id(self) -> str | None:
        """The last event id everything up to which is durable (what a restart would resume after)."""
        return self._acked

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # -- the spool ------------------------------------------------------------------------
    def retry_spool(self, *, force: bool = False) -> int:
        """Publish spooled records again (every `spool_retry_every_s`); returns how many were sent."""
        now = self.monotonic()
        if (
            not force
            and self._spool_tried_at is not None
            and now - self._spool_tried_at < self.spool_retry_every_s
        ):
            return 0
        self._spool_tried_at = now
        with self._lock:
            due = [r for r in self.spool.pending() if r.spool_id not in self._spool_in_flight]
            for record in due:
                self._spool_in_flight.add(record.spool_id)
                self.counters.spool_retried += 1
                report = self._spool_report(record)
                if record.dead_letter_reason is not None:
                    self.log.dead_letter(
                        record.payload, record.dead_letter_reason, dict(record.headers), report
                    )
                else:
                    self.log.publish(record.key, record.payload, dict(record.headers), report)
        return len(due)

    def _spool_report(self, record: SpooledRecord) -> Callable[[str | None], None]:
        def on_delivery(error: str | None) -> None:
            with self._lock:
                self._spool_in_flight.discard(record.spool_id)
                if error is None:
                    self.counters.sent += 1
                    self.spool.remove([record.spool_id])
                    return
                self.counters.failed += 1
                again = attrs.evolve(
                    record, spool_id=_new_spool_id(), error=error, attempts=record.attempts + 1
                )
                if again.dead_letter_reason is None and again.attempts >= self.spool_max_attempts:
                    again = attrs.evolve(again, attempts=0, dead_letter_reason=f"undeliverable: {error}")
                # Store the new attempt before forgetting the old one: never zero copies.
                self.spool.add(again)
                self.spool.remove([record.spool_id])

        return on_delivery


def _new_spool_id() -> str:
    return uuid.uuid4().hex
