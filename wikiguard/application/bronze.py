"""Bronze: raw events of watched pages, with where they came from; everything else is accounted for.

Every record read ends in exactly one of: filtered out (not watched), canary (Wikimedia's test
events), a bronze row, or a bronze quarantine row with its reasons. A batch is processed as Arrow
columns (ADR 003); the per-event domain functions are the specification the batch functions follow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

import attrs
import pyarrow as pa
import pyarrow.compute as pc

from wikiguard.application.batches.frames import arrow_schema
from wikiguard.application.batches.parse import match_entities, parse_payloads
from wikiguard.application.checkpoints import Positions, last_positions
from wikiguard.application.ports import Row, SourceChunk, payload_text
from wikiguard.application.quality_gate import quarantine_row, run_table_gate
from wikiguard.application.tables import BRONZE_EVENTS
from wikiguard.domain.allowlist import Allowlist
from wikiguard.domain.quality import BatchQuality, GateThresholds, RuleSet

BRONZE_WRITER = "bronze"
BRONZE_SCHEMA = arrow_schema(BRONZE_EVENTS)


@attrs.frozen
class BronzeBatch:
    rows: pa.Table  # bronze_events rows that passed the gate
    changes: pa.Table  # the parsed change of each row in `rows`, same order (the fields of `Change`)
    quarantined: list[Row]
    quality: BatchQuality
    positions: Positions  # where the batch leaves the source: the last position read per partition
    read: int
    filtered_out: int
    canaries: int


@attrs.define
class BronzeStage:
    """Parses, filters on the allowlist, and gates one batch of source records."""

    allowlist: Callable[[], Allowlist]
    rules: RuleSet
    thresholds: GateThresholds = GateThresholds()

    def process(self, chunk: SourceChunk, *, batch_id: str, now: datetime) -> BronzeBatch:
        records = chunk.table()
        parsed = parse_payloads(records.column("payload"))
        changes = parsed.changes
        rejected: list[Row] = []
        upstream: Counter[str] = Counter()
        if parsed.rejections:
            for index, rejection in sorted(parsed.rejections.items()):
                record = records.slice(index, 1).to_pylist()[0]
                upstream.update(rejection.reasons)
                rejected.append(
                    quarantine_row(
                        layer="bronze",
                        batch_id=batch_id,
                        record=payload_text(record["payload"]),
                        reasons=rejection.reasons,
                        quarantined_at=now,
                        meta_id=rejection.meta_id,
                        source=(record["topic"], record["partition"], record["position"]),
                    )
                )
        entity = match_entities(self.allowlist(), changes.column("wiki"), changes.column("title"))
        valid = pc.and_(pc.is_valid(changes.column("meta_id")), pc.invert(parsed.is_canary))
        watched = pc.and_(valid, pc.is_valid(entity))
        canaries = pc.sum(parsed.is_canary).as_py() or 0
        candidates = bronze_table(records, parsed.payloads, changes, entity, batch_id)
        positions = last_positions(candidates)  # every record read has a row here, kept or not
        everything = pc.all(watched).as_py()  # the usual case: no copy of the raw events
        if not everything:
            candidates = candidates.filter(watched)
        filtered = (pc.sum(valid).as_py() or 0) - candidates.num_rows  # valid, not canaries, not watched
        gate = run_table_gate(
            self.rules,
            candidates,
            batch_id=batch_id,
            reference=now,
            thresholds=self.thresholds,
            upstream_failures=upstream,
            upstream_passed=filtered + canaries,
            record_column="event_data",
        )
        kept = changes if everything else changes.filter(watched)
        if gate.kept is not None:
            kept = kept.filter(gate.kept)
        return BronzeBatch(
            rows=gate.passed,
            changes=kept,
            quarantined=rejected + gate.quarantined,
            quality=gate.quality,
            positions=positions,
            read=records.num_rows,
            filtered_out=filtered,
            canaries=canaries,
        )


def bronze_table(
    records: pa.Table, payloads: pa.Array | pa.ChunkedArray, changes: pa.Table, entity: pa.Array, batch_id: str
) -> pa.Table:
    """Every record (`SOURCE_SCHEMA`) as a bronze row (rows of records that did not parse are mostly null)."""
    columns = {
        "meta_id": changes.column("meta_id"),
        "canonical_entity": entity,
        "wiki": changes.column("wiki"),
        "event_type": changes.column("type"),
        "event_data": payloads,
        "event_timestamp": changes.column("event_timestamp"),
        "kafka_topic": records.column("topic"),
        "kafka_partition": records.column("partition"),
        "kafka_offset": records.column("position"),
        "sse_event_id": records.column("event_id"),
        "ingestion_timestamp": records.column("received_at"),
        "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), records.num_rows),
        "event_date": pc.cast(changes.column("event_timestamp"), pa.date32()),
    }
    return pa.Table.from_arrays([columns[f.name] for f in BRONZE_SCHEMA], schema=BRONZE_SCHEMA)
