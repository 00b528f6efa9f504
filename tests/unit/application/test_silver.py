"""SilverStage's per-batch decisions (duplicate, late, kept) against the domain objects asked row by row."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.application.test_replay import BASE, NOW, WATCHED, payload
from wikiguard.application.bronze import BronzeStage
from wikiguard.application.ports import SourceChunk, SourceRecord
from wikiguard.application.silver import LATE, SilverSettings, SilverStage
from wikiguard.domain.dedup import Deduplicator
from wikiguard.domain.rulesets import BRONZE_RULES, SILVER_RULES
from wikiguard.domain.windows import Watermark

SETTINGS = SilverSettings(dedup_horizon=timedelta(minutes=20))

# A stream that mostly stays on its second or moves a second or two on, sometimes jumps forward by up
# to 2 minutes or back by up to 25 (past the allowed lateness, past the dedup horizon); ids come back.
steps = st.one_of(st.sampled_from([0, 0, 1, 2]), st.integers(-1500, 120))
offers = st.lists(st.tuples(st.sampled_from([f"id-{n}" for n in range(12)]), steps), max_size=60)


def records_of(offered: list[tuple[str, int]]) -> list[SourceRecord]:
    records, clock = [], 0
    for position, (meta_id, step) in enumerate(offered):
        second, clock = clock + step, max(clock, clock + step)
        at = BASE + timedelta(seconds=second)
        records.append(SourceRecord(payload(meta_id, "Earth", at), position, at + timedelta(seconds=2)))
    return records


Decided = tuple[list[str], list[str], int]  # kept ids, late ids, duplicates


def one_by_one(batches: list[list[tuple[str, datetime]]]) -> tuple[list[Decided], tuple[object, object]]:
    """The decisions on each batch, asking the deduplicator and the watermark row by row; the watermark."""
    dedup = Deduplicator(SETTINGS.dedup_horizon)
    watermark = Watermark(SETTINGS.allowed_lateness, SETTINGS.window)
    decided = []
    for batch in batches:
        kept, late, duplicates = [], [], 0
        for meta_id, moment in batch:
            if not dedup.is_new(meta_id, moment):
                duplicates += 1
            elif watermark.is_late(moment):
                late.append(meta_id)
            else:
                watermark.observe(moment)
                kept.append(meta_id)
        decided.append((kept, late, duplicates))
    return decided, (watermark.max_event_time, watermark.closed_until)


@given(offers, st.integers(min_value=1, max_value=25))
@settings(max_examples=60, deadline=None)
def test_each_row_is_decided_as_by_the_domain_one_row_at_a_time(offered, batch_rows):
    records = records_of(offered)
    bronze = BronzeStage(lambda: WATCHED, BRONZE_RULES)
    stage = SilverStage(SILVER_RULES, SETTINGS)
    batches, decided = [], []
    for start in range(0, len(records), batch_rows):
        chunk = SourceChunk.of_records(records[start : start + batch_rows])
        parsed = bronze.process(chunk, batch_id="b", now=NOW)
        ids, moments = parsed.changes["meta_id"].to_pylist(), parsed.changes["event_timestamp"].to_pylist()
        batches.append(list(zip(ids, moments, strict=True)))
        silver = stage.process(parsed.rows, parsed.changes, batch_id="s", now=NOW)
        late = [row["meta_id"] for row in silver.quarantined if row["reasons"] == [LATE]]
        refused = [row["meta_id"] for row in silver.quarantined if row["reasons"] != [LATE]]
        kept = Counter(silver.rows["meta_id"].to_pylist()) + Counter(refused)
        decided.append((kept, late, silver.duplicates, silver.late))

    expected, watermark = one_by_one(batches)
    assert len(expected) == len(decided)
    for (kept, late, duplicates), got in zip(expected, decided, strict=True):
        assert got == (Counter(kept), late, duplicates, len(late))
    assert (stage.watermark.max_event_time, stage.watermark.closed_until) == watermark
