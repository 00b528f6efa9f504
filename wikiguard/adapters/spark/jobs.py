"""The three streaming jobs: a source, a micro-batch processor, a trigger and a checkpoint.

- bronze: Kafka topic -> `SparkBronze.process`
- silver: Iceberg stream of bronze_events -> `SparkSilver.process`
- gold: Iceberg stream of silver_events (as the clock) -> `SparkGold.tick`

`availableNow` runs a bounded job (everything available, then stop: tests, backfills, scheduled
EMR runs); `processingTime` runs a long-lived one. A bounded silver run with `final=True` closes its
open windows at the end and a bounded gold run ticks once more after its stream ends, as the
embedded engine does at the end of a bounded run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from wikiguard.adapters.spark.bronze import SparkBronze
from wikiguard.adapters.spark.gold import SparkGold
from wikiguard.adapters.spark.silver import SparkSilver
from wikiguard.application.tables import BRONZE_EVENTS, SILVER_EVENTS

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

logger = logging.getLogger(__name__)

AVAILABLE_NOW = "available-now"
Process = Callable[["DataFrame", int], None]


@attrs.frozen
class StreamOptions:
    """How one job's query runs: where it checkpoints, how it triggers, how much a batch takes."""

    checkpoint: str
    trigger: str = AVAILABLE_NOW  # or a processing-time interval such as "1 second"
    max_per_batch: int | None = None  # Kafka offsets per micro-batch (bronze only, see iceberg_source)
    final: bool = False  # bounded run: close the open windows when the stream ends


def trigger_of(trigger: str) -> dict[str, Any]:
    if trigger == AVAILABLE_NOW:
        return {"availableNow": True}
    if trigger == "once":
        return {"once": True}
    return {"processingTime": trigger}


def kafka_source(
    spark: SparkSession,
    bootstrap: str,
    topic: str,
    options: StreamOptions,
    kafka: Mapping[str, str] | None = None,
) -> DataFrame:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("includeHeaders", "true")
        .option("failOnDataLoss", "true")
    )
    if options.max_per_batch:
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_per_batch))
    for key, value in (kafka or {}).items():  # e.g. kafka.security.protocol for MSK
        reader = reader.option(key, value)
    return reader.load()


def iceberg_source(spark: SparkSession, table: str, options: StreamOptions) -> DataFrame:
    reader = (
        spark.readStream.format("iceberg")
        # upkeep (compaction, expiry) commits overwrite/delete snapshots: they hold no new rows
        .option("streaming-skip-overwrite-snapshots", "true")
        .option("streaming-skip-delete-snapshots", "true")
    )
    # No row or file limit: a limited micro-batch may take part of a snapshot's files, and silver's
    # decisions need every row of a bronze commit at once to see them in Kafka order.
    return reader.load(table)


def start(df: DataFrame, process: Process, options: StreamOptions, name: str) -> StreamingQuery:
    return (
        df.writeStream.queryName(name)
        .foreachBatch(process)
        .option("checkpointLocation", options.checkpoint)
        .trigger(**trigger_of(options.trigger))
        .start()
    )


def run_bronze(
    bronze: SparkBronze,
    bootstrap: str,
    topic: str,
    options: StreamOptions,
    *,
    wrap: Callable[[Process], Process] | None = None,
    await_end: bool = True,
    kafka: Mapping[str, str] | None = None,
) -> StreamingQuery:
    """Start the bronze query (and, by default, wait for a bounded one to end)."""
    spark = bronze.store.spark
    bronze.store.ensure_tables()
    process: Process = bronze.process
    query = start(
        kafka_source(spark, bootstrap, topic, options, kafka),
        wrap(process) if wrap else process,
        options,
        "wikiguard-bronze",
    )
    if await_end:
        query.awaitTermination()
    return query


def run_silver(
    silver: SparkSilver,
    options: StreamOptions,
    *,
    wrap: Callable[[Process], Process] | None = None,
    await_end: bool = True,
) -> StreamingQuery:
    spark = silver.store.spark
    silver.store.ensure_tables()
    silver.restore()
    process: Process = silver.process
    source = iceberg_source(spark, silver.store.name(BRONZE_EVENTS.name), options)
    query = start(source, wrap(process) if wrap else process, options, "wikiguard-silver")
    if await_end:
        query.awaitTermination()
        if options.final and options.trigger == AVAILABLE_NOW:
            silver.close_all()
    return query


def run_gold(
    gold: SparkGold,
    options: StreamOptions,
    *,
    wrap: Callable[[Process], Process] | None = None,
    await_end: bool = True,
) -> StreamingQuery:
    spark = gold.store.spark
    gold.store.ensure_tables()
    gold.restore()

    def process(_df: DataFrame, batch_id: int) -> None:
        # The micro-batch's rows are not used: gold reads the windows silver closed from silver itself.
        gold.tick(f"spark-gold-{batch_id:06d}")

    source = iceberg_source(spark, gold.store.name(SILVER_EVENTS.name), options).select("meta_id")
    query = start(source, wrap(process) if wrap else process, options, "wikiguard-gold")
    if await_end:
        query.awaitTermination()
        if options.trigger == AVAILABLE_NOW:
            # silver's end-of-run close commits no rows, so no micro-batch announces it: tick once more.
            gold.tick("spark-gold-final")
    return query
