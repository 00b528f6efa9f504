"""Bronze: raw events of watched pages, with where they came from; everything else is accounted for.

Every record read ends in exactly one of: filtered out (not watched), canary (Wikimedia's test
events), a bronze row, or a bronze quarantine row with its reasons.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs
import orjson

from wikiguard.application.ports import Row, SourceRecord
from wikiguard.application.quality_gate import quarantine_row, run_gate
from wikiguard.domain.allowlist import Allowlist
from wikiguard.domain.events import Change, Rejection, parse_change
from wikiguard.domain.quality import BatchQuality, GateThresholds, RuleSet

BRONZE_WRITER = "bronze"


@attrs.frozen
class BronzeBatch:
    rows: list[Row]  # bronze_events rows that passed the gate
    changes: list[Change]  # the parsed change of each row in `rows`, same order
    quarantined: list[Row]
    quality: BatchQuality
    read: int
    filtered_out: int
    canaries: int


def decode_payload(payload: str) -> Any | Rejection:
    """The JSON value of a payload, or a rejection naming why it is not JSON."""
    if not payload or payload.isspace():  # what `not payload.strip()` says, without copying the payload
        return Rejection(("empty_payload",))
    try:
        # Decoded from bytes: given a str, orjson leaves a UTF-8 copy cached inside it (CPython keeps
        # it with the string), and the payload lives until its batch is written: 1 kB per event.
        return orjson.loads(payload.encode())
    except (orjson.JSONDecodeError, UnicodeEncodeError):  # lone surrogates: orjson refuses them too
        return Rejection(("invalid_json",))


@attrs.define
class BronzeStage:
    """Parses, filters on the allowlist, and gates one batch of source records."""

    allowlist: Callable[[], Allowlist]
    rules: RuleSet
    thresholds: GateThresholds = GateThresholds()

    def process(self, records: Sequence[SourceRecord], *, batch_id: str, now: datetime) -> BronzeBatch:
        allowlist = self.allowlist()
        candidates: list[Row] = []
        changes: dict[int, Change] = {}
        rejected: list[Row] = []
        upstream: Counter[str] = Counter()
        filtered = canaries = 0
        for record in records:
            value = decode_payload(record.payload)
            parsed = value if isinstance(value, Rejection) else parse_change(value)
            if isinstance(parsed, Rejection):
                upstream.update(parsed.reasons)
                rejected.append(
                    quarantine_row(
                        layer="bronze",
                        batch_id=batch_id,
                        record=record.payload,
                        reasons=parsed.reasons,
                        quarantined_at=now,
                        meta_id=parsed.meta_id,
                        source=(record.topic, record.partition, record.position),
                    )
                )
                continue
            if parsed.is_canary:
                canaries += 1
                continue
            entity = allowlist.match(parsed.wiki, parsed.title)
            if entity is None:
                filtered += 1
                continue
            row = bronze_row(parsed, record, entity=entity, batch_id=batch_id)
            changes[id(row)] = parsed
            candidates.append(row)
        gate = run_gate(
            self.rules,
            candidates,
            batch_id=batch_id,
            reference=now,
            thresholds=self.thresholds,
            upstream_failures=upstream,
            upstream_passed=filtered + canaries,
            record_of=lambda row: str(row["event_data"]),
        )
        return BronzeBatch(
            rows=gate.passed,
            changes=[changes[id(row)] for row in gate.passed],
            quarantined=rejected + gate.quarantined,
            quality=gate.quality,
            read=len(records),
            filtered_out=filtered,
            canaries=canaries,
        )


def bronze_row(change: Change, record: SourceRecord, *, entity: str, batch_id: str) -> Row:
    return {
        "meta_id": change.meta_id,
        "canonical_entity": entity,
        "wiki": change.wiki,
        "event_type": change.type,
        "event_data": record.payload,
        "event_timestamp": change.event_timestamp,
        "kafka_topic": record.topic,
        "kafka_partition": record.partition,
        "kafka_offset": record.position,
        "sse_event_id": record.event_id,
        "ingestion_timestamp": record.received_at,
        "batch_id": batch_id,
        "event_date": change.event_timestamp.date(),
    }


def locate(row: Row) -> tuple[str, int, int]:
    """Where a bronze or quarantine row came from in bronze's input."""
    if "kafka_topic" in row:
        return row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]
    return row["source_topic"], row["source_partition"], row["source_offset"]
