"""`TableStore` in memory: the honest fake behind unit tests, held to the Iceberg adapter's contract.

Same semantics as `IcebergTableStore` (tests/contract/test_table_store_contract.py runs both):
tables exist only after `ensure_tables()`; a row may omit optional columns (None) but not carry an
unknown one, nor a None in a required one, nor a value of the wrong type (bool is not a number, a
float is not an integer, timestamps must be timezone-aware and come back in UTC, a date column
refuses a datetime, a list<string> column refuses a bare string); rows and checkpoint land together;
an empty append with a checkpoint still records it; a delete and its checkpoint land together;
`maintain` keeps rows and checkpoints; `snapshots` lists every commit with its checkpoints as of it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import attrs
import pyarrow as pa

from wikiguard.application.batches.frames import rows_of
from wikiguard.application.ports import Row, RowFilter, Rows, TableSnapshot, TableStore
from wikiguard.application.tables import TableSpec
from wikiguard.domain.errors import WikiguardError


class TableStoreError(WikiguardError):
    """A table operation failed: unknown table or rows that do not fit the table's spec."""


def _integer(bits: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected a {bits}-bit integer, got {value!r}")
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise TypeError(f"{value} does not fit {bits} bits")
        return value

    return check


def _double(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _of(kind: type, label: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise TypeError(f"expected {label}, got {value!r}")
        return value

    return check


def _timestamp(value: Any) -> Any:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError(f"expected a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _date(value: Any) -> Any:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a date, got {value!r}")
    return value


def _strings(value: Any) -> Any:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of strings, got {value!r}")
    if not all(item is None or isinstance(item, str) for item in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return list(value)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "string": _of(str, "a string"),
    "int": _integer(32),
    "long": _integer(64),
    "double": _double,
    "boolean": _of(bool, "a boolean"),
    "timestamp": _timestamp,
    "date": _date,
    "list<string>": _strings,
}


@attrs.define
class _Commit:
    at: datetime
    checkpoint: dict[str, str]
    snapshot_id: int = 0


@attrs.define
class _Table:
    rows: list[dict[str, Any]] = attrs.Factory(list)
    commits: list[_Commit] = attrs.Factory(list)
    files: Counter[Any] = attrs.Factory(Counter)  # partition value -> data files, as Iceberg would write


class InMemoryTableStore(TableStore):
    def __init__(self, specs: Sequence[TableSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._tables: dict[str, _Table] = {}
        self._ids = itertools.count(1)

    def ensure_tables(self) -> None:
        for name in self._specs:
            self._tables.setdefault(name, _Table())

    def _table(self, name: str) -> _Table:
        if name not in self._tables:
            raise TableStoreError(f"unknown table {name!r}; known: {sorted(self._tables)}")
        return self._tables[name]

    def _normalised(self, spec: TableSpec, row: Row) -> dict[str, Any]:
        unknown = set(row) - set(spec.column_names)
        if unknown:
            raise TableStoreError(f"{spec.name}: unknown columns {sorted(unknown)}")
        out = {}
        for column in spec.columns:
            value = row.get(column.name)
            if value is None:
                if column.required:
                    raise TableStoreError(f"{spec.name}.{column.name}: required column has None")
            else:
                try:
                    value = _CHECKS[column.type](value)
                except TypeError as err:
                    raise TableStoreError(f"{spec.name}.{column.name}: {err}") from err
            out[column.name] = value
        return out

    def append(self, table: str, rows: Rows, checkpoint: Mapping[str, str]) -> None:
        stored = self._table(table)
        spec = self._specs[table]
        if isinstance(rows, pa.Table):
            rows = rows_of(rows)
        normalised = [self._normalised(spec, row) for row in rows]  # all or nothing, like a commit
        if not rows and not checkpoint:
            return
        stored.rows.extend(normalised)
        stored.files.update({row[spec.partition_by] for row in normalised})
        self._commit(stored, checkpoint)

    def _commit(self, stored: _Table, checkpoint: Mapping[str, str]) -> None:
        commit = _Commit(datetime.now(UTC), {k: str(v) for k, v in checkpoint.items()}, next(self._ids))
        stored.commits.append(commit)

    def _checkpoints(self, stored: _Table) -> dict[str, str]:
        found: dict[str, str] = {}
        for commit in reversed(stored.commits):
            for key, value in commit.checkpoint.items():
                found.setdefault(key, value)
        return found

    def checkpoint(self, table: str, key: str) -> str | None:
        return self._checkpoints(self._table(table)).get(key)

    def scan(self, table: str, at_least: tuple[str, Any] | None = None) -> Iterator[Row]:
        stored = self._table(table)
        if at_least is None:
            return (dict(row) for row in list(stored.rows))
        column, value = at_least
        if column not in self._specs[table].column_names:
            raise TableStoreError(f"{table}: unknown column {column!r} in at_least")
        # As in SQL and Iceberg, None compares as unknown and is never >= anything.
        return (dict(row) for row in list(stored.rows) if row[column] is not None and row[column] >= value)

    def count(self, table: str) -> int:
        return len(self._table(table).rows)

    def maintain(self, older_than: datetime) -> Mapping[str, int]:
        totals = {
            "tables": 0,
            "snapshots_expired": 0,
            "files_before": 0,
            "files_after": 0,
            "partitions_compacted": 0,
        }
        for stored in self._tables.values():
            totals["tables"] += 1
            totals["files_before"] += sum(stored.files.values())
            compacted = [partition for partition, files in stored.files.items() if files >= 2]
            totals["partitions_compacted"] += len(compacted)
            stored.files.update({partition: 1 - stored.files[partition] for partition in compacted})
            totals["files_after"] += sum(stored.files.values())
            if not stored.commits:
                continue
            # The newest commit carries every checkpoint before older ones go, as in the Iceberg adapter.
            head = attrs.evolve(stored.commits[-1], checkpoint=self._checkpoints(stored))
            kept = [commit for commit in stored.commits[:-1] if commit.at >= older_than] + [head]
            totals["snapshots_expired"] += len(stored.commits) - len(kept)
            stored.commits = kept
        return totals

    def delete(self, table: str, where: Sequence[RowFilter], checkpoint: Mapping[str, str]) -> int:
        stored = self._table(table)
        known = set(self._specs[table].column_names)
        for row_filter in where:
            if row_filter.columns - known:
                unknown = sorted(row_filter.columns - known)
                raise TableStoreError(f"{table}: unknown columns {unknown} in a delete filter")
        kept = [row for row in stored.rows if not any(f.matches(row) for f in where)]
        deleted = len(stored.rows) - len(kept)
        if not deleted and not checkpoint:
            return 0
        stored.rows = kept
        self._commit(stored, checkpoint)
        return deleted

    def snapshots(self, table: str) -> list[TableSnapshot]:
        history: list[TableSnapshot] = []
        carried: dict[str, str] = {}
        for commit in self._table(table).commits:
            carried = {**carried, **commit.checkpoint}
            history.append(TableSnapshot(commit.snapshot_id, commit.at, dict(carried)))
        return history
