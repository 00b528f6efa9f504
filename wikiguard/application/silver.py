"""Silver: deduplicated, enriched events; late events quarantined with the reason `late`.

Every bronze row ends in exactly one of: a silver row, a duplicate (dropped and counted: its first
copy is in silver), or a silver quarantine row with its reasons.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from operator import attrgetter

import attrs
import orjson

from wikiguard.application.checkpoints import Positions, partition_key
from wikiguard.application.ports import Row
from wikiguard.application.quality_gate import quarantine_row, run_gate
from wikiguard.domain.dedup import Deduplicator
from wikiguard.domain.enrichment import DEFAULT_LARGE_EDIT_BYTES, SilverEvent, enrich
from wikiguard.domain.events import Change, Rejection, parse_change
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
    events: list[SilverEvent]
    rows: list[Row]
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

    def process(
        self, items: Sequence[tuple[Row, Change]], *, batch_id: str, now: datetime
    ) -> SilverBatch:
        settings = self.settings
        dedup, watermark = self.dedup, self.watermark
        candidates: list[Row] = []
        events: dict[int, SilverEvent] = {}
        late_rows: list[Row] = []
        positions: Positions = {}
        duplicates = 0
        for bronze, change in items:
            key = partition_key(bronze["kafka_topic"], bronze["kafka_partition"])
            if bronze["kafka_offset"] > positions.get(key, -1):
                positions[key] = bronze["kafka_offset"]
            moment = change.event_timestamp
            if not dedup.is_new(change.meta_id, moment):
                duplicates += 1
                continue
            if watermark.is_late(moment):
                late_rows.append(
                    quarantine_row(
                        layer="silver",
                        batch_id=batch_id,
                        record=bronze["event_data"],
                        reasons=[LATE],
                        quarantined_at=now,
                        meta_id=change.meta_id,
                        source=(bronze["kafka_topic"], bronze["kafka_partition"], bronze["kafka_offset"]),
                        event_timestamp=moment,
                    )
                )
                continue
            watermark.observe(moment)
            event = enrich(
                change,
                canonical_entity=bronze["canonical_entity"],
                ingested_at=bronze["ingestion_timestamp"],
                kafka_topic=bronze["kafka_topic"],
                kafka_partition=bronze["kafka_partition"],
                kafka_offset=bronze["kafka_offset"],
                large_edit_bytes=settings.large_edit_bytes,
            )
            row = silver_row(event, batch_id)
            events[id(row)] = event
            candidates.append(row)
        gate = run_gate(
            self.rules,
            candidates,
            batch_id=batch_id,
            reference=now,
            thresholds=settings.thresholds,
            upstream_failures={LATE: len(late_rows)} if late_rows else None,
        )
        return SilverBatch(
            events=[events[id(row)] for row in gate.passed],
            rows=gate.passed,
            quarantined=late_rows + gate.quarantined,
            duplicates=duplicates,
            late=len(late_rows),
            quality=gate.quality,
            positions=positions,
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
        for row in recent:
            self.dedup.remember(row["meta_id"], row["event_timestamp"])

    def dedup_since(self) -> datetime | None:
        """Silver rows from this event time on are what dedup must remember after a restart."""
        wm = self.watermark
        return None if wm.max_event_time is None else wm.max_event_time - self.settings.dedup_horizon


def change_of(bronze: Row) -> Change:
    """Re-parse a bronze row's raw event (recovery path; bronze only holds rows that parsed)."""
    parsed = parse_change(orjson.loads(bronze["event_data"]))
    if isinstance(parsed, Rejection):  # bronze accepted it once; the parser is deterministic
        raise ValueError(f"bronze row {bronze['meta_id']} no longer parses: {parsed.reason}")
    return parsed


_SILVER_FIELDS = tuple(a.name for a in attrs.fields(SilverEvent))
_silver_values = attrgetter(*_SILVER_FIELDS)  # one C call for every field (attrs.asdict loops in Python)


def silver_row(event: SilverEvent, batch_id: str) -> Row:
    row = dict(zip(_SILVER_FIELDS, _silver_values(event), strict=True))
    row["batch_id"] = batch_id
    return row
