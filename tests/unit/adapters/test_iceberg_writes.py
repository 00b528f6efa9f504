"""The Iceberg append's transaction works its metadata out once per state of its staged updates, as
stock pyiceberg would, without changing the table's metadata."""

from __future__ import annotations

from pathlib import Path

from pyiceberg.table import Transaction
from pyiceberg.table.update import SetPropertiesUpdate

from wikiguard.adapters.iceberg import IcebergTableStore, local_catalog
from wikiguard.adapters.iceberg.writes import _Transaction
from wikiguard.application.tables import ALL_TABLES


def open_table(tmp_path: Path, appends: int = 0) -> IcebergTableStore:
    store = IcebergTableStore(local_catalog(tmp_path), ALL_TABLES)
    store.ensure_tables()
    for i in range(appends):
        store.append("quality_metrics", [], {"k": str(i)})
    return store


def test_the_metadata_follows_every_update_staged(tmp_path: Path) -> None:
    table = open_table(tmp_path)._table("quality_metrics")

    with _Transaction(table) as transaction:
        before = transaction.table_metadata
        assert transaction.table_metadata is before  # read again: the same, not another deep copy
        transaction.set_properties(owner="wikiguard-test")
        after = transaction.table_metadata

    assert "owner" not in before.properties
    assert after.properties["owner"] == "wikiguard-test"
    assert table.metadata.properties["owner"] == "wikiguard-test"  # committed
    # the table moved on: worked out again
    assert transaction.table_metadata.properties["owner"] == "wikiguard-test"


def test_the_metadata_is_what_stock_pyiceberg_works_out_and_the_table_keeps_its_own(tmp_path: Path) -> None:
    table = open_table(tmp_path, appends=3)._table("quality_metrics")
    base = table.metadata
    base_json = base.model_dump_json()
    transaction = _Transaction(table)
    with transaction.update_snapshot(snapshot_properties={"wikiguard.checkpoint.k": "x"}).fast_append():
        pass
    transaction.set_properties(owner="wikiguard-test")

    ours = transaction.table_metadata
    stock = Transaction.table_metadata.fget(transaction)  # type: ignore[attr-defined]

    # `last_updated_ms` is "now" for a properties change: the two may fall in different milliseconds
    assert ours.model_copy(update={"last_updated_ms": 0}) == stock.model_copy(update={"last_updated_ms": 0})
    assert len(ours.snapshots) == 4 and ours.properties["owner"] == "wikiguard-test"
    assert table.metadata is base and base.model_dump_json() == base_json  # shared, never changed


def test_updates_replaced_by_as_many_others_are_seen(tmp_path: Path) -> None:
    """A retry rebuilds the staged updates (`_rebuild_snapshot_updates`) into a new tuple, possibly of
    the same length, and the table's metadata may be the very same object after its refresh."""
    table = open_table(tmp_path)._table("quality_metrics")
    transaction = _Transaction(table)
    transaction.set_properties(owner="first")
    assert transaction.table_metadata.properties["owner"] == "first"

    transaction._updates = (SetPropertiesUpdate(updates={"owner": "rebuilt"}),)

    assert transaction.table_metadata.properties["owner"] == "rebuilt"
