"""The `ChangeSource` contract, run against the fake and every real replayable source.

A source yields every record once, in increasing position within each `topic:partition`; resuming
after a position yields exactly the records after it; `close()` ends a read promptly. (The live SSE
source resumes through `Last-Event-ID` instead of positions; tests/integration/test_sse_source.py
covers it.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RECORDINGS
from wikiguard.adapters.files.jsonl_source import JsonLinesChangeSource
from wikiguard.adapters.memory.event_log import InMemoryEventLog
from wikiguard.adapters.simulator import SimulatedChangeSource, recorded_repeat
from wikiguard.application.ports import ChangeSource, SourceChunk, SourceRecord

RECORDING = RECORDINGS / "FreelancecoderX_ElectricSQL-RAG__output.jsonl"  # 118 events
LINES = [line for line in RECORDING.read_text(encoding="utf-8").splitlines() if line.strip()]


def _memory_log() -> ChangeSource:
    log = InMemoryEventLog("cleaned_events", "cleaned_events_dlq", partitions=3)
    for line in LINES:
        event = json.loads(line)
        log.publish(f"{event['wiki']}:{event['title']}", line, {"sse_event_id": event["meta"]["id"]})
    log.flush()
    return log.change_source()


def _kafka(bootstrap: str) -> ChangeSource:
    from wikiguard.adapters.kafka.admin import KafkaTopicAdmin
    from wikiguard.adapters.kafka.config import TopicSpec, client_config
    from wikiguard.adapters.kafka.consumer_source import KafkaChangeSource
    from wikiguard.adapters.kafka.event_log import KafkaEventLog

    topic = f"contract_{uuid.uuid4().hex[:8]}"
    config = client_config(bootstrap)
    specs = [TopicSpec(topic, 3, 1, 3_600_000), TopicSpec(f"{topic}_dlq", 1, 1, 3_600_000)]
    KafkaTopicAdmin(config).ensure_topics(specs)
    log = KafkaEventLog(config, topic, f"{topic}_dlq")
    for line in LINES:
        event = json.loads(line)
        log.publish(f"{event['wiki']}:{event['title']}", line, {"sse_event_id": event["meta"]["id"]})
    assert log.flush(30) == 0
    return KafkaChangeSource(config, topic, poll_timeout=0.5)


@pytest.fixture(params=["memory", "file", "recorded_repeat", "simulator", "kafka"])
def make_source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], ChangeSource]]:
    kind = request.param
    if kind == "memory":
        yield _memory_log
    elif kind == "file":
        yield lambda: JsonLinesChangeSource(RECORDING)
    elif kind == "recorded_repeat":
        yield lambda: recorded_repeat(RECORDING, 2, seed=3)
    elif kind == "simulator":
        yield lambda: SimulatedChangeSource(11, max_events=300)
    else:
        bootstrap = request.getfixturevalue("kafka_broker")
        source = _kafka(bootstrap)
        yield lambda: source


def _read(source: ChangeSource, resume: dict[str, int] | None = None) -> list[SourceRecord]:
    return list(source.records(resume or {}))


def _key(record: SourceRecord) -> str:
    return f"{record.topic}:{record.partition}"


def test_positions_increase_within_each_partition(make_source):
    records = _read(make_source())
    assert len(records) >= 100
    last: dict[str, int] = {}
    for record in records:
        assert record.position > last.get(_key(record), -1)
        last[_key(record)] = record.position
        assert record.payload and record.received_at.tzinfo is not None


def _by_partition(records: list[SourceRecord]) -> list[tuple[str, int, int, str]]:
    """Records in partition order; how partitions interleave is not part of the contract."""
    return sorted((r.topic, r.partition, r.position, r.payload) for r in records)


def test_a_second_read_yields_the_same_records(make_source):
    source = make_source()
    assert _by_partition(_read(source)) == _by_partition(_read(source))


def test_resuming_yields_exactly_the_records_after_the_positions(make_source):
    source = make_source()
    records = _read(source)
    by_partition: dict[str, list[SourceRecord]] = {}
    for record in records:
        by_partition.setdefault(_key(record), []).append(record)
    resume = {key: part[len(part) // 2].position for key, part in by_partition.items()}
    expected = [r for r in records if r.position > resume[_key(r)]]
    rest = _read(source, resume)
    assert _by_partition(rest) == _by_partition(expected)
    assert 0 < len(rest) < len(records)


def test_close_ends_a_read(make_source):
    source = make_source()
    taken = []
    for record in source.records({}):
        taken.append(record)
        if len(taken) == 5:
            source.close()
    assert len(taken) <= 6


def test_chunks_hold_the_records_in_order(make_source):
    source = make_source()
    records = _read(source)
    chunks = list(source.chunks({}))

    assert chunks and all(len(chunk) for chunk in chunks)
    assert _by_partition([r for chunk in chunks for r in chunk.records()]) == _by_partition(records)
    # ...and as columns (the form the pipeline reads), record for record, the receive time too
    for chunk in chunks:
        assert SourceChunk.of_table(chunk.table()).records() == list(chunk.records())



def test_chunks_resume_after_the_positions(make_source):
    source = make_source()
    records = _read(source)
    resume = {_key(records[0]): records[len(records) // 3].position} if _key(records[0]) == _key(
        records[len(records) // 3]
    ) else {_key(records[0]): records[0].position}

    rest = [r for chunk in source.chunks(resume) for r in chunk.records()]

    assert _by_partition(rest) == _by_partition(_read(source, resume))
    assert 0 < len(rest) < len(records)
