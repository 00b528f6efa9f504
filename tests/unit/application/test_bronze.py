"""Bronze accounts for every record read: canaries and unwatched pages count as passed, a payload
that is not there is quarantined."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from tests.unit.application.test_replay import BASE, WATCHED, payload
from wikiguard.application.bronze import BronzeStage
from wikiguard.application.ports import SourceChunk, SourceRecord
from wikiguard.domain.rulesets import BRONZE_RULES

NOW = datetime(2026, 1, 30, tzinfo=UTC)


def canary(meta_id: str) -> str:
    event = json.loads(payload(meta_id, "Earth", BASE))
    event["meta"]["domain"] = "canary"
    return json.dumps(event)


def test_the_pass_rate_counts_every_record_read() -> None:
    texts = [payload("a", "Earth", BASE), payload("b", "Unwatched", BASE), canary("c"), "{not json"]
    records = [SourceRecord(text, n, NOW) for n, text in enumerate(texts)]

    batch = BronzeStage(lambda: WATCHED, BRONZE_RULES).process(SourceChunk.of_records(records), batch_id="b", now=NOW)

    assert (batch.rows.num_rows, batch.filtered_out, batch.canaries, len(batch.quarantined)) == (1, 1, 1, 1)
    assert (batch.quality.total, batch.quality.passed) == (4, 3)  # the watched row, the unwatched one, the canary
    assert batch.positions == {"embedded:0": 3}  # the last record read, whatever became of it


def test_a_null_payload_is_quarantined_as_an_empty_one() -> None:
    table = SourceChunk.of_records([SourceRecord(payload("a", "Earth", BASE), 1, NOW), SourceRecord("", 2, NOW)]).table()
    table = table.set_column(0, "payload", pa.array([table.column("payload")[0].as_py(), None], pa.binary()))

    batch = BronzeStage(lambda: WATCHED, BRONZE_RULES).process(SourceChunk.of_table(table), batch_id="b", now=NOW)

    assert batch.rows.num_rows == 1
    assert [(row["record"], row["reasons"], row["source_offset"]) for row in batch.quarantined] == [
        ("", ["empty_payload"], 2)
    ]
