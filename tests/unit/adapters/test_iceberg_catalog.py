"""The local catalog commits what stock pyiceberg commits, never serves a stale table, and keeps
metadata it hands out unchanged; `updated_metadata` is pyiceberg's `update_table_metadata`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update import (
    AssertRefSnapshotId,
    RemovePropertiesUpdate,
    RemoveSnapshotsUpdate,
    SetPropertiesUpdate,
    TableUpdate,
    update_table_metadata,
)

from wikiguard.adapters.iceberg import IcebergTableStore, local_catalog, schemas
from wikiguard.adapters.iceberg.catalog import CachingSqlCatalog, updated_metadata
from wikiguard.adapters.iceberg.writes import _Transaction
from wikiguard.application.tables import ALL_TABLES, NAMESPACE, QUALITY_METRICS

TABLE = (NAMESPACE, QUALITY_METRICS.name)


def metric_row(i: int) -> dict[str, Any]:
    return dict(
        layer="bronze", batch_id=f"b{i}", engine="python", measured_at=datetime(2026, 1, 2, tzinfo=UTC),
        total_rows=i, passed_rows=i, pass_rate=1.0, outcome="SUCCESS", failed_checks=[], reasons=[],
        event_date=date(2026, 1, 2 + i % 2),
    )  # fmt: skip


def store_on(catalog: Catalog) -> IcebergTableStore:
    store = IcebergTableStore(catalog, ALL_TABLES, max_snapshots=None)
    store.ensure_tables()
    return store


def stock_catalog(warehouse: Path) -> SqlCatalog:
    """pyiceberg's own catalog on the same files and rows as `local_catalog(warehouse)`."""
    return SqlCatalog(
        "wikiguard", uri=f"sqlite:///{warehouse / 'catalog.db'}", warehouse=warehouse.resolve().as_uri()
    )


def staged_append(table: Table, rows: list[dict[str, Any]], checkpoint: str) -> _Transaction:
    """A transaction holding one append's updates and requirements, not committed."""
    transaction = _Transaction(table)
    if rows:
        arrow = schemas.rows_to_arrow(QUALITY_METRICS, schema_to_pyarrow(table.schema()), rows)
        transaction.append(arrow, snapshot_properties={"wikiguard.checkpoint.k": checkpoint})
    else:
        update = transaction.update_snapshot(snapshot_properties={"wikiguard.checkpoint.k": checkpoint})
        with update.fast_append():
            pass
    return transaction


def timeless(metadata: TableMetadata) -> tuple[TableMetadata, str]:
    """The metadata (model and JSON) but `last_updated_ms`: that is "now" when no update sets it (a
    properties change), so two evaluations of the same updates may differ by a millisecond."""
    metadata = metadata.model_copy(update={"last_updated_ms": 0})
    return metadata, metadata.model_dump_json()


def summary(snapshot: Snapshot | None) -> dict[str, str]:
    assert snapshot is not None and snapshot.summary is not None
    return snapshot.summary.additional_properties


def read_metadata(io: FileIO, location: str) -> TableMetadata:
    return FromInputFile.table_metadata(io.new_input(location))


# -- updated_metadata is pyiceberg's update_table_metadata, minus the deep copy --------------------


def test_updated_metadata_equals_pyiceberg_for_every_kind_of_update_we_commit(tmp_path: Path) -> None:
    store = store_on(local_catalog(tmp_path))
    for i in range(3):
        store.append(QUALITY_METRICS.name, [metric_row(i)], {"k": str(i)})
    table = store._table(QUALITY_METRICS.name)
    base = table.metadata
    base_json = base.model_dump_json()
    oldest = base.snapshots[0].snapshot_id
    cases: list[tuple[TableUpdate, ...]] = [
        staged_append(table, [metric_row(7), metric_row(8)], "7")._updates,
        staged_append(table, [], "8")._updates,
        (RemoveSnapshotsUpdate.model_validate({"snapshot-ids": [oldest]}),),
        (SetPropertiesUpdate(updates={"owner": "test"}), RemovePropertiesUpdate(removals=["owner"])),
        (),
    ]
    assert len(cases[0]) == len(cases[1]) == 2  # each append: a snapshot and the ref moved to it

    for updates in cases:
        for location in (None, table.metadata_location):
            ours = updated_metadata(base, updates, location)
            stock = update_table_metadata(base, updates, metadata_location=location)
            assert timeless(ours) == timeless(stock)
    assert base.model_dump_json() == base_json  # the base is shared, never changed


# -- commits: the same metadata as stock pyiceberg, and what is cached is what is on disk ---------


def test_commits_stage_what_stock_pyiceberg_stages_and_write_it(tmp_path: Path) -> None:
    ours = local_catalog(tmp_path)
    assert isinstance(ours, CachingSqlCatalog)
    store_on(ours)
    stock = stock_catalog(tmp_path)
    steps: list[Callable[[Table], tuple[TableUpdate, ...]]] = [
        lambda t: staged_append(t, [metric_row(1)], "1")._updates,
        lambda t: staged_append(t, [], "2")._updates,
        lambda t: staged_append(t, [metric_row(3), metric_row(4)], "3")._updates,
        lambda t: (
            RemoveSnapshotsUpdate.model_validate({"snapshot-ids": [t.metadata.snapshots[0].snapshot_id]}),
        ),
        lambda t: (SetPropertiesUpdate(updates={"owner": "test"}),),
        lambda t: staged_append(t, [], "4")._updates,
    ]

    for step in steps:
        table = ours.load_table(TABLE)
        assert ours.cached_metadata(table.metadata_location) is table.metadata  # not read from disk
        updates = step(table)
        mine = ours._update_and_stage_table(table, TABLE, (), updates)
        theirs = stock._update_and_stage_table(stock.load_table(TABLE), TABLE, (), updates)  # read from disk
        assert timeless(mine.metadata) == timeless(theirs.metadata)
        assert ours._parse_metadata_version(mine.metadata_location) == stock._parse_metadata_version(
            theirs.metadata_location
        )
        ours.commit_table(table, (), updates)
        committed = stock.load_table(TABLE)
        assert timeless(committed.metadata) == timeless(theirs.metadata)  # what the file holds

    assert len(stock.load_table(TABLE).metadata.snapshots) == 3
    assert stock.load_table(TABLE).scan().to_arrow().num_rows == 3


def test_every_cached_metadata_is_what_its_file_holds(tmp_path: Path) -> None:
    catalog = local_catalog(tmp_path)
    assert isinstance(catalog, CachingSqlCatalog)
    store = IcebergTableStore(catalog, ALL_TABLES, max_snapshots=4)
    store.ensure_tables()
    for i in range(6):
        store.append(QUALITY_METRICS.name, [metric_row(i)] if i % 2 else [], {"k": str(i)})
    store.delete(QUALITY_METRICS.name, [], {"k": "deleted"})
    store.maintain(datetime.now(UTC))
    created = catalog.create_table_transaction((NAMESPACE, "created_in_a_transaction"), schema=store._table(
        QUALITY_METRICS.name).schema())  # fmt: skip
    created.set_properties(owner="test")
    created.commit_transaction()  # a new table: pyiceberg's own path, with its full validation

    io = store._table(QUALITY_METRICS.name).io
    files = sorted(tmp_path.resolve().glob("*/*/metadata/*.metadata.json"))
    held = [(f.as_uri(), m) for f in files if (m := catalog.cached_metadata(f.as_uri())) is not None]
    assert len(held) >= 10
    for location, metadata in held:
        on_disk = read_metadata(io, location)
        assert metadata == on_disk
        assert metadata.model_dump_json() == on_disk.model_dump_json()
    assert catalog.load_table((NAMESPACE, "created_in_a_transaction")).properties["owner"] == "test"


def test_metadata_handed_out_is_never_changed_by_later_commits(tmp_path: Path) -> None:
    catalog = local_catalog(tmp_path)
    store = IcebergTableStore(catalog, ALL_TABLES, max_snapshots=3)
    store.ensure_tables()
    store.append(QUALITY_METRICS.name, [metric_row(0)], {"k": "0"})
    handed_out = catalog.load_table(TABLE)
    before = handed_out.metadata.model_dump_json()

    for i in range(1, 6):  # appends, trims (expiry) and a delete, all through the same catalog
        store.append(QUALITY_METRICS.name, [metric_row(i)] if i % 2 else [], {"k": str(i)})
    store.delete(QUALITY_METRICS.name, [], {"k": "deleted"})
    with catalog.load_table(TABLE).transaction() as transaction:
        transaction.set_properties(owner="test")

    assert handed_out.metadata.model_dump_json() == before
    assert handed_out.metadata == read_metadata(handed_out.io, handed_out.metadata_location)
    assert catalog.load_table(TABLE).metadata.model_dump_json() != before


def test_the_cache_is_bounded_and_keeps_the_newest(tmp_path: Path) -> None:
    catalog = local_catalog(tmp_path)
    assert isinstance(catalog, CachingSqlCatalog)
    catalog.CACHED_LOCATIONS = 3
    store = store_on(catalog)
    locations = []
    for i in range(5):
        store.append(QUALITY_METRICS.name, [], {"k": str(i)})
        locations.append(catalog.load_table(TABLE).metadata_location)

    held = [catalog.cached_metadata(location) is not None for location in locations]
    assert held == [False, False, True, True, True]


# -- other writers: seen at once, and a stale commit fails and is retried as in stock pyiceberg ---


CATALOGS: dict[str, Callable[[Path], Catalog]] = {"stock": stock_catalog, "caching": local_catalog}


@pytest.mark.parametrize("kind", CATALOGS)
def test_another_catalogs_commit_is_seen_and_a_stale_writer_retries_on_top(tmp_path: Path, kind: str) -> None:
    catalog = CATALOGS[kind](tmp_path)
    mine, other = store_on(catalog), store_on(local_catalog(tmp_path))  # as another process would
    mine.append(QUALITY_METRICS.name, [metric_row(1)], {"k": "1"})
    mine.checkpoint(QUALITY_METRICS.name, "k")  # the table and its metadata are now held in memory
    other.append(QUALITY_METRICS.name, [metric_row(2)], {"k": "2", "other": "yes"})

    seen = catalog.load_table(TABLE)
    assert summary(seen.current_snapshot())["wikiguard.checkpoint.other"] == "yes"
    stale = mine._table(QUALITY_METRICS.name)  # not refreshed: its head is the first append
    with pytest.raises(CommitFailedException):
        catalog.commit_table(
            stale,
            (
                AssertRefSnapshotId.model_validate(
                    {"ref": "main", "snapshot-id": stale.metadata.current_snapshot_id}
                ),
            ),
            (SetPropertiesUpdate(updates={"owner": "stale"}),),
        )
    mine.append(QUALITY_METRICS.name, [metric_row(3)], {"k": "3"})  # fails once, retried on top

    final = local_catalog(tmp_path).load_table(TABLE)
    chain = [summary(s)["wikiguard.checkpoint.k"] for s in final.snapshots()]
    parents = [s.parent_snapshot_id for s in final.snapshots()]
    assert chain == ["1", "2", "3"]
    assert parents == [None] + [s.snapshot_id for s in final.snapshots()[:-1]]
    assert final.scan().to_arrow().num_rows == 3
    assert "owner" not in final.properties
    assert mine.checkpoint(QUALITY_METRICS.name, "other") == "yes"


def racing(base: type[SqlCatalog]) -> Callable[[Path], SqlCatalog]:
    """A `base` catalog that, on its first metadata write, lets another catalog commit first: the
    race between reading the current location and updating the row that only SQLite can settle."""

    class Racing(base):  # type: ignore[valid-type,misc]
        written: list[str]
        other: IcebergTableStore | None = None

        def _write_metadata(self, metadata: TableMetadata, io: FileIO, metadata_path: str) -> None:
            super()._write_metadata(metadata, io, metadata_path)
            self.written.append(metadata_path)
            if self.other is not None:
                other, self.other = self.other, None
                other.append(QUALITY_METRICS.name, [metric_row(2)], {"k": "2"})

    def make(warehouse: Path) -> SqlCatalog:
        catalog = Racing("wikiguard", uri=f"sqlite:///{warehouse}/catalog.db", warehouse=warehouse.as_uri())
        catalog.written = []
        return catalog

    return make


@pytest.mark.parametrize("base", [SqlCatalog, CachingSqlCatalog], ids=["stock", "caching"])
def test_a_commit_that_loses_the_race_for_the_row_fails_and_is_retried(tmp_path: Path, base: type) -> None:
    warehouse = tmp_path.resolve()
    store_on(local_catalog(warehouse)).append(QUALITY_METRICS.name, [metric_row(1)], {"k": "1"})
    catalog: Any = racing(base)(warehouse)
    mine = store_on(catalog)
    mine._table(QUALITY_METRICS.name)  # loaded before the other writer commits
    catalog.other = store_on(local_catalog(warehouse))
    catalog.written = []  # `ensure_tables` wrote (unused) files for tables that exist: pyiceberg's way

    mine.append(QUALITY_METRICS.name, [metric_row(3)], {"k": "3"})

    assert len(catalog.written) == 2  # the first file lost the race for the row; the retry won
    final = local_catalog(warehouse).load_table(TABLE)
    assert final.metadata_location == catalog.written[1]
    assert [summary(s)["wikiguard.checkpoint.k"] for s in final.snapshots()] == ["1", "2", "3"]
    assert final.scan().to_arrow().num_rows == 3
