"""The `ConfirmingEventLog` contract: the in-memory fake and the Kafka adapter must behave the same.

Published records come back (through the matching `ChangeSource`) in per-key order, with their
key and headers; every delivery report arrives and says delivered; dead letters carry their
reason; a resume mapping skips what was already read. The Kafka side runs against the real local
broker (scripts/kafka.sh), one fresh pair of topics per test.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from wikiguard.adapters.kafka import (
    KafkaChangeSource,
    KafkaEventLog,
    KafkaTopicAdmin,
    client_config,
    producer_config,
    topic_specs,
)
from wikiguard.adapters.memory.event_log import InMemoryEventLog
from wikiguard.application.ports import ChangeSource, ConfirmingEventLog, SourceRecord

T0 = datetime(2026, 1, 29, 22, 30, tzinfo=UTC)


@attrs.frozen
class Subject:
    log: ConfirmingEventLog
    reader: Callable[[str], ChangeSource]  # topic -> a bounded source over what was delivered
    topic: str
    dlq_topic: str


@pytest.fixture(params=["memory", "kafka"])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    if request.param == "memory":
        log = InMemoryEventLog("events", "events_dlq")
        yield Subject(log, log.change_source, "events", "events_dlq")
        return
    bootstrap = request.getfixturevalue("kafka_broker")
    base = client_config(bootstrap, client_id="contract")
    topic = f"contract_{uuid.uuid4().hex[:10]}"
    admin = KafkaTopicAdmin(base)
    admin.ensure_topics(
        topic_specs(topic, f"{topic}_dlq", partitions=3, replication=1, retention_ms=3_600_000)
    )
    kafka_log = KafkaEventLog(producer_config(base), topic, f"{topic}_dlq")
    try:
        yield Subject(
            kafka_log, lambda t: KafkaChangeSource(base, t, poll_timeout=0.5), topic, f"{topic}_dlq"
        )
    finally:
        kafka_log.flush(10)
        admin.delete_topics([topic, f"{topic}_dlq"])


def headers_for(key: str, n: int) -> dict[str, str]:
    return {
        "sse_event_id": f'[{{"offset":{n}}}]',
        "ingest_time": (T0 + timedelta(seconds=n)).isoformat(),
        "canonical_entity": key,
    }


def publish_all(log: ConfirmingEventLog, items: list[tuple[str, str, dict[str, str]]]) -> list[str | None]:
    reports: list[str | None] = []
    for key, payload, headers in items:
        log.publish(key, payload, headers, reports.append)
    assert log.flush(30) == 0
    return reports


def read_all(subject: Subject, topic: str, resume: dict[str, int] | None = None) -> list[SourceRecord]:
    return list(subject.reader(topic).records(resume or {}))


def test_records_come_back_in_per_key_order_with_their_headers(subject: Subject) -> None:
    keys = ["enwiki:Earth", "wikidatawiki:Q42", "commonswiki:File:Ä ö.jpg", "dewiki:Berlin"]
    items = [(keys[n % 4], f'{{"n":{n},"text":"é漢"}}', headers_for(keys[n % 4], n)) for n in range(200)]
    reports = publish_all(subject.log, items)
    assert reports == [None] * 200

    got = read_all(subject, subject.topic)
    assert len(got) == 200
    by_key: dict[str | None, list[str]] = defaultdict(list)
    for record in got:
        by_key[record.key].append(record.payload)
    assert dict(by_key) == {k: [p for kk, p, _ in items if kk == k] for k in keys}
    first = next(r for r in got if r.payload == items[0][1])
    assert (first.topic, first.event_id, first.received_at) == (subject.topic, '[{"offset":0}]', T0)
    partitions_of = {r.key: {x.partition for x in got if x.key == r.key} for r in got}
    assert all(len(p) == 1 for p in partitions_of.values())  # one partition per key


def test_dead_letters_carry_their_reason(subject: Subject) -> None:
    reports: list[str | None] = []
    subject.log.dead_letter(
        "{not json", "invalid_json", {"sse_event_id": "x", "ingest_time": T0.isoformat()}, reports.append
    )
    assert subject.log.flush(30) == 0
    assert reports == [None]
    [dead] = read_all(subject, subject.dlq_topic)
    assert dead.payload == "{not json" and dead.event_id == "x"
    assert read_all(subject, subject.topic) == []


def test_a_resume_mapping_skips_what_was_read(subject: Subject) -> None:
    items = [("k", f"p{n}", headers_for("k", n)) for n in range(10)]
    publish_all(subject.log, items)
    first = read_all(subject, subject.topic)
    partition = first[0].partition
    resume = {f"{subject.topic}:{partition}": first[5].position}
    rest = read_all(subject, subject.topic, resume)
    assert [r.payload for r in rest] == [f"p{n}" for n in range(6, 10)]
    assert [r.position for r in rest] == [r.position for r in first[6:]]


def test_reports_come_only_from_poll_or_flush(subject: Subject) -> None:
    reports: list[str | None] = []
    subject.log.publish("k", "p", headers_for("k", 0), reports.append)
    assert reports == []  # queued, not yet reported: the caller decides when callbacks run
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while not reports and datetime.now(UTC) < deadline:
        subject.log.poll(0.2)
    assert reports == [None]
