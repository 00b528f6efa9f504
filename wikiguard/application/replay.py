"""Replay: move a layer back to an earlier point so that the next `wikiguard run` recomputes it.

A replay deletes a layer's rows from that point on and moves the layer's checkpoints back in the
same commit, table by table; the embedded pipeline then recomputes exactly what went: bronze re-reads
its source after bronze's position, silver re-reads the bronze rows beyond silver's position
(`EmbeddedPipeline._recover`), gold reopens the windows from its `closed_until`.

The rules that keep the layers consistent:
- Downstream follows. A bronze replay rewinds silver to the same positions; any silver rewind
  rewinds gold to silver's rebuilt `closed_until` (or to the first window a deleted silver row was
  counted in, if earlier), so that no window silver would still accept is closed in gold and no
  gold window counts a deleted row (gold's `restore` then recounts those windows from silver).
- Silver's positions are bronze offsets, so silver is rewound by offset, never by event time. "Since
  a date" becomes, per partition, the first offset that holds an event of that date; everything
  silver derived from that offset on goes (interleaved older events too) and is rebuilt from bronze
  in offset order, through dedup: silver never holds a meta_id twice.
- Silver's watermark is rebuilt from the rows that remain: the newest event time silver accepted
  (late rows never moved it) minus the allowed lateness, as a continuous stream had it at that
  position. Windows that the end of an earlier bounded run closed early are thereby reopened. A
  replay to a snapshot uses the watermark recorded in that snapshot instead.
- Steps run downstream first (gold, then silver, then bronze), each table in one commit whose rows
  and checkpoint agree: an interrupted replay leaves consistent tables, and running it again
  finishes it. A step is planned only where a checkpoint is beyond its target, so a second run of
  the same replay plans nothing.
- One partition (a recording, the simulator, SSE) replays exactly: the next run rebuilds the same
  tables as one uninterrupted run. With several Kafka partitions the cross-partition order silver
  saw is not reproducible, and a partition replayed alone meets a watermark the other partitions
  moved on: its events can turn late. Nothing is lost or doubled, gold matches silver; replay every
  partition from the same moment to keep events on time.
`quality_metrics` keeps its rows: it is the log of every gate verdict, and a replay's batches add
theirs. Never replay while a pipeline runs on the same tables: its in-memory state would be stale.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import attrs

from wikiguard.application import checkpoints
from wikiguard.application.bronze import BRONZE_WRITER
from wikiguard.application.checkpoints import Positions, locate
from wikiguard.application.gold import CHECKPOINT_KEY as GOLD_WRITER
from wikiguard.application.ports import RowFilter, TableStore
from wikiguard.application.silver import LATE, SILVER_STATE, SILVER_WRITER, SilverSettings, SilverStage
from wikiguard.application.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    GOLD_ENTITY_METRICS,
    GOLD_GLOBAL_METRICS,
    GOLD_QUARANTINE,
    GOLD_USER_METRICS,
    QUALITY_METRICS,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)
from wikiguard.domain.errors import WikiguardError
from wikiguard.domain.quality import RuleSet
from wikiguard.domain.windows import DEFAULT_WINDOW, EPOCH, window_of

logger = logging.getLogger(__name__)

# Where each table's rows came from in bronze's input: (topic, partition, offset) columns.
POSITION_COLUMNS = {
    BRONZE_EVENTS.name: ("kafka_topic", "kafka_partition", "kafka_offset"),
    SILVER_EVENTS.name: ("kafka_topic", "kafka_partition", "kafka_offset"),
    BRONZE_QUARANTINE.name: ("source_topic", "source_partition", "source_offset"),
    SILVER_QUARANTINE.name: ("source_topic", "source_partition", "source_offset"),
}
# The tables gold writes with its `closed_until`, and the column naming a row's window (as GoldStage).
GOLD_TABLES = (
    (GOLD_ENTITY_METRICS.name, "window_start"),
    (GOLD_USER_METRICS.name, "window_start"),
    (GOLD_GLOBAL_METRICS.name, "window_start"),
    (GOLD_QUARANTINE.name, "event_timestamp"),
    (QUALITY_METRICS.name, None),  # checkpoint only: the verdict log keeps its rows
)


class ReplayError(WikiguardError):
    """A replay that cannot be planned: a bad offset, an unknown or expired snapshot."""


@attrs.frozen
class Step:
    """One commit: delete the rows matching `where` from `table` and record `checkpoint`."""

    table: str
    where: tuple[RowFilter, ...]
    checkpoint: Mapping[str, str]


@attrs.frozen
class ReplayReport:
    """What a replay did, or on a dry run would do: rows deleted per table, checkpoints moved back."""

    deleted: Mapping[str, int]
    checkpoints: Mapping[str, Mapping[str, str]]
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.checkpoints or any(self.deleted.values()))


def replay_bronze(
    store: TableStore,
    silver: SilverSettings,
    *,
    from_offsets: Mapping[str, int] | None = None,
    earliest: bool = False,
    dry_run: bool = False,
) -> ReplayReport:
    """Make the next run re-read bronze's source from `from_offsets` ("topic:partition" -> the first
    offset to read again), or from the earliest offset of every partition; silver and gold follow.

    Deleted bronze rows must still be readable from the source (a file, or Kafka within retention).
    """
    if earliest == (from_offsets is not None):
        raise ReplayError("give either from_offsets or earliest")
    if earliest:
        keys = _keys(store, (BRONZE_EVENTS.name, BRONZE_QUARANTINE.name), BRONZE_WRITER)
        keys |= _keys(store, (SILVER_EVENTS.name, SILVER_QUARANTINE.name), SILVER_WRITER)
        target = {key: -1 for key in keys}
    else:
        assert from_offsets is not None
        if any(offset < 0 for offset in from_offsets.values()):
            raise ReplayError(f"offsets must not be negative: {dict(from_offsets)}")
        target = {key: first - 1 for key, first in from_offsets.items()}
    steps = rewind_silver(store, target, silver)
    steps += _rewind(store, QUALITY_METRICS.name, BRONZE_WRITER, target)
    steps += _rewind(store, BRONZE_QUARANTINE.name, BRONZE_WRITER, target)
    steps += _rewind(store, BRONZE_EVENTS.name, BRONZE_WRITER, target)
    return apply(store, steps, dry_run)


def replay_silver(
    store: TableStore,
    silver: SilverSettings,
    *,
    since: date | datetime | None = None,
    snapshot_id: int | None = None,
    dry_run: bool = False,
) -> ReplayReport:
    """Recompute silver (and gold) from bronze for events since `since`, or back to the state of the
    silver_events snapshot `snapshot_id` (its positions and its recorded watermark)."""
    if (since is None) == (snapshot_id is None):
        raise ReplayError("give either since or snapshot_id")
    if since is not None:
        return apply(store, rewind_silver(store, _first_offsets_since(store, utc(since)), silver), dry_run)
    history = {s.snapshot_id: s for s in store.snapshots(SILVER_EVENTS.name)}
    if snapshot_id not in history:
        known = f"{min(history)}..{max(history)} ({len(history)} retained)" if history else "none"
        raise ReplayError(f"{SILVER_EVENTS.name} has no snapshot {snapshot_id}; retained: {known}")
    recorded = history[snapshot_id].checkpoints
    positions = checkpoints.decode(recorded.get(SILVER_WRITER))
    keys = set(positions) | _keys(store, (SILVER_EVENTS.name, SILVER_QUARANTINE.name), SILVER_WRITER)
    target = {key: positions.get(key, -1) for key in keys}
    return apply(store, rewind_silver(store, target, silver, state=recorded.get(SILVER_STATE)), dry_run)


def replay_gold(
    store: TableStore, since: date | datetime, *, window: timedelta = DEFAULT_WINDOW, dry_run: bool = False
) -> ReplayReport:
    """Recompute gold's windows from the one holding `since` on, from silver, on the next run."""
    return apply(store, rewind_gold(store, window_of(utc(since), window).start), dry_run)


# -- the rewinds ---------------------------------------------------------------------------------


def rewind_gold(store: TableStore, until: datetime) -> list[Step]:
    """Steps that reopen every gold window from `until` on (a window boundary)."""
    steps = []
    for table, column in GOLD_TABLES:
        done = store.checkpoint(table, GOLD_WRITER)
        if done is None or datetime.fromisoformat(done) <= until:
            continue  # this table holds no window from `until` on
        where = (RowFilter(at_least=(column, until)),) if column else ()
        steps.append(Step(table, where, {GOLD_WRITER: until.isoformat()}))
    return steps


def rewind_silver(
    store: TableStore, target: Mapping[str, int], settings: SilverSettings, state: str | None = None
) -> list[Step]:
    """Steps that move silver back to the bronze positions `target` (last offset kept, -1 for none),
    with its watermark rebuilt (or `state`) and gold rewound to match; gold's steps come first."""
    steps = _rewind(store, SILVER_QUARANTINE.name, SILVER_WRITER, target)
    steps += _rewind(store, SILVER_EVENTS.name, SILVER_WRITER, target)
    if not steps:
        return []
    steps = _rewind(store, QUALITY_METRICS.name, SILVER_WRITER, target) + steps
    stage = SilverStage(RuleSet("silver", ()), settings)  # only its watermark and state format are used
    latest_kept, earliest_gone = _accepted_event_times(store, steps)
    if state is None:
        if latest_kept is not None:
            stage.watermark.observe(latest_kept)
        state = stage.state()
    else:
        stage.restore_watermark(state)
    if steps[-1].table != SILVER_EVENTS.name:
        steps.append(Step(SILVER_EVENTS.name, (), {}))
    steps[-1] = attrs.evolve(steps[-1], checkpoint={**steps[-1].checkpoint, SILVER_STATE: state})
    # Gold reopens every window silver may accept again, and every window a deleted row was counted
    # in (with several partitions, those can lie behind the rebuilt watermark).
    until = stage.watermark.closed_until or EPOCH
    if earliest_gone is not None:
        until = min(until, window_of(earliest_gone, settings.window).start)
    return rewind_gold(store, until) + steps


def _rewind(store: TableStore, table: str, writer: str, target: Mapping[str, int]) -> list[Step]:
    current = checkpoints.read(store, table, writer)
    moved = {key: target[key] for key, last in current.items() if key in target and target[key] < last}
    if not moved:
        return []
    where = []
    if table in POSITION_COLUMNS:  # else checkpoint only: the verdict log keeps its rows
        topic_column, partition_column, offset_column = POSITION_COLUMNS[table]
        for key, last in sorted(moved.items()):
            topic, partition = split_key(key)
            where.append(
                RowFilter({topic_column: {topic}, partition_column: {partition}}, (offset_column, last + 1))
            )
    positions = {key: moved.get(key, last) for key, last in current.items()}
    kept = {key: last for key, last in positions.items() if last >= 0}
    return [Step(table, tuple(where), {writer: checkpoints.encode(kept)})]


def _accepted_event_times(store: TableStore, steps: Sequence[Step]) -> tuple[datetime | None, datetime | None]:
    """(newest event time of the silver rows that stay, oldest of those about to go), over the rows
    silver accepted: silver_events and the quarantine rows the gate refused (late rows never reached
    the watermark nor a gold window)."""
    where = {step.table: step.where for step in steps}
    kept: list[datetime] = []
    gone: list[datetime] = []
    for table in (SILVER_EVENTS.name, SILVER_QUARANTINE.name):
        for row in store.scan(table):
            moment = row["event_timestamp"]
            if moment is None or LATE in (row.get("reasons") or ()):
                continue
            (gone if any(f.matches(row) for f in where.get(table, ())) else kept).append(moment)
    return max(kept, default=None), min(gone, default=None)


def _first_offsets_since(store: TableStore, since: datetime) -> Positions:
    """Per partition, the last offset to keep: just before the first silver row with an event since."""
    first: Positions = {}
    for table in (SILVER_EVENTS.name, SILVER_QUARANTINE.name):
        for row in store.scan(table, at_least=("event_timestamp", since)):
            topic, partition, offset = locate(row)
            key = checkpoints.partition_key(topic, partition)
            first[key] = min(first.get(key, offset), offset)
    return {key: offset - 1 for key, offset in first.items()}


def _keys(store: TableStore, tables: Iterable[str], writer: str) -> set[str]:
    return {key for table in tables for key in checkpoints.read(store, table, writer)}


# -- applying a plan -----------------------------------------------------------------------------


def apply(store: TableStore, steps: Sequence[Step], dry_run: bool) -> ReplayReport:
    """Run the steps in order (or count what they would delete) and report."""
    deleted: Counter[str] = Counter()
    moved: dict[str, dict[str, str]] = {}
    for step in steps:
        if dry_run:
            count = count_matching(store, step.table, step.where)
        else:
            count = store.delete(step.table, step.where, step.checkpoint)
            logger.info("%s: deleted %d rows, checkpoint %s", step.table, count, dict(step.checkpoint))
        deleted[step.table] += count
        moved.setdefault(step.table, {}).update(step.checkpoint)
    return ReplayReport(dict(deleted), moved, dry_run)


def count_matching(store: TableStore, table: str, where: Sequence[RowFilter]) -> int:
    if not where:
        return 0
    bounds = [f.at_least for f in where]
    at_least: tuple[str, Any] | None = None
    if all(bounds) and len({b[0] for b in bounds if b}) == 1:  # one bounded column: scan only above
        at_least = min((b for b in bounds if b), key=lambda b: b[1])
    return sum(1 for row in store.scan(table, at_least=at_least) if any(f.matches(row) for f in where))


def split_key(key: str) -> tuple[str, int]:
    """`"topic:partition"` -> (topic, partition)."""
    topic, _, partition = key.rpartition(":")
    if not topic or not partition.lstrip("-").isdigit():
        raise ReplayError(f"not a topic:partition key: {key!r}")
    return topic, int(partition)


def position_filters(table: str, positions: Iterable[tuple[str, int, int]]) -> tuple[RowFilter, ...]:
    """Filters matching exactly the rows of `table` at these (topic, partition, offset) positions."""
    by_partition: dict[tuple[str, int], set[int]] = {}
    for topic, partition, offset in positions:
        by_partition.setdefault((topic, partition), set()).add(offset)
    topic_column, partition_column, offset_column = POSITION_COLUMNS[table]
    return tuple(
        RowFilter({topic_column: {topic}, partition_column: {partition}, offset_column: offsets})
        for (topic, partition), offsets in sorted(by_partition.items())
    )


def utc(moment: date | datetime) -> datetime:
    """A date is its midnight UTC; a naive datetime is taken as UTC."""
    if not isinstance(moment, datetime):
        return datetime.combine(moment, time(), tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
