"""`TableStore` on Spark + Iceberg: what the driver side of the Spark jobs reads and writes.

Checkpoints are kept exactly as `IcebergTableStore` (pyiceberg) keeps them: the snapshot summary
property `wikiguard.checkpoint.<key>` of the commit that wrote the rows, read back from the newest
ancestor of the current snapshot that has it. So either engine reads the other's checkpoints, and
pyiceberg's upkeep (which carries every `wikiguard.checkpoint.*` key forward before expiring
snapshots) keeps the Spark jobs' keys too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from wikiguard.adapters.spark.catalog import IcebergCatalog, ensure_tables, spark_schema
from wikiguard.application.batches.frames import rows_of
from wikiguard.application.ports import Row, RowFilter, Rows, TableSnapshot, TableStore
from wikiguard.application.tables import TableSpec
from wikiguard.domain.errors import WikiguardError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "wikiguard.checkpoint."


class SparkTableError(WikiguardError):
    """An unknown table or column asked of the Spark table store."""


def aware(value: Any) -> Any:
    """Spark hands timestamps to Python as naive local times; make them aware UTC datetimes."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone(UTC)
    return value


def append_frame(df: DataFrame, table: str, checkpoint: Mapping[str, str]) -> None:
    """Append `df` to `table` in one Iceberg commit whose summary carries `checkpoint`."""
    writer = df.writeTo(table)
    for key, value in checkpoint.items():
        writer = writer.option(f"snapshot-property.{CHECKPOINT_PREFIX}{key}", str(value))
    writer.append()


def checkpoints_of(spark: SparkSession, table: str) -> dict[str, str]:
    """The newest value of every checkpoint key along the current snapshot's ancestry."""
    rows = spark.sql(
        f"SELECT s.summary AS summary FROM {table}.history h JOIN {table}.snapshots s "
        "ON h.snapshot_id = s.snapshot_id WHERE h.is_current_ancestor ORDER BY h.made_current_at DESC"
    ).collect()
    found: dict[str, str] = {}
    for row in rows:
        for key, value in (row.summary or {}).items():
            if key.startswith(CHECKPOINT_PREFIX):
                found.setdefault(key[len(CHECKPOINT_PREFIX) :], value)
    return found


class SparkTableStore(TableStore):
    """The tables of `specs` in `catalog`, through a SparkSession. One `append` is one Iceberg commit."""

    def __init__(self, spark: SparkSession, catalog: IcebergCatalog, specs: Sequence[TableSpec]) -> None:
        self._spark = spark
        self._catalog = catalog
        self._specs = {spec.name: spec for spec in specs}

    @property
    def spark(self) -> SparkSession:
        return self._spark

    def name(self, table: str) -> str:
        if table not in self._specs:
            raise SparkTableError(f"unknown table {table!r}; known: {sorted(self._specs)}")
        return self._catalog.table(table)

    def ensure_tables(self) -> None:
        created = ensure_tables(self._spark, self._catalog, self._specs.values())
        if created:
            logger.info("created tables %s in %s", created, self._catalog.name)

    def frame(self, table: str, rows: Sequence[Row]) -> DataFrame:
        """A DataFrame of `rows` with the table's exact schema (a missing key is NULL)."""
        spec = self._specs[table]
        names = spec.column_names
        unknown = set().union(*rows) - set(names) if rows else set()
        if unknown:
            raise SparkTableError(f"{table}: unknown columns {sorted(unknown)}")
        data = [tuple(row.get(name) for name in names) for row in rows]
        return self._spark.createDataFrame(data, schema=spark_schema(spec))

    def append(self, table: str, rows: Rows, checkpoint: Mapping[str, str]) -> None:
        if isinstance(rows, pa.Table):
            rows = rows_of(rows)
        if not rows and not checkpoint:
            return
        append_frame(self.frame(table, rows), self.name(table), checkpoint)

    def checkpoint(self, table: str, key: str) -> str | None:
        return checkpoints_of(self._spark, self.name(table)).get(key)

    def checkpoints(self, table: str) -> dict[str, str]:
        return checkpoints_of(self._spark, self.name(table))

    def scan(self, table: str, at_least: tuple[str, Any] | None = None) -> Iterator[Row]:
        from pyspark.sql import functions as F

        df = self._spark.table(self.name(table))
        if at_least is not None:
            column, value = at_least
            if column not in self._specs[table].column_names:
                raise SparkTableError(f"{table}: unknown column {column!r} in at_least")
            df = df.where(F.col(column) >= F.lit(value))
        return ({k: aware(v) for k, v in row.asDict().items()} for row in df.toLocalIterator())

    def count(self, table: str) -> int:
        return int(self._spark.table(self.name(table)).count())

    def snapshots(self, table: str) -> list[TableSnapshot]:
        rows = self._spark.sql(
            f"SELECT s.snapshot_id, s.committed_at, s.summary FROM {self.name(table)}.history h "
            f"JOIN {self.name(table)}.snapshots s ON h.snapshot_id = s.snapshot_id "
            "WHERE h.is_current_ancestor ORDER BY h.made_current_at"
        ).collect()
        history: list[TableSnapshot] = []
        carried: dict[str, str] = {}
        for row in rows:
            own = {
                k[len(CHECKPOINT_PREFIX) :]: v
                for k, v in (row.summary or {}).items()
                if k.startswith(CHECKPOINT_PREFIX)
            }
            carried = {**carried, **own}
            history.append(TableSnapshot(row.snapshot_id, aware(row.committed_at), dict(carried)))
        return history

    def delete(self, table: str, where: Sequence[RowFilter], checkpoint: Mapping[str, str]) -> int:
        """Not offered: Spark SQL's DELETE cannot put the checkpoint into the same commit. The Spark jobs
        only append; a delete (a replay's rollback) goes through `IcebergTableStore` on the same catalog."""
        raise SparkTableError(
            f"{table}: delete is not supported by the Spark table store; use IcebergTableStore"
        )

    def maintain(self, older_than: datetime) -> Mapping[str, int]:
        """Not done from the streaming jobs: upkeep runs as its own job (`IcebergTableStore.maintain`
        on the same catalog), which carries every checkpoint forward before it expires snapshots."""
        return {}
