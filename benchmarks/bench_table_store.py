"""Micro-benchmark of the local Iceberg `TableStore`: append and scan of silver-like rows.

    python -m benchmarks.bench_table_store [--rows 200000] [--batch 50000] [--small-batches 100]

Prints rows/s for: building Arrow from row dicts alone, append (conversion + Parquet + commit), scan
back to dicts, and the fixed cost of one commit measured with small batches.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wikiguard.adapters.iceberg import IcebergTableStore, local_catalog
from wikiguard.adapters.iceberg.schemas import rows_to_arrow
from wikiguard.application.tables import SILVER_EVENTS

START = datetime(2026, 1, 29, 22, 0, tzinfo=UTC)


def silver_rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    rows = []
    for i in range(offset, offset + n):
        at = START + timedelta(milliseconds=20 * i)  # 50 events/s of event time, crossing midnight
        rows.append(
            {
                "meta_id": str(uuid.UUID(int=i)),
                "canonical_entity": f"entity-{i % 40}",
                "wiki": ("enwiki", "dewiki", "wikidatawiki")[i % 3],
                "title": f"Some page title number {i % 5000}",
                "event_type": "edit",
                "namespace": 0 if i % 7 else None,
                "wikimedia_id": 1_800_000_000 + i,
                "user_name": f"User{i % 977}",
                "user_type": "registered",
                "is_bot": i % 11 == 0,
                "is_anonymous": False,
                "is_temporary_account": False,
                "is_minor": i % 2 == 0,
                "comment": "copyedit, fix typo in the second paragraph" if i % 3 else None,
                "has_comment": i % 3 != 0,
                "length_old": 12_000 + i % 300,
                "length_new": 12_050 + i % 290,
                "revision_old": 1_200_000_000 + i,
                "revision_new": 1_200_000_001 + i,
                "bytes_changed": 50 - i % 300 + i % 290,
                "is_large_edit": False,
                "is_revert": i % 50 == 0,
                "log_type": None,
                "event_timestamp": at,
                "ingestion_timestamp": at + timedelta(seconds=2),
                "processing_lag_seconds": 2.0 + (i % 100) / 100,
                "event_date": at.date(),
                "event_hour": at.hour,
                "kafka_topic": "wikiguard.recentchange",
                "kafka_partition": i % 3,
                "kafka_offset": i,
                "batch_id": f"batch-{i // 50_000}",
            }
        )
    return rows


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:>10,.0f} rows/s  ({seconds * 1000:8.1f} ms, {seconds / rows * 1e6:6.2f} us/row)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument(
        "--small-batches", type=int, default=100, help="commits of 1,000 rows for commit latency"
    )
    args = parser.parse_args()

    rows = silver_rows(args.rows)
    batches = [rows[i : i + args.batch] for i in range(0, len(rows), args.batch)]
    with tempfile.TemporaryDirectory() as tmp:
        store = IcebergTableStore(local_catalog(Path(tmp)), [SILVER_EVENTS])
        store.ensure_tables()
        store.append("silver_events", [], {"warm-up": "0"})  # loads and caches the table

        arrow_schema = store._arrow_schemas["silver_events"]  # noqa: SLF001 - measuring the conversion alone
        started = time.perf_counter()
        for batch in batches:
            rows_to_arrow(SILVER_EVENTS, arrow_schema, batch)
        print(f"rows -> Arrow only     {rate(args.rows, time.perf_counter() - started)}")

        started = time.perf_counter()
        for number, batch in enumerate(batches):
            store.append("silver_events", batch, {"bench": str(number)})
        print(f"append ({len(batches)} x {args.batch:,})   {rate(args.rows, time.perf_counter() - started)}")

        started = time.perf_counter()
        scanned = sum(1 for _ in store.scan("silver_events"))
        print(f"scan to dicts          {rate(scanned, time.perf_counter() - started)}")
        assert scanned == args.rows == store.count("silver_events")

        small = silver_rows(1_000, offset=args.rows)
        started = time.perf_counter()
        for number in range(args.small_batches):
            store.append("silver_events", small, {"bench": f"small-{number}"})
        elapsed = time.perf_counter() - started
        print(
            f"append ({args.small_batches} x 1,000)     {rate(1_000 * args.small_batches, elapsed)}"
            f"  -> {elapsed / args.small_batches * 1000:.1f} ms per commit"
        )

        started = time.perf_counter()
        done = store.maintain(datetime.now(UTC) + timedelta(seconds=1))
        print(f"maintain               {(time.perf_counter() - started) * 1000:8.1f} ms  {dict(done)}")
        print(f"checkpoint after maintain: {store.checkpoint('silver_events', 'bench')}")


if __name__ == "__main__":
    main()
