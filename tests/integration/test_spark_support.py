"""Shared helpers of the Spark engine's integration tests (this module holds no tests).

Each test gets its own Iceberg catalog (a fresh `catalog.db` in its own warehouse) registered on the
one shared session under its own name, and its own Kafka topic.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tests.integration.fixtures_kafka import create_topic
from wikiguard.adapters.memory.alert_sink import InMemoryAlertSink
from wikiguard.adapters.spark.bronze import SparkBronze
from wikiguard.adapters.spark.catalog import IcebergCatalog
from wikiguard.adapters.spark.gold import SparkGold
from wikiguard.adapters.spark.jobs import StreamOptions, run_bronze, run_gold, run_silver
from wikiguard.adapters.spark.silver import SparkSilver
from wikiguard.adapters.spark.table_store import SparkTableStore
from wikiguard.application.alerting import Alerting
from wikiguard.application.tables import ALL_TABLES
from wikiguard.domain.allowlist import Allowlist, Entity
from wikiguard.domain.rulesets import BRONZE_RULES, SILVER_RULES
from wikiguard.entrypoints.containers import SystemClock  # noqa: E402  (re-exported for the Spark tests)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "wikimedia"


def recorded_lines() -> list[str]:
    """Real events from four recordings, in an order that makes the last file late, plus injected
    bad records: not JSON, no title, a wiki name bronze's rule refuses, an edit without a user."""
    lines: list[str] = []
    for name in (
        "legacy/Wikidata_editgroups__qs_batch_with_reverts.jsonl",  # 2018: reverts, one wiki
        "legacy/amommendes_wikimedia_stream__message.jsonl",  # 2019
        "yearfunla_wikiMedia_stream_monitor__recentchange.jsonl",  # 2024, 42 duplicates
        "jeroenjanssens_python-polars-the-definitive-guide__wikimedia.jsonl",  # 2023: late by then
    ):
        lines += [line for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    base = orjson.loads(lines[-150])  # a 2024 event: on time
    bad_wiki = base | {"wiki": "Bad-Wiki!", "meta": base["meta"] | {"id": "injected-bad-wiki"}}
    no_user = base | {"user": "", "type": "edit", "meta": base["meta"] | {"id": "injected-no-user"}}
    injected = [
        "{not json",
        orjson.dumps({"meta": {"id": "injected-no-title", "dt": "2024-08-22T20:35:30Z"}}).decode(),
    ]
    injected += [orjson.dumps(bad_wiki).decode(), orjson.dumps(no_user).decode()]
    return lines[:-100] + injected + lines[-100:]


def allowlist_for(lines: Sequence[str], skip_every: int = 5) -> Allowlist:
    """Every page of the input except one in `skip_every` (so bronze filters some out)."""
    pages: dict[tuple[str, str], Entity] = {}
    for line in lines:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        wiki, title = event.get("wiki"), event.get("title")
        if isinstance(wiki, str) and isinstance(title, str) and title.strip() and (wiki, title) not in pages:
            pages[(wiki, title)] = Entity(title, wiki)
    entities = list(pages.values())
    chosen = [e for i, e in enumerate(entities) if i % skip_every != skip_every - 1]
    # Titles that normalise alike would claim one page twice: keep the first.
    seen: set[str] = set()
    unique = [e for e in chosen if not (e.canonical in seen or seen.add(e.canonical))]  # type: ignore[func-returns-value]
    return Allowlist.of(unique)


def new_topic(bootstrap: str, lines: Sequence[str], partitions: int = 1) -> str:
    """A fresh topic holding `lines` in order (one partition: the order the embedded engine reads)."""
    topic = f"spark-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, partitions=partitions)
    produce(bootstrap, topic, lines)
    return topic


def spark_catalog(
    spark: Any, warehouse: Path, name: str | None = None
) -> tuple[IcebergCatalog, SparkTableStore]:
    catalog = IcebergCatalog(name or f"wg_{uuid.uuid4().hex[:8]}", "jdbc", str(warehouse))
    catalog.register(spark)
    store = SparkTableStore(spark, catalog, ALL_TABLES)
    store.ensure_tables()
    return catalog, store


def alerting_for(store: Any, clock: Any) -> tuple[Alerting, InMemoryAlertSink]:
    sink = InMemoryAlertSink("log")
    sinks = {"log": sink, "slack": sink, "sns": sink}
    return Alerting(sinks=sinks, clock=clock, history=store), sink


Wrap = Callable[[Callable[[Any, int], None]], Callable[[Any, int], None]] | None


class SparkEngine:
    """The three Spark jobs over one catalog and one set of checkpoints, run to the end of their input
    (availableNow) as often as the test likes: each run is a new query on the same checkpoint."""

    def __init__(
        self, store: SparkTableStore, bootstrap: str, topic: str, allowlist: Allowlist, checkpoints: Path
    ):
        self.store, self.bootstrap, self.topic, self.checkpoints = store, bootstrap, topic, checkpoints
        self.clock = SystemClock()
        self.alerting, self.sink = alerting_for(store, self.clock)
        self.bronze = SparkBronze(store, allowlist, BRONZE_RULES, self.alerting, self.clock)
        self.silver = SparkSilver(store, SILVER_RULES, self.alerting, self.clock)
        self.gold = SparkGold(store, self.alerting, self.clock)

    def options(self, job: str, **kw: Any) -> StreamOptions:
        return StreamOptions(str(self.checkpoints / job), **kw)

    def run(self, *, final: bool = False, max_per_batch: int | None = None) -> None:
        run_bronze(
            self.bronze, self.bootstrap, self.topic, self.options("bronze", max_per_batch=max_per_batch)
        )
        run_silver(self.silver, self.options("silver", final=final))
        run_gold(self.gold, self.options("gold"))


def produce(bootstrap: str, topic: str, lines: Sequence[str]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for line in lines:
        producer.produce(topic, line.encode("utf-8"), headers={"ingest_time": datetime.now(UTC).isoformat()})
    assert producer.flush(30) == 0

