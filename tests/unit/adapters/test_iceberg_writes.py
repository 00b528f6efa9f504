"""The Iceberg append's transaction reads its metadata once per state of its staged updates."""

from __future__ import annotations

from pathlib import Path

from wikiguard.adapters.iceberg import IcebergTableStore, local_catalog
from wikiguard.adapters.iceberg.writes import _Transaction
from wikiguard.application.tables import ALL_TABLES


def test_the_metadata_follows_every_update_staged(tmp_path: Path) -> None:
    store = IcebergTableStore(local_catalog(tmp_path), ALL_TABLES)
    store.ensure_tables()
    table = store._table("quality_metrics")

    with _Transaction(table) as transaction:
        before = transaction.table_metadata
        assert transaction.table_metadata is before  # read again: the same, not another deep copy
        transaction.set_properties(owner="wikiguard-test")
        after = transaction.table_metadata

    assert "owner" not in before.properties
    assert after.properties["owner"] == "wikiguard-test"
    assert table.metadata.properties["owner"] == "wikiguard-test"  # committed
    assert transaction.table_metadata.properties["owner"] == "wikiguard-test"  # the table moved on: read again
