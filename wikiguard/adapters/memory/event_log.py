"""An event log in memory: partitions, offsets, headers, asynchronous delivery reports, failures on demand."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import attrs

from wikiguard.application.ports import ChangeSource, ConfirmingEventLog, DeliveryReport, SourceRecord

DLQ_REASON = "dlq_reason"


@attrs.frozen
class LoggedRecord:
    topic: str
    partition: int
    offset: int
    key: str | None
    payload: str
    headers: Mapping[str, str]


@attrs.define
class _Queued:
    topic: str
    key: str | None
    payload: str
    headers: dict[str, str]
    on_delivery: DeliveryReport | None


class InMemoryEventLog(ConfirmingEventLog):
    """Behaves like the Kafka log seen from a producer: `publish` only queues; reports come from
    `poll`/`flush`. A key always maps to the same partition, so per-key order is kept.

    Failures: `fail_next(n, error)` makes the next n deliveries report `error`; `failing = error`
    fails every delivery until set back to None; `hold = True` keeps records queued (a broker that
    does not answer) so `flush` returns how many are still undelivered.
    """

    def __init__(
        self, topic: str = "cleaned_events", dlq_topic: str = "cleaned_events_dlq", partitions: int = 3
    ):
        self.topic, self.dlq_topic, self.partitions = topic, dlq_topic, partitions
        self.logs: dict[str, list[list[LoggedRecord]]] = {
            t: [[] for _ in range(partitions)] for t in (topic, dlq_topic)
        }
        self.queued: list[_Queued] = []
        self.failing: str | None = None
        self.hold = False
        self._fail_next: list[str] = []
        self._round_robin = 0

    # -- producer side --------------------------------------------------------------------
    def publish(
        self, key: str, payload: str, headers: Mapping[str, str], on_delivery: DeliveryReport | None = None
    ) -> None:
        self.queued.append(_Queued(self.topic, key, payload, dict(headers), on_delivery))

    def dead_letter(
        self, payload: str, reason: str, headers: Mapping[str, str], on_delivery: DeliveryReport | None = None
    ) -> None:
        self.queued.append(
            _Queued(self.dlq_topic, None, payload, {**headers, DLQ_REASON: reason}, on_delivery)
        )

    def poll(self, timeout: float = 0.0) -> int:
        if self.hold:
            return 0
        served = 0
        while self.queued:
            item = self.queued.pop(0)
            error = self._next_error()
            if error is None:
                self._append(item)
            if item.on_delivery is not None:
                item.on_delivery(error)
            served += 1
        return served

    def flush(self, timeout: float = 30.0) -> int:
        self.poll(timeout)
        return len(self.queued)

    def fail_next(self, times: int = 1, error: str = "simulated delivery failure") -> None:
        self._fail_next.extend([error] * times)

    def _next_error(self) -> str | None:
        if self._fail_next:
            return self._fail_next.pop(0)
        return self.failing

    def _append(self, item: _Queued) -> None:
        if item.key is None:
            partition = self._round_robin % self.partitions
            self._round_robin += 1
        else:
            partition = zlib.crc32(item.key.encode()) % self.partitions
        log = self.logs[item.topic][partition]
        log.append(LoggedRecord(item.topic, partition, len(log), item.key, item.payload, item.headers))

    # -- what a consumer would see --------------------------------------------------------
    def records(self, topic: str | None = None) -> list[LoggedRecord]:
        """Every delivered record of `topic` (default: the main one), partition by partition."""
        return [r for part in self.logs[topic or self.topic] for r in part]

    def change_source(self, topic: str | None = None) -> ChangeSource:
        """The delivered records as bronze would read them from Kafka (see `KafkaChangeSource`)."""
        return InMemoryLogChangeSource(self, topic or self.topic)


class InMemoryLogChangeSource(ChangeSource):
    """Bounded read of an `InMemoryEventLog` topic, resuming after per-partition offsets."""

    def __init__(self, log: InMemoryEventLog, topic: str, clock: Callable[[], datetime] | None = None):
        self.log, self.topic, self.name = log, topic, f"memory:{topic}"
        self._clock = clock or (lambda: datetime.now(UTC))
        self._closed = False

    def records(self, resume: Mapping[str, int]) -> Iterator[SourceRecord]:
        self._closed = False
        for partition, log in enumerate(self.log.logs[self.topic]):
            after = resume.get(f"{self.topic}:{partition}", -1)
            for rec in log[after + 1 :]:
                if self._closed:
                    return
                ingest_time = rec.headers.get("ingest_time")
                yield SourceRecord(
                    payload=rec.payload,
                    position=rec.offset,
                    received_at=datetime.fromisoformat(ingest_time) if ingest_time else self._clock(),
                    topic=rec.topic,
                    partition=rec.partition,
                    event_id=rec.headers.get("sse_event_id") or None,
                    key=rec.key,
                )

    def close(self) -> None:
        self._closed = True
