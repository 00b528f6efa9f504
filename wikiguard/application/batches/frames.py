"""Arrow tables of the lakehouse's rows: their schemas from the table specs, and rows out of them."""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from types import NoneType, UnionType
from typing import Any

import pyarrow as pa

from wikiguard.application.tables import TableSpec
from wikiguard.domain.events import Change

TIMESTAMP = pa.timestamp("us", tz="UTC")
# The Arrow type of each logical column type of `wikiguard.application.tables`.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "int": pa.int32(), "long": pa.int64(), "double": pa.float64(),
    "boolean": pa.bool_(), "timestamp": TIMESTAMP, "date": pa.date32(), "list<string>": pa.list_(pa.string()),
}  # fmt: skip
_CHANGE_TYPES: dict[object, pa.DataType] = {
    str: pa.string(), datetime: TIMESTAMP, int: pa.int64(), bool: pa.bool_()
}  # fmt: skip


def _arrow_type(hint: object) -> pa.DataType:
    if isinstance(hint, UnionType):  # `int | None`: the column is nullable, its type is the other one
        (hint,) = (arg for arg in typing.get_args(hint) if arg is not NoneType)
    return _CHANGE_TYPES[hint]


# A `Change` as a row of columns (what `parse_payloads` gives and `enrich_batch` reads): its fields, in
# its order, with their Arrow types.
CHANGE_SCHEMA = pa.schema([(name, _arrow_type(hint)) for name, hint in typing.get_type_hints(Change).items()])


def arrow_schema(spec: TableSpec, exclude: Sequence[str] = ()) -> pa.Schema:
    """The table's columns as an Arrow schema (every field nullable: required is checked on write)."""
    return pa.schema([(c.name, ARROW_TYPES[c.type]) for c in spec.columns if c.name not in exclude])


def marked(size: int, rows: Iterable[int]) -> pa.Array:
    """A bool column of `size` rows, true in `rows`."""
    flags = bytearray(size)
    for row in rows:
        flags[row] = 1
    return pa.Array.from_buffers(pa.uint8(), size, [None, pa.py_buffer(flags)]).cast(pa.bool_())


def plain(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (a chunked one combined)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def column_values(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """Python values of one column; timestamps are aware datetimes in `datetime.UTC`.

    pyarrow's own conversion of timestamps and dates costs 1-3 us per value (time zone lookups) and
    labels them with zoneinfo's UTC; building them from the integers is 5-10 times cheaper.
    """
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz is not None:
        micros = column.cast(pa.int64()).to_pylist()
        made: dict[int | None, datetime | None] = {None: None}  # event times repeat: each made once
        return [made[v] if v in made else made.setdefault(v, _EPOCH + timedelta(microseconds=v)) for v in micros]
    if pa.types.is_date32(kind):
        days = column.cast(pa.int32()).to_pylist()
        return [None if v is None else date.fromordinal(_EPOCH_DAY + v) for v in days]
    values: list[Any] = column.to_pylist()
    return values


def rows_of(data: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    """Rows as dicts, converted column by column."""
    columns = [column_values(column) for column in data.columns]
    names = data.schema.names
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
