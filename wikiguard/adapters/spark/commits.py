"""Idempotent micro-batch writes: each table remembers the last micro-batch a job committed to it.

Every append a job makes carries `wikiguard.checkpoint.spark.<job>.batch_id = <micro-batch id>` in
its Iceberg snapshot summary, in the same commit as the rows. When Spark replays a micro-batch after
a failure (its offsets were logged, its commit was not), each table the batch already reached is
skipped, so no row is written twice, and the tables it had not reached yet are written: a crash
between two tables of one batch loses nothing either.

The last committed ids are read from the tables once, when the job starts (replays only happen
after a restart); after that the job's own commits keep them current.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from wikiguard.adapters.spark.table_store import append_frame, checkpoints_of

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)


def batch_key(job: str) -> str:
    return f"spark.{job}.batch_id"


class BatchCommits:
    """The last micro-batch of `job` committed to each of `tables` (full Spark table names)."""

    def __init__(self, spark: SparkSession, job: str, tables: Iterable[str]) -> None:
        self.job = job
        self.key = batch_key(job)
        self._spark = spark
        self._last: dict[str, int] = {}
        for table in tables:
            value = checkpoints_of(spark, table).get(self.key)
            self._last[table] = int(value) if value is not None else -1

    def last(self, table: str) -> int:
        return self._last.get(table, -1)

    def done(self, table: str, batch_id: int) -> bool:
        return self.last(table) >= batch_id

    def all_done(self, batch_id: int) -> bool:
        return all(last >= batch_id for last in self._last.values())

    def append(
        self, df: DataFrame, table: str, batch_id: int, extra: Mapping[str, str] | None = None
    ) -> bool:
        """Append unless `table` already holds this batch; returns whether it wrote."""
        if self.done(table, batch_id):
            logger.info("%s batch %d already committed to %s: skipped", self.job, batch_id, table)
            return False
        append_frame(df, table, {self.key: str(batch_id), **(extra or {})})
        self._last[table] = batch_id
        return True
