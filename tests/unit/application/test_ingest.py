"""The ingest use case against in-memory fakes: nothing read is lost, the position waits for delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wikiguard.adapters.memory.event_log import InMemoryEventLog
from wikiguard.adapters.memory.resume_store import InMemoryResumeStore
from wikiguard.adapters.memory.spool import InMemorySpool
from wikiguard.application.ingest import Ingest, load_resume_id
from wikiguard.application.ports import AcknowledgingChangeSource, SourceRecord, SpooledRecord
from wikiguard.domain.allowlist import Allowlist, Entity

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "wikimedia"
RECORDING = DATA / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def recorded(n: int) -> list[str]:
    return RECORDING.read_text(encoding="utf-8").splitlines()[:n]


def watching(*payloads: str) -> Allowlist:
    """An allowlist of the pages these events are about."""
    events = [json.loads(p) for p in payloads]
    pages = {(e["wiki"], e["title"]) for e in events}
    return Allowlist.of(Entity(title=title, wiki=wiki) for wiki, title in sorted(pages))


def sse_id(n: int) -> str:
    return json.dumps([{"topic": "eqiad.mediawiki.recentchange", "partition": 0, "offset": n}])


class ListChangeSource(AcknowledgingChangeSource):
    """A fake live source: yields the payloads with SSE ids 1..n and remembers acknowledgements."""

    name = "list"

    def __init__(self, payloads: Sequence[str]):
        self.payloads = list(payloads)
        self.acks: list[str] = []
        self.closed = False

    def records(self, resume: Mapping[str, int]) -> Iterator[SourceRecord]:
        for n, payload in enumerate(self.payloads, start=1):
            if self.closed:
                return
            yield SourceRecord(payload=payload, position=n, received_at=T0, topic="sse", event_id=sse_id(n))

    def acknowledge(self, event_id: str) -> None:
        self.acks.append(event_id)

    def close(self) -> None:
        self.closed = True


class FixedClock:
    def now(self) -> datetime:
        return T0


class Tick:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def build(
    payloads: Sequence[str], allowlist: Allowlist | None = None, log: InMemoryEventLog | None = None
) -> tuple[Ingest, ListChangeSource, InMemoryEventLog, InMemoryResumeStore, InMemorySpool]:
    source, store, spool = ListChangeSource(payloads), InMemoryResumeStore(), InMemorySpool()
    log = log or InMemoryEventLog()
    chosen = allowlist if allowlist is not None else watching(*payloads)
    ingest = Ingest(source, log, lambda: chosen, FixedClock(), store, spool, monotonic=Tick())
    return ingest, source, log, store, spool


def feed(ingest: Ingest, source: ListChangeSource) -> None:
    for record in source.records({}):
        ingest.handle(record)


def test_the_position_waits_for_the_delivery_report() -> None:
    ingest, source, log, store, _ = build(recorded(5))
    feed(ingest, source)
    assert len(log.queued) == 5 and source.acks == [] and ingest.resume_id is None
    ingest.finish()
    assert source.acks[-1] == sse_id(5)
    assert store.load() == sse_id(5)
    assert len(log.records()) == 5


def test_records_are_keyed_by_entity_with_their_headers() -> None:
    payloads = recorded(3)
    ingest, source, log, _, _ = build(payloads)
    feed(ingest, source)
    log.flush()
    first = json.loads(payloads[0])
    entity = f"{first['wiki']}:{first['title']}"
    record = next(r for r in log.records() if r.payload == payloads[0])
    assert record.key == entity
    assert record.headers == {
        "sse_event_id": sse_id(1),
        "ingest_time": T0.isoformat(),
        "canonical_entity": entity,
    }


def test_filtered_records_advance_only_once_everything_before_them_is_delivered() -> None:
    payloads = recorded(4)
    ingest, source, log, _, _ = build(payloads, allowlist=watching(payloads[0]))
    feed(ingest, source)
    assert ingest.counters.kept >= 1 and ingest.counters.filtered >= 1
    assert source.acks == []  # record 1 is in flight; 2..4 were filtered but must wait for it
    log.poll()
    assert source.acks[-1] == sse_id(4)


def test_an_undelivered_record_holds_the_position_even_when_later_ones_are_delivered() -> None:
    payloads = recorded(6)
    ingest, source, log, store, _ = build(payloads)
    records = list(source.records({}))
    ingest.handle(records[0])
    ingest.handle(records[1])
    stuck = log.queued.pop(1)  # record 2's report has not come back
    for record in records[2:]:
        ingest.handle(record)
    log.poll()
    assert ingest.resume_id == sse_id(1)
    assert ingest.finish() == 0
    assert store.load() == sse_id(1)  # a restart resumes after 1 and reads 2 again
    assert stuck.on_delivery is not None
    stuck.on_delivery(None)
    assert ingest.resume_id == sse_id(6)


def test_a_failed_delivery_is_spooled_before_the_position_passes_it_then_retried() -> None:
    payloads = recorded(4)
    ingest, source, log, _, spool = build(payloads)
    log.fail_next(2, "_MSG_TIMED_OUT: Local: Message timed out")
    feed(ingest, source)
    log.poll()
    assert ingest.counters.failed == 2
    assert [r.payload for r in spool.pending()] == payloads[:2]
    assert ingest.resume_id == sse_id(4)  # the failed two are durable in the spool
    ingest.retry_spool(force=True)
    log.poll()
    assert spool.pending() == []
    assert sorted(r.payload for r in log.records()) == sorted(payloads)


def test_a_record_that_keeps_failing_goes_to_the_dead_letter_topic_and_is_never_dropped() -> None:
    payloads = recorded(1)
    ingest, source, log, _, spool = build(payloads)
    ingest.spool_max_attempts = 2
    log.failing = "_MSG_SIZE_TOO_LARGE: Broker: Message size too large"
    feed(ingest, source)
    for _ in range(3):
        log.poll()
        ingest.retry_spool(force=True)
    assert [r.dead_letter_reason for r in spool.pending()] == [
        "undeliverable: _MSG_SIZE_TOO_LARGE: Broker: Message size too large"
    ]
    log.failing = None
    log.poll()
    ingest.retry_spool(force=True)
    log.poll()
    assert spool.pending() == []
    [dead] = log.records(log.dlq_topic)
    assert dead.payload == payloads[0]
    assert dead.headers["dlq_reason"].startswith("undeliverable: _MSG_SIZE_TOO_LARGE")


def test_bad_events_are_dead_lettered_with_their_reasons() -> None:
    good = recorded(1)[0]
    untitled = json.loads(good)
    del untitled["title"]
    payloads = [good, '{"meta": {"id": "trunc', "   ", json.dumps(untitled), "[1, 2]"]
    ingest, source, log, _, _ = build(payloads, allowlist=watching(good))
    feed(ingest, source)
    log.flush()
    reasons = [r.headers["dlq_reason"] for r in log.records(log.dlq_topic)]
    assert sorted(reasons) == sorted(["invalid_json", "empty_payload", "missing_title", "not_an_object"])
    missing = next(r for r in log.records(log.dlq_topic) if r.headers["dlq_reason"] == "missing_title")
    assert missing.headers["meta_id"] == untitled["meta"]["id"]
    assert ingest.counters.dead_lettered == 4 and ingest.counters.kept == 1
    assert ingest.resume_id == sse_id(5)


def test_canaries_are_counted_and_dropped_and_advance_the_position() -> None:
    canary = json.loads(recorded(1)[0])
    canary["meta"]["domain"] = "canary"
    ingest, source, log, _, _ = build([json.dumps(canary)], allowlist=watching(recorded(1)[0]))
    feed(ingest, source)
    assert ingest.counters.canaries == 1 and ingest.last_canary_at is not None
    assert log.queued == [] and ingest.resume_id == sse_id(1)


def test_the_allowlist_is_read_again_for_every_record() -> None:
    payloads = recorded(40)
    first, later = watching(payloads[0]), watching(*payloads)
    current = [first]
    source, store, spool, log = (
        ListChangeSource(payloads),
        InMemoryResumeStore(),
        InMemorySpool(),
        InMemoryEventLog(),
    )
    ingest = Ingest(source, log, lambda: current[0], FixedClock(), store, spool, monotonic=Tick())
    records = list(source.records({}))
    for record in records[:20]:
        ingest.handle(record)
    kept_before = ingest.counters.kept
    current[0] = later  # the file changed on disk: the reloader now returns the new allowlist
    for record in records[20:]:
        ingest.handle(record)
    assert ingest.counters.kept - kept_before == 20
    assert kept_before < 20


def test_the_resume_id_is_persisted_at_most_every_interval_and_on_finish() -> None:
    payloads = recorded(3)
    ingest, source, log, store, _ = build(payloads)
    tick = ingest.monotonic
    assert isinstance(tick, Tick)
    records = list(source.records({}))
    tick.t = 10.0
    ingest.handle(records[0])
    ingest.service()
    ingest.handle(records[1])
    ingest.service()  # within the interval: not written again
    assert store.saved == [sse_id(1)]
    ingest.handle(records[2])
    log.poll()
    ingest.finish()
    assert store.saved == [sse_id(1), sse_id(3)]


def test_run_honours_max_events_and_flushes() -> None:
    ingest, source, log, store, _ = build(recorded(30))
    counters = ingest.run(max_events=10)
    assert counters.read == 10 and source.closed
    assert store.load() == sse_id(10)
    assert counters.read == counters.kept + counters.filtered + counters.canaries + counters.dead_lettered


def test_resume_id_falls_back_when_the_store_has_none() -> None:
    assert load_resume_id(InMemoryResumeStore(), InMemoryResumeStore("x")) == "x"
    assert load_resume_id(InMemoryResumeStore("a"), InMemoryResumeStore("x")) == "a"
    assert load_resume_id(InMemoryResumeStore(), None) is None


@settings(max_examples=60, deadline=None)
@given(
    outcomes=st.lists(st.sampled_from(["ok", "fail", "late"]), min_size=1, max_size=30),
    watched=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_every_record_read_is_in_the_log_or_accounted_for_before_the_position_passes_it(
    outcomes: list[str], watched: list[bool]
) -> None:
    payloads = recorded(len(outcomes))
    kept = [p for p, w in zip(payloads, watched, strict=False) if w]
    ingest, source, log, _, spool = build(
        payloads, allowlist=watching(*kept) if kept else watching(payloads[0])
    )
    late = []
    for record, outcome in zip(source.records({}), outcomes, strict=True):
        ingest.handle(record)
        if outcome == "fail" and log.queued:
            log.fail_next(len(log.queued))
        if outcome == "late" and log.queued:
            late.extend(log.queued)
            log.queued.clear()
        log.poll()
        acked = ingest.resume_id
        if acked is not None:
            upto = [sse_id(n) for n in range(1, len(payloads) + 1)].index(acked) + 1
            durable = {r.payload for r in log.records()} | {r.payload for r in spool.pending()}
            allow = ingest.allowlist()
            for payload in payloads[:upto]:
                event = json.loads(payload)
                if allow.match(event["wiki"], event["title"]):
                    assert payload in durable
    for item in late:
        assert item.on_delivery is not None
        item.on_delivery(None)
    assert ingest.resume_id == sse_id(len(payloads))


@pytest.mark.parametrize("attempts", [1, 3])
def test_spooled_records_keep_what_was_sent(attempts: int) -> None:
    record = SpooledRecord("s1", "enwiki:Earth", "{}", (("a", "b"),), "err", attempts)
    spool = InMemorySpool()
    spool.add(record)
    assert spool.pending() == [record]
    spool.remove(["s1"])
    assert spool.pending() == []
