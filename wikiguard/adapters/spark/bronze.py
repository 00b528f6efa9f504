"""The bronze micro-batch on Spark: Kafka records -> bronze_events, bronze_quarantine, quality_metrics.

Same outcome per record as `wikiguard.application.bronze.BronzeStage`: parsed by the domain code
on the executors (`mapInArrow`), canaries and unwatched pages dropped and counted, unparseable
records quarantined with the parser's reasons, then the bronze rules: per-row reasons from the
compiled Spark SQL, batch constraints from Deequ, the verdict from the domain's gate rule.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from wikiguard.adapters.deequ.verification import verify_batch
from wikiguard.adapters.spark.commits import BatchCommits
from wikiguard.adapters.spark.domain_functions import (
    ACCEPTED,
    CANARY,
    FILTERED,
    REJECTED,
    bronze_parser,
    parsed_schema,
)
from wikiguard.adapters.spark.rule_compiler import reasons_expression, timestamp_literal
from wikiguard.adapters.spark.table_store import SparkTableStore
from wikiguard.application.alerting import Alerting, quality_alert
from wikiguard.application.ports import Clock
from wikiguard.application.quality_gate import quality_metrics_row
from wikiguard.application.tables import BRONZE_EVENTS, BRONZE_QUARANTINE, QUALITY_METRICS
from wikiguard.domain.allowlist import Allowlist
from wikiguard.domain.quality import BatchQuality, GateThresholds, RuleSet

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

JOB = "bronze"
_TYPES = {c.name: c.type for c in BRONZE_EVENTS.columns}


def kafka_columns(df: DataFrame) -> DataFrame:
    """Kafka source rows -> payload + where it came from; the ingest time header wins over the record time."""
    header = "CAST(element_at(filter(headers, h -> h.key = '{0}'), 1).value AS STRING)"
    return df.selectExpr(
        "CAST(value AS STRING) AS payload",
        "topic AS kafka_topic",
        "partition AS kafka_partition",
        "offset AS kafka_offset",
        f"coalesce(CAST({header.format('ingest_time')} AS TIMESTAMP), timestamp) AS ingestion_timestamp",
        f"{header.format('sse_event_id')} AS sse_event_id",
    )


@attrs.define
class BronzeCounts:
    read: int = 0
    filtered_out: int = 0
    canaries: int = 0
    bronze_rows: int = 0
    quarantined: int = 0
    batches: int = 0
    outcomes: Counter[str] = attrs.field(factory=Counter)


@attrs.define
class SparkBronze:
    """Processes one Kafka micro-batch; construct once per query run, call `process` from foreachBatch."""

    store: SparkTableStore
    allowlist: Allowlist
    rules: RuleSet
    alerting: Alerting
    clock: Clock
    thresholds: GateThresholds = GateThresholds()
    engine: str = "spark"
    counts: BronzeCounts = attrs.field(factory=BronzeCounts)
    last_quality: BatchQuality | None = None
    _commits: BatchCommits | None = None

    def commits(self) -> BatchCommits:
        if self._commits is None:
            tables = [self.store.name(t.name) for t in (BRONZE_QUARANTINE, QUALITY_METRICS, BRONZE_EVENTS)]
            self._commits = BatchCommits(self.store.spark, JOB, tables)
        return self._commits

    def process(self, kafka_df: DataFrame, batch_id: int) -> None:
        from pyspark.sql import functions as F

        commits = self.commits()
        if commits.all_done(batch_id):
            logger.info("bronze batch %d already committed everywhere: skipped", batch_id)
            return
        now = self.clock.now()
        label = f"spark-{JOB}-{batch_id:06d}"
        source = kafka_columns(kafka_df)
        passthrough = tuple((f.name, None, f.dataType.simpleString().upper()) for f in source.schema.fields)
        parsed = source.mapInArrow(bronze_parser(self.allowlist), parsed_schema(passthrough)).persist()
        try:
            by_outcome = {
                r["outcome"]: r["n"] for r in parsed.groupBy("outcome").agg(F.count("*").alias("n")).collect()
            }
            if not by_outcome:
                return
            upstream = Counter(
                {
                    r["reason"]: r["n"]
                    for r in parsed.where(F.col("outcome") == REJECTED)
                    .select(F.explode("parse_reasons").alias("reason"))
                    .groupBy("reason")
                    .agg(F.count("*").alias("n"))
                    .collect()
                }
            )
            self._gate_and_write(parsed, by_outcome, upstream, batch_id=batch_id, label=label, now=now)
        finally:
            parsed.unpersist()

    def _gate_and_write(
        self,
        parsed: DataFrame,
        by_outcome: dict[str, int],
        upstream: Counter[str],
        *,
        batch_id: int,
        label: str,
        now: datetime,
    ) -> None:
        from pyspark.sql import functions as F

        now_sql = timestamp_literal(now)
        candidates = (
            parsed.where(F.col("outcome") == ACCEPTED)
            .selectExpr(
                "meta_id",
                "canonical_entity",
                "wiki",
                "event_type",
                "payload AS event_data",
                "event_timestamp",
                "kafka_topic",
                "kafka_partition",
                "kafka_offset",
                "sse_event_id",
                "ingestion_timestamp",
                f"'{label}' AS batch_id",
                "to_date(event_timestamp) AS event_date",
            )
            .withColumn("reasons", F.expr(reasons_expression(self.rules, now, _TYPES)))
            .persist()
        )
        try:
            stats = candidates.agg(
                F.count("*").alias("rows"),
                F.coalesce(F.sum(F.expr("IF(size(reasons) = 0, 1, 0)")), F.lit(0)).alias("passed"),
            ).first()
            assert stats is not None  # an aggregate without grouping always has one row
            rows, passed = int(stats["rows"]), int(stats["passed"])
            verdict = verify_batch(
                self.store.spark, candidates, self.rules, rows=rows, passed=passed, reference=now,
                batch_id=label, thresholds=self.thresholds, upstream_failures=upstream, types=_TYPES,
            )  # fmt: skip
            rejected = parsed.where(F.col("outcome") == REJECTED).selectExpr(
                "meta_id", "payload AS record", "'bronze' AS layer", f"'{label}' AS batch_id",
                "parse_reasons AS reasons", "kafka_topic AS source_topic", "kafka_partition AS source_partition",
                "kafka_offset AS source_offset", f"{now_sql} AS quarantined_at",
                "CAST(NULL AS TIMESTAMP) AS event_timestamp", f"to_date({now_sql}) AS event_date",
            )  # fmt: skip
            failed = candidates.where("size(reasons) > 0").selectExpr(
                "meta_id", "event_data AS record", "'bronze' AS layer", "batch_id", "reasons",
                "kafka_topic AS source_topic", "kafka_partition AS source_partition", "kafka_offset AS source_offset",
                f"{now_sql} AS quarantined_at", "event_timestamp", "event_date",
            )  # fmt: skip
            quarantine = rejected.unionByName(failed).select(*BRONZE_QUARANTINE.column_names)
            commits, store = self.commits(), self.store
            commits.append(quarantine, store.name(BRONZE_QUARANTINE.name), batch_id)
            metrics = quality_metrics_row(verdict.quality, engine=self.engine, measured_at=now)
            commits.append(
                store.frame(QUALITY_METRICS.name, [metrics]), store.name(QUALITY_METRICS.name), batch_id
            )
            good = candidates.where("size(reasons) = 0").select(*BRONZE_EVENTS.column_names)
            commits.append(good, store.name(BRONZE_EVENTS.name), batch_id)
        finally:
            candidates.unpersist()
        c = self.counts
        c.read += sum(by_outcome.values())
        c.filtered_out += by_outcome.get(FILTERED, 0)
        c.canaries += by_outcome.get(CANARY, 0)
        c.bronze_rows += passed
        c.quarantined += by_outcome.get(REJECTED, 0) + rows - passed
        c.batches += 1
        c.outcomes[str(verdict.quality.outcome)] += 1
        self.last_quality = verdict.quality
        alert = quality_alert(verdict.quality, now=now)
        if alert is not None:
            self.alerting.publish([alert])
