"""Silver: deduplicated, enriched events; late events quarantined with the reason `late`.

Every bronze row ends in exactly one of: a silver row, a duplicate (dropped and counted: its first
copy is in silver), or a silver quarantine row with its reasons.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import compress

import attrs
import pyarrow as pa

from wikiguard.application.batches.enrich import enrich_batch
from wikiguard.application.batches.frames import column_values, rows_of
from wikiguard.application.batches.parse import parse_payloads
from wikiguard.application.bronze import BRONZE_SCHEMA
from wikiguard.application.checkpoints import Positions, last_positions, locate
from wikiguard.application.ports import Row
from wikiguard.application.quality_gate import quarantine_row, run_table_gate
from wikiguard.domain.dedup import Deduplicator
from wikiguard.domain.enrichment import DEFAULT_LARGE_EDIT_BYTES
from wikiguard.domain.quality import BatchQuality, GateThresholds, RuleSet
from wikiguard.domain.windows import Watermark

SILVER_WRITER = "silver"
SILVER_STATE = "silver.watermark"
LATE = "late"


@attrs.frozen
class SilverSettings:
    dedup_horizon: timedelta = timedelta(hours=1)
    allowed_lateness: timedelta = timedelta(minutes=5)
    window: timedelta = timedelta(minutes=10)
    large_edit_bytes: int = DEFAULT_LARGE_EDIT_BYTES
    thresholds: GateThresholds = GateThresholds()


@attrs.frozen
class SilverBatch:
    rows: pa.Table  # silver_events rows that passed the gate
    quarantined: list[Row]
    duplicates: int
    late: int
    quality: BatchQuality
    positions: Positions  # bronze input positions this batch covers


@attrs.define
class SilverStage:
    """Turns bronze rows (with their parsed changes) into silver events, keeping dedup and watermark state."""

    rules: RuleSet
    settings: SilverSettings = SilverSettings()
    dedup: Deduplicator = attrs.field(init=False)
    watermark: Watermark = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.dedup = Deduplicator(self.settings.dedup_horizon)
        self.watermark = Watermark(self.settings.allowed_lateness, self.settings.window)

    def process(self, bronze: pa.Table, changes: pa.Table, *, batch_id: str, now: datetime) -> SilverBatch:
        """`bronze`: bronze_events rows in arrival order; `changes`: the parsed change of each (same order)."""
        settings = self.settings
        moments = column_values(changes.column("event_timestamp"))
        # Dedup first for the whole batch: its answers do not depend on the watermark's.
        fresh = self.dedup.are_new(changes.column("meta_id").to_pylist(), moments)
        duplicates = fresh.count(False)
        watermark = self.watermark
        is_late, observe = watermark.is_late, watermark.observe
        newest = watermark.max_event_time
        kept: list[int] = []
        late: list[int] = []
        for index, moment in compress(enumerate(moments), fresh):
            if is_late(moment):
                late.append(index)
                continue
            if newest is None or moment > newest:  # else `observe` would change nothing
                observe(moment)
                newest = watermark.max_event_time
            kept.append(index)
        late_rows = [
            quarantine_row(
                layer="silver",
                batch_id=batch_id,
                record=row["event_data"],
                reasons=[LATE],
                quarantined_at=now,
                meta_id=row["meta_id"],
                source=locate(row),
                event_timestamp=moments[index],
            )
            for index, row in zip(late, rows_of(bronze.take(pa.array(late, pa.int64()))), strict=True)
        ]
        source = bronze.select(_FROM_BRONZE)  # not the raw events: taking them would copy every one
        if len(kept) < bronze.num_rows:
            taken = pa.array(kept, pa.int64())
            source, changes = source.take(taken), changes.take(taken)
        candidates = silver_table(source, changes, batch_id, settings.large_edit_bytes)
        gate = run_table_gate(
            self.rules,
            candidates,
            batch_id=batch_id,
            reference=now,
            thresholds=settings.thresholds,
            upstream_failures={LATE: len(late)} if late else None,
        )
        return SilverBatch(
            rows=gate.passed,
            quarantined=late_rows + gate.quarantined,
            duplicates=duplicates,
            late=len(late),
            quality=gate.quality,
            positions=last_positions(bronze),
        )

    def state(self) -> str:
        """The watermark, committed with silver's rows under `SILVER_STATE`."""
        wm = self.watermark
        return json.dumps(
            {
                "max_event_time": wm.max_event_time.isoformat() if wm.max_event_time else None,
                "closed_until": wm.closed_until.isoformat() if wm.closed_until else None,
            },
            sort_keys=True,
        )

    def restore_watermark(self, state: str | None) -> None:
        if not state:
            return
        data = json.loads(state)
        wm = self.watermark
        if data.get("max_event_time"):
            wm.max_event_time = datetime.fromisoformat(data["max_event_time"])
        if data.get("closed_until"):
            wm.closed_until = datetime.fromisoformat(data["closed_until"])

    def remember(self, recent: Iterable[Row]) -> None:
        """Restore dedup state from silver rows written before a restart."""
        remember = self.dedup.remember
        for row in recent:
            remember(row["meta_id"], row["event_timestamp"])

    def dedup_since(self) -> datetime | None:
        """Silver rows from this event time on are what dedup must remember after a restart."""
        wm = self.watermark
        return None if wm.max_event_time is None else wm.max_event_time - self.settings.dedup_horizon


_FROM_BRONZE = ("canonical_entity", "ingestion_timestamp", "kafka_topic", "kafka_partition", "kafka_offset")


def silver_table(bronze: pa.Table, changes: pa.Table, batch_id: str, large_edit_bytes: int) -> pa.Table:
    """Silver rows of bronze rows (at least their `_FROM_BRONZE` columns) and their parsed changes:
    enriched, stamped with the batch."""
    enriched = enrich_batch(
        changes,
        canonical_entity=bronze.column("canonical_entity"),
        ingested_at=bronze.column("ingestion_timestamp"),
        kafka_topic=bronze.column("kafka_topic"),
        kafka_partition=bronze.column("kafka_partition"),
        kafka_offset=bronze.column("kafka_offset"),
        large_edit_bytes=large_edit_bytes,
    )
    return enriched.append_column("batch_id", pa.repeat(pa.scalar(batch_id, pa.string()), bronze.num_rows))


def parsed_bronze(rows: Sequence[Row]) -> tuple[pa.Table, pa.Table]:
    """Bronze rows read back from the table, with their raw events parsed again (recovery, reprocess).
    Bronze only holds rows that parsed, and the parser is deterministic."""
    bronze = pa.Table.from_pylist(list(rows), schema=BRONZE_SCHEMA)
    parsed = parse_payloads(bronze.column("event_data"))
    if parsed.rejections:
        index, rejection = min(parsed.rejections.items())
        raise ValueError(f"bronze row {rows[index]['meta_id']} no longer parses: {rejection.reason}")
    return bronze, parsed.changes
