"""Stream positions and the rule that makes every table write idempotent.

A position is the last offset a writer has committed for each `topic:partition` it reads. Each table
keeps its own copy of the writer's position in the same Iceberg commit as the rows; writing a batch
again only adds the rows beyond that table's copy. So a crash between the tables of one batch, or a
replay of the whole batch, neither loses nor duplicates rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from wikiguard.application.ports import Row, Rows, TableStore

Positions = dict[str, int]
# Where a row came from in its writer's input: data rows say it in kafka_*, quarantine rows in source_*.
_DATA_POSITION = ("kafka_topic", "kafka_partition", "kafka_offset")
_QUARANTINE_POSITION = ("source_topic", "source_partition", "source_offset")


def position_columns(names: Iterable[str]) -> tuple[str, str, str]:
    """The (topic, partition, offset) columns of a row or table with these column names."""
    return _DATA_POSITION if _DATA_POSITION[0] in names else _QUARANTINE_POSITION


def locate(row: Row) -> tuple[str, int, int]:
    """Where a bronze, silver or quarantine row came from in its writer's input."""
    topic, partition, offset = position_columns(row)
    return row[topic], row[partition], row[offset]


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def decode(text: str | None) -> Positions:
    if not text:
        return {}
    data = json.loads(text)
    return {str(k): int(v) for k, v in data.items()}


def encode(positions: Mapping[str, int]) -> str:
    return json.dumps(dict(sorted(positions.items())), separators=(",", ":"))


def merged(a: Mapping[str, int], b: Mapping[str, int]) -> Positions:
    out = dict(a)
    for key, offset in b.items():
        if offset > out.get(key, -1):
            out[key] = offset
    return out


def is_beyond(positions: Mapping[str, int], topic: str, partition: int, offset: int) -> bool:
    return offset > positions.get(partition_key(topic, partition), -1)


def read(store: TableStore, table: str, key: str) -> Positions:
    return decode(store.checkpoint(table, key))


def write_beyond(
    store: TableStore,
    table: str,
    rows: Rows,
    *,
    key: str,
    positions: Mapping[str, int],
    extra: Mapping[str, str] | None = None,
) -> int:
    """Append the rows this table has not committed yet for writer `key`; returns how many.

    A row's place in the writer's input is `locate(row)` (for an Arrow table, its position columns).
    """
    done = read(store, table, key)
    if covers(done, positions):
        return 0
    fresh = beyond(rows, done)
    store.append(table, fresh, {key: encode(merged(done, positions)), **(extra or {})})
    return len(fresh)


def beyond(rows: Rows, done: Mapping[str, int]) -> Rows:
    """The rows past `done` in their writer's input."""
    if not isinstance(rows, pa.Table):
        return [row for row in rows if is_beyond(done, *locate(row))]
    if not done or not rows.num_rows:
        return rows
    topic, partition, offset = (rows.column(name) for name in position_columns(rows.column_names))
    committed = pa.repeat(pa.scalar(False), rows.num_rows)
    for key, last in done.items():
        name, _, number = key.rpartition(":")
        here = pc.and_(pc.and_(pc.equal(topic, name), pc.equal(partition, int(number))), pc.less_equal(offset, last))
        committed = pc.or_(committed, pc.fill_null(here, False))
    if not pc.any(committed).as_py():
        return rows  # the usual case (no batch read again): no copy of every row (raw events included)
    return rows.filter(pc.invert(committed))


def last_positions(rows: pa.Table) -> Positions:
    """Per `topic:partition`, the highest offset among rows (bronze, silver or quarantine: see
    `position_columns`), or where a batch of them leaves its writer's input."""
    if not rows.num_rows:
        return {}
    topic, partition, offset = position_columns(rows.column_names)
    last = rows.group_by([topic, partition], use_threads=False).aggregate([(offset, "max")])
    return {
        partition_key(name, number): position
        for name, number, position in zip(
            last.column(topic).to_pylist(), last.column(partition).to_pylist(),
            last.column(f"{offset}_max").to_pylist(), strict=True,
        )
    }  # fmt: skip


def write_once(store: TableStore, table: str, rows: Sequence[Row], *, key: str, positions: Mapping[str, int]) -> int:
    """Append rows that describe a whole batch (its quality verdict) unless this table already holds
    the batch up to `positions` for writer `key`: the same batch read again after a crash adds nothing.

    A batch read again with other boundaries (a batch size or time limit changed) is written again:
    its verdict covers records the first verdict counted too.
    """
    done = read(store, table, key)
    if covers(done, positions):
        return 0
    store.append(table, rows, {key: encode(merged(done, positions))})
    return len(rows)


def covers(done: Mapping[str, int], positions: Mapping[str, int]) -> bool:
    """Whether a table at `done` has committed everything up to `positions` already."""
    return bool(done) and all(done.get(k, -1) >= v for k, v in positions.items())


def lowest(store: TableStore, tables: Iterable[str], key: str) -> Positions:
    """The position every one of `tables` has reached: where a restarted writer resumes."""
    every = [read(store, table, key) for table in tables]
    if not every:
        return {}
    first, *others = every
    reached = {k: min([v, *(p.get(k, -1) for p in others)]) for k, v in first.items()}
    return {k: v for k, v in reached.items() if v >= 0}
