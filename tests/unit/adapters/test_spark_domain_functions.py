"""The `mapInArrow` functions Spark runs give, per record, what the embedded engine's domain code gives.

Plain Arrow in, Arrow out: no JVM needed to check them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import damaged_events, raw_events
from wikiguard.adapters.spark.domain_functions import (
    ACCEPTED,
    CANARY,
    FILTERED,
    REJECTED,
    SILVER_FIELDS,
    bronze_parser,
    silver_enricher,
)
from wikiguard.application.batches.parse import decode_payload
from wikiguard.domain.allowlist import Allowlist, Entity
from wikiguard.domain.enrichment import enrich
from wikiguard.domain.events import Change, Rejection, parse_change

ALLOWLIST = Allowlist.of([Entity("Main Page", "enwiki", ("Front",)), Entity("apple", "enwiktionary")])
payloads = st.one_of(
    raw_events().map(json.dumps),
    damaged_events().map(json.dumps),
    raw_events().map(lambda e: json.dumps({**e, "title": "Main_Page", "wiki": "enwiki"})),
    raw_events().map(lambda e: json.dumps({**e, "meta": {**e["meta"], "domain": "canary"}})),
    st.sampled_from(["", "{", "[1]", "null", '{"meta": 3}']),
)


def expected(payload: str) -> tuple[str, str | None, str | None, list[str] | None]:
    value = decode_payload(payload)
    parsed = value if isinstance(value, Rejection) else parse_change(value)
    if isinstance(parsed, Rejection):
        return REJECTED, parsed.meta_id, None, list(parsed.reasons)
    if parsed.is_canary:
        return CANARY, parsed.meta_id, None, None
    entity = ALLOWLIST.match(parsed.wiki, parsed.title)
    return (FILTERED if entity is None else ACCEPTED), parsed.meta_id, entity, None


@settings(max_examples=60, deadline=None)
@given(st.lists(payloads, max_size=25))
def test_bronze_parser_gives_each_record_the_per_event_outcome(texts: list[str]) -> None:
    batch = pa.RecordBatch.from_arrays([pa.array(texts, pa.string()), pa.array(range(len(texts)), pa.int64())],
                                       names=["payload", "offset"])

    (out,) = list(bronze_parser(ALLOWLIST)([batch]))

    assert out.column("offset").to_pylist() == list(range(len(texts)))  # passthrough columns kept
    got = list(zip(*(out.column(c).to_pylist() for c in ("outcome", "meta_id", "canonical_entity", "parse_reasons")),
                   strict=True))
    assert got == [expected(text) for text in texts]


@settings(max_examples=40, deadline=None)
@given(st.lists(raw_events(), max_size=20))
def test_silver_enricher_gives_every_row_what_enrich_gives(events: list[dict[str, Any]]) -> None:
    ingested = datetime(2026, 1, 29, 13, 0)  # Spark hands timestamps over without a zone
    texts = [orjson.dumps(e).decode() for e in events]
    batch = pa.RecordBatch.from_pylist(
        [
            {"meta_id": e["meta"]["id"], "event_data": text, "canonical_entity": "enwiki:X",
             "ingestion_timestamp": ingested + timedelta(seconds=i), "kafka_topic": "t", "kafka_partition": 0,
             "kafka_offset": i}
            for i, (e, text) in enumerate(zip(events, texts, strict=True))
        ],
        schema=pa.schema([("meta_id", pa.string()), ("event_data", pa.string()), ("canonical_entity", pa.string()),
                          ("ingestion_timestamp", pa.timestamp("us")), ("kafka_topic", pa.string()),
                          ("kafka_partition", pa.int32()), ("kafka_offset", pa.int64())]),
    )  # fmt: skip

    got = [row for out in silver_enricher()([batch]) for row in out.to_pylist()]

    want = []
    for i, text in enumerate(texts):
        change = parse_change(orjson.loads(text))
        assert isinstance(change, Change)
        event = enrich(change, canonical_entity="enwiki:X", ingested_at=(ingested + timedelta(seconds=i)).replace(
            tzinfo=UTC), kafka_topic="t", kafka_partition=0, kafka_offset=i)
        want.append({name: getattr(event, name) for name, _ in SILVER_FIELDS})
    assert got == want
    assert [list(row) for row in got] == [[name for name, _ in SILVER_FIELDS]] * len(got)
