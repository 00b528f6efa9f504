"""The SSE change source against a loopback server that replays a real recording like EventStreams."""

import contextlib
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.support.sse_server import Faults, LoopbackSseServer
from wikiguard.adapters.sse import SseSourceError, WikimediaSseChangeSource
from wikiguard.application.ports import ChangeSource, SourceRecord

RAW = (
    Path(__file__).resolve().parents[2].parent
    / "shared/data/wikimedia/yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
)
LINES = RAW.read_text(encoding="utf-8").splitlines()
ALL_IDS = {json.loads(line)["meta"]["id"] for line in LINES}
UA = "WikiGuard-tests/0.1 (https://github.com/wikiguard/wikiguard; ops@example.org)"


def source_for(server: LoopbackSseServer, **kwargs) -> WikimediaSseChangeSource:
    options = {"user_agent": UA, "backoff_initial": 0.005, "backoff_max": 0.05, "read_timeout": 5.0}
    return WikimediaSseChangeSource(server.url, **{**options, **kwargs})


def read_all_ids(source: WikimediaSseChangeSource, limit_s: float = 30.0) -> list[SourceRecord]:
    """Records until every recorded meta.id has arrived (or the time limit closes the source)."""
    timer = threading.Timer(limit_s, source.close)
    timer.start()
    seen: set[str] = set()
    records = []
    try:
        for record in source.records():
            records.append(record)
            with contextlib.suppress(ValueError, KeyError):
                seen.add(json.loads(record.payload)["meta"]["id"])
            if seen >= ALL_IDS:
                break
    finally:
        timer.cancel()
        source.close()
    return records


def ids_of(records: list[SourceRecord]) -> set[str]:
    found = set()
    for r in records:
        with contextlib.suppress(ValueError, KeyError):
            found.add(json.loads(r.payload)["meta"]["id"])
    return found


def test_cut_every_100_events_still_delivers_all_2387_events_resuming_by_timestamp_id():
    with LoopbackSseServer(LINES, faults=Faults(drop_every=100)) as server:
        source = source_for(server)
        records = read_all_ids(source)

    assert isinstance(source, ChangeSource)
    assert ids_of(records) == ALL_IDS  # duplicates allowed: timestamp resume repeats the boundary
    assert len(server.requests) >= 24
    assert all(r.header("User-Agent") == UA for r in server.requests)
    assert server.requests[0].header("Last-Event-ID") is None
    sent = [r.header("Last-Event-ID") for r in server.requests[1:]]
    assert all(s and '"timestamp":' in s for s in sent)
    assert sent[0] == records[99].event_id  # the id of the last event before the first cut
    assert source.counters.reconnects == len(server.requests) - 1
    assert [r.position for r in records] == list(range(1, len(records) + 1))
    assert {r.topic for r in records} == {"eqiad.mediawiki.recentchange"}


def test_offset_ids_resume_exactly_without_repeats():
    with LoopbackSseServer(LINES, id_mode="offset", faults=Faults(drop_every=100)) as server:
        records = read_all_ids(source_for(server))

    assert len(records) == 2387
    assert [json.loads(r.payload)["meta"]["id"] for r in records] == [
        json.loads(line)["meta"]["id"] for line in LINES
    ]


def test_resume_uses_the_last_acknowledged_event_not_the_last_yielded():
    with LoopbackSseServer(LINES, id_mode="offset", faults=Faults(drop_every=100)) as server:
        source = source_for(server)
        acked = None
        for record in source.records():
            if record.position % 30 == 0:
                acked = record.event_id
                source.acknowledge(acked)
            if len(server.requests) == 2:
                break
        source.close()

    # 100 events went out before the cut; the consumer had made only 90 durable.
    assert server.requests[1].header("Last-Event-ID") == acked
    assert json.loads(acked)[0]["offset"] == json.loads(LINES[89])["meta"]["offset"] + 1


def test_a_stalled_connection_is_dropped_by_the_watchdog_and_resumed():
    faults = Faults(stall_after=300, stall_seconds=20)
    with LoopbackSseServer(LINES, id_mode="offset", faults=faults) as server:
        source = source_for(server, read_timeout=0.5)
        started = time.monotonic()
        records = read_all_ids(source)
        elapsed = time.monotonic() - started

    assert ids_of(records) == ALL_IDS
    assert source.counters.stalls == 1
    assert elapsed < 10  # did not sit out the 20 s stall
    assert server.requests[1].header("Last-Event-ID") == records[299].event_id


def test_keep_alive_comments_alone_do_not_keep_a_stalled_stream_alive():
    faults = Faults(stall_after=300, stall_seconds=20, stall_comments=0.1)
    with LoopbackSseServer(LINES, id_mode="offset", faults=faults) as server:
        source = source_for(server, read_timeout=1.0)
        started = time.monotonic()
        records = read_all_ids(source)
        elapsed = time.monotonic() - started

    assert ids_of(records) == ALL_IDS
    assert source.counters.stalls == 1
    assert source.counters.comments >= 5  # the ":ok"s and the keep-alives were seen, and ignored
    assert elapsed < 10


def test_malformed_lines_are_yielded_or_ignored_and_the_stream_goes_on():
    with LoopbackSseServer(LINES, faults=Faults(malformed_every=50)) as server:
        source = source_for(server)
        records = read_all_ids(source)

    broken = []
    for r in records:
        try:
            json.loads(r.payload)
        except ValueError:
            broken.append(r.payload)
    assert ids_of(records) == ALL_IDS
    injected = len(LINES) // 50
    assert len(broken) == (injected + 2) // 3  # bad JSON is passed on for bronze to quarantine
    assert all(r.payload.strip() for r in records)  # blank data is not an event
    assert source.counters.comments == 1 + injected // 3  # ":ok" and the injected comments
    assert source.counters.events == len(records)


def test_429_retry_after_is_honoured():
    with LoopbackSseServer(LINES, faults=Faults(too_many_requests=1, retry_after=1)) as server:
        records = read_all_ids(source_for(server))

    assert ids_of(records) == ALL_IDS
    first, second = server.requests[0], server.requests[1]
    assert second.at - first.at >= 0.95  # backoff alone would have been 5 ms


def test_an_error_event_is_counted_and_skipped():
    with LoopbackSseServer(LINES, faults=Faults(error_event_after=10)) as server:
        source = source_for(server)
        records = read_all_ids(source)

    assert source.counters.error_events == 1
    assert len(records) == 2387
    assert all("KafkaError" not in r.payload for r in records)


def test_since_is_sent_when_no_id_is_known_and_the_server_starts_there():
    since = datetime(2024, 8, 22, 4, 4, 0, tzinfo=UTC)
    with LoopbackSseServer(LINES) as server:
        source = source_for(server, since=since)
        first = next(source.records())
        source.close()

    assert "since=2024-08-22T04%3A04%3A00Z" in server.requests[0].path
    assert json.loads(first.payload)["meta"]["dt"] >= "2024-08-22T04:04:00Z"


def test_a_configured_last_event_id_wins_over_since():
    last = '[{"topic":"eqiad.mediawiki.recentchange","partition":0,"offset":5356063000}]'
    with LoopbackSseServer(LINES, id_mode="offset") as server:
        source = source_for(server, last_event_id=last, since="2024-08-22T04:00:00Z")
        first = next(source.records())
        source.close()

    assert "since" not in server.requests[0].path
    assert server.requests[0].header("Last-Event-ID") == last
    assert json.loads(first.payload)["meta"]["offset"] == 5356063000


def test_close_from_another_thread_ends_a_quiet_stream_promptly():
    with LoopbackSseServer(LINES[:5]) as server:  # holds the connection open after 5 events
        source = source_for(server, read_timeout=60)
        threading.Timer(0.5, source.close).start()
        started = time.monotonic()
        records = list(source.records())
        elapsed = time.monotonic() - started

    assert len(records) == 5
    assert elapsed < 3


def test_gives_up_after_max_retries_with_an_anticipated_error():
    with LoopbackSseServer(LINES) as server:
        url = server.url
    source = WikimediaSseChangeSource(
        url, user_agent=UA, backoff_initial=0.001, max_retries=2, connect_timeout=1
    )
    with pytest.raises(SseSourceError, match="gave up after 3 attempts"):
        list(source.records())
    assert source.counters.errors == 3


def test_a_refused_request_is_not_retried():
    with LoopbackSseServer(LINES) as server:
        source = source_for(server, since="not a time")
        with pytest.raises(SseSourceError, match="HTTP 400"):
            next(source.records())
    assert len(server.requests) == 1


def test_a_user_agent_is_required():
    with pytest.raises(SseSourceError, match="User-Agent"):
        WikimediaSseChangeSource("http://127.0.0.1:1/", user_agent=" ")


def test_the_server_speaks_ndjson_on_accept_json():
    with LoopbackSseServer(LINES[:3], end="close") as server:
        response = requests.get(server.url, headers={"Accept": "application/json"}, timeout=5)

    assert response.headers["Content-Type"].startswith("application/json")
    assert response.text == "\n" + "".join(line + "\n" for line in LINES[:3])
