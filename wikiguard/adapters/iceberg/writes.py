"""One Iceberg commit of an Arrow table, written as pyiceberg's `Table.append` writes it, minus copies.

pyiceberg splits a table into partitions by filtering it once per partition value, then copying each
part again (`combine_chunks`): for a streaming batch, which nearly always falls in one day, that is
two copies of every raw event for nothing. Here a batch whose rows share their partition values is
written as it is; a batch that spans partitions (around midnight) goes through pyiceberg's split.
Everything else (Parquet writing, statistics, manifests, the snapshot and its properties) is
pyiceberg's own code.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io.pyarrow import _determine_partitions, bin_pack_arrow_table, write_file
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import Table, TableProperties, Transaction, WriteTask
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import TableUpdate
from pyiceberg.utils.properties import property_as_bool, property_as_int

from wikiguard.adapters.iceberg.catalog import updated_metadata


class _Transaction(Transaction):
    """pyiceberg's transaction, with `table_metadata` worked out once per state, without a deep copy.

    pyiceberg rebuilds it on every read (~20 reads per append) and ends each rebuild with a deep copy of
    the whole table metadata, most of a commit's time. It is a function of the table's metadata and the
    updates staged; both are immutable and replaced, never changed, when they move on (the updates are
    a tuple that `_stage` and a retry's `_rebuild_snapshot_updates` reassign). So it is worked out once
    per (metadata, updates) pair, by `updated_metadata`, which skips the copy (see `catalog` for why
    sharing parts with the table's metadata is safe).
    """

    # (table metadata, updates staged, the result)
    _memo: tuple[TableMetadata, tuple[TableUpdate, ...], TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates, memo = self._table.metadata, self._updates, self._memo
        if memo is None or memo[0] is not base or memo[1] is not updates:
            memo = self._memo = (base, updates, updated_metadata(base, updates))
        return memo[2]


def append(table: Table, data: pa.Table, snapshot_properties: dict[str, str]) -> None:
    """Append `data` (in the table's exact Arrow schema) and `snapshot_properties` in one commit."""
    with _Transaction(table) as transaction:
        metadata = transaction.table_metadata
        merge = property_as_bool(
            metadata.properties,
            TableProperties.MANIFEST_MERGE_ENABLED,
            TableProperties.MANIFEST_MERGE_ENABLED_DEFAULT,
        )
        update = transaction.update_snapshot(snapshot_properties=snapshot_properties)
        with update.merge_append() if merge else update.fast_append() as files:
            if data.num_rows:
                for data_file in write_file(table.io, metadata, _tasks(metadata, files.commit_uuid, data)):
                    files.append_data_file(data_file)


def _tasks(metadata: TableMetadata, write_uuid: uuid.UUID, data: pa.Table) -> Iterator[WriteTask]:
    schema = metadata.schema()
    target = property_as_int(
        metadata.properties, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT,
    ) or TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT  # fmt: skip
    counter = itertools.count(0)
    for key, part in _partitions(metadata, data):
        for batches in bin_pack_arrow_table(part, target):
            yield WriteTask(write_uuid=write_uuid, task_id=next(counter), record_batches=batches,
                            partition_key=key, schema=schema)  # fmt: skip


def _partitions(metadata: TableMetadata, data: pa.Table) -> Iterator[tuple[PartitionKey | None, pa.Table]]:
    schema, spec = metadata.schema(), metadata.spec()
    if spec.is_unpartitioned():
        yield None, data
        return
    values = []
    for field in spec.fields:
        source = schema.find_field(field.source_id)
        column = data.column(schema.find_column_name(field.source_id))
        distinct = pc.unique(field.transform.pyarrow_transform(source.field_type)(column))
        if len(distinct) != 1:  # the batch spans partitions: pyiceberg's split
            for part in _determine_partitions(spec=spec, schema=schema, arrow_table=data):
                yield part.partition_key, part.arrow_table_partition
            return
        values.append(PartitionFieldValue(field=field, value=distinct[0].as_py()))
    yield PartitionKey(field_values=values, partition_spec=spec, schema=schema), data
