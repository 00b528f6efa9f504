"""Throughput of the two engines on the same input: the Spark jobs (local mode) and the embedded engine.

    WIKIGUARD_KAFKA_BOOTSTRAP=127.0.0.1:19092 python -m benchmarks.bench_engines [--events 1000000]

A real recording (`yearfunla ... recentchange_raw.jsonl`, 2,387 events, every page allowlisted so
every layer works on every event) is repeated with fresh meta.ids and shifted times until `--events`,
written once to a fresh Kafka topic, then read by each engine from Kafka into its own Iceberg
warehouse: Spark runs bronze, silver and gold one after the other (availableNow, `--spark-batch`
offsets per bronze micro-batch), the embedded engine its pipeline. Prints events/s for each (wall
time from the first read to the last gold commit; the Spark session start-up is shown apart) and the
ratio. Needs a running broker (scripts/kafka.sh start) and the Spark jars (scripts/fetch-jvm.sh).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from wikiguard.adapters.iceberg.table_store import IcebergTableStore, local_catalog
from wikiguard.adapters.kafka.config import client_config
from wikiguard.adapters.kafka.consumer_source import KafkaChangeSource
from wikiguard.adapters.memory.alert_sink import InMemoryAlertSink
from wikiguard.adapters.simulator.replay import RecordedRepeatChangeSource
from wikiguard.application.alerting import Alerting
from wikiguard.application.bronze import BronzeStage
from wikiguard.application.gold import GoldSettings, GoldStage
from wikiguard.application.pipeline import EmbeddedPipeline, PipelineSettings
from wikiguard.application.silver import SilverStage
from wikiguard.application.tables import ALL_TABLES
from wikiguard.domain.allowlist import Allowlist, Entity
from wikiguard.domain.events import Change, parse_change
from wikiguard.domain.rulesets import BRONZE_RULES, SILVER_RULES

RECORDING = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "wikimedia"
    / "yearfunla_wikiMedia_stream_monitor__recentchange_raw.jsonl"
)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def allowlist() -> Allowlist:
    import orjson

    pages: dict[str, Entity] = {}
    for line in RECORDING.read_text(encoding="utf-8").splitlines():
        change = parse_change(orjson.loads(line))
        if isinstance(change, Change):
            entity = Entity(change.title, change.wiki)
            pages.setdefault(entity.canonical, entity)
    return Allowlist.of(pages.values())


def produce(bootstrap: str, events: int) -> str:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    time.sleep(1)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.num.messages": 10000,
            "compression.type": "lz4",
        }
    )
    times = -(-events // 2387)
    for sent, record in enumerate(RecordedRepeatChangeSource(RECORDING, times).records()):
        if sent == events:
            break
        while True:
            try:
                producer.produce(
                    topic,
                    record.payload.encode("utf-8"),
                    headers={"ingest_time": record.received_at.isoformat()},
                )
                break
            except BufferError:
                producer.poll(0.5)
    assert producer.flush(120) == 0
    return topic


def run_spark(
    bootstrap: str, topic: str, warehouse: Path, batch: int, allow: Allowlist
) -> tuple[float, float, dict[str, float]]:
    from wikiguard.adapters.spark.bronze import SparkBronze
    from wikiguard.adapters.spark.catalog import IcebergCatalog
    from wikiguard.adapters.spark.gold import SparkGold
    from wikiguard.adapters.spark.jobs import StreamOptions, run_bronze, run_gold, run_silver
    from wikiguard.adapters.spark.session import build_spark_session
    from wikiguard.adapters.spark.silver import SparkSilver
    from wikiguard.adapters.spark.table_store import SparkTableStore

    t0 = time.perf_counter()
    spark = build_spark_session(
        "wikiguard-bench", warehouse=str(warehouse), catalog_name="wikiguard", catalog_type="jdbc",
        extra_conf={"spark.driver.memory": "6g"},  # local mode: the executors live in the driver JVM
    )  # fmt: skip
    spark.sparkContext.setLogLevel("ERROR")
    startup = time.perf_counter() - t0
    store = SparkTableStore(spark, IcebergCatalog("wikiguard", "jdbc", str(warehouse)), ALL_TABLES)
    clock = SystemClock()
    alerting = Alerting(sinks={"log": InMemoryAlertSink("log")}, clock=clock, history=store)
    stages: dict[str, float] = {}
    t1 = time.perf_counter()
    run_bronze(SparkBronze(store, allow, BRONZE_RULES, alerting, clock), bootstrap, topic,
               StreamOptions(str(warehouse / "ck-bronze"), max_per_batch=batch))  # fmt: skip
    stages["bronze"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    run_silver(
        SparkSilver(store, SILVER_RULES, alerting, clock),
        StreamOptions(str(warehouse / "ck-silver"), final=True),
    )
    stages["silver"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    run_gold(SparkGold(store, alerting, clock), StreamOptions(str(warehouse / "ck-gold")))
    stages["gold"] = time.perf_counter() - t3
    total = time.perf_counter() - t1
    stages["silver_rows"] = store.count("silver_events")
    return startup, total, stages


def run_embedded(bootstrap: str, topic: str, warehouse: Path, allow: Allowlist) -> tuple[float, int]:
    store = IcebergTableStore(local_catalog(warehouse), ALL_TABLES)
    clock = SystemClock()
    alerting = Alerting(sinks={"log": InMemoryAlertSink("log")}, clock=clock, history=store)
    pipeline = EmbeddedPipeline(
        source=KafkaChangeSource(client_config(bootstrap), topic, batch=10_000),
        store=store,
        bronze=BronzeStage(allowlist=lambda: allow, rules=BRONZE_RULES),
        silver=SilverStage(SILVER_RULES),
        gold=GoldStage(store, GoldSettings()),
        alerting=alerting,
        clock=clock,
        settings=PipelineSettings(batch_rows=50_000, batch_seconds=3600, maintain_every_batches=10**9),
    )
    t0 = time.perf_counter()
    summary = pipeline.run()
    return time.perf_counter() - t0, summary.silver_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--spark-batch", type=int, default=250_000, help="Kafka offsets per bronze micro-batch"
    )
    parser.add_argument("--bootstrap", default=os.environ.get("WIKIGUARD_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    parser.add_argument("--only", choices=("spark", "embedded"), default=None)
    args = parser.parse_args()
    allow = allowlist()
    t0 = time.perf_counter()
    topic = produce(args.bootstrap, args.events)
    print(f"input: {args.events:,} events on topic {topic} ({time.perf_counter() - t0:.1f}s to produce); "
          f"{len(allow):,} watched pages; {os.cpu_count()} cores")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="wikiguard-bench-") as tmp:
        spark_rate = embedded_rate = None
        if args.only != "embedded":
            startup, seconds, stages = run_spark(
                args.bootstrap, topic, Path(tmp) / "spark", args.spark_batch, allow
            )
            spark_rate = args.events / seconds
            print(f"spark    : {seconds:8.1f}s  {spark_rate:10,.0f} events/s  (session start {startup:.1f}s not counted; "
                  f"bronze {stages['bronze']:.1f}s, silver {stages['silver']:.1f}s, gold {stages['gold']:.1f}s; "
                  f"{int(stages['silver_rows']):,} silver rows)")  # fmt: skip
        if args.only != "spark":
            seconds, silver_rows = run_embedded(args.bootstrap, topic, Path(tmp) / "embedded", allow)
            embedded_rate = args.events / seconds
            print(
                f"embedded : {seconds:8.1f}s  {embedded_rate:10,.0f} events/s  ({silver_rows:,} silver rows)"
            )
        if spark_rate and embedded_rate:
            print(f"ratio spark/embedded: {spark_rate / embedded_rate:.2f}")


if __name__ == "__main__":
    main()
