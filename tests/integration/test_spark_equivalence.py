"""The Spark engine equals the embedded engine on the same recorded input read from the same Kafka topic.

Both engines read one real topic; the Spark side runs the bronze, silver and gold streaming jobs in
local mode, the embedded side its pipeline. Compared: the meta.id sets and derived columns of bronze
and silver, the quarantine reasons, and every gold metric except the processing-lag columns (they
measure when each engine happened to run). Spark's tables are read back through pyiceberg on the
same SQLite catalog, which is also the proof that one catalog serves both engines.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from tests.integration.test_spark_support import (
    SparkEngine,
    SystemClock,
    alerting_for,
    allowlist_for,
    new_topic,
    produce,
    recorded_lines,
    spark_catalog,
)
from wikiguard.adapters.iceberg.table_store import IcebergTableStore
from wikiguard.adapters.kafka.config import client_config
from wikiguard.adapters.kafka.consumer_source import KafkaChangeSource
from wikiguard.application.bronze import BronzeStage
from wikiguard.application.gold import GoldSettings, GoldStage
from wikiguard.application.pipeline import EmbeddedPipeline, PipelineSettings
from wikiguard.application.silver import SilverStage
from wikiguard.application.tables import ALL_TABLES
from wikiguard.domain.rulesets import BRONZE_RULES, SILVER_RULES

pytestmark = pytest.mark.integration

SILVER_DERIVED = (
    "canonical_entity", "wiki", "title", "event_type", "namespace", "wikimedia_id", "user_name", "user_type",
    "is_bot", "is_anonymous", "is_temporary_account", "is_minor", "comment", "has_comment", "length_old",
    "length_new", "revision_old", "revision_new", "bytes_changed", "is_large_edit", "is_revert", "log_type",
    "event_timestamp", "event_date", "event_hour",
)  # fmt: skip
# When each engine ran, not what the data says.
NOT_COMPARED = {
    "avg_processing_lag_seconds", "max_processing_lag_seconds", "avg_processing_lag", "max_processing_lag",
    "aggregation_timestamp", "batch_id",
}  # fmt: skip
GOLD_KEYS = {
    "gold_entity_metrics_10min": ("window_start", "entity"),
    "gold_user_metrics_10min": ("window_start", "user_name"),
    "gold_global_metrics_10min": ("window_start",),
}


def sql_store(name: str, warehouse: Path) -> IcebergTableStore:
    warehouse.mkdir(parents=True, exist_ok=True)
    catalog = SqlCatalog(name, uri=f"sqlite:///{warehouse / 'catalog.db'}", warehouse=warehouse.as_uri())
    return IcebergTableStore(catalog, ALL_TABLES)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return bool(a == b)


@pytest.fixture(scope="module")
def engines(spark, kafka_broker, tmp_path_factory):  # type: ignore[no-untyped-def]
    lines = recorded_lines()
    allowlist = allowlist_for(lines)
    root = tmp_path_factory.mktemp("equivalence")
    catalog, spark_store = spark_catalog(spark, root / "spark")
    # The input arrives in three parts; each part goes through the three jobs before the next
    # arrives, so every job runs several micro-batches (bronze two per part).
    thirds = [
        lines[: len(lines) // 3],
        lines[len(lines) // 3 : 2 * len(lines) // 3],
        lines[2 * len(lines) // 3 :],
    ]
    topic = new_topic(kafka_broker, thirds[0])
    spark_run = SparkEngine(spark_store, kafka_broker, topic, allowlist, root / "checkpoints")
    for number, part in enumerate(thirds):
        if number:
            produce(kafka_broker, topic, part)
        spark_run.run(final=number == 2, max_per_batch=len(part) // 2 + 1)

    embedded_store = sql_store("embedded", root / "embedded")
    clock = SystemClock()
    alerting, _sink = alerting_for(embedded_store, clock)
    pipeline = EmbeddedPipeline(
        source=KafkaChangeSource(client_config(kafka_broker), topic),
        store=embedded_store,
        bronze=BronzeStage(allowlist=lambda: allowlist, rules=BRONZE_RULES),
        silver=SilverStage(SILVER_RULES),
        gold=GoldStage(embedded_store, GoldSettings()),
        alerting=alerting,
        clock=clock,
        settings=PipelineSettings(batch_rows=500, batch_seconds=600),
    )
    summary = pipeline.run()
    # Spark's tables, read by pyiceberg through the same SQLite catalog.
    spark_tables = sql_store(catalog.name, root / "spark")
    read = {t.name: (list(spark_tables.scan(t.name)), list(embedded_store.scan(t.name))) for t in ALL_TABLES}
    yield {"lines": lines, "spark": spark_run, "summary": summary, "tables": read}


def test_bronze_rows_and_quarantine_reasons_match(engines) -> None:  # type: ignore[no-untyped-def]
    spark_rows, embedded_rows = engines["tables"]["bronze_events"]
    assert {r["meta_id"] for r in spark_rows} == {r["meta_id"] for r in embedded_rows}
    assert len(spark_rows) == len(embedded_rows) > 1000
    spark_q, embedded_q = engines["tables"]["bronze_quarantine"]
    reasons = Counter(tuple(r["reasons"]) for r in spark_q)
    assert reasons == Counter(tuple(r["reasons"]) for r in embedded_q)
    assert ("wiki_format",) in reasons and ("invalid_json",) in reasons
    counts, summary = engines["spark"].bronze.counts, engines["summary"]
    assert (
        (counts.read, counts.filtered_out)
        == (summary.read, summary.filtered_out)
        == (len(engines["lines"]), counts.filtered_out)
    )


def test_silver_rows_have_the_same_ids_and_derived_columns(engines) -> None:  # type: ignore[no-untyped-def]
    spark_rows, embedded_rows = engines["tables"]["silver_events"]
    spark_by_id = {r["meta_id"]: r for r in spark_rows}
    embedded_by_id = {r["meta_id"]: r for r in embedded_rows}
    assert len(spark_by_id) == len(spark_rows)  # no duplicate survived
    assert spark_by_id.keys() == embedded_by_id.keys()
    differences = [
        (meta_id, column, spark_by_id[meta_id][column], embedded_by_id[meta_id][column])
        for meta_id in spark_by_id
        for column in SILVER_DERIVED
        if spark_by_id[meta_id][column] != embedded_by_id[meta_id][column]
    ]
    assert differences == []
    assert sum(r["is_revert"] for r in spark_rows) > 0


def test_silver_quarantine_late_and_duplicates_match(engines) -> None:  # type: ignore[no-untyped-def]
    spark_q, embedded_q = engines["tables"]["silver_quarantine"]
    as_set = Counter((r["meta_id"], tuple(r["reasons"])) for r in spark_q)
    assert as_set == Counter((r["meta_id"], tuple(r["reasons"])) for r in embedded_q)
    reasons = Counter(reason for r in spark_q for reason in r["reasons"])
    assert reasons["late"] > 0 and reasons["user_name_not_null"] == 1
    assert engines["spark"].silver.counts.duplicates == engines["summary"].duplicates > 0


@pytest.mark.parametrize("table", sorted(GOLD_KEYS))
def test_gold_metrics_match(engines, table: str) -> None:  # type: ignore[no-untyped-def]
    spark_rows, embedded_rows = engines["tables"][table]
    key = GOLD_KEYS[table]
    spark_by_key = {tuple(r[k] for k in key): r for r in spark_rows}
    embedded_by_key = {tuple(r[k] for k in key): r for r in embedded_rows}
    assert len(spark_by_key) == len(spark_rows) > 0
    assert spark_by_key.keys() == embedded_by_key.keys()
    differences = [
        (k, column, row[column], embedded_by_key[k][column])
        for k, row in spark_by_key.items()
        for column in row
        if column not in NOT_COMPARED and not same(row[column], embedded_by_key[k][column])
    ]
    assert differences == []


def test_every_spark_batch_wrote_a_quality_metrics_row(engines) -> None:  # type: ignore[no-untyped-def]
    rows, _ = engines["tables"]["quality_metrics"]
    by_layer = Counter(r["layer"] for r in rows)
    spark = engines["spark"]
    assert by_layer["bronze"] == spark.bronze.counts.batches >= 6
    assert by_layer["silver"] == spark.silver.counts.batches == 3
    closes_with_rows = [r for r in spark.gold.results if r.global_rows]
    assert by_layer["gold"] == len(closes_with_rows) >= 1 and len(spark.gold.results) >= 2
    assert {r["engine"] for r in rows} == {"spark"}
    gold_failures = sum(r["total_quality_failed"] for r in engines["tables"]["gold_global_metrics_10min"][0])
    assert gold_failures == 1  # the edit without a user, counted against its window
