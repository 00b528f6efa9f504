"""Iceberg schemas from the logical table specs, and Python rows to Arrow with that exact schema.

Tables are always created from `TableSpec` (never inferred from data), so every engine sees the same
field ids, required flags and identity partition on `spec.partition_by`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

from wikiguard.application.batches.frames import rows_of
from wikiguard.application.ports import Row
from wikiguard.application.tables import TableSpec
from wikiguard.domain.errors import WikiguardError

# Athena reads format-version 2 Parquet; zstd is its best size/speed trade-off. Manifest merging keeps
# the manifest count (and scan planning time) bounded under many small streaming commits, and old
# metadata.json files are pruned so a long-running writer does not fill the warehouse with them.
TABLE_PROPERTIES = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "commit.manifest-merge.enabled": "true",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "20",
}

_PARTITION_FIELD_ID = 1000  # Iceberg convention: partition field ids start at 1000


class RowConversionError(WikiguardError):
    """Rows that do not fit a table's schema: unknown column, missing required value, wrong type."""


def _scalar_type(kind: str) -> IcebergType:
    types: dict[str, IcebergType] = {
        "string": StringType(),
        "int": IntegerType(),
        "long": LongType(),
        "double": DoubleType(),
        "boolean": BooleanType(),
        "timestamp": TimestamptzType(),  # UTC instants, microseconds
        "date": DateType(),
    }
    if kind not in types:
        raise RowConversionError(f"unknown logical type {kind!r}")
    return types[kind]


def iceberg_schema(spec: TableSpec) -> Schema:
    """Columns get ids 1..n in spec order; list element ids follow after n."""
    next_id = len(spec.columns) + 1
    fields = []
    for field_id, column in enumerate(spec.columns, start=1):
        field_type: IcebergType
        if column.type == "list<string>":
            # Elements are optional so engines whose arrays are nullable by default (Spark) can write.
            field_type = ListType(next_id, StringType(), element_required=False)
            next_id += 1
        else:
            field_type = _scalar_type(column.type)
        fields.append(
            NestedField(field_id, column.name, field_type, required=column.required, doc=column.doc or None)
        )
    return Schema(*fields)


def partition_spec(spec: TableSpec, schema: Schema) -> PartitionSpec:
    source = schema.find_field(spec.partition_by)
    if not isinstance(source.field_type, DateType):
        raise RowConversionError(f"{spec.name}: partition column {spec.partition_by!r} must be a date")
    return PartitionSpec(
        PartitionField(
            source_id=source.field_id,
            field_id=_PARTITION_FIELD_ID,
            transform=IdentityTransform(),
            name=spec.partition_by,
        )
    )


def sort_order(spec: TableSpec, schema: Schema) -> SortOrder:
    fields = [SortField(source_id=schema.find_field(name).field_id) for name in spec.sort_by]
    return SortOrder(*fields)


def _refuse(bad_values: Iterator[Any], why: str) -> None:
    """Raise on the first value of `bad_values` (a generator that yields only the bad ones)."""
    for value in bad_values:
        raise RowConversionError(f"{why}: {value!r}")


def _column_array(kind: str, values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """One column, converted by pyarrow in C; the Python loops below only guard pyarrow's lenient casts."""
    if kind in ("int", "long", "double"):
        # Inference then a safe cast refuses what a typed conversion lets through: 1.5 -> 1, True -> 1.0.
        # Inference alone takes [0.5, True] as doubles, hence the extra look for bools there.
        if kind == "double":
            _refuse((v for v in values if type(v) is bool), "boolean in a double column")
        inferred = pa.array(values)
        if pa.types.is_boolean(inferred.type) or (kind != "double" and pa.types.is_floating(inferred.type)):
            raise RowConversionError(f"expected {kind}, got {inferred.type} values")
        return inferred.cast(arrow_type)
    if kind == "timestamp":
        if all(v is None or (type(v) is datetime and v.tzinfo is not None) for v in values):
            # Inferred from aware datetimes, each converted with its own offset, then relabelled UTC:
            # the same array as the typed conversion, which looks the zone up again for every value
            # (about 8 times slower).
            return pa.array(values).cast(arrow_type)
        _refuse((v for v in values if isinstance(v, datetime) and v.tzinfo is None), "naive timestamp")
    elif kind == "date":
        _refuse((v for v in values if isinstance(v, datetime)), "datetime in a date column")
    elif kind == "list<string>":
        _refuse((v for v in values if isinstance(v, str)), "string in a list<string> column")
    elif kind == "string" and _long_text(values):
        try:
            # pyarrow reads a str through the UTF-8 copy CPython caches inside it, and that copy stays
            # as long as the str does (a raw event: until its batch is done). Encoded here, the bytes
            # go as soon as the column is built. Same array: pyarrow checks the bytes are UTF-8.
            return pa.array([None if v is None else v.encode() for v in values], type=arrow_type)
        except (AttributeError, UnicodeEncodeError):
            pass  # not all text, or unencodable: pyarrow says what is wrong, as below
    return pa.array(values, type=arrow_type)


def _long_text(values: Sequence[Any]) -> bool:
    """Whether a string column holds long texts (raw events, records), judged by its first value."""
    first = next((v for v in values if v is not None), None)
    return isinstance(first, str) and len(first) >= 256


def _columns(names: tuple[str, ...], rows: Sequence[Row]) -> list[Sequence[Any]]:
    """The rows transposed into one sequence of values per name; a key absent from a row means None."""
    if len(names) > 1:
        try:
            # In C, when every row has every column (the usual case).
            return list(zip(*map(itemgetter(*names), rows), strict=True)) or [() for _ in names]
        except KeyError:
            pass
    return [[row.get(name) for row in rows] for name in names]


def rows_to_arrow(spec: TableSpec, arrow_schema: pa.Schema, rows: Sequence[Row]) -> pa.Table:
    """Build the Arrow table column by column; a key absent from a row means None."""
    known = set(spec.column_names)
    unknown = set().union(*rows) - known
    if unknown:
        raise RowConversionError(f"{spec.name}: unknown columns {sorted(unknown)}")
    arrays = []
    for column, values in zip(spec.columns, _columns(spec.column_names, rows), strict=True):
        arrow_type = arrow_schema.field(column.name).type
        try:
            array = _column_array(column.type, values, arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, RowConversionError) as err:
            raise RowConversionError(f"{spec.name}.{column.name}: {err}") from err
        if column.required and array.null_count:
            raise RowConversionError(
                f"{spec.name}.{column.name}: required column has {array.null_count} None"
            )
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=arrow_schema)


def conform(spec: TableSpec, arrow_schema: pa.Schema, data: pa.Table) -> pa.Table:
    """An Arrow table of the spec's columns (a column it lacks is all null) in the table's exact schema;
    a column it does not know, a type that does not cast safely, or a null in a required column is refused."""
    unknown = set(data.column_names) - set(spec.column_names)
    if unknown:
        raise RowConversionError(f"{spec.name}: unknown columns {sorted(unknown)}")
    arrays = []
    for column in spec.columns:
        field = arrow_schema.field(column.name)
        if column.name not in data.column_names:
            array = pa.nulls(data.num_rows, field.type)
        else:
            array = data.column(column.name)
            try:
                array = array.cast(field.type)  # safe: no truncation, no overflow
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
                raise RowConversionError(f"{spec.name}.{column.name}: {err}") from err
        if column.required and array.null_count:
            raise RowConversionError(f"{spec.name}.{column.name}: required column has {array.null_count} None")
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=arrow_schema)


def arrow_to_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """Rows as dicts; timestamps are aware datetimes in `datetime.UTC`."""
    return rows_of(batch)
