"""Cost of closing gold windows: finalize, judge against the baselines, gate, write.

Builds silver events from the real recording replayed with shifted times (parse_change + enrich, as
silver does; late events dropped by silver's watermark), adds them to a `GoldStage` in batches of
`--batch` events and closes windows as the pipeline does after each batch: up to the newest event
time minus the allowed lateness, floored to the window size (`Watermark.closed_until`); a bounded
run closes the rest at the end. Runs over an in-memory table store and over a local Iceberg
warehouse (or a store that drops rows: the close without storage), pinned to one core, and prints
µs per event added and per gold row written. Times are CPU time of the process (all its threads, on
one core), so other processes on the machine do not count; the close's wall time is printed too.

    python -m benchmarks.bench_gold --events 200000

The steps are timed by wrapping the functions that do them (a call per window or per table, not
per row): finalize is `OpenWindows.close` + `WindowAccumulator.finalize`, judge is `judge_window` +
`BaselineBook.observe`, gate is `run_gate`, write is `write_closed` (checkpoint look-up + append),
other is the rest of `GoldStage.close`.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from wikiguard.adapters.iceberg import schemas
from wikiguard.adapters.iceberg.table_store import IcebergTableStore, local_catalog
from wikiguard.adapters.memory.table_store import InMemoryTableStore
from wikiguard.adapters.simulator import recorded_repeat
from wikiguard.application import gold
from wikiguard.application.ports import TableStore
from wikiguard.application.tables import ALL_TABLES
from wikiguard.domain import baselines, metrics
from wikiguard.domain.allowlist import canonical_entity
from wikiguard.domain.enrichment import SilverEvent, enrich
from wikiguard.domain.events import Rejection, parse_change
from wikiguard.domain.windows import Watermark

RECORDING = (
    Path(__file__).resolve().parents[2]
    / "shared/data/wikimedia/yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHOWN = ("close (wall)", "close", "finalize", "judge", "gate", "write", " rows to Arrow", "other")


def silver_batches(events: int, batch: int) -> list[tuple[list[SilverEvent], datetime | None]]:
    """Batches of silver events with the watermark's `closed_until` after each (the last: close all)."""
    watermark = Watermark()
    out: list[tuple[list[SilverEvent], datetime | None]] = []
    current: list[SilverEvent] = []
    seen = 0
    for record in recorded_repeat(RECORDING, -(-events // 2387), seed=1).records():
        if seen >= events:
            break
        seen += 1
        change = parse_change(orjson.loads(record.payload))
        if isinstance(change, Rejection) or change.is_canary:
            continue
        if watermark.is_late(change.event_timestamp):
            continue  # silver quarantines it as late: not a quality failure, gold never sees it
        watermark.observe(change.event_timestamp)
        current.append(enrich(
            change, canonical_entity=canonical_entity(change.wiki, change.title),
            ingested_at=record.received_at,
            kafka_topic=record.topic, kafka_partition=record.partition, kafka_offset=record.position,
        ))  # fmt: skip
        if len(current) >= batch:
            out.append((current, watermark.closed_until))
            current = []
    watermark.close_all()
    out.append((current, watermark.closed_until))
    return out


class _Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth = 0  # a step is timed once, not again by a step it calls

    def wrap(self, category: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth and not category.startswith(" "):
                return fn(*args, **kwargs)
            self._depth += 1
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[category] += time.process_time() - t0
                self._depth -= 1

        return timed


# (owner, attribute, category): the steps of a close, timed when they exist. A category that starts
# with a space is a part of the step above it (timed inside it, not counted again in the total).
_STEPS = (
    (metrics.OpenWindows, "close", "finalize"),
    (metrics.WindowAccumulator, "finalize", "finalize"),
    (gold, "judge_window", "judge"),
    (baselines.BaselineBook, "observe", "judge"),
    (gold, "run_gate", "gate"),
    (gold, "write_closed", "write"),
    (schemas, "rows_to_arrow", " rows to Arrow"),
)


@functools.cache
def _originals() -> dict[tuple[Any, str], Any]:
    return {(owner, name): getattr(owner, name) for owner, name, _ in _STEPS if hasattr(owner, name)}


def _instrument(timers: _Timers | None) -> None:
    for (owner, name), original in _originals().items():
        category = next(c for o, n, c in _STEPS if o is owner and n == name)
        setattr(owner, name, timers.wrap(category, original) if timers else original)


class _DiscardingStore(InMemoryTableStore):
    """Keeps checkpoints, drops rows: what the close costs without any table store."""

    def append(self, table: str, rows: Any, checkpoint: Mapping[str, str]) -> None:
        super().append(table, [], checkpoint)


def _store(which: str, work: Path) -> TableStore:
    if which == "none":
        return _DiscardingStore(ALL_TABLES)
    if which == "memory":
        return InMemoryTableStore(ALL_TABLES)
    return IcebergTableStore(local_catalog(Path(tempfile.mkdtemp(prefix="iceberg-", dir=work))), ALL_TABLES)


def run(
    store: TableStore, batches: list[tuple[list[SilverEvent], datetime | None]]
) -> tuple[dict[str, float], int, int]:
    """(seconds per step of the closes, events added, gold rows written)."""
    store.ensure_tables()
    stage = gold.GoldStage(store, gold.GoldSettings())
    stage.restore(None)
    timers = _Timers()
    _instrument(timers)
    close_s = wall_s = 0.0
    events = rows = 0
    try:
        for number, (batch, closed_until) in enumerate(batches):
            stage.add(batch)
            events += len(batch)
            if closed_until is None:
                continue
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            result = stage.close(closed_until, batch_id=f"b{number}", now=NOW)
            wall_s += time.perf_counter() - t0
            close_s += time.process_time() - c0
            rows += len(result.entity_rows) + len(result.user_rows) + len(result.global_rows)
            del result  # freed here, not inside the next close's timing
    finally:
        _instrument(None)
    seconds = dict(timers.seconds)
    seconds["other"] = close_s - sum(v for k, v in seconds.items() if not k.startswith(" "))
    seconds["close"] = close_s
    seconds["close (wall)"] = wall_s
    return seconds, events, rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument(
        "--store",
        nargs="+",
        choices=("none", "memory", "iceberg"),
        default=["none", "iceberg"],
        help="none: rows are dropped, checkpoints kept (the close without storage); memory: the "
        "in-memory fake (its row checks cost more than Iceberg's); iceberg: a local warehouse",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per store; the fastest is shown")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    batches = silver_batches(args.events, args.batch)
    work = Path(tempfile.mkdtemp(prefix="wikiguard-bench-gold-"))
    try:
        for label in args.store:
            runs = [run(_store(label, work), batches) for _ in range(args.repeat)]
            seconds, events, rows = min(runs, key=lambda r: r[0]["close"])
            print(
                f"{label}: {events:,} events, {rows:,} gold rows ({rows / events:.3f} per event), "
                f"{len(batches)} closes, fastest of {len(runs)} runs"
            )
            for category in SHOWN:
                s = seconds.get(category, 0.0)
                print(
                    f"  {category:<12} {s:8.3f} s {s / events * 1e6:8.2f} µs/event "
                    f"{s / rows * 1e6:8.2f} µs/row"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
