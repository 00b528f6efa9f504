"""The ingest topic as bronze's `ChangeSource`, and the topic's last records as a resume fallback.

No consumer-group commits: bronze's position per `topic:partition` lives in its Iceberg commit and
comes back in as `resume`, so a replay is just a smaller resume mapping.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from wikiguard.adapters.kafka.config import KafkaAdapterError, consumer_config
from wikiguard.application.ports import ChangeSource, ResumeStore, SourceChunk, SourceRecord, records_of

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class KafkaChangeSource(ChangeSource):
    """Reads every partition of `topic` after the resumed offsets (from the earliest without one).

    Bounded (`follow=False`): ends once each partition reaches the high watermark seen at the start,
    for tests and replays. Following: runs until `close()`. `position` is the Kafka offset,
    `event_id` the `sse_event_id` header, `received_at` the `ingest_time` header (else the record's
    timestamp).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        topic: str,
        *,
        follow: bool = False,
        poll_timeout: float = 1.0,
        batch: int = 1000,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = _now,
    ):
        self.topic, self.name = topic, f"kafka:{topic}"
        self._config = dict(config)
        self._follow, self._poll_timeout, self._batch, self._timeout = follow, poll_timeout, batch, timeout
        self._clock = clock
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def records(self, resume: Mapping[str, int]) -> Iterator[SourceRecord]:
        return records_of(self.chunks(resume), lambda: self._closed)

    def chunks(self, resume: Mapping[str, int]) -> Iterator[SourceChunk]:
        """The records of each `consume` call together."""
        self._closed = False
        consumer = _consumer(self._config, f"wikiguard-reader-{self.topic}")
        try:
            ends = self._assign(consumer, resume)
            if not self._follow and not ends:
                return
            while not self._closed:
                try:
                    messages = consumer.consume(self._batch, timeout=self._poll_timeout)
                except KafkaException as exc:
                    raise KafkaAdapterError(f"cannot read {self.topic}: {exc}") from exc
                taken: list[SourceRecord] = []
                for message in messages:
                    partition, offset = message.partition() or 0, message.offset() or 0
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            if taken:  # the records before the error are good: theirs to commit
                                yield SourceChunk.of_records(taken)
                            raise KafkaAdapterError(f"cannot read {self.topic}[{partition}]: {error}")
                        if not self._follow and offset >= ends.get(partition, 0):
                            ends.pop(partition, None)
                        continue
                    if not self._follow:
                        end = ends.get(partition)
                        if end is None or offset >= end:
                            continue  # beyond the bound of this run
                        if offset >= end - 1:
                            ends.pop(partition)
                    taken.append(self._record(message))
                if taken:
                    yield SourceChunk.of_records(taken)
                if not self._follow and not ends:
                    return
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer, resume: Mapping[str, int]) -> dict[int, int]:
        """Assign every partition at its start; returns partition -> high watermark still to reach."""
        ends: dict[int, int] = {}
        assignment = []
        try:
            for partition in _partitions(consumer, self.topic, self._timeout):
                after = resume.get(f"{self.topic}:{partition}")
                start = OFFSET_BEGINNING if after is None else after + 1
                assignment.append(TopicPartition(self.topic, partition, start))
                low, high = _watermarks(consumer, self.topic, partition, self._timeout)
                if max(low, after + 1 if after is not None else low) < high:
                    ends[partition] = high
            consumer.assign(assignment)
        except KafkaException as exc:
            raise KafkaAdapterError(f"cannot assign {self.topic}: {exc}") from exc
        return ends

    def _record(self, message: Message) -> SourceRecord:
        headers = _headers(message)
        return SourceRecord(
            payload=_text(message.value()) or "",
            position=message.offset() or 0,
            received_at=_ingest_time(headers, message) or self._clock(),
            topic=message.topic() or self.topic,
            partition=message.partition() or 0,
            event_id=headers.get("sse_event_id") or None,
            key=_text(message.key()),
        )


class KafkaTailResumeStore(ResumeStore):
    """The resume id read back from the topic itself, for when the state file is gone.

    Each partition's last record carries the SSE id it came from. The earliest of these (by
    `ingest_time`) is safe: everything read before it went to some partition whose later tail was
    delivered, and the idempotent producer delivers a partition in order. `save` does nothing: the
    records are the state.
    """

    def __init__(self, config: Mapping[str, Any], topic: str, *, timeout: float = 10.0):
        self._config, self.topic, self._timeout = dict(config), topic, timeout

    def save(self, event_id: str) -> None:
        pass

    def load(self) -> str | None:
        consumer = _consumer(self._config, f"wikiguard-tail-{uuid.uuid4().hex[:8]}")
        tails: list[tuple[datetime, str]] = []
        try:
            for partition in _partitions(consumer, self.topic, self._timeout):
                low, high = _watermarks(consumer, self.topic, partition, self._timeout)
                if high <= low:
                    continue
                consumer.assign([TopicPartition(self.topic, partition, high - 1)])
                message = consumer.poll(self._timeout)
                if message is None or message.error() is not None:
                    continue
                headers = _headers(message)
                when, event_id = _ingest_time(headers, message), headers.get("sse_event_id")
                if when is not None and event_id:
                    tails.append((when, event_id))
        except KafkaException as exc:
            raise KafkaAdapterError(f"cannot read the last records of {self.topic}: {exc}") from exc
        finally:
            consumer.close()
        return min(tails)[1] if tails else None


def _consumer(config: Mapping[str, Any], group_id: str) -> Consumer:
    try:
        return Consumer(consumer_config(config, group_id=group_id))
    except KafkaException as exc:
        raise KafkaAdapterError(f"cannot create a Kafka consumer: {exc}") from exc


def _partitions(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        found = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if found is not None and found.error is None and found.partitions:
            return sorted(found.partitions)
        # A topic that does not exist fails at once; one whose leaders are being elected is waited for.
        electing = (
            found is not None
            and found.error is not None
            and found.error.code() == KafkaError.LEADER_NOT_AVAILABLE
        )
        if not electing or time.monotonic() > deadline:
            reason = found.error if found is not None else "not found"
            raise KafkaAdapterError(f"topic {topic} is not available: {reason}")
        time.sleep(0.2)


# Leadership still settling (a new topic, a broker that just restarted): worth asking again.
_SETTLING = frozenset(
    {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART}
)


def _watermarks(consumer: Consumer, topic: str, partition: int, timeout: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            settling = isinstance(error, KafkaError) and (error.code() in _SETTLING or error.retriable())
            if not settling or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _text(value: str | bytes | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", errors="replace")


def _headers(message: Message) -> dict[str, str]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {str(k): _text(v) or "" for k, v in pairs}


def _ingest_time(headers: Mapping[str, str], message: Message) -> datetime | None:
    text = headers.get("ingest_time")
    if text:
        try:
            parsed = datetime.fromisoformat(text)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            log.debug("bad ingest_time header %r", text)
    kind, millis = message.timestamp()
    return datetime.fromtimestamp(millis / 1000, UTC) if millis and millis > 0 else None
