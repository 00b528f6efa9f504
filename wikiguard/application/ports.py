"""The ports: what the use cases need from the outside world, named for their role."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeAlias, runtime_checkable

import attrs
import pyarrow as pa

from wikiguard.application.batches.frames import TIMESTAMP, column_values
from wikiguard.domain.alerts import Alert

Row = Mapping[str, Any]
# What a table store appends: rows, or a batch already held as an Arrow table of the table's columns.
Rows: TypeAlias = Sequence[Row] | pa.Table


@attrs.frozen
class SourceRecord:
    """One raw event as it arrived, with where it came from.

    `payload` is the undecoded JSON text. `position` orders records of one source and is what a
    consumer checkpoints (a line number, an SSE sequence number, a Kafka offset). `event_id` is the
    SSE `id:` (Wikimedia's JSON array) when there is one.
    """

    payload: str
    position: int
    received_at: datetime
    topic: str = "embedded"
    partition: int = 0
    event_id: str | None = None
    key: str | None = None


# A `SourceChunk` as columns: one row per record, the payload as its UTF-8 bytes (a lone surrogate,
# which has no UTF-8 form, encoded as Python's "surrogatepass" does, so the text comes back exactly).
SOURCE_SCHEMA = pa.schema([
    ("payload", pa.binary()), ("position", pa.int64()), ("received_at", TIMESTAMP), ("topic", pa.string()),
    ("partition", pa.int32()), ("event_id", pa.string()), ("key", pa.string()),
])  # fmt: skip


def payload_column(payloads: Sequence[str]) -> pa.Array:
    """Payload texts as a payload column (binary; see `SOURCE_SCHEMA`)."""
    try:
        return pa.array([payload.encode() for payload in payloads], pa.binary())
    except UnicodeEncodeError:  # a lone surrogate somewhere (the simulator makes them)
        return pa.array([payload.encode("utf-8", "surrogatepass") for payload in payloads], pa.binary())


def payload_text(payload: bytes | None) -> str:
    """A payload column's bytes as the text a source read (bytes that are no UTF-8 at all, as `\\xNN`;
    a null payload, which no source gives, as the empty payload it is)."""
    if payload is None:
        return ""
    try:
        return payload.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return payload.decode("utf-8", "backslashreplace")


@attrs.frozen
class SourceChunk:
    """Records of one source, in order, held the way the source read them: as `SourceRecord`s (a
    source that reads one at a time) or as columns in `SOURCE_SCHEMA` (one that reads many at once,
    with no Python object per record). Either form gives the other; the pipeline takes columns.
    """

    _records: Sequence[SourceRecord] | None = None
    _table: pa.Table | None = None

    @classmethod
    def of_records(cls, records: Sequence[SourceRecord]) -> SourceChunk:
        return cls(records=records)

    @classmethod
    def of_table(cls, table: pa.Table) -> SourceChunk:
        if not table.schema.equals(SOURCE_SCHEMA):
            raise ValueError(f"a source chunk's columns are {SOURCE_SCHEMA}, not {table.schema}")
        return cls(table=table)

    @classmethod
    def concat(cls, chunks: Sequence[SourceChunk]) -> SourceChunk:
        """The chunks' records one after the other (as records when every chunk holds records)."""
        if all(chunk._records is not None for chunk in chunks):
            return cls.of_records([record for chunk in chunks for record in chunk.records()])
        return cls.of_table(pa.concat_tables([chunk.table() for chunk in chunks]))

    def __len__(self) -> int:
        return len(self._records) if self._records is not None else self.table().num_rows

    def table(self) -> pa.Table:
        """The records as columns (`SOURCE_SCHEMA`)."""
        if self._table is not None:
            return self._table
        return _table_of(self._records or ())

    def records(self) -> Sequence[SourceRecord]:
        if self._records is not None:
            return self._records
        table = self.table()
        received = column_values(table.column("received_at"))
        return [
            SourceRecord(payload_text(payload), position, at, topic, partition, event_id, key)
            for payload, position, at, topic, partition, event_id, key in zip(
                table.column("payload").to_pylist(), table.column("position").to_pylist(), received,
                table.column("topic").to_pylist(), table.column("partition").to_pylist(),
                table.column("event_id").to_pylist(), table.column("key").to_pylist(), strict=True,
            )
        ]  # fmt: skip

    def split(self, rows: int) -> tuple[SourceChunk, SourceChunk]:
        """The first `rows` records, and the rest."""
        if self._records is not None:
            return SourceChunk.of_records(self._records[:rows]), SourceChunk.of_records(self._records[rows:])
        table = self.table()
        return SourceChunk.of_table(table.slice(0, rows)), SourceChunk.of_table(table.slice(rows))


def _table_of(records: Sequence[SourceRecord]) -> pa.Table:
    received = [record.received_at for record in records]
    columns = [
        payload_column([record.payload for record in records]),
        pa.array([record.position for record in records], pa.int64()),
        # Inferred from aware datetimes, then labelled UTC: what a typed conversion gives, ~8x cheaper.
        pa.array(received).cast(TIMESTAMP) if received else pa.array([], TIMESTAMP),
        pa.array([record.topic for record in records], pa.string()),
        pa.array([record.partition for record in records], pa.int32()),
        pa.array([record.event_id for record in records], pa.string()),
        pa.array([record.key for record in records], pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=SOURCE_SCHEMA)


@runtime_checkable
class ChangeSource(Protocol):
    """Raw recentchange events: a live stream, a recorded file or a simulator."""

    name: str

    def records(self, resume: Mapping[str, int]) -> Iterator[SourceRecord]:
        """Records in order, after the positions in `resume` (`"topic:partition"` -> last committed position).

        A single-stream source looks up its own `f"{topic}:0"` key. A bounded source ends; a live one
        runs until `close()`.
        """
        ...

    def chunks(self, resume: Mapping[str, int]) -> Iterator[SourceChunk]:
        """The same records as `records`, a chunk at a time, each as soon as it is read (a live source
        must not hold a record back to fill a chunk). By default every record is its own chunk; a
        source that reads many records at once gives them together, as columns where it can."""
        for record in self.records(resume):
            yield SourceChunk.of_records((record,))

    def close(self) -> None: ...


def records_of(chunks: Iterator[SourceChunk], closed: Callable[[], bool]) -> Iterator[SourceRecord]:
    """The records of chunks one at a time, until `closed()` (`records` of a source whose natural
    unit is a chunk: a close stops it mid-chunk)."""
    for chunk in chunks:
        for record in chunk.records():
            if closed():
                return
            yield record


@runtime_checkable
class EventLog(Protocol):
    """The durable log between ingest and bronze (Kafka topic in production)."""

    def publish(self, key: str, payload: str, headers: Mapping[str, str]) -> None:
        """Queue one record; delivery is confirmed through `flush` and the delivery callback."""
        ...

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for outstanding deliveries; returns how many are still undelivered."""
        ...


@attrs.frozen
class RowFilter:
    """Rows where every `equals` column holds one of its values and, with `at_least=(column, value)`,
    that column is >= value. An empty filter matches every row; a None cell never matches a condition.
    """

    equals: Mapping[str, Collection[Any]] = attrs.field(factory=dict)
    at_least: tuple[str, Any] | None = None

    @property
    def columns(self) -> set[str]:
        return set(self.equals) | ({self.at_least[0]} if self.at_least else set())

    def matches(self, row: Row) -> bool:
        for column, values in self.equals.items():
            value = row.get(column)
            if value is None or value not in values:
                return False
        if self.at_least is not None:
            value = row.get(self.at_least[0])
            return value is not None and bool(value >= self.at_least[1])
        return True


@attrs.frozen
class TableSnapshot:
    """One committed version of a table on its current branch, with every checkpoint as of it."""

    snapshot_id: int
    committed_at: datetime
    checkpoints: Mapping[str, str]


@runtime_checkable
class TableStore(Protocol):
    """Lakehouse tables with per-writer checkpoints committed atomically with the rows."""

    def ensure_tables(self) -> None:
        """Create the namespace and every table that does not exist yet."""
        ...

    def append(self, table: str, rows: Rows, checkpoint: Mapping[str, str]) -> None:
        """Append rows and record `checkpoint` (writer key -> position) in the same commit.

        An Arrow table holds a subset of the table's columns (absent ones are null) with types that
        cast safely to the table's; rows are checked the same way."""
        ...

    def checkpoint(self, table: str, key: str) -> str | None:
        """The last position `key` committed to `table`, or None."""
        ...

    def scan(self, table: str, at_least: tuple[str, Any] | None = None) -> Iterator[Row]:
        """Rows of `table`; with `at_least=(column, value)` only those where column >= value."""
        ...

    def count(self, table: str) -> int: ...

    def maintain(self, older_than: datetime) -> Mapping[str, int]:
        """Compact small files and expire snapshots older than `older_than`; returns what was done."""
        ...

    def delete(self, table: str, where: Sequence[RowFilter], checkpoint: Mapping[str, str]) -> int:
        """Delete the rows matching any filter of `where` and record `checkpoint` in the same commit.

        Returns how many rows went. The checkpoint is recorded even when no row matches (that is how a
        writer's position moves back on its own); an empty `where` deletes nothing.
        """
        ...

    def snapshots(self, table: str) -> list[TableSnapshot]:
        """The table's retained history on its current branch, oldest first (newest = current state)."""
        ...


@runtime_checkable
class AlertSink(Protocol):
    """Somewhere an alert reaches a person (SNS, Slack, a log)."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver one alert; raise `AlertDeliveryError` when it cannot be delivered."""
        ...


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime: ...


DeliveryReport = Callable[[str | None], None]
"""Called once per published record: None when the log holds it durably, else why it gave up."""


@runtime_checkable
class ConfirmingEventLog(EventLog, Protocol):
    """The event log ingest writes to: per-record delivery reports and a dead-letter topic beside it.

    Reports are served only from `poll` and `flush`, on the calling thread, so a caller decides when
    its callbacks run. A record whose report says delivered is durable (acks=all); one whose report
    carries an error was given up after the log's own retries.
    """

    def publish(
        self, key: str, payload: str, headers: Mapping[str, str], on_delivery: DeliveryReport | None = None
    ) -> None: ...

    def dead_letter(
        self, payload: str, reason: str, headers: Mapping[str, str], on_delivery: DeliveryReport | None = None
    ) -> None:
        """Queue a record that cannot be used; `reason` travels in the `dlq_reason` header."""
        ...

    def poll(self, timeout: float = 0.0) -> int:
        """Serve the delivery reports that are ready (waiting up to `timeout`); returns how many."""
        ...


@runtime_checkable
class AcknowledgingChangeSource(ChangeSource, Protocol):
    """A live source that resumes, after a reconnect, from the last event the consumer made durable."""

    def acknowledge(self, event_id: str) -> None: ...


@runtime_checkable
class ResumeStore(Protocol):
    """Where ingest keeps the id of the last event it has delivered, for the next start's Last-Event-ID."""

    def load(self) -> str | None: ...

    def save(self, event_id: str) -> None: ...


@attrs.frozen
class SpooledRecord:
    """A record the event log gave up on, kept until a later attempt delivers it.

    `dead_letter_reason` set means the record goes to the dead-letter topic, not the main one.
    """

    spool_id: str
    key: str
    payload: str
    headers: tuple[tuple[str, str], ...]
    error: str
    attempts: int = 1
    dead_letter_reason: str | None = None


@runtime_checkable
class Spool(Protocol):
    """Durable local storage for undeliverable records: nothing ingest read is ever dropped."""

    def add(self, record: SpooledRecord) -> None:
        """Store `record` durably before returning."""
        ...

    def pending(self) -> list[SpooledRecord]: ...

    def remove(self, spool_ids: Collection[str]) -> None: ...
