"""The `TableStore` contract: the in-memory fake and the Iceberg adapter must behave the same.

Runs against the real table specs of `wikiguard.application.tables` (every `TableSpec` in it, so
tables added later are covered) on a throwaway local warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from wikiguard.adapters.iceberg import IcebergTableStore, local_catalog
from wikiguard.adapters.iceberg.snapshots import trim_snapshots
from wikiguard.adapters.memory.table_store import InMemoryTableStore
from wikiguard.application import tables
from wikiguard.application.batches.frames import arrow_schema
from wikiguard.application.ports import RowFilter, TableStore
from wikiguard.application.tables import NAMESPACE, QUALITY_METRICS, SILVER_EVENTS, TableSpec
from wikiguard.domain.errors import WikiguardError

SPECS = tuple(value for value in vars(tables).values() if isinstance(value, TableSpec))
BASE = datetime(2026, 1, 29, 22, 30, tzinfo=UTC)


def sample_value(kind: str, name: str, i: int) -> Any:
    values: dict[str, Any] = {
        "string": f"{name}-{i}-é/漢",
        "int": i * 7 - 20,
        "long": 2**40 + i,
        "double": i + 0.25,
        "boolean": i % 2 == 0,
        "timestamp": BASE + timedelta(minutes=37 * i, microseconds=i),
        "date": (BASE + timedelta(days=i % 3)).date(),
        "list<string>": [] if i % 3 == 0 else [f"{name}-{i}", "with space"],
    }
    return values[kind]


def sample_rows(spec: TableSpec, n: int, start: int = 0) -> list[dict[str, Any]]:
    """`n` rows with distinct values; odd rows leave every optional column None."""
    return [
        {
            c.name: None if (i % 2 and not c.required) else sample_value(c.type, c.name, i)
            for c in spec.columns
        }
        for i in range(start, start + n)
    ]


def canonical(spec: TableSpec, rows: Any) -> list[dict[str, Any]]:
    return sorted((dict(row) for row in rows), key=lambda row: tuple(str(row[c]) for c in spec.column_names))


def silver(n: int, start: int = 0) -> list[dict[str, Any]]:
    return sample_rows(SILVER_EVENTS, n, start)


@pytest.fixture(params=["memory", "iceberg"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


def open_store(kind: str, warehouse: Path) -> TableStore:
    if kind == "memory":
        return InMemoryTableStore(SPECS)
    return IcebergTableStore(local_catalog(warehouse), SPECS)


@pytest.fixture
def store(kind: str, warehouse: Path) -> Iterator[TableStore]:
    table_store = open_store(kind, warehouse)
    table_store.ensure_tables()
    yield table_store


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_rows_round_trip_with_every_type_and_none(store: TableStore, spec: TableSpec) -> None:
    rows = sample_rows(spec, 7)

    store.append(spec.name, rows, {})

    got = canonical(spec, store.scan(spec.name))
    assert got == canonical(spec, rows)
    has_optional = any(not c.required for c in spec.columns)
    assert any(v is None for row in got for v in row.values()) == has_optional
    for row in got:
        for column in spec.columns:
            value = row[column.name]
            if column.type == "timestamp" and value is not None:
                assert value.utcoffset() == timedelta(0)
            if column.type == "list<string>" and value is not None:
                assert isinstance(value, list)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_an_arrow_table_appends_like_its_rows(store: TableStore, spec: TableSpec) -> None:
    rows = sample_rows(spec, 7)

    store.append(spec.name, pa.Table.from_pylist(rows, schema=arrow_schema(spec)), {"w": "1"})

    assert canonical(spec, store.scan(spec.name)) == canonical(spec, rows)
    assert store.checkpoint(spec.name, "w") == "1"


def test_an_arrow_table_without_an_optional_column_reads_back_none(store: TableStore) -> None:
    data = pa.Table.from_pylist(silver(2), schema=arrow_schema(SILVER_EVENTS)).drop_columns(["comment"])

    store.append("silver_events", data, {})

    assert [row["comment"] for row in store.scan("silver_events")] == [None, None]


@pytest.mark.parametrize(
    ("column", "array"),
    [
        ("surprise", pa.array(["x", "y"])),  # unknown column
        ("title", pa.array(["x", None])),  # null in a required column
        ("kafka_partition", pa.array([1, 2**40], pa.int64())),  # does not fit an int
        ("is_bot", pa.array(["yes", "no"])),  # not a boolean
    ],
)
def test_an_arrow_table_that_does_not_fit_is_refused(store: TableStore, column: str, array: pa.Array) -> None:
    data = pa.Table.from_pylist(silver(2), schema=arrow_schema(SILVER_EVENTS))
    data = data.set_column(data.schema.get_field_index(column), column, array) if column in data.column_names \
        else data.append_column(column, array)

    with pytest.raises(WikiguardError, match=column):
        store.append("silver_events", data, {"w": "1"})

    assert store.count("silver_events") == 0
    assert store.checkpoint("silver_events", "w") is None


def test_timestamps_in_other_zones_come_back_as_the_same_instant_in_utc(store: TableStore) -> None:
    row = silver(1)[0]
    row["event_timestamp"] = datetime(2026, 1, 30, 1, 15, tzinfo=timezone(timedelta(hours=2)))

    store.append("silver_events", [row], {})

    (got,) = store.scan("silver_events")
    assert got["event_timestamp"] == datetime(2026, 1, 29, 23, 15, tzinfo=UTC)
    assert got["event_timestamp"].utcoffset() == timedelta(0)


def test_a_missing_optional_key_reads_back_as_none(store: TableStore) -> None:
    row = silver(1)[0]
    del row["comment"]

    store.append("silver_events", [row], {})

    (got,) = store.scan("silver_events")
    assert got["comment"] is None


def test_checkpoint_per_key_is_the_latest_committed(store: TableStore) -> None:
    store.append("silver_events", silver(2), {"bronze->silver": "10"})
    store.append("silver_events", silver(2, 2), {"bronze->silver": "20", "replay": "3"})
    store.append("silver_events", silver(1, 4), {"replay": "4"})

    assert store.checkpoint("silver_events", "bronze->silver") == "20"
    assert store.checkpoint("silver_events", "replay") == "4"
    assert store.checkpoint("silver_events", "never-written") is None
    assert store.checkpoint("bronze_events", "bronze->silver") is None


def test_empty_append_still_records_the_checkpoint(store: TableStore) -> None:
    store.append("silver_events", silver(3), {"ingest": "5"})

    store.append("silver_events", [], {"ingest": "9"})

    assert store.checkpoint("silver_events", "ingest") == "9"
    assert store.count("silver_events") == 3


def test_checkpoint_and_rows_survive_reopening_the_catalog(warehouse: Path) -> None:
    first = open_store("iceberg", warehouse)
    first.ensure_tables()
    first.append("silver_events", silver(5), {"ingest": "41"})
    first.append("silver_events", [], {"ingest": "42"})

    reopened = open_store("iceberg", warehouse)
    reopened.ensure_tables()  # idempotent: must not recreate or empty the tables

    assert reopened.checkpoint("silver_events", "ingest") == "42"
    assert reopened.count("silver_events") == 5


def test_unknown_column_is_refused_and_nothing_is_written(store: TableStore) -> None:
    store.append("silver_events", silver(1), {"ingest": "1"})
    rows = silver(3, 1)
    rows[2]["surprise"] = "x"

    with pytest.raises(WikiguardError, match="surprise"):
        store.append("silver_events", rows, {"ingest": "2"})

    assert store.count("silver_events") == 1
    assert store.checkpoint("silver_events", "ingest") == "1"


@pytest.mark.parametrize("how", ["none", "missing"])
def test_required_value_missing_is_refused(store: TableStore, how: str) -> None:
    rows = silver(3)
    if how == "none":
        rows[1]["title"] = None
    else:
        del rows[1]["title"]

    with pytest.raises(WikiguardError, match="title"):
        store.append("silver_events", rows, {"ingest": "1"})

    assert store.count("silver_events") == 0
    assert store.checkpoint("silver_events", "ingest") is None


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kafka_offset", "12"),
        ("kafka_offset", 1.5),
        ("kafka_partition", 2**40),
        ("kafka_partition", True),
        ("is_bot", 1),
        ("processing_lag_seconds", True),
        ("title", 7),
        ("event_timestamp", datetime(2026, 1, 29, 12, 0)),
        ("event_timestamp", date(2026, 1, 29)),
        ("event_date", datetime(2026, 1, 29, 12, 0, tzinfo=UTC)),
    ],
)
def test_value_of_the_wrong_type_is_refused(store: TableStore, column: str, value: Any) -> None:
    rows = silver(2)
    rows[1][column] = value

    with pytest.raises(WikiguardError, match=column):
        store.append("silver_events", rows, {})

    assert store.count("silver_events") == 0


def test_bare_string_in_a_list_column_is_refused(store: TableStore) -> None:
    rows = sample_rows(QUALITY_METRICS, 1)
    rows[0]["reasons"] = "not a list"

    with pytest.raises(WikiguardError, match="reasons"):
        store.append("quality_metrics", rows, {})


def test_unknown_table_is_refused(store: TableStore) -> None:
    with pytest.raises(WikiguardError, match="no_such_table"):
        store.append("no_such_table", silver(1), {})
    with pytest.raises(WikiguardError, match="no_such_table"):
        store.count("no_such_table")


@pytest.mark.parametrize("column", ["event_timestamp", "kafka_offset", "namespace"])
def test_at_least_keeps_rows_at_or_above_the_value(store: TableStore, column: str) -> None:
    rows = silver(10)
    store.append("silver_events", rows, {})
    threshold = rows[6][column]  # namespace (optional) is None in odd rows: None never matches

    got = list(store.scan("silver_events", at_least=(column, threshold)))

    expected = [row for row in rows if row[column] is not None and row[column] >= threshold]
    assert len(expected) < len(rows)
    assert canonical(SILVER_EVENTS, got) == canonical(SILVER_EVENTS, expected)


def test_at_least_on_the_partition_date(store: TableStore) -> None:
    rows = silver(9)
    store.append("silver_events", rows, {})
    day = (BASE + timedelta(days=1)).date()

    got = list(store.scan("silver_events", at_least=("event_date", day)))

    assert len(got) == sum(1 for row in rows if row["event_date"] >= day) == 6


def test_count_adds_up_over_appends(store: TableStore) -> None:
    assert store.count("silver_events") == 0
    store.append("silver_events", silver(4), {})
    store.append("silver_events", silver(3, 4), {})

    assert store.count("silver_events") == 7
    assert store.count("bronze_events") == 0


def test_maintain_keeps_data_and_every_checkpoint(kind: str, warehouse: Path, store: TableStore) -> None:
    store.append("silver_events", silver(3), {"old-writer": "7"})
    for batch in range(1, 5):
        store.append("silver_events", silver(3, 3 * batch), {"busy-writer": str(batch)})
    store.append("quality_metrics", sample_rows(QUALITY_METRICS, 2), {"gate": "1"})
    before = canonical(SILVER_EVENTS, store.scan("silver_events"))

    done = store.maintain(datetime.now(UTC) + timedelta(seconds=1))

    assert done["files_after"] < done["files_before"]
    assert done["snapshots_expired"] >= 4
    reopened = open_store(kind, warehouse) if kind == "iceberg" else store
    assert canonical(SILVER_EVENTS, reopened.scan("silver_events")) == before
    assert reopened.checkpoint("silver_events", "old-writer") == "7"
    assert reopened.checkpoint("silver_events", "busy-writer") == "4"
    assert reopened.checkpoint("quality_metrics", "gate") == "1"
    reopened.append("silver_events", silver(1, 100), {"busy-writer": "5"})
    assert reopened.checkpoint("silver_events", "busy-writer") == "5"
    assert reopened.checkpoint("silver_events", "old-writer") == "7"
    assert reopened.count("silver_events") == 16


def test_maintain_twice_is_harmless(store: TableStore) -> None:
    store.append("silver_events", silver(2), {"w": "1"})
    store.append("silver_events", silver(2, 2), {"w": "2"})

    store.maintain(datetime.now(UTC) + timedelta(seconds=1))
    again = store.maintain(datetime.now(UTC) + timedelta(seconds=1))

    assert again["partitions_compacted"] == 0
    assert store.count("silver_events") == 4
    assert store.checkpoint("silver_events", "w") == "2"


def test_iceberg_tables_are_declared_from_the_specs(warehouse: Path) -> None:
    """Iceberg only: what Athena and Spark will see (types, required flags, partition, properties)."""
    open_store("iceberg", warehouse).ensure_tables()
    table = local_catalog(warehouse).load_table((NAMESPACE, "quality_metrics"))

    schema = table.schema()
    assert [f.name for f in schema.fields] == list(QUALITY_METRICS.column_names)
    assert str(schema.find_field("measured_at").field_type) == "timestamptz"
    assert str(schema.find_field("failed_checks").field_type) == "list<string>"
    assert schema.find_field("layer").required and not schema.find_field("freshness_max_seconds").required
    (partition,) = table.spec().fields
    assert (partition.name, str(partition.transform)) == ("event_date", "identity")
    assert table.format_version == 2
    assert table.properties["write.parquet.compression-codec"] == "zstd"
    assert (warehouse / "catalog.db").is_file()


def test_iceberg_snapshot_count_stays_bounded_and_checkpoints_survive(warehouse: Path) -> None:
    """Iceberg only: commit cost grows with the snapshot count, so appends trim old snapshots."""
    store = IcebergTableStore(local_catalog(warehouse), SPECS, max_snapshots=6)
    store.ensure_tables()
    store.append("silver_events", silver(1), {"rare-writer": "1"})
    for batch in range(1, 20):
        store.append("silver_events", silver(1, batch), {"busy-writer": str(batch)})

    table = local_catalog(warehouse).load_table((NAMESPACE, "silver_events"))
    assert len(table.snapshots()) <= 6
    reopened = open_store("iceberg", warehouse)
    assert reopened.checkpoint("silver_events", "rare-writer") == "1"
    assert reopened.checkpoint("silver_events", "busy-writer") == "19"
    assert reopened.count("silver_events") == 20


def test_iceberg_trim_racing_a_writer_does_not_carry_a_stale_checkpoint(warehouse: Path) -> None:
    """Iceberg only: upkeep that loses a commit race is re-parented by pyiceberg with the checkpoint
    values it read before; the newer value another writer committed meanwhile must still win."""
    store = open_store("iceberg", warehouse)
    store.ensure_tables()
    store.append("silver_events", silver(1), {"rare": "1"})
    store.append("silver_events", silver(1, 1), {"busy": "1"})
    stale = local_catalog(warehouse).load_table((NAMESPACE, "silver_events"))
    store.append("silver_events", silver(1, 2), {"busy": "2"})  # `stale` has not seen this commit

    trim_snapshots(stale, SILVER_EVENTS, keep_newest=1)

    reopened = open_store("iceberg", warehouse)
    assert reopened.checkpoint("silver_events", "busy") == "2"
    assert reopened.checkpoint("silver_events", "rare") == "1"
    assert reopened.count("silver_events") == 3


# -- delete and snapshots (replay and recovery) ----------------------------------------------------


def by_offset(store: TableStore) -> list[int]:
    return sorted(row["kafka_offset"] for row in store.scan("silver_events"))


def offsets(n: int, topic: str = "t", partition: int = 0, start: int = 0) -> list[dict[str, Any]]:
    rows = silver(n, start)
    for i, row in enumerate(rows):
        row |= {"kafka_topic": topic, "kafka_partition": partition, "kafka_offset": start + i}
    return rows


def test_delete_at_least_removes_rows_and_moves_the_checkpoint_back_in_one_commit(store: TableStore) -> None:
    store.append("silver_events", offsets(10), {"w": "9", "other": "x"})

    gone = store.delete("silver_events", [RowFilter(at_least=("kafka_offset", 6))], {"w": "5"})

    assert gone == 4
    assert by_offset(store) == [0, 1, 2, 3, 4, 5]
    assert store.checkpoint("silver_events", "w") == "5"
    assert store.checkpoint("silver_events", "other") == "x"
    assert store.count("silver_events") == 6


def test_delete_filters_are_or_of_ands_with_sets(store: TableStore) -> None:
    store.append("silver_events", offsets(6, "a", 0) + offsets(6, "a", 1, 100) + offsets(6, "b", 0, 200), {})
    where = [
        RowFilter({"kafka_topic": {"a"}, "kafka_partition": {0}}, ("kafka_offset", 3)),
        RowFilter({"kafka_topic": ["b"], "kafka_offset": {200, 202, 999}}),
    ]

    gone = store.delete("silver_events", where, {})

    assert gone == 3 + 2
    assert by_offset(store) == [0, 1, 2, *range(100, 106), 201, *range(203, 206)]


def test_delete_matching_nothing_still_records_the_checkpoint(store: TableStore) -> None:
    store.append("silver_events", offsets(3), {"w": "2"})
    before = len(store.snapshots("silver_events"))

    assert store.delete("silver_events", [RowFilter(at_least=("kafka_offset", 50))], {"w": "1"}) == 0
    assert store.checkpoint("silver_events", "w") == "1"
    assert store.delete("silver_events", [], {"w": "0"}) == 0
    assert store.checkpoint("silver_events", "w") == "0"
    assert store.delete("silver_events", [], {}) == 0  # nothing to delete, nothing to record: no commit
    assert len(store.snapshots("silver_events")) == before + 2
    assert by_offset(store) == [0, 1, 2]


def test_an_empty_filter_deletes_every_row(store: TableStore) -> None:
    store.append("silver_events", offsets(4), {})
    assert store.delete("silver_events", [RowFilter()], {"w": "-"}) == 4
    assert store.count("silver_events") == 0


def test_delete_never_matches_none(store: TableStore) -> None:
    rows = offsets(6)  # odd rows have namespace None
    store.append("silver_events", rows, {})

    gone = store.delete("silver_events", [RowFilter(at_least=("namespace", -(2**31)))], {})

    assert gone == 3
    assert all(row["namespace"] is None for row in store.scan("silver_events"))
    assert store.delete("silver_events", [RowFilter({"comment": {None}})], {}) == 0


def test_delete_on_dates_timestamps_and_strings(store: TableStore) -> None:
    rows = offsets(9)
    store.append("silver_events", rows, {})
    day = (BASE + timedelta(days=1)).date()
    moment = rows[4]["event_timestamp"]

    assert store.delete("silver_events", [RowFilter(at_least=("event_date", day))], {}) == 6  # i % 3 != 0
    assert store.delete("silver_events", [RowFilter({"meta_id": {rows[0]["meta_id"]}})], {}) == 1
    assert store.delete("silver_events", [RowFilter(at_least=("event_timestamp", moment))], {}) == 1
    assert by_offset(store) == [3]


def test_delete_with_an_unknown_column_is_refused_and_changes_nothing(store: TableStore) -> None:
    store.append("silver_events", offsets(3), {"w": "2"})

    with pytest.raises(WikiguardError, match="surprise"):
        store.delete("silver_events", [RowFilter({"surprise": {1}})], {"w": "0"})

    assert store.count("silver_events") == 3
    assert store.checkpoint("silver_events", "w") == "2"


def test_deleted_rows_stay_deleted_after_maintain_and_reopening(kind: str, warehouse: Path, store: TableStore) -> None:
    for batch in range(4):  # several small files in one partition, so a delete rewrites some
        store.append("silver_events", offsets(3, start=3 * batch), {"w": str(3 * batch + 2)})
    store.delete("silver_events", [RowFilter(at_least=("kafka_offset", 4))], {"w": "3"})

    store.maintain(datetime.now(UTC) + timedelta(seconds=1))

    reopened = open_store(kind, warehouse) if kind == "iceberg" else store
    assert by_offset(reopened) == [0, 1, 2, 3]
    assert reopened.checkpoint("silver_events", "w") == "3"


def test_snapshots_list_the_history_with_checkpoints_as_of_each(store: TableStore) -> None:
    assert store.snapshots("silver_events") == []
    store.append("silver_events", offsets(2), {"a": "1"})
    store.append("silver_events", offsets(2, start=2), {"b": "x"})
    store.append("silver_events", offsets(2, start=4), {"a": "2"})
    store.delete("silver_events", [RowFilter(at_least=("kafka_offset", 4))], {"a": "1"})

    history = store.snapshots("silver_events")

    assert [dict(s.checkpoints) for s in history[-4:]] == [
        {"a": "1"},
        {"a": "1", "b": "x"},
        {"a": "2", "b": "x"},
        {"a": "1", "b": "x"},
    ]
    assert len({s.snapshot_id for s in history}) == len(history)
    assert [s.committed_at for s in history] == sorted(s.committed_at for s in history)
    assert all(s.committed_at.utcoffset() == timedelta(0) for s in history)


def test_iceberg_appends_land_in_their_date_partitions(warehouse: Path) -> None:
    store = IcebergTableStore(local_catalog(warehouse), SPECS)
    store.ensure_tables()
    rows = sample_rows(QUALITY_METRICS, 6)
    one_day = [row for row in rows if row["event_date"] == rows[0]["event_date"]]

    store.append("quality_metrics", one_day, {})  # a batch of one day: written as it is
    store.append("quality_metrics", pa.Table.from_pylist(rows, schema=arrow_schema(QUALITY_METRICS)), {})  # spans days

    files = store._table("quality_metrics").inspect.files().to_pylist()
    counted: dict[date, int] = {}
    for file in files:
        day = file["partition"]["event_date"]
        assert f"event_date={day.isoformat()}/" in file["file_path"]
        counted[day] = counted.get(day, 0) + file["record_count"]
    expected: dict[date, int] = {}
    for row in one_day + rows:
        expected[row["event_date"]] = expected.get(row["event_date"], 0) + 1
    assert counted == expected
    assert len({row["event_date"] for row in rows}) > 1
