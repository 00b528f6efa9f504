"""Stopping the Spark jobs mid-stream, and crashing them after a micro-batch's commits but before
Spark records the batch as done, neither loses nor duplicates rows: the result equals an
uninterrupted run of the same input."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.test_spark_support import (
    DATA,
    SparkEngine,
    allowlist_for,
    new_topic,
    spark_catalog,
)
from wikiguard.adapters.spark.jobs import run_bronze, run_gold, run_silver
from wikiguard.application.tables import ALL_TABLES

pytestmark = pytest.mark.integration

# What depends on when or in which micro-batch a row was processed, not on the data.
RUN_DEPENDENT = {
    "batch_id", "ingestion_timestamp", "processing_lag_seconds", "quarantined_at", "aggregation_timestamp",
    "avg_processing_lag_seconds", "max_processing_lag_seconds", "avg_processing_lag", "max_processing_lag",
}  # fmt: skip


class CrashAfterCommit:
    """Wraps a job's micro-batch function: the first batch runs (and commits), then the job dies."""

    def __init__(self) -> None:
        self.crashed: int | None = None

    def __call__(self, process: Callable[[Any, int], None]) -> Callable[[Any, int], None]:
        def crashing(df: Any, batch_id: int) -> None:
            process(df, batch_id)
            if self.crashed is None:
                self.crashed = batch_id
                raise RuntimeError(f"injected crash after committing batch {batch_id}")

        return crashing


class Seen:
    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, process: Callable[[Any, int], None]) -> Callable[[Any, int], None]:
        def recording(df: Any, batch_id: int) -> None:
            self.batches.append(batch_id)
            process(df, batch_id)

        return recording


def content(store: Any, table: str) -> Counter[tuple[Any, ...]]:
    """Rows without their run-dependent columns, as a multiset."""
    rows = [{k: v for k, v in row.items() if k not in RUN_DEPENDENT} for row in store.scan(table)]
    return Counter(
        tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in r.items())) for r in rows
    )


def wait_for(condition: Callable[[], bool], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.5)


def test_stop_and_crash_lose_nothing_and_duplicate_nothing(spark, kafka_broker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = (
        (DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()[:900]
    )
    lines += (
        (DATA / "yearfunla_wikiMedia_stream_monitor__recentchange.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    allowlist = allowlist_for(lines, skip_every=4)
    topic = new_topic(kafka_broker, lines)

    _, reference_store = spark_catalog(spark, tmp_path / "reference")
    SparkEngine(reference_store, kafka_broker, topic, allowlist, tmp_path / "reference-ck").run(final=True)

    _, store = spark_catalog(spark, tmp_path / "interrupted")
    checkpoints = tmp_path / "interrupted-ck"
    first = SparkEngine(store, kafka_broker, topic, allowlist, checkpoints)
    # 1. Long-running bronze and silver, stopped mid-stream.
    bronze_q = run_bronze(
        first.bronze,
        kafka_broker,
        topic,
        first.options("bronze", trigger="1 second", max_per_batch=150),
        await_end=False,
    )
    silver_q = run_silver(first.silver, first.options("silver", trigger="1 second"), await_end=False)
    try:
        wait_for(lambda: first.silver.counts.batches >= 2 and first.bronze.counts.batches >= 3)
    finally:
        silver_q.stop()
        bronze_q.stop()
    assert store.count("bronze_events") < reference_store.count("bronze_events")

    # 2. A restarted process crashes right after each job's first batch has committed.
    crashed = SparkEngine(store, kafka_broker, topic, allowlist, checkpoints)
    crashes = {job: CrashAfterCommit() for job in ("bronze", "silver", "gold")}
    with pytest.raises(Exception, match="injected crash"):
        run_bronze(
            crashed.bronze,
            kafka_broker,
            topic,
            crashed.options("bronze", max_per_batch=150),
            wrap=crashes["bronze"],
        )
    with pytest.raises(Exception, match="injected crash"):
        run_silver(crashed.silver, crashed.options("silver"), wrap=crashes["silver"])
    with pytest.raises(Exception, match="injected crash"):
        run_gold(crashed.gold, crashed.options("gold"), wrap=crashes["gold"])

    # 3. Another restart runs everything to the end; Spark replays each crashed batch.
    last = SparkEngine(store, kafka_broker, topic, allowlist, checkpoints)
    seen = {job: Seen() for job in ("bronze", "silver")}
    run_bronze(
        last.bronze, kafka_broker, topic, last.options("bronze", max_per_batch=150), wrap=seen["bronze"]
    )
    run_silver(last.silver, last.options("silver", final=True), wrap=seen["silver"])
    run_gold(last.gold, last.options("gold"))
    for job in ("bronze", "silver"):
        assert crashes[job].crashed in seen[job].batches  # it was replayed...
    assert last.bronze.counts.batches == len(seen["bronze"].batches) - 1  # ...and skipped, not rewritten

    for spec in ALL_TABLES:
        if spec.name in ("quality_metrics", "alerts_sent"):
            continue
        got, want = content(store, spec.name), content(reference_store, spec.name)
        assert got == want, spec.name
    assert reference_store.count("silver_events") > 500
    assert reference_store.count("gold_entity_metrics_10min") > 0
    metrics = [(r["layer"], r["batch_id"]) for r in store.scan("quality_metrics")]
    assert len(metrics) == len(set(metrics))  # one quality row per layer and batch, never two
