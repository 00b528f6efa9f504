"""`SourceChunk`: records as the source read them or as columns, each form giving the other exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wikiguard.application.ports import SOURCE_SCHEMA, SourceChunk, SourceRecord, payload_column, payload_text

record_strategy = st.builds(
    SourceRecord,
    payload=st.text(),  # lone surrogates included: they have no UTF-8 form
    position=st.integers(min_value=0, max_value=2**62),
    received_at=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    topic=st.sampled_from(["embedded", "eqiad.mediawiki.recentchange", "codfw.mediawiki.recentchange"]),
    partition=st.integers(min_value=0, max_value=5),
    event_id=st.none() | st.text(max_size=20),
    key=st.none() | st.text(max_size=20),
)


def _as_columns(records: list[SourceRecord]) -> SourceChunk:
    return SourceChunk.of_table(SourceChunk.of_records(records).table())


@given(st.lists(record_strategy, max_size=20))
def test_records_come_back_from_the_columns_exactly(records: list[SourceRecord]) -> None:
    chunk = _as_columns(records)

    assert list(chunk.records()) == records
    assert len(chunk) == len(records)


@given(st.lists(st.lists(record_strategy, max_size=6), max_size=5), st.data())
def test_concat_and_split_keep_the_order_in_either_form(parts: list[list[SourceRecord]], data: st.DataObject) -> None:
    everything = [record for part in parts for record in part]
    forms = [SourceChunk.of_records, _as_columns]
    chunks = [data.draw(st.sampled_from(forms))(part) for part in parts] or [SourceChunk.of_records([])]
    rows = data.draw(st.integers(min_value=0, max_value=len(everything)))

    whole = SourceChunk.concat(chunks)
    first, rest = whole.split(rows)

    assert list(whole.records()) == everything
    assert (list(first.records()), list(rest.records())) == (everything[:rows], everything[rows:])


@given(st.text())
def test_a_payload_column_holds_any_text(text: str) -> None:
    assert payload_text(payload_column([text])[0].as_py()) == text


def test_bytes_that_are_no_utf8_read_as_escapes() -> None:
    assert payload_text(b'{"a": "\xff"}') == '{"a": "\\xff"}'


def test_columns_of_another_shape_are_refused() -> None:
    table = SourceChunk.of_records([SourceRecord("{}", 1, datetime(2026, 1, 1, tzinfo=UTC))]).table()

    with pytest.raises(ValueError, match="source chunk"):
        SourceChunk.of_table(table.drop_columns(["key"]))
    assert SourceChunk.of_table(table).table().schema.equals(SOURCE_SCHEMA)


def test_received_times_are_utc_datetimes() -> None:
    moment = datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(microseconds=7)
    (record,) = _as_columns([SourceRecord("{}", 1, moment)]).records()

    assert record.received_at == moment and record.received_at.tzinfo is UTC
    assert pa.types.is_timestamp(SOURCE_SCHEMA.field("received_at").type)
