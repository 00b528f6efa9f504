"""The local SQLite catalog, with pyiceberg's commit minus two costs that change nothing written.

A pyiceberg commit on a small table is mostly fixed cost, and most of it is spent on:
1. `update_table_metadata` ends with `model_copy(deep=True)` of the whole table metadata (every
   snapshot, summary and log entry), once per read of `Transaction.table_metadata` and once more in
   the catalog's commit. `updated_metadata` below is the same function without that copy.
2. `SqlCatalog.commit_table` re-reads and re-parses the current metadata JSON file on every commit.
   `CachingSqlCatalog` keeps the metadata it last wrote or read by location.

Why skipping the copy is safe (checked in pyiceberg 0.12.0, pinned in pyproject.toml):
- `TableMetadata` and its parts are frozen pydantic models: no attribute can be reassigned.
- Every `_apply_table_update` handler (and `_update_table_metadata_log`) returns
  `base.model_copy(update=...)` with NEW containers (`dict(base.properties)`, `{**base.refs, ...}`,
  `base.snapshots + [...]`, list comprehensions): the base metadata is never changed, so the result
  may share unchanged parts with it.
- Nothing in pyiceberg mutates the lists and dicts of built metadata in place: the one in-place write
  (`construct_refs`, adding the `main` ref) is a validator that runs while a new model is parsed;
  `Summary.__setitem__` is only used on the summary of a snapshot still being built.
- The deep copy is still made by `update_table_metadata` when pyiceberg itself calls it (stock
  `Transaction`, other catalogs); only our commit path shares parts between versions.

Why the cache is safe: an Iceberg metadata file is immutable and its location (a version and a
random UUID) names exactly one metadata; pyiceberg writes it with `overwrite=False`. The catalog row
in SQLite is still read on every load and commit and decides which location is current, and the
commit still updates that row only if it still names the location the commit was based on. A commit
by another process therefore shows up as a location this cache does not hold, which is read from
disk, and a commit based on a stale view fails with `CommitFailedException` as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import FileIO
from pyiceberg.table import StagedTable, Table
from pyiceberg.table.locations import load_location_provider
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import (
    TableRequirement,
    TableUpdate,
    _apply_table_update,
    _TableMetadataUpdateContext,
    _update_table_metadata_log,
)
from pyiceberg.typedef import Identifier
from pyiceberg.utils.datetime import datetime_to_millis


def updated_metadata(
    base: TableMetadata, updates: tuple[TableUpdate, ...], metadata_location: str | None = None
) -> TableMetadata:
    """pyiceberg's `update_table_metadata(base, updates, metadata_location=...)` without its final deep
    copy: the result may share unchanged parts with `base` (safe, see the module docstring).

    A line-for-line copy of pyiceberg 0.12.0's function; a unit test pins it to the original.
    """
    context = _TableMetadataUpdateContext()
    metadata = base
    for update in updates:
        metadata = _apply_table_update(update, metadata, context)
    if context.has_changes():
        if metadata_location:
            metadata = _update_table_metadata_log(metadata, metadata_location, base.last_updated_ms)
        if base.last_updated_ms == metadata.last_updated_ms:
            now_ms = datetime_to_millis(datetime.now().astimezone())
            metadata = metadata.model_copy(update={"last_updated_ms": now_ms})
    metadata.spec().check_compatible(metadata.schema())
    metadata.sort_order().check_compatible(metadata.schema())
    return metadata


class CachingSqlCatalog(SqlCatalog):
    """pyiceberg's `SqlCatalog` that keeps parsed metadata by location and commits without deep copies.

    Same files, same rows, same optimistic-concurrency check (`commit_table` is pyiceberg's own): only
    where the current metadata comes from (memory when this catalog wrote or read that location
    recently) and how the staged metadata is built (`updated_metadata`) differ. Table creation keeps
    pyiceberg's path, with its full validation (`enforce_validation`).
    """

    CACHED_LOCATIONS = 64  # ~5 per table of a pipeline; versions share most of their snapshots

    def __init__(self, name: str, **properties: str) -> None:
        super().__init__(name, **properties)
        self._by_location: OrderedDict[str, TableMetadata] = OrderedDict()
        self._lock = threading.Lock()

    def cached_metadata(self, metadata_location: str) -> TableMetadata | None:
        """The metadata of `metadata_location` if this catalog holds it (then marked recently used)."""
        with self._lock:
            metadata = self._by_location.get(metadata_location)
            if metadata is not None:
                self._by_location.move_to_end(metadata_location)
            return metadata

    def _remember(self, metadata_location: str, metadata: TableMetadata) -> None:
        with self._lock:
            self._by_location[metadata_location] = metadata
            self._by_location.move_to_end(metadata_location)
            while len(self._by_location) > self.CACHED_LOCATIONS:
                self._by_location.popitem(last=False)

    def _convert_orm_to_iceberg(self, orm_table: IcebergTables) -> Table:
        row = orm_table
        location, namespace, name = row.metadata_location, row.table_namespace, row.table_name
        # Not held, or a row pyiceberg refuses: its own path reads (or refuses) the file.
        if not (location and namespace and name) or (metadata := self.cached_metadata(location)) is None:
            table = super()._convert_orm_to_iceberg(orm_table)
            self._remember(table.metadata_location, table.metadata)
            return table
        return Table(
            identifier=Catalog.identifier_to_tuple(namespace) + (name,),
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )

    def _write_metadata(self, metadata: TableMetadata, io: FileIO, metadata_path: str) -> None:  # type: ignore[override]
        # pyiceberg's is a static method that SqlCatalog calls on `self`. A file written for a commit
        # that then loses the race is still exactly this metadata, so remembering it is harmless.
        super()._write_metadata(metadata, io, metadata_path)
        self._remember(metadata_path, metadata)

    def _update_and_stage_table(
        self,
        current_table: Table | None,
        table_identifier: Identifier,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> StagedTable:
        if current_table is None:
            return super()._update_and_stage_table(current_table, table_identifier, requirements, updates)
        # pyiceberg's MetastoreCatalog._update_and_stage_table for an existing table, with
        # `updated_metadata` in place of `update_table_metadata`.
        for requirement in requirements:
            requirement.validate(current_table.metadata)
        metadata = updated_metadata(current_table.metadata, updates, current_table.metadata_location)
        version = self._parse_metadata_version(current_table.metadata_location) + 1
        provider = load_location_provider(metadata.location, metadata.properties)
        location = provider.new_table_metadata_file_location(version)
        return StagedTable(
            identifier=table_identifier,
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(properties=metadata.properties, location=location),
            catalog=self,
        )
