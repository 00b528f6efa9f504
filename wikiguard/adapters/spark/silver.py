"""The silver micro-batch on Spark: bronze_events -> silver_events, silver_quarantine, quality_metrics.

Split of the work:
- Executors (`mapInArrow`): re-parse each bronze row and `enrich` it: the domain's derivations.
- Driver: the order-dependent decisions, i.e. dedup on `meta_id` (the domain `Deduplicator`, state
  bounded by its event-time horizon) and lateness (the domain `Watermark`: late when the event's
  window ends at or before `closed_until`). They run over a 5-column projection of the batch in
  Kafka order, exactly as `SilverStage` runs them, so both engines make the same decisions; only the
  rows that are duplicates or late travel back to the executors (a join on the Kafka position).
- Executors again: the silver rules (compiled Spark SQL reasons + Deequ), the writes.

The watermark is committed with the silver rows (`wikiguard.checkpoint.silver.watermark`, the
embedded engine's key), which is also how the gold job learns which windows are closed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from wikiguard.adapters.deequ.verification import verify_batch
from wikiguard.adapters.spark.commits import BatchCommits
from wikiguard.adapters.spark.domain_functions import silver_enricher, silver_schema
from wikiguard.adapters.spark.rule_compiler import reasons_expression, timestamp_literal
from wikiguard.adapters.spark.table_store import SparkTableStore
from wikiguard.application.alerting import Alerting, quality_alert
from wikiguard.application.ports import Clock
from wikiguard.application.quality_gate import quality_metrics_row
from wikiguard.application.silver import LATE, SILVER_STATE, SilverSettings, SilverStage
from wikiguard.application.tables import QUALITY_METRICS, SILVER_EVENTS, SILVER_QUARANTINE
from wikiguard.domain.quality import BatchQuality, RuleSet
from wikiguard.domain.windows import EPOCH

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

JOB = "silver"
DUPLICATE = "duplicate"
_TYPES = {c.name: c.type for c in SILVER_EVENTS.columns}
_POSITION = ["kafka_topic", "kafka_partition", "kafka_offset"]


@attrs.define
class SilverCounts:
    silver_rows: int = 0
    duplicates: int = 0
    late: int = 0
    quarantined: int = 0
    batches: int = 0


@attrs.define
class SparkSilver:
    """Processes one micro-batch of bronze rows; `restore()` once before the query starts."""

    store: SparkTableStore
    rules: RuleSet
    alerting: Alerting
    clock: Clock
    settings: SilverSettings = SilverSettings()
    engine: str = "spark"
    counts: SilverCounts = attrs.field(factory=SilverCounts)
    last_quality: BatchQuality | None = None
    stage: SilverStage = attrs.field(init=False)
    _commits: BatchCommits | None = None

    def __attrs_post_init__(self) -> None:
        # SilverStage holds the state (Deduplicator + Watermark) and its serialisation: one source.
        self.stage = SilverStage(self.rules, self.settings)

    def restore(self) -> None:
        """Watermark from silver's last commit; dedup ids from silver rows within the horizon."""
        from pyspark.sql import functions as F

        stage = self.stage
        stage.restore_watermark(self.store.checkpoint(SILVER_EVENTS.name, SILVER_STATE))
        since = stage.dedup_since()
        if since is not None:
            recent: Any = (
                self.store.spark.table(self.store.name(SILVER_EVENTS.name))
                .where(F.col("event_timestamp") >= F.lit(since))
                .select("meta_id", F.expr("unix_micros(event_timestamp)").alias("t"))
                .toPandas()
            )
            for meta_id, micros in zip(recent["meta_id"], recent["t"], strict=True):
                stage.dedup.remember(meta_id, _at(int(micros)))
        tables = [self.store.name(t.name) for t in (SILVER_QUARANTINE, QUALITY_METRICS, SILVER_EVENTS)]
        self._commits = BatchCommits(self.store.spark, JOB, tables)

    def _decide(self, bronze: DataFrame) -> tuple[list[tuple[Any, ...]], int]:
        """(position + decision) of every duplicate or late row, in Kafka order; and the row count."""
        keys: Any = (
            bronze.select(*_POSITION, "meta_id", "event_timestamp")
            .selectExpr(*_POSITION, "meta_id", "unix_micros(event_timestamp) AS t")
            .orderBy(*_POSITION)
            .toPandas()
        )
        dedup, watermark = self.stage.dedup, self.stage.watermark
        decisions: list[tuple[Any, ...]] = []
        columns = [keys[c].tolist() for c in (*_POSITION, "meta_id", "t")]
        for topic, partition, offset, meta_id, micros in zip(*columns, strict=True):
            moment = _at(micros)
            if not dedup.is_new(meta_id, moment):
                decisions.append((topic, partition, offset, DUPLICATE))
            elif watermark.is_late(moment):
                decisions.append((topic, partition, offset, LATE))
            else:
                watermark.observe(moment)
        return decisions, len(keys)

    def process(self, bronze: DataFrame, batch_id: int) -> None:
        from pyspark.sql import functions as F

        if self._commits is None:
            self.restore()
        assert self._commits is not None
        if self._commits.all_done(batch_id):
            logger.info("silver batch %d already committed everywhere: skipped", batch_id)
            return
        spark = self.store.spark
        now = self.clock.now()
        now_sql = timestamp_literal(now)
        label = f"spark-{JOB}-{batch_id:06d}"
        bronze = bronze.persist()
        try:
            decisions, total = self._decide(bronze)
            if not total:
                return
            decided = spark.createDataFrame(
                decisions, "kafka_topic STRING, kafka_partition INT, kafka_offset BIGINT, decision STRING"
            )
            enriched = bronze.mapInArrow(silver_enricher(self.settings.large_edit_bytes), silver_schema())
            if decisions:
                enriched = enriched.join(F.broadcast(decided), _POSITION, "left_anti")
            kept = (
                enriched.withColumn("batch_id", F.lit(label))
                .select(*SILVER_EVENTS.column_names)
                .withColumn("reasons", F.expr(reasons_expression(self.rules, now, _TYPES)))
                .persist()
            )
            late = bronze.join(F.broadcast(decided.where(F.col("decision") == LATE)), _POSITION, "left_semi")
            self._gate_and_write(kept, late, batch_id=batch_id, label=label, now=now, now_sql=now_sql)
            kept.unpersist()
            self.counts.duplicates += sum(1 for d in decisions if d[3] == DUPLICATE)
        finally:
            bronze.unpersist()

    def _gate_and_write(
        self, kept: DataFrame, late: DataFrame, *, batch_id: int, label: str, now: datetime, now_sql: str
    ) -> None:
        from pyspark.sql import functions as F

        stats = kept.agg(
            F.count("*").alias("rows"),
            F.coalesce(F.sum(F.expr("IF(size(reasons) = 0, 1, 0)")), F.lit(0)).alias("passed"),
            # lags of the passed rows, sorted: p50 as the embedded engine takes it (lags[n // 2])
            F.sort_array(F.expr("collect_list(IF(size(reasons) = 0, processing_lag_seconds, NULL))")).alias(
                "lags"
            ),
        ).first()
        assert stats is not None  # an aggregate without grouping always has one row
        late_rows = late.count()
        rows, passed, lags = int(stats["rows"]), int(stats["passed"]), stats["lags"] or []
        freshness = (lags[len(lags) // 2], lags[-1]) if lags else (None, None)
        verdict = verify_batch(
            self.store.spark, kept, self.rules, rows=rows, passed=passed, reference=now, batch_id=label,
            thresholds=self.settings.thresholds, upstream_failures={LATE: late_rows} if late_rows else None,
            types=_TYPES,
        )  # fmt: skip
        late_q = late.selectExpr(
            "meta_id", "event_data AS record", "'silver' AS layer", f"'{label}' AS batch_id",
            f"array('{LATE}') AS reasons", "kafka_topic AS source_topic", "kafka_partition AS source_partition",
            "kafka_offset AS source_offset", f"{now_sql} AS quarantined_at", "event_timestamp",
            "to_date(event_timestamp) AS event_date",
        )  # fmt: skip
        record = "to_json(struct(" + ", ".join(f"`{c}`" for c in sorted(SILVER_EVENTS.column_names)) + "))"
        failed_q = kept.where("size(reasons) > 0").selectExpr(
            "meta_id", f"{record} AS record", "'silver' AS layer", "batch_id", "reasons",
            "kafka_topic AS source_topic", "kafka_partition AS source_partition", "kafka_offset AS source_offset",
            f"{now_sql} AS quarantined_at", "event_timestamp", "event_date",
        )  # fmt: skip
        commits, store = self._commits, self.store
        assert commits is not None
        commits.append(late_q.unionByName(failed_q), store.name(SILVER_QUARANTINE.name), batch_id)
        metrics = quality_metrics_row(
            verdict.quality, engine=self.engine, measured_at=now,
            freshness_p50_seconds=freshness[0], freshness_max_seconds=freshness[1],
        )  # fmt: skip
        commits.append(
            store.frame(QUALITY_METRICS.name, [metrics]), store.name(QUALITY_METRICS.name), batch_id
        )
        good = kept.where("size(reasons) = 0").select(*SILVER_EVENTS.column_names)
        commits.append(good, store.name(SILVER_EVENTS.name), batch_id, {SILVER_STATE: self.stage.state()})
        c = self.counts
        c.silver_rows += passed
        c.late += late_rows
        c.quarantined += late_rows + rows - passed
        c.batches += 1
        self.last_quality = verdict.quality
        alert = quality_alert(verdict.quality, now=now)
        if alert is not None:
            self.alerting.publish([alert])

    def close_all(self) -> bool:
        """End of a bounded run: close every open window (as the embedded engine does) and commit it."""
        watermark = self.stage.watermark
        before = watermark.closed_until
        watermark.close_all()
        if watermark.closed_until is None or watermark.closed_until == before:
            return False
        self.store.append(SILVER_EVENTS.name, [], {SILVER_STATE: self.stage.state()})
        return True


def _at(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros))
