"""How the embedded pipeline cuts the source into batches: by rows, by time, at max_events, on stop."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from tests.unit.application.test_replay import NOW, SILVER, WATCHED, Clock, ListSource, new_store, stream
from wikiguard.adapters.memory.alert_sink import InMemoryAlertSink
from wikiguard.application.alerting import Alerting
from wikiguard.application.bronze import BronzeStage
from wikiguard.application.gold import GoldSettings, GoldStage
from wikiguard.application.pipeline import EmbeddedPipeline, PipelineSettings, RunSummary
from wikiguard.application.ports import ChangeSource, SourceChunk, SourceRecord
from wikiguard.application.silver import SilverBatch, SilverStage
from wikiguard.domain.rulesets import BRONZE_RULES, SILVER_RULES


def pipeline(source: ChangeSource, settings: PipelineSettings) -> EmbeddedPipeline:
    store, clock = new_store(), Clock(NOW)
    return EmbeddedPipeline(
        source=source, store=store, bronze=BronzeStage(lambda: WATCHED, BRONZE_RULES),
        silver=SilverStage(SILVER_RULES, SILVER), gold=GoldStage(store, GoldSettings()),
        alerting=Alerting(sinks={"memory": InMemoryAlertSink()}, clock=clock, history=store),
        clock=clock, settings=settings,
    )  # fmt: skip


def run(source: ChangeSource, **settings: object) -> RunSummary:
    return pipeline(source, PipelineSettings(**settings)).run()  # type: ignore[arg-type]


RECORDS = stream(n=50)  # 50 edits with redeliveries, a late event and a broken line: 57 records


def test_batches_hold_batch_rows_records_and_the_last_one_the_rest() -> None:
    summary = run(ListSource(RECORDS), batch_rows=20)

    assert (summary.read, summary.batches) == (len(RECORDS), 3)  # 20 + 20 + 17
    assert summary.balanced


def test_max_events_ends_the_run_in_the_middle_of_a_batch() -> None:
    summary = run(ListSource(RECORDS), batch_rows=20, max_events=25)

    assert (summary.read, summary.batches) == (25, 2)  # 20 + 5


class SlowSource(ListSource):
    def records(self, resume: Mapping[str, int]) -> Iterator[SourceRecord]:
        for record in super().records(resume):
            time.sleep(0.01)
            yield record


def test_a_slow_source_is_cut_by_batch_seconds() -> None:
    summary = run(SlowSource(RECORDS[:20]), batch_rows=1000, batch_seconds=0.045)

    assert summary.read == 20
    assert 3 <= summary.batches <= 10  # ~5 records per 45 ms batch


def test_stop_ends_the_run_after_the_record_being_read() -> None:
    source = ListSource(RECORDS)
    engine = pipeline(source, PipelineSettings(batch_rows=1000))
    original = source.records

    def stopping(resume: Mapping[str, int]) -> Iterator[SourceRecord]:
        for n, record in enumerate(original(resume), start=1):
            if n == 12:
                engine._stopping = True  # what stop() sets, without closing the list source
            yield record

    source.records = stopping  # type: ignore[method-assign]
    summary = engine.run()

    assert (summary.read, summary.batches) == (12, 1)


class ChunkedSource(ListSource):
    """The same records, seven at a time as columns (a source that reads many at once)."""

    def chunks(self, resume: Mapping[str, int]) -> Iterator[SourceChunk]:
        records = list(self.records(resume))
        for start in range(0, len(records), 7):
            yield SourceChunk.of_table(SourceChunk.of_records(records[start : start + 7]).table())


def test_chunks_are_cut_into_batches_of_batch_rows() -> None:
    summary = run(ChunkedSource(RECORDS), batch_rows=20)

    assert (summary.read, summary.batches) == (len(RECORDS), 3)  # 20 + 20 + 17, from chunks of 7
    assert summary.balanced


def test_max_events_ends_the_run_in_the_middle_of_a_chunk() -> None:
    summary = run(ChunkedSource(RECORDS), batch_rows=20, max_events=25)

    assert (summary.read, summary.batches) == (25, 2)  # 20 + 5: the fourth chunk's first 4 records


def test_a_source_read_in_chunks_makes_the_tables_it_makes_read_one_by_one() -> None:
    records = [*RECORDS, SourceRecord("{not json", 10_000, NOW), SourceRecord('{"title": "\ud800"}', 10_001, NOW)]
    tables = []
    for source in (ListSource(records), ChunkedSource(records)):
        engine = pipeline(source, PipelineSettings(batch_rows=20))
        engine.run()
        tables.append({
            name: sorted(map(repr, engine.store.scan(name)))
            for name in ("bronze_events", "bronze_quarantine", "silver_events", "silver_quarantine",
                         "gold_entity_metrics_10min", "quality_metrics")
        })  # fmt: skip

    assert tables[0] == tables[1]
    assert len(tables[0]["bronze_events"]) > 40
    assert len(tables[0]["bronze_quarantine"]) == 2 and tables[0]["silver_quarantine"]


class GappySource(ListSource):
    """Chunks of 7 with an empty chunk after each (a bulk source that read nothing this time)."""

    def chunks(self, resume: Mapping[str, int]) -> Iterator[SourceChunk]:
        for chunk in ChunkedSource.chunks(self, resume):  # type: ignore[arg-type]
            yield chunk
            yield SourceChunk.of_records([])


def test_empty_chunks_make_no_batches() -> None:
    summary = run(GappySource(RECORDS), batch_rows=1000, batch_seconds=0.0)  # every chunk is due at once

    assert summary.read == len(RECORDS)
    assert summary.batches == -(-len(RECORDS) // 7)  # one per non-empty chunk
    assert summary.balanced


class OneChunkSource(ListSource):
    """Every record in one chunk, as columns (a source that read far more than a batch at once)."""

    def chunks(self, resume: Mapping[str, int]) -> Iterator[SourceChunk]:
        yield SourceChunk.of_table(SourceChunk.of_records(list(self.records(resume))).table())


def test_stop_ends_the_run_inside_a_chunk() -> None:
    engine = pipeline(OneChunkSource(RECORDS), PipelineSettings(batch_rows=10, progress_seconds=0.0))
    engine.on_progress = lambda summary: engine.stop()  # after the first batch

    summary = engine.run()

    assert (summary.read, summary.batches) == (10, 1)  # not the chunk's other 47 records


@attrs.define
class WatchingSilver(SilverStage):
    """Silver that counts, each batch, how many of the source's records are still alive."""

    records: list[weakref.ref[SourceRecord]] = attrs.Factory(list)
    alive: list[int] = attrs.Factory(list)

    def process(self, *args: Any, **kwargs: Any) -> SilverBatch:
        self.alive.append(sum(ref() is not None for ref in self.records))
        return super().process(*args, **kwargs)


class FreshRecordsSource(ListSource):
    """The records as new objects each read, so only the pipeline holds them."""

    def __init__(self, records: list[SourceRecord], refs: list[weakref.ref[SourceRecord]]) -> None:
        super().__init__(records)
        self.refs = refs

    def records(self, resume: Mapping[str, int]) -> Iterator[SourceRecord]:
        for record in super().records(resume):
            fresh = attrs.evolve(record)
            self.refs.append(weakref.ref(fresh))
            yield fresh


def test_a_batch_s_records_are_let_go_once_bronze_has_them() -> None:
    silver = WatchingSilver(SILVER_RULES, SILVER)
    source = FreshRecordsSource(RECORDS, silver.records)
    engine = pipeline(source, PipelineSettings(batch_rows=20))
    engine.silver = silver

    engine.run()

    assert len(silver.alive) == 3 and max(silver.alive) <= 2  # at most the record the source is at
