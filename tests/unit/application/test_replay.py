"""Replay and quarantine reprocessing against the in-memory table store and the real embedded pipeline.

The yardstick: after a replay and the next run, the tables equal those of one uninterrupted run
(batch ids aside), and every use case applied twice leaves what applying it once left.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from wikiguard.adapters.memory.alert_sink import InMemoryAlertSink
from wikiguard.adapters.memory.table_store import InMemoryTableStore
from wikiguard.application import checkpoints
from wikiguard.application.alerting import Alerting
from wikiguard.application.bronze import BronzeStage
from wikiguard.application.gold import GoldSettings, GoldStage
from wikiguard.application.pipeline import EmbeddedPipeline, PipelineSettings
from wikiguard.application.ports import ChangeSource, Row, SourceRecord
from wikiguard.application.replay import (
    ReplayError,
    apply,
    replay_bronze,
    replay_gold,
    replay_silver,
    rewind_silver,
)
from wikiguard.application.reprocess import CurrentRules, reprocess_quarantine
from wikiguard.application.silver import SilverSettings, SilverStage
from wikiguard.application.tables import ALL_TABLES
from wikiguard.domain.allowlist import Allowlist, Entity
from wikiguard.domain.quality import Rule, RuleKind, RuleSet, Severity
from wikiguard.domain.rulesets import BRONZE_RULES, GOLD_RULES, SILVER_RULES
from wikiguard.domain.windows import window_of

BASE = datetime(2026, 1, 29, 12, 0, tzinfo=UTC)
NOW = BASE + timedelta(days=1)
WATCHED = Allowlist.of([Entity("Earth", "enwiki"), Entity("Moon", "enwiki"), Entity("Mars", "enwiki")])
TITLES = ("Earth", "Moon", "Mars", "Unwatched", "Earth", "Moon")
SILVER = SilverSettings()
# Tables a replay and re-run must reproduce; quality_metrics is the log of every batch's verdict.
COMPARED = [t.name for t in ALL_TABLES if t.name not in ("quality_metrics", "alerts_sent")]


def payload(meta_id: str, title: str, at: datetime, user: str = "Alice", comment: str = "fix") -> str:
    return json.dumps({
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {"id": meta_id, "dt": at.isoformat(), "stream": "mediawiki.recentchange", "domain": "en.wikipedia.org"},
        "id": abs(hash(meta_id)) % 10**9, "type": "edit", "namespace": 0, "title": title, "comment": comment,
        "timestamp": int(at.timestamp()), "user": user, "bot": False, "wiki": "enwiki",
        "length": {"old": 100, "new": 100 + len(meta_id)}, "revision": {"old": 1, "new": 2},
    })  # fmt: skip


def stream(partitions: int = 1, n: int = 160) -> list[SourceRecord]:
    """Edits every 30 s over 80 minutes, with redeliveries, late events and one broken line."""
    records: list[SourceRecord] = []
    offsets = dict.fromkeys(range(partitions), 0)

    def add(text: str, partition: int, at: datetime) -> None:
        received = at + timedelta(seconds=3)
        records.append(SourceRecord(text, offsets[partition], received, topic="rc", partition=partition))
        offsets[partition] += 1

    for i in range(n):
        at = BASE + timedelta(seconds=30 * i)
        part = i % partitions
        text = payload(f"id-{i}", TITLES[i % len(TITLES)], at, user=f"U{i % 7}")
        add(text, part, at)
        if i % 10 == 3:
            add(text, (i + 1) % partitions, at)  # a redelivery
        if i % 25 == 24:
            add(payload(f"late-{i}", "Earth", at - timedelta(minutes=40)), part, at)
        if i == 50:
            add("{not json", part, at)
    return records


class ListSource(ChangeSource):
    name = "list"

    def __init__(self, records: list[SourceRecord]) -> None:
        self._records = records

    def records(self, resume: Mapping[str, int]) -> Iterator[SourceRecord]:
        for r in self._records:
            if r.position > resume.get(f"{r.topic}:{r.partition}", -1):
                yield r

    def close(self) -> None:
        pass


@attrs.define
class Clock:
    moment: datetime = NOW

    def now(self) -> datetime:
        return self.moment


def new_store() -> InMemoryTableStore:
    store = InMemoryTableStore(ALL_TABLES)
    store.ensure_tables()
    return store


def run(store: InMemoryTableStore, records: list[SourceRecord], *, gold: GoldSettings | None = None,
        now: datetime = NOW, batch_rows: int = 40) -> None:  # fmt: skip
    clock = Clock(now)
    gold = gold or GoldSettings()
    EmbeddedPipeline(
        source=ListSource(records),
        store=store,
        bronze=BronzeStage(lambda: WATCHED, BRONZE_RULES),
        silver=SilverStage(SILVER_RULES, SILVER),
        gold=GoldStage(store, gold),
        alerting=Alerting(sinks={"memory": InMemoryAlertSink()}, clock=clock, history=store),
        clock=clock,
        settings=PipelineSettings(batch_rows=batch_rows),
    ).run()


def tables(store: InMemoryTableStore) -> dict[str, list[str]]:
    """Every compared table's rows without batch ids, canonically ordered."""
    out = {}
    for name in COMPARED:
        rows = [{k: v for k, v in row.items() if k != "batch_id"} for row in store.scan(name)]
        out[name] = sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)
    return out


def rules() -> CurrentRules:
    return CurrentRules(bronze=BronzeStage(lambda: WATCHED, BRONZE_RULES), silver=SILVER)


@pytest.fixture(scope="module")
def records() -> list[SourceRecord]:
    return stream()


@pytest.fixture(scope="module")
def reference(records: list[SourceRecord]) -> dict[str, list[str]]:
    store = new_store()
    run(store, records)
    return tables(store)


def test_the_stream_exercises_dedup_lateness_quarantine_and_gold(reference: dict[str, list[str]]) -> None:
    assert len(reference["bronze_quarantine"]) == 1
    assert len(reference["silver_quarantine"]) == 6  # the late events
    assert len(reference["bronze_events"]) > len(reference["silver_events"]) > 80
    assert len(reference["gold_entity_metrics_10min"]) > 15


@pytest.mark.parametrize("since", [BASE + timedelta(minutes=35), BASE - timedelta(days=1), BASE + timedelta(hours=3)])
def test_replay_silver_since_then_run_equals_one_run(records, reference, since) -> None:
    store = new_store()
    run(store, records)

    first = replay_silver(store, SILVER, since=since)
    after_first = tables(store)
    second = replay_silver(store, SILVER, since=since)

    assert first.changed == (since < BASE + timedelta(hours=2))
    assert not second.changed and tables(store) == after_first
    if first.changed:
        assert after_first["silver_events"] != reference["silver_events"]
    run(store, records)
    assert tables(store) == reference
    ids = [row["meta_id"] for row in store.scan("silver_events")]
    assert len(ids) == len(set(ids))


def test_replay_silver_moves_silver_and_gold_back_consistently(records) -> None:
    store = new_store()
    run(store, records)
    since = BASE + timedelta(minutes=35)

    report = replay_silver(store, SILVER, since=since)

    assert all(row["event_timestamp"] < since for row in store.scan("silver_events"))
    closed = json.loads(store.checkpoint("silver_events", "silver.watermark"))["closed_until"]
    for table in ("gold_entity_metrics_10min", "gold_quarantine", "quality_metrics"):
        assert store.checkpoint(table, "gold") == closed
    assert all(row["window_start"].isoformat() < closed for row in store.scan("gold_global_metrics_10min"))
    assert report.deleted["silver_events"] > 0 and report.deleted["gold_entity_metrics_10min"] > 0
    assert store.count("bronze_events") == len(records) - 1 - sum("Unwatched" in r.payload for r in records)


def test_replay_silver_to_a_snapshot_then_run_equals_one_run(records, reference) -> None:
    store = new_store()
    run(store, records)
    # A mid-run commit: its recorded watermark is exactly what the run had there.
    snapshot = [s for s in store.snapshots("silver_events") if "silver.watermark" in s.checkpoints][1]

    replay_silver(store, SILVER, snapshot_id=snapshot.snapshot_id)

    assert store.checkpoint("silver_events", "silver") == snapshot.checkpoints["silver"]
    assert store.checkpoint("silver_events", "silver.watermark") == snapshot.checkpoints["silver.watermark"]
    assert not replay_silver(store, SILVER, snapshot_id=snapshot.snapshot_id).changed
    run(store, records)
    assert tables(store) == reference


def test_replay_silver_to_an_unknown_snapshot_is_refused(records) -> None:
    store = new_store()
    run(store, records[:10])
    with pytest.raises(ReplayError, match="no snapshot 999999"):
        replay_silver(store, SILVER, snapshot_id=999999)


@pytest.mark.parametrize("first", [0, 1, 57, 120])
def test_replay_bronze_from_an_offset_then_run_equals_one_run(records, reference, first) -> None:
    store = new_store()
    run(store, records)

    report = replay_bronze(store, SILVER, from_offsets={"rc:0": first})

    assert max(r["kafka_offset"] for r in store.scan("bronze_events")) < first if first else True
    assert store.checkpoint("bronze_events", "bronze") == checkpoints.encode({"rc:0": first - 1} if first else {})
    assert report.deleted["bronze_events"] > 0
    assert not replay_bronze(store, SILVER, from_offsets={"rc:0": first}).changed
    run(store, records)
    assert tables(store) == reference


def test_replay_bronze_from_earliest_empties_every_layer_then_run_equals_one_run(records, reference) -> None:
    store = new_store()
    run(store, records)

    replay_bronze(store, SILVER, earliest=True)

    assert {name: store.count(name) for name in COMPARED if store.count(name)} == {}
    assert not replay_bronze(store, SILVER, earliest=True).changed
    run(store, records)
    assert tables(store) == reference


def test_replay_gold_since_then_run_equals_one_run(records, reference) -> None:
    store = new_store()
    run(store, records)
    since = BASE + timedelta(minutes=33)  # inside a window: that whole window is recomputed

    report = replay_gold(store, since)

    starts = [row["window_start"] for row in store.scan("gold_entity_metrics_10min")]
    assert max(starts) == BASE + timedelta(minutes=20)
    assert set(report.checkpoints) == {"gold_entity_metrics_10min", "gold_user_metrics_10min",
                                       "gold_global_metrics_10min", "gold_quarantine", "quality_metrics"}
    assert store.count("silver_events") == len(reference["silver_events"])
    assert not replay_gold(store, since).changed
    run(store, records)
    assert tables(store) == reference


def test_a_dry_run_reports_exactly_what_the_replay_then_does(records) -> None:
    store = new_store()
    run(store, records)
    before = tables(store)

    dry = replay_bronze(store, SILVER, from_offsets={"rc:0": 60}, dry_run=True)

    assert tables(store) == before
    done = replay_bronze(store, SILVER, from_offsets={"rc:0": 60})
    assert dry.dry_run and dry.changed
    assert (dry.deleted, dry.checkpoints) == (done.deleted, done.checkpoints)


def test_an_interrupted_replay_finished_by_running_it_again(records, reference) -> None:
    store = new_store()
    run(store, records)
    target = {"rc:0": 80}
    steps = rewind_silver(store, target, SILVER)
    assert len(steps) >= 4

    apply(store, steps[: len(steps) // 2], dry_run=False)  # the process dies half-way
    replay_bronze(store, SILVER, from_offsets={"rc:0": 81})

    run(store, records)
    assert tables(store) == reference


def test_bad_offsets_are_refused() -> None:
    with pytest.raises(ReplayError, match="negative"):
        replay_bronze(new_store(), SILVER, from_offsets={"rc:0": -3})
    with pytest.raises(ReplayError, match="either"):
        replay_bronze(new_store(), SILVER)


def test_with_two_partitions_a_partition_replay_loses_and_duplicates_nothing() -> None:
    records = stream(partitions=2)
    store = new_store()
    run(store, records)
    bronze_before = store.count("bronze_events")

    replay_bronze(store, SILVER, from_offsets={"rc:1": 30})
    assert all(r["kafka_offset"] < 30 for r in store.scan("silver_events") if r["kafka_partition"] == 1)
    assert any(r["kafka_offset"] >= 30 for r in store.scan("silver_events") if r["kafka_partition"] == 0)
    run(store, records)

    assert store.count("bronze_events") == bronze_before
    silver_ids = [r["meta_id"] for r in store.scan("silver_events")]
    late_ids = {r["meta_id"] for r in store.scan("silver_quarantine")}
    assert len(silver_ids) == len(set(silver_ids))
    assert set(silver_ids) | late_ids == {r["meta_id"] for r in store.scan("bronze_events")}
    windows = sum(r["total_events"] for r in store.scan("gold_global_metrics_10min"))
    assert windows == len(silver_ids)


# -- reprocessing quarantine ---------------------------------------------------------------------


def test_reprocess_late_admits_them_and_the_next_run_recounts_their_windows(records) -> None:
    store = new_store()
    run(store, records)
    silver_before = store.count("silver_events")
    first_window = min(window_of(r["event_timestamp"]).start for r in store.scan("silver_quarantine"))

    report = reprocess_quarantine(store, "silver", "late", rules(), now=NOW)

    assert (report.examined, report.appended, report.still_quarantined) == (6, 6, 0)
    assert store.count("silver_quarantine") == 0 and store.count("silver_events") == silver_before + 6
    assert store.checkpoint("gold_global_metrics_10min", "gold") == first_window.isoformat()
    assert report.cascade.deleted["gold_global_metrics_10min"] > 0
    again = reprocess_quarantine(store, "silver", "late", rules(), now=NOW)
    assert not again.changed and again.examined == 0
    run(store, [])
    assert sum(r["total_events"] for r in store.scan("gold_global_metrics_10min")) == silver_before + 6
    ids = [r["meta_id"] for r in store.scan("silver_events")]
    assert len(ids) == len(set(ids))


def test_reprocess_finishes_after_dying_between_append_and_delete(records) -> None:
    store = new_store()
    run(store, records)
    late = list(store.scan("silver_quarantine"))
    reprocess_quarantine(store, "silver", "late", rules(), now=NOW)
    store.append("silver_quarantine", late, {})  # as if the quarantine delete had never committed

    report = reprocess_quarantine(store, "silver", "late", rules(), now=NOW)

    assert (report.appended, report.already_present, report.still_quarantined) == (0, 6, 0)
    ids = [r["meta_id"] for r in store.scan("silver_events")]
    assert len(ids) == len(set(ids)) and store.count("silver_quarantine") == 0


def test_reprocess_a_dry_run_changes_nothing(records) -> None:
    store = new_store()
    run(store, records)
    before = tables(store)

    dry = reprocess_quarantine(store, "silver", "late", rules(), now=NOW, dry_run=True)

    assert tables(store) == before
    assert (dry.appended, dry.still_quarantined, dry.cascade.dry_run) == (6, 0, True)


def test_reprocess_bronze_after_the_clock_skew_passes(records, reference) -> None:
    store = new_store()
    skewed = BASE + timedelta(minutes=45)  # events after 45+5 minutes look like they are from the future
    run(store, records, now=skewed)
    future = [r for r in store.scan("bronze_quarantine") if "event_timestamp_not_future" in r["reasons"]]
    assert len(future) > 40

    report = reprocess_quarantine(store, "bronze", "event_timestamp_not_future", rules(), now=NOW)

    assert (report.appended, report.dropped, report.still_quarantined) == (len(future), 0, 0)
    assert report.cascade.changed
    assert not reprocess_quarantine(store, "bronze", "event_timestamp_not_future", rules(), now=NOW).changed
    run(store, records)
    got = tables(store)  # receive times now come from quarantined_at: compare what was decided, not when
    for name in COMPARED:
        assert len(got[name]) == len(reference[name]), name
    ids = [r["meta_id"] for r in store.scan("silver_events")]
    assert len(ids) == len(set(ids))


def test_reprocess_bronze_keeps_what_still_fails(records) -> None:
    store = new_store()
    run(store, records)

    report = reprocess_quarantine(store, "bronze", "invalid_json", rules(), now=NOW)

    assert (report.examined, report.still_quarantined, report.changed) == (1, 1, False)
    assert store.count("bronze_quarantine") == 1


def test_reprocess_gold_after_relaxing_a_rule(records, reference) -> None:
    strict = RuleSet("gold", (*GOLD_RULES.rules, Rule("small_windows", RuleKind.RANGE, "total_events", Severity.CRITICAL,
                                                      max=4)))  # fmt: skip
    store = new_store()
    run(store, records, gold=GoldSettings(rules=strict))
    refused = [r for r in store.scan("gold_quarantine") if "small_windows" in r["reasons"]]
    assert refused

    report = reprocess_quarantine(store, "gold", "small_windows", rules(), now=NOW)

    assert report.appended == len(refused) and report.still_quarantined == 0
    assert not reprocess_quarantine(store, "gold", "small_windows", rules(), now=NOW).changed
    got = tables(store)
    for name in ("gold_entity_metrics_10min", "gold_user_metrics_10min", "gold_global_metrics_10min"):
        keys = [json.loads(r)["window_start"] + str(json.loads(r).get("entity") or json.loads(r).get("user_name"))
                for r in got[name]]  # fmt: skip
        assert len(keys) == len(set(keys)) == len(reference[name]), name


def test_reprocess_an_unknown_layer_is_refused() -> None:
    with pytest.raises(ReplayError, match="layer"):
        reprocess_quarantine(new_store(), "platinum", "late", rules(), now=NOW)


class Crash(Exception):
    pass


class CrashingStore(InMemoryTableStore):
    """The in-memory store, dying once at the `nth` append to `table` (the process ends there)."""

    def __init__(self, table: str, nth: int) -> None:
        super().__init__(ALL_TABLES)
        self.table, self.left = table, nth

    def append(self, table: str, rows: Sequence[Row], checkpoint: Mapping[str, str]) -> None:
        if table == self.table:
            self.left -= 1
            if self.left == 0:
                raise Crash(f"died appending to {table}")
        super().append(table, rows, checkpoint)


def verdicts(store: InMemoryTableStore) -> list[tuple[str, int, int, str]]:
    """The quality log, without its batch ids and times."""
    return sorted(
        (row["layer"], row["total_rows"], row["passed_rows"], row["outcome"]) for row in store.scan("quality_metrics")
    )


@pytest.mark.parametrize("dies_at", ["bronze_events", "silver_events"])
def test_a_batch_read_again_after_a_crash_logs_its_verdict_once(records, reference, dies_at) -> None:
    whole = new_store()
    run(whole, records)
    # The third batch's verdict is committed, then the process dies before that batch's rows are.
    store = CrashingStore(dies_at, nth=3)
    store.ensure_tables()
    with pytest.raises(Crash):
        run(store, records)
    store.left = -1

    run(store, records)

    assert tables(store) == reference
    layers = {layer for layer, *_ in verdicts(store)}
    for layer in ("bronze", "silver"):
        assert [v for v in verdicts(store) if v[0] == layer] == [v for v in verdicts(whole) if v[0] == layer], layer
    assert layers == {"bronze", "silver", "gold"}


def test_a_replay_logs_the_verdicts_of_the_batches_it_reads_again(records) -> None:
    store = new_store()
    run(store, records)
    before = verdicts(store)

    replay_bronze(store, SILVER, earliest=True)
    run(store, records)

    after = verdicts(store)
    for layer in ("bronze", "silver"):
        assert len([v for v in after if v[0] == layer]) == 2 * len([v for v in before if v[0] == layer]), layer


def test_reprocess_with_a_reason_no_row_has_says_which_reasons_there_are(records) -> None:
    store = new_store()
    run(store, records)
    late = sum(1 for row in store.scan("silver_quarantine") if "late" in row["reasons"])

    report = reprocess_quarantine(store, "silver", "nonsense", rules(), now=NOW)

    assert (report.examined, report.changed) == (0, False)
    assert report.reasons_in_quarantine == {"late": late} and late > 0
