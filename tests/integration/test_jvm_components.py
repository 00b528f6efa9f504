"""Smoke checks of the JVM components: fetched jars, the local KRaft broker
(scripts/kafka.sh), and Spark with Iceberg, the Kafka source and Deequ.

Needs the fixtures of fixtures_kafka.py / fixtures_spark.py (imported by conftest.py,
or run with ``-p tests.integration.fixtures_kafka -p tests.integration.fixtures_spark``).
Missing components fail these tests; they never skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.fixtures_kafka import REPO_ROOT, create_topic

pytestmark = pytest.mark.integration

FETCH_SH = REPO_ROOT / "scripts" / "fetch-jvm.sh"
KAFKA_SH = REPO_ROOT / "scripts" / "kafka.sh"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _artifact(jar_name: str) -> str:
    """'kafka-clients-3.4.1.jar' -> 'kafka-clients' (name up to the first '-<digit>')."""
    return re.split(r"-\d", jar_name.removesuffix(".jar"), maxsplit=1)[0]


def _produce(bootstrap: str, topic: str, values: list[str]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for i, value in enumerate(values):
        producer.produce(topic, key=str(i).encode(), value=value.encode())
    assert producer.flush(30) == 0, "messages left unsent"


def _consume(bootstrap: str, topic: str, group: str, expected: int, timeout: float = 60.0) -> list[str]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append(msg.value().decode())
        if got:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


# --------------------------------------------------------------------------- jars


def test_fetch_jvm_is_a_fast_noop_when_populated() -> None:
    first = subprocess.run(["bash", str(FETCH_SH)], capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    t0 = time.monotonic()
    second = subprocess.run(["bash", str(FETCH_SH)], capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - t0
    assert second.returncode == 0, second.stdout + second.stderr
    assert "jvm/lib/kafka up to date" in second.stdout
    assert "jvm/lib/spark up to date" in second.stdout
    assert elapsed < 5, f"warm fetch-jvm.sh took {elapsed:.1f}s"


def test_spark_jars_do_not_duplicate_what_pyspark_ships() -> None:
    import pyspark

    from wikiguard.adapters.spark.session import spark_jars

    ours = {_artifact(j.name) for j in spark_jars()}
    shipped = {_artifact(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    assert ours, "no jars in jvm/lib/spark"
    assert not ours & shipped, f"jars also shipped by pyspark: {sorted(ours & shipped)}"
    assert not any(a.startswith(("spark-core", "spark-sql_", "scala-", "hadoop-")) for a in ours)


def test_missing_spark_jars_raise_a_clear_error(tmp_path: Path) -> None:
    from wikiguard.adapters.spark.session import SparkJarsMissingError, spark_conf

    with pytest.raises(SparkJarsMissingError, match="scripts/fetch-jvm.sh"):
        spark_conf("x", warehouse=str(tmp_path / "wh"), jars_dir=tmp_path / "empty")


# ------------------------------------------------------------------------- kafka


def test_kafka_wait_fails_clearly_when_no_broker(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        WIKIGUARD_SCRATCH=str(tmp_path),
        WIKIGUARD_KAFKA_PORT="19192",
        WIKIGUARD_KAFKA_CONTROLLER_PORT="19193",
    )
    res = subprocess.run(["bash", str(KAFKA_SH), "wait"], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode != 0
    assert "not running" in res.stderr


def test_kafka_produce_consume_survives_restart(
    kafka_broker: str, kafka_restart: Callable[[], float]
) -> None:
    topic = _unique("smoke-restart")
    create_topic(kafka_broker, topic, partitions=3)
    before = [f"before-{i}" for i in range(5)]
    _produce(kafka_broker, topic, before)
    assert sorted(_consume(kafka_broker, topic, _unique("g1"), expected=5)) == sorted(before)

    took = kafka_restart()
    print(f"broker restart took {took:.1f}s")

    # old messages are still there for a new group ...
    assert sorted(_consume(kafka_broker, topic, _unique("g2"), expected=5)) == sorted(before)
    # ... and the broker accepts new ones
    after = [f"after-{i}" for i in range(3)]
    _produce(kafka_broker, topic, after)
    assert sorted(_consume(kafka_broker, topic, _unique("g3"), expected=8)) == sorted(before + after)


# ------------------------------------------------------------------------- spark


def test_iceberg_table_roundtrip(spark) -> None:  # type: ignore[no-untyped-def]
    table = f"wikiguard.smoke.{_unique('t').replace('-', '_')}"
    spark.sql(
        f"CREATE TABLE {table} (id BIGINT, title STRING, ts TIMESTAMP) USING iceberg PARTITIONED BY (days(ts))"
    )
    spark.sql(
        f"INSERT INTO {table} VALUES (1, 'A', TIMESTAMP '2024-05-01 10:00:00'), (2, 'B', TIMESTAMP '2024-05-02 23:59:59')"
    )
    spark.sql(f"INSERT INTO {table} VALUES (3, 'C', TIMESTAMP '2024-05-02 00:00:00')")
    rows = spark.table(table).orderBy("id").collect()
    assert [(r.id, r.title) for r in rows] == [(1, "A"), (2, "B"), (3, "C")]
    assert spark.sql(f"SELECT * FROM {table}.snapshots").count() == 2
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    spark.sql(f"DROP TABLE {table} PURGE")


def test_spark_reads_kafka_topic(spark, kafka_broker: str) -> None:  # type: ignore[no-untyped-def]
    topic = _unique("smoke-spark")
    create_topic(kafka_broker, topic, partitions=3)
    values = [f'{{"n": {i}}}' for i in range(10)]
    _produce(kafka_broker, topic, values)
    df = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", kafka_broker)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )
    got = sorted(r.v for r in df.selectExpr("CAST(value AS STRING) AS v").collect())
    assert got == sorted(values)


def test_pydeequ_verification_suite(spark) -> None:  # type: ignore[no-untyped-def]
    os.environ.setdefault("SPARK_VERSION", "3.5")
    from pydeequ.checks import Check, CheckLevel, CheckStatus
    from pydeequ.verification import VerificationResult, VerificationSuite

    df = spark.createDataFrame([(1, "a"), (2, "b"), (3, None)], "id BIGINT, title STRING")
    check = (
        Check(spark, CheckLevel.Error, "smoke")
        .hasSize(lambda n: n == 3)
        .isComplete("id")
        .isUnique("id")
        .isComplete("title")  # fails: one null
    )
    result = VerificationSuite(spark).onData(df).addCheck(check).run()
    rows = VerificationResult.checkResultsAsDataFrame(spark, result).collect()
    for r in rows:
        print(r.constraint, r.constraint_status, r.constraint_message)
    statuses = {r.constraint: r.constraint_status for r in rows}
    assert result.status == CheckStatus.Error.value
    assert statuses["CompletenessConstraint(Completeness(title,None,None))"] == "Failure"
    assert sum(s == "Success" for s in statuses.values()) == 3


def test_msk_iam_login_classes_load_in_spark(spark):
    """WIKIGUARD_KAFKA_SECURITY=iam names these classes in the Kafka source options; they must load."""
    jvm = spark.sparkContext._jvm
    loader = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
    for name in ("software.amazon.msk.auth.iam.IAMLoginModule", "software.amazon.msk.auth.iam.IAMClientCallbackHandler"):
        assert jvm.java.lang.Class.forName(name, True, loader).getName() == name
