from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from wikiguard.adapters.files import JsonLinesChangeSource
from wikiguard.adapters.files.jsonl_source import RecordingFileError
from wikiguard.application.batches.parse import decode_payload
from wikiguard.application.ports import ChangeSource
from wikiguard.domain.events import Change, Rejection, parse_change

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "wikimedia"
RAW = DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
FIXED = datetime(2026, 1, 29, 12, 0, tzinfo=UTC)


def test_every_line_of_a_real_recording_becomes_one_record_numbered_by_line():
    source = JsonLinesChangeSource(RAW, clock=lambda: FIXED)

    records = list(source.records())

    assert isinstance(source, ChangeSource)
    assert len(records) == 2387
    assert [r.position for r in records] == list(range(1, 2388))
    assert records[0].payload == RAW.read_text(encoding="utf-8").splitlines()[0]
    assert {r.received_at for r in records} == {FIXED}


def test_blank_lines_are_skipped_but_still_count_as_positions(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"a":1}\n\n   \n{"b":2}\r\nnot json\n', encoding="utf-8")

    records = list(JsonLinesChangeSource(path).records())

    assert [(r.position, r.payload) for r in records] == [(1, '{"a":1}'), (4, '{"b":2}'), (5, "not json")]


def test_resume_skips_up_to_the_checkpointed_position(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(f'{{"n":{n}}}\n' for n in range(1, 11)), encoding="utf-8")

    resumed = list(JsonLinesChangeSource(path).records({"embedded:0": 7}))

    assert [r.position for r in resumed] == [8, 9, 10]
    assert [orjson.loads(r.payload)["n"] for r in resumed] == [8, 9, 10]


def test_default_received_at_is_the_arrival_time():
    before = datetime.now(UTC)
    record = next(JsonLinesChangeSource(RAW).records())
    assert before <= record.received_at <= datetime.now(UTC)


def test_sse_recording_is_parsed_from_its_framing():
    sse = DATA / "dlw-github_wiki_visualizer__example.sse"
    expected = (DATA / "dlw-github_wiki_visualizer__example.jsonl").read_text(encoding="utf-8").splitlines()

    records = list(JsonLinesChangeSource(sse).records())

    assert [r.payload for r in records] == expected
    assert records[0].event_id is not None and '"timestamp":1670732822001' in records[0].event_id
    assert {r.topic for r in records} == {"eqiad.mediawiki.recentchange"}
    assert [r.position for r in records] == sorted({r.position for r in records})
    again = list(JsonLinesChangeSource(sse).records({"eqiad.mediawiki.recentchange:0": records[0].position}))
    assert [r.payload for r in again] == expected[1:]


def test_sse_comments_error_events_and_multiline_data(tmp_path):
    path = tmp_path / "stream.sse"
    path.write_text(
        ":ok\n\n"
        'event: message\nid: [{"topic":"codfw.x","partition":0,"offset":5}]\ndata: {"a":\ndata: 1}\n\n'
        "event: error\ndata: boom\n\n"
        "data: \n\n"
        'data: {"b":2}\n',
        encoding="utf-8",
    )

    records = list(JsonLinesChangeSource(path).records())

    assert [r.payload for r in records] == ['{"a":\n1}', '{"b":2}']
    assert records[0].topic == "codfw.x"
    # The id persists until a new one arrives, as the SSE spec says.
    assert records[1].event_id == records[0].event_id


def test_close_stops_the_iteration(tmp_path):
    source = JsonLinesChangeSource(RAW)
    stream = source.records()
    next(stream)
    source.close()
    assert list(stream) == []


def test_missing_file_is_an_anticipated_error(tmp_path):
    with pytest.raises(RecordingFileError, match="nope.jsonl"):
        list(JsonLinesChangeSource(tmp_path / "nope.jsonl").records())


def test_a_byte_order_mark_is_dropped_and_a_line_that_is_not_utf8_reaches_bronze_as_invalid_json(tmp_path):
    first, last = RAW.read_text(encoding="utf-8").splitlines()[:2]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + first.encode() + b'\n{"title": "caf\xff"}\n' + last.encode() + b"\n")

    records = list(JsonLinesChangeSource(path).records())

    assert [r.position for r in records] == [1, 2, 3]
    assert records[0].payload == first and records[2].payload == last
    assert records[1].payload == '{"title": "caf\\xff"}'  # kept, visibly, for the quarantine row
    assert decode_payload(records[1].payload) == Rejection(("invalid_json",))
    assert isinstance(parse_change(decode_payload(records[0].payload)), Change)
