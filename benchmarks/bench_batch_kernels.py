"""Batch enrichment and the batch quality gate (ADR 003) against the per-event functions they follow.

Takes --events changes of the 2,387-event recording (lines repeated, parsed with orjson and
`parse_change`), pinned to one CPU with one Arrow thread, and prints CPU us/event, the best of
--repeat rounds (each round runs every measurement once, so a busy machine weighs on all alike), for:
- `enrich` per change against `enrich_batch` on the table of the changes;
- `RuleSet.evaluate` on rows against `evaluate_batch` on an Arrow table of the same rows, for the
  bronze rules (rows as the per-event bronze stage made them) and the silver rules (rows of the
  enriched table with its batch id).
Each batch result is first checked against the per-event one.

    python -m benchmarks.bench_batch_kernels --events 50000
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import orjson
import pyarrow as pa

from benchmarks.cpu import one_core, rounds
from wikiguard.application.batches.enrich import enrich_batch
from wikiguard.application.batches.frames import CHANGE_SCHEMA, TIMESTAMP, arrow_schema, rows_of
from wikiguard.application.batches.gate import evaluate_batch
from wikiguard.application.ports import SourceRecord
from wikiguard.application.tables import BRONZE_EVENTS
from wikiguard.domain.enrichment import enrich
from wikiguard.domain.events import Change, parse_change
from wikiguard.domain.quality import RuleSet
from wikiguard.domain.rulesets import BRONZE_RULES, SILVER_RULES

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wikimedia"
RECORDING = DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
BATCH_ID = "bench"


def bronze_row(change: Change, record: SourceRecord, entity: str) -> dict[str, Any]:
    """A bronze_events row as the per-event engine made it."""
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
        "batch_id": BATCH_ID,
        "event_date": change.event_timestamp.date(),
    }


def gate_both_ways(rules: RuleSet, rows: list[dict[str, Any]], table: pa.Table, **options: Any) -> None:
    """The batch gate gives the per-row gate's answers (checked once, before timing)."""
    per_row, quality = rules.evaluate(rows, batch_id=BATCH_ID, **options)
    assert evaluate_batch(rules, table, batch_id=BATCH_ID, **options) == (
        {i: reasons for i, reasons in enumerate(per_row) if reasons},
        quality,
    )


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--events", type=int, default=50_000)
    cli.add_argument("--repeat", type=int, default=7)
    args = cli.parse_args()
    one_core()

    lines = [line for line in RECORDING.read_text(encoding="utf-8").splitlines() if line.strip()]
    records: list[tuple[str, Change]] = []
    for line in lines:
        parsed = parse_change(orjson.loads(line))
        if isinstance(parsed, Change):
            records.append((line, parsed))
    records = (records * (args.events // len(records) + 1))[: args.events]
    n = len(records)
    changes = [change for _, change in records]
    received = max(c.event_timestamp for c in changes) + timedelta(seconds=30)
    entities = [f"{c.wiki}:{c.title}" for c in changes]
    sources = [SourceRecord(payload=line, position=i, received_at=received) for i, (line, _) in enumerate(records)]

    # Per event: what SilverStage does for one change.
    def enrich_each() -> list[Any]:
        return [
            enrich(c, canonical_entity=e, ingested_at=s.received_at, kafka_topic=s.topic,
                   kafka_partition=s.partition, kafka_offset=s.position)
            for c, e, s in zip(changes, entities, sources, strict=True)
        ]  # fmt: skip

    table = pa.Table.from_pylist([attrs.asdict(c, recurse=False) for c in changes], schema=CHANGE_SCHEMA)
    columns = {
        "canonical_entity": pa.array(entities, pa.string()),
        "ingested_at": pa.array([s.received_at for s in sources], TIMESTAMP),
        "kafka_topic": pa.array([s.topic for s in sources], pa.string()),
        "kafka_partition": pa.array([s.partition for s in sources], pa.int32()),
        "kafka_offset": pa.array([s.position for s in sources], pa.int64()),
    }
    events = enrich_each()
    enriched = enrich_batch(table, **columns)
    assert enriched.to_pylist() == [attrs.asdict(event) for event in events]

    bronze_rows = [bronze_row(c, s, e) for c, s, e in zip(changes, sources, entities, strict=True)]
    bronze_table = pa.Table.from_pylist(bronze_rows, schema=arrow_schema(BRONZE_EVENTS))
    silver_table = enriched.append_column("batch_id", pa.array([BATCH_ID] * n, pa.string()))
    silver_rows = rows_of(silver_table)
    bronze_gate = {"reference": received, "upstream_failures": {"invalid_json": 3}, "upstream_passed": 10}
    silver_gate = {"reference": received}
    gate_both_ways(BRONZE_RULES, bronze_rows, bronze_table, **bronze_gate)
    gate_both_ways(SILVER_RULES, silver_rows, silver_table, **silver_gate)

    seconds = rounds(
        {
            "enrich per change": enrich_each,
            "enrich_batch": lambda: enrich_batch(table, **columns),
            "bronze: RuleSet.evaluate on rows": lambda: BRONZE_RULES.evaluate(
                bronze_rows, batch_id=BATCH_ID, **bronze_gate
            ),
            "bronze: evaluate_batch": lambda: evaluate_batch(BRONZE_RULES, bronze_table, batch_id=BATCH_ID, **bronze_gate),
            "silver: RuleSet.evaluate on rows": lambda: SILVER_RULES.evaluate(
                silver_rows, batch_id=BATCH_ID, **silver_gate
            ),
            "silver: evaluate_batch": lambda: evaluate_batch(SILVER_RULES, silver_table, batch_id=BATCH_ID, **silver_gate),
        },
        args.repeat,
    )
    print(f"{n:,} changes of {RECORDING.name}; one CPU, one Arrow thread; CPU time, best of {args.repeat}")
    for name, s in seconds.items():
        print(f"{name:<40}{s / n * 1e6:6.2f} us/event")
    print(
        f"the batch results equal the per-event ones; {sum(e.is_revert for e in events):,} reverts, "
        f"{sum(e.is_anonymous for e in events):,} anonymous, {len(table.column('user_name').unique()):,} distinct users"
    )


if __name__ == "__main__":
    main()
