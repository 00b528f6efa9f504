"""The embedded engine: the whole medallion pipeline in one process, batch by batch.

Each stage commits its rows with its input position in the same Iceberg commit, so a restart resumes
every stage where its own tables say it stopped: bronze from the source, silver from bronze, gold
from silver. A bounded run closes its open windows at the end.
"""

from __future__ import annotations

import functools
import gc
import heapq
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import attrs
import pyarrow as pa

from wikiguard.application import checkpoints
from wikiguard.application.alerting import Alerting, anomaly_alert, freshness_alert, quality_alert
from wikiguard.application.bronze import BRONZE_WRITER, BronzeBatch, BronzeStage
from wikiguard.application.checkpoints import locate
from wikiguard.application.gold import GoldStage
from wikiguard.application.ports import ChangeSource, Clock, Row, SourceChunk, TableStore
from wikiguard.application.quality_gate import quality_metrics_row
from wikiguard.application.silver import SILVER_STATE, SILVER_WRITER, SilverBatch, SilverStage, parsed_bronze
from wikiguard.application.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    QUALITY_METRICS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)
from wikiguard.domain.alerts import Alert
from wikiguard.domain.quality import BatchQuality

logger = logging.getLogger(__name__)


@attrs.frozen
class PipelineSettings:
    batch_rows: int = 50_000  # an Iceberg commit at most every this many records...
    batch_seconds: float = 30.0  # ...or this often, whichever comes first
    max_events: int | None = None
    duration_seconds: float | None = None
    maintain_every_batches: int = 200
    snapshot_retention: timedelta = timedelta(hours=6)
    progress_seconds: float = 10.0
    engine: str = "embedded"
    freshness_objective_seconds: float = 900.0


@attrs.define
class RunSummary:
    """What a run did; the bronze line adds up: read = filtered + canaries + bronze + quarantined."""

    read: int = 0
    filtered_out: int = 0
    canaries: int = 0
    bronze_rows: int = 0
    bronze_quarantined: int = 0
    silver_rows: int = 0
    duplicates: int = 0
    silver_quarantined: int = 0
    gold_entity_rows: int = 0
    gold_user_rows: int = 0
    gold_global_rows: int = 0
    gold_quarantined: int = 0
    batches: int = 0
    alerts_sent: int = 0
    alerts_suppressed: int = 0
    quarantine_reasons: Counter[str] = attrs.field(factory=Counter)
    outcomes: Counter[str] = attrs.field(factory=Counter)
    anomalies: list[tuple[int, str]] = attrs.field(factory=list)  # (risk score, explanation line)
    stage_seconds: dict[str, float] = attrs.field(factory=dict)
    closed_until_at_start: datetime | None = None  # the windows an earlier run on this warehouse closed

    @property
    def balanced(self) -> bool:
        return self.read == self.filtered_out + self.canaries + self.bronze_rows + self.bronze_quarantined


def quarantine_reasons(rows: Sequence[Row]) -> Counter[str]:
    return Counter(reason for row in rows for reason in row["reasons"])


@contextmanager
def collector_paused() -> Iterator[Callable[[], object]]:
    """Pause the cyclic garbage collector while batches are read and processed: it would traverse each
    batch's objects (a few per event, alive until the batch is committed) every time its generations
    fill, a fifth of the run time. They form no cycles and go by reference counting. Yields what to
    call between batches: a collection of the young generations, so the cycles made meanwhile (by
    the libraries) do not pile up. Nothing changes when the collector was off already."""
    if not gc.isenabled():
        yield lambda: None
        return
    gc.disable()
    try:
        yield functools.partial(gc.collect, 1)
    finally:
        gc.enable()


@attrs.define
class EmbeddedPipeline:
    """Runs source -> bronze -> silver -> gold (+ gates and alerts) in one process."""

    source: ChangeSource
    store: TableStore
    bronze: BronzeStage
    silver: SilverStage
    gold: GoldStage
    alerting: Alerting
    clock: Clock
    settings: PipelineSettings = PipelineSettings()
    on_progress: Callable[[RunSummary], None] | None = None
    summary: RunSummary = attrs.field(factory=RunSummary)
    _batch_no: int = 0
    _stopping: bool = False

    def run(self) -> RunSummary:
        self.store.ensure_tables()
        resume = self._recover()
        deadline = None if self.settings.duration_seconds is None else time.monotonic() + self.settings.duration_seconds
        last_progress = time.monotonic()
        # A quiet or unreachable live source yields nothing to check the deadline on: stop it by the clock.
        timer = None if deadline is None else threading.Timer(self.settings.duration_seconds or 0.0, self.stop)
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            with collector_paused() as between_batches:
                for batch in self._batches(self.source.chunks(resume), deadline):
                    self._process(batch)  # empties it
                    between_batches()
                    if self.on_progress and time.monotonic() - last_progress >= self.settings.progress_seconds:
                        self.on_progress(self.summary)
                        last_progress = time.monotonic()
        finally:
            if timer is not None:
                timer.cancel()
            self.source.close()
        self._close_open_windows()
        return self.summary

    def stop(self) -> None:
        """End the run gracefully (from a signal handler or another thread): the records read so far
        are committed, open windows are closed, and `run` returns its summary."""
        self._stopping = True
        self.source.close()

    # -- recovery -------------------------------------------------------------------------
    def _recover(self) -> checkpoints.Positions:
        """Bring silver and gold up to bronze's committed state; return the source positions to resume after."""
        store = self.store
        bronze_pos = checkpoints.lowest(store, [BRONZE_QUARANTINE.name, BRONZE_EVENTS.name], BRONZE_WRITER)
        silver_pos = checkpoints.lowest(store, [SILVER_QUARANTINE.name, SILVER_EVENTS.name], SILVER_WRITER)
        self.silver.restore_watermark(store.checkpoint(SILVER_EVENTS.name, SILVER_STATE))
        self.summary.closed_until_at_start = self.silver.watermark.closed_until
        since = self.silver.dedup_since()
        if since is not None:
            self.silver.remember(store.scan(SILVER_EVENTS.name, at_least=("event_timestamp", since)))
        self.gold.restore(self.silver.watermark.closed_until)
        # Bronze rows committed before a crash that silver never saw.
        lowest_offset = min(silver_pos.values(), default=-1)
        missed = [
            row
            for row in store.scan(BRONZE_EVENTS.name, at_least=("kafka_offset", lowest_offset + 1))
            if checkpoints.is_beyond(silver_pos, *locate(row))
        ]
        if missed:
            logger.info("recovering %d bronze rows silver had not processed", len(missed))
            self._silver_and_gold(*parsed_bronze(in_arrival_order(missed)), self._next_batch_id())
        return bronze_pos

    # -- batches --------------------------------------------------------------------------
    def _batches(self, chunks: Iterator[SourceChunk], deadline: float | None) -> Iterator[list[SourceChunk]]:
        """Batches of `batch_rows` records, or of what `batch_seconds` brought; the last one ends at
        `max_events`, at the deadline or when the run is stopped (a chunk's records beyond that are
        not taken: they stay uncommitted, for the next run). Runs once per chunk the source gives (a
        record, or many): its tests are one clock reading and a few comparisons.

        Each batch comes in a list of one, which `_process` empties: then nothing else holds the
        batch's records once bronze has them (neither this generator nor the caller's loop)."""
        settings = self.settings
        monotonic = time.monotonic
        left = math.inf if settings.max_events is None else settings.max_events
        end = math.inf if deadline is None else deadline
        rows, seconds = settings.batch_rows, settings.batch_seconds
        pending: list[SourceChunk] = []
        size = 0
        due = min(monotonic() + seconds, end)  # when the open batch goes, by the clock
        for chunk in chunks:
            if len(chunk) > left:
                chunk = chunk.split(int(left))[0]
            pending.append(chunk)
            size += len(chunk)
            left -= len(chunk)
            del chunk
            while size >= rows:  # a chunk may fill more than one batch
                first, rest = SourceChunk.concat(pending).split(rows)
                pending, size = ([rest] if len(rest) else []), size - rows
                box = [first]
                del first
                yield box
                if self._stopping or monotonic() >= end:
                    return
                due = min(monotonic() + seconds, end)
            now = monotonic()
            if now >= due or left <= 0 or self._stopping:
                if size:  # (a source may give an empty chunk; an empty batch is no batch)
                    box, pending, size = [SourceChunk.concat(pending)], [], 0
                    yield box
                if self._stopping or left <= 0 or now >= end:
                    return
                due = min(monotonic() + seconds, end)
        if size:
            box, pending = [SourceChunk.concat(pending)], []
            yield box

    def _next_batch_id(self) -> str:
        self._batch_no += 1
        return f"{self.clock.now().strftime('%Y%m%dT%H%M%S')}-{self._batch_no:06d}"

    def _process(self, batch: list[SourceChunk]) -> None:
        """Run one batch (a list of one chunk, which this empties) through every stage."""
        chunk = batch.pop()
        batch_id = self._next_batch_id()
        now = self.clock.now()
        t0 = time.perf_counter()
        bronze = self.bronze.process(chunk, batch_id=batch_id, now=now)
        # Bronze holds what is left of the records (their raw text once, in Arrow): let them go now,
        # not when the batch is done.
        del chunk
        t1 = time.perf_counter()
        self._commit_bronze(bronze, now)
        t2 = time.perf_counter()
        self._time("bronze", t1 - t0)
        self._time("bronze_commit", t2 - t1)
        self._silver_and_gold(bronze.rows, bronze.changes, batch_id)
        self.summary.batches += 1
        if self.summary.batches % self.settings.maintain_every_batches == 0:
            self.store.maintain(now - self.settings.snapshot_retention)

    def _commit_bronze(self, bronze: BronzeBatch, now: datetime) -> None:
        write = functools.partial(
            checkpoints.write_beyond, self.store, key=BRONZE_WRITER, positions=bronze.positions
        )
        write(BRONZE_QUARANTINE.name, bronze.quarantined)
        self._record_quality(bronze.quality, now, BRONZE_WRITER, bronze.positions)
        write(BRONZE_EVENTS.name, bronze.rows)
        s = self.summary
        s.read += bronze.read
        s.filtered_out += bronze.filtered_out
        s.canaries += bronze.canaries
        s.bronze_rows += len(bronze.rows)
        s.bronze_quarantined += len(bronze.quarantined)
        s.quarantine_reasons.update(quarantine_reasons(bronze.quarantined))

    def _silver_and_gold(self, bronze: pa.Table, changes: pa.Table, batch_id: str) -> None:
        if not bronze.num_rows:
            return
        now = self.clock.now()
        t0 = time.perf_counter()
        silver = self.silver.process(bronze, changes, batch_id=batch_id, now=now)
        t1 = time.perf_counter()
        self._commit_silver(silver, now)
        t2 = time.perf_counter()
        self.gold.add_table(silver.rows)
        self.gold.add_quality_failures(silver.quarantined)
        t3 = time.perf_counter()
        self._time("silver", t1 - t0)
        self._time("silver_commit", t2 - t1)
        self._time("gold", t3 - t2)
        closed = self.silver.watermark.closed_until
        gold_done = self.gold.checkpoint()
        if closed is not None and (gold_done is None or closed > gold_done):
            self._close_gold(closed, batch_id, now)

    def _commit_silver(self, silver: SilverBatch, now: datetime) -> None:
        write = functools.partial(
            checkpoints.write_beyond, self.store, key=SILVER_WRITER, positions=silver.positions
        )
        write(SILVER_QUARANTINE.name, silver.quarantined)
        lags = sorted(silver.rows.column("processing_lag_seconds").to_pylist())
        if lags:
            p50, worst = lags[len(lags) // 2], lags[-1]
            self._record_quality(silver.quality, now, SILVER_WRITER, silver.positions, (p50, worst))
            late = freshness_alert(
                layer="silver",
                batch_id=silver.quality.batch_id,
                p50_seconds=p50,
                max_seconds=worst,
                objective_seconds=self.settings.freshness_objective_seconds,
                now=now,
            )
            self._publish([late] if late else [])
        else:
            self._record_quality(silver.quality, now, SILVER_WRITER, silver.positions)
        write(SILVER_EVENTS.name, silver.rows, extra={SILVER_STATE: self.silver.state()})
        s = self.summary
        s.silver_rows += len(silver.rows)
        s.duplicates += silver.duplicates
        s.silver_quarantined += len(silver.quarantined)
        s.quarantine_reasons.update(quarantine_reasons(silver.quarantined))

    def _close_gold(self, closed_until: datetime, batch_id: str, now: datetime) -> None:
        t0 = time.perf_counter()
        result = self.gold.close(closed_until, batch_id=batch_id, now=now)
        self._time("gold_close", time.perf_counter() - t0)
        s = self.summary
        s.gold_entity_rows += len(result.entity_rows)
        s.gold_user_rows += len(result.user_rows)
        s.gold_global_rows += len(result.global_rows)
        s.gold_quarantined += result.quarantined
        s.outcomes[f"gold:{result.quality.outcome}"] += 1
        alerts = [anomaly_alert(a, now=now) for a in result.anomalies]
        s.anomalies.extend((a.risk_score, f"{a.subject} [{a.window.start:%Y-%m-%d %H:%M}] {a.explanation}")
                           for a in result.anomalies)
        s.anomalies.sort(key=lambda x: -x[0])
        del s.anomalies[20:]
        gate_alert = quality_alert(result.quality, now=now)
        self._publish([a for a in [*alerts, gate_alert] if a is not None])

    def _time(self, stage: str, seconds: float) -> None:
        times = self.summary.stage_seconds
        times[stage] = times.get(stage, 0.0) + seconds

    def _record_quality(
        self,
        quality: BatchQuality,
        now: datetime,
        writer: str,
        positions: checkpoints.Positions,
        freshness: tuple[float | None, float | None] = (None, None),
    ) -> None:
        self.summary.outcomes[f"{quality.layer}:{quality.outcome}"] += 1
        row = quality_metrics_row(
            quality,
            engine=self.settings.engine,
            measured_at=now,
            freshness_p50_seconds=freshness[0],
            freshness_max_seconds=freshness[1],
        )
        checkpoints.write_once(self.store, QUALITY_METRICS.name, [row], key=writer, positions=positions)
        alert = quality_alert(quality, now=now)
        if alert is not None:
            self._publish([alert])

    def _publish(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        report = self.alerting.publish(alerts)
        self.summary.alerts_sent += len(report.sent)
        self.summary.alerts_suppressed += len(report.suppressed)

    def _close_open_windows(self) -> None:
        wm = self.silver.watermark
        before = wm.closed_until
        wm.close_all()
        if wm.closed_until is None or wm.closed_until == before and self.gold.checkpoint() == before:
            return
        # Persist the closed watermark so a later run treats these windows as closed.
        self.store.append(SILVER_EVENTS.name, [], {SILVER_STATE: self.silver.state()})
        self._close_gold(wm.closed_until, self._next_batch_id(), self.clock.now())


def in_arrival_order(rows: list[Row]) -> list[Row]:
    """Bronze rows in offset order within each partition, partitions merged by ingestion time,
    so a re-read after a crash meets silver's watermark the way the first read did."""
    partitions: dict[tuple[str, int], list[Row]] = {}
    for row in rows:
        partitions.setdefault((row["kafka_topic"], row["kafka_partition"]), []).append(row)
    ordered = [sorted(part, key=lambda r: r["kafka_offset"]) for _, part in sorted(partitions.items())]
    return list(heapq.merge(*ordered, key=lambda r: r["ingestion_timestamp"]))
