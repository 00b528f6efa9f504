"""Ingest against the real Kafka broker and a loopback EventStreams server: nothing watched is lost.

Each test compares the `meta.id`s in the topic with an independent computation (the recording
parsed with `json`, matched with an `Allowlist`), through connection drops, a SIGKILL of the ingest
process, a broker restart and malformed events. Duplicates are allowed (at-least-once; silver
dedups), gaps are not. Every test uses its own topics and state directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
import yaml

from tests.support.sse_server import Faults, LoopbackSseServer
from wikiguard.adapters.kafka import KafkaAdapterError, KafkaChangeSource, KafkaTopicAdmin, client_config
from wikiguard.application.ingest import Ingest
from wikiguard.domain.allowlist import Allowlist, Entity
from wikiguard.entrypoints import ingest as ingest_entrypoint
from wikiguard.entrypoints.ingest import ServiceThread
from wikiguard.entrypoints.ingest_container import RESUME_FILE, IngestContainer
from wikiguard.entrypoints.settings import Settings

REPO = Path(__file__).resolve().parents[2]
RECORDING = (
    REPO.parent
    / "shared"
    / "data"
    / "wikimedia"
    / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
)
LINES = RECORDING.read_text(encoding="utf-8").splitlines()
EVENTS = [json.loads(line) for line in LINES]


def watched_pages() -> list[tuple[str, str]]:
    """Two titles in three of every Commons and Wikidata page in the recording (45% of its events)."""
    pages = sorted({(e["wiki"], e["title"]) for e in EVENTS if e["wiki"] in ("commonswiki", "wikidatawiki")})
    return [page for n, page in enumerate(pages) if n % 3 != 2]


ALLOWLIST = Allowlist.of(Entity(title=title, wiki=wiki) for wiki, title in watched_pages())
EXPECTED = {e["meta"]["id"] for e in EVENTS if ALLOWLIST.match(e["wiki"], e["title"])}


@pytest.fixture
def topic(kafka_broker: str) -> Iterator[str]:
    name = f"ingest_{uuid.uuid4().hex[:10]}"
    yield name
    # A broker restarted by the test may still be settling; the topic name is unique anyway.
    with contextlib.suppress(Exception):
        KafkaTopicAdmin(client_config(kafka_broker)).delete_topics([name, f"{name}_dlq"])


@pytest.fixture
def allowlist_file(tmp_path: Path) -> Path:
    path = tmp_path / "allowlist.yaml"
    entities = [{"title": title, "wiki": wiki} for wiki, title in watched_pages()]
    path.write_text(yaml.safe_dump({"entities": entities}, allow_unicode=True), encoding="utf-8")
    return path


def settings_for(
    server: LoopbackSseServer, bootstrap: str, topic: str, tmp_path: Path, allowlist: Path
) -> Settings:
    return Settings(
        sse_url=server.url,
        kafka_bootstrap=bootstrap,
        kafka_topic=topic,
        kafka_dlq_topic=f"{topic}_dlq",
        state_dir=tmp_path / "state",
        allowlist=allowlist,
        sse_backoff=0.05,
        sse_read_timeout=10.0,
        progress_seconds=5.0,
    )


def read_topic(bootstrap: str, topic: str) -> list[tuple[str, dict[str, str] | None, str]]:
    """(payload, parsed-or-None, event id) of every record, via bronze's own reader."""
    out = []
    for record in KafkaChangeSource(client_config(bootstrap), topic, poll_timeout=0.5).records({}):
        try:
            parsed = json.loads(record.payload)
        except ValueError:
            parsed = None
        out.append((record.payload, parsed, record.event_id or ""))
    return out


def meta_ids(bootstrap: str, topic: str) -> Counter[str]:
    try:
        records = read_topic(bootstrap, topic)
    except KafkaAdapterError:  # not created yet (the ingest process creates it) or a broker restarting
        return Counter()
    return Counter(p["meta"]["id"] for _, p, _ in records if isinstance(p, dict))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class InProcessIngest:
    """The container-built ingest running on a thread, as `main` runs it."""

    def __init__(self, settings: Settings):
        self.container = IngestContainer(settings=settings)
        self.container.topic_admin().ensure_topics(self.container.topics())
        self.ingest: Ingest = self.container.ingest()
        self.service = ServiceThread(self.ingest, self.container.heartbeat_path(), 5.0, None)
        self.thread = threading.Thread(target=self.ingest.run, name="ingest", daemon=True)

    def __enter__(self) -> InProcessIngest:
        self.service.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ingest.stop()
        self.thread.join(timeout=30)
        self.service.stop()
        self.container.shutdown_resources()
        assert not self.thread.is_alive()


def test_reconnects_every_100_events_lose_nothing(
    kafka_broker: str, topic: str, tmp_path: Path, allowlist_file: Path
) -> None:
    with LoopbackSseServer(LINES, faults=Faults(drop_every=100)) as server:
        settings = settings_for(server, kafka_broker, topic, tmp_path, allowlist_file)
        with InProcessIngest(settings) as run:
            wait_until(
                lambda: set(meta_ids(kafka_broker, topic)) >= EXPECTED, 60, "every watched event in Kafka"
            )
            wait_until(
                lambda: run.ingest.resume_id == server.event_id(server.events[-1]), 30, "the last event"
            )
        counters = run.ingest.counters
    got = meta_ids(kafka_broker, topic)
    assert EXPECTED - set(got) == set()
    assert set(got) <= EXPECTED  # nothing unwatched was published
    assert len(server.requests) >= len(LINES) // 100  # it really did reconnect
    assert counters.failed == 0 and counters.dead_lettered == 0
    assert counters.read == counters.kept + counters.filtered + counters.canaries + counters.dead_lettered
    # The resume id persisted on stop is the recording's last event: a restart would not go back.
    assert (settings.state_dir / RESUME_FILE).read_text().strip() == server.event_id(server.events[-1])
    records = read_topic(kafka_broker, topic)
    payload, parsed, event_id = records[0]
    assert parsed is not None and event_id.startswith("[")


@pytest.mark.parametrize("keep_state", [True, False], ids=["state-file", "kafka-tail-fallback"])
def test_sigkill_mid_stream_then_restart_loses_nothing(
    kafka_broker: str,
    topic: str,
    tmp_path: Path,
    allowlist_file: Path,
    keep_state: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "state"
    with LoopbackSseServer(LINES, faults=Faults(drop_every=100)) as server:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "WIKIGUARD_SSE_URL": server.url,
            "WIKIGUARD_KAFKA_BOOTSTRAP": kafka_broker,
            "WIKIGUARD_KAFKA_TOPIC": topic,
            "WIKIGUARD_KAFKA_DLQ_TOPIC": f"{topic}_dlq",
            "WIKIGUARD_STATE_DIR": str(state),
            "WIKIGUARD_ALLOWLIST": str(allowlist_file),
            "WIKIGUARD_SSE_BACKOFF_SECONDS": "0.3",  # ~24 reconnects: the stream takes several seconds
            "WIKIGUARD_PROGRESS_SECONDS": "2",
        }
        command = [sys.executable, "-m", "wikiguard.entrypoints.ingest"]
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: len(meta_ids(kafka_broker, topic)) >= 200, 30, "the first events in Kafka")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        before = set(meta_ids(kafka_broker, topic))
        assert 0 < len(before & EXPECTED) < len(EXPECTED), "the kill should land mid-stream"
        if not keep_state:
            (state / RESUME_FILE).unlink()
        requests_before = len(server.requests)

        second = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_until(
                lambda: set(meta_ids(kafka_broker, topic)) >= EXPECTED, 60, "every watched event in Kafka"
            )
            monkeypatch.setenv("WIKIGUARD_STATE_DIR", str(state))
            assert ingest_entrypoint.health(30.0) == 0
            second.send_signal(signal.SIGTERM)
            _, stderr = second.communicate(timeout=30)
        finally:
            if second.poll() is None:
                second.kill()
        assert second.returncode == 0, stderr.decode()[-2000:]
        assert b'"msg":"ingest stopped"' in stderr
        resumed_with = server.requests[requests_before].header("Last-Event-ID")
        assert resumed_with, "the restart must resume, not start from the live edge"
    got = meta_ids(kafka_broker, topic)
    assert EXPECTED - set(got) == set()
    # Resuming, not replaying from the start: the restart did not read the whole recording again.
    assert sum(got.values()) < 3 * len(EXPECTED)


def test_broker_restart_mid_stream_loses_nothing(
    kafka_broker: str,
    kafka_restart: Callable[[], float],
    topic: str,
    tmp_path: Path,
    allowlist_file: Path,
) -> None:
    with LoopbackSseServer(LINES, faults=Faults(drop_every=100)) as server:
        settings = settings_for(server, kafka_broker, topic, tmp_path, allowlist_file)
        settings = attrs.evolve(settings, sse_backoff=0.3)
        with InProcessIngest(settings) as run:
            wait_until(lambda: run.ingest.counters.sent >= 150, 30, "the first deliveries")
            missing_at_restart = EXPECTED - set(meta_ids(kafka_broker, topic))
            took = kafka_restart()
            wait_until(
                lambda: set(meta_ids(kafka_broker, topic)) >= EXPECTED, 60, "every watched event in Kafka"
            )
        counters = run.ingest.counters
    assert took > 0
    assert missing_at_restart, "the restart should land mid-stream"
    got = meta_ids(kafka_broker, topic)
    assert EXPECTED - set(got) == set()
    assert counters.failed == 0  # the producer's own retries bridged the restart


def test_malformed_events_end_in_the_dead_letter_topic_with_reasons(
    kafka_broker: str, topic: str, tmp_path: Path, allowlist_file: Path
) -> None:
    untitled = dict(EVENTS[0])
    del untitled["title"]
    extra = [json.dumps(untitled), "[1, 2, 3]", '{"$schema": "/mediawiki/recentchange/1.0.0"}']
    lines = LINES[:1000] + extra + LINES[1000:]
    with LoopbackSseServer(lines, faults=Faults(malformed_every=50)) as server:
        settings = settings_for(server, kafka_broker, topic, tmp_path, allowlist_file)
        with InProcessIngest(settings) as run:
            wait_until(
                lambda: set(meta_ids(kafka_broker, topic)) >= EXPECTED, 60, "every watched event in Kafka"
            )
            wait_until(
                lambda: run.ingest.resume_id == server.event_id(server.events[-1]), 30, "the last event"
            )
        counters = run.ingest.counters
    dead = read_topic(kafka_broker, f"{topic}_dlq")
    truncated = [p for p, _, _ in dead if '"id":"truncated' in p]
    # After every 50th event the server injects damage, rotating: bad JSON, blank data, a comment.
    # Blank data and comments are not events; only the bad JSON reaches ingest.
    assert len(truncated) == sum(1 for j in range(1, len(lines) // 50 + 1) if (j - 1) % 3 == 0)
    assert counters.dead_lettered == len(dead) == len(truncated) + len(extra)
    dlq_reasons = Counter(_dlq_reasons(kafka_broker, f"{topic}_dlq"))
    assert dlq_reasons == Counter(
        {"invalid_json": len(truncated), "missing_title": 1, "not_an_object": 1, "missing_meta": 1}
    )
    assert set(meta_ids(kafka_broker, topic)) >= EXPECTED


def _dlq_reasons(bootstrap: str, topic: str) -> list[str]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "dlq-check", "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        consumer.assign([TopicPartition(topic, p, 0) for p in metadata.topics[topic].partitions])
        out: list[str] = []
        idle = 0
        while idle < 4:
            message = consumer.poll(0.5)
            if message is None or message.error():
                idle += 1
                continue
            out.append(dict(message.headers() or [])["dlq_reason"].decode())
        return out
    finally:
        consumer.close()
