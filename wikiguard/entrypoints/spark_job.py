"""What the three Spark jobs share: configuration from arguments and environment, the session, the
table store and alerting.

Every option has an environment variable (EMR Serverless passes `spark.emr-serverless.driverEnv.*`)
and a command-line flag (which wins). The common settings are `Settings.from_env` (catalog,
warehouse, Kafka, alert sinks); the Spark ones are:

    --catalog-name   WIKIGUARD_SPARK_CATALOG_NAME  Spark catalog name (wikiguard)
    --checkpoint     WIKIGUARD_SPARK_CHECKPOINT    streaming checkpoint location
                                                   (<warehouse>/_spark_checkpoints/<job>)
    --trigger        WIKIGUARD_SPARK_TRIGGER       available-now | once | "30 seconds" (available-now)
    --max-per-batch  WIKIGUARD_SPARK_MAX_PER_BATCH Kafka offsets / Iceberg rows per micro-batch
    --final          WIKIGUARD_SPARK_FINAL=1       bounded run: close the open windows at the end
    --master         WIKIGUARD_SPARK_MASTER        e.g. local[2]; unset under spark-submit on a cluster

`WIKIGUARD_CATALOG=local` is the SQLite catalog in `<WIKIGUARD_WAREHOUSE>/catalog.db` that the
embedded engine uses (Iceberg JdbcCatalog); `glue` is AWS Glue on `WIKIGUARD_S3_WAREHOUSE`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from wikiguard.adapters.spark.catalog import IcebergCatalog
from wikiguard.adapters.spark.jobs import AVAILABLE_NOW, StreamOptions
from wikiguard.adapters.spark.table_store import SparkTableStore
from wikiguard.application.alerting import Alerting
from wikiguard.application.tables import ALL_TABLES
from wikiguard.domain.alerts import AlertThrottle
from wikiguard.domain.errors import WikiguardError
from wikiguard.entrypoints.containers import SystemClock, make_sinks
from wikiguard.entrypoints.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


@attrs.frozen
class SparkJobConfig:
    job: str
    settings: Settings
    catalog: IcebergCatalog
    stream: StreamOptions
    master: str | None


def parse(
    job: str, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> SparkJobConfig:
    env = os.environ if env is None else env
    settings = Settings.from_env(env)
    parser = argparse.ArgumentParser(prog=f"spark_{job}", description=f"WikiGuard {job} job on Spark")
    parser.add_argument("--catalog-name", default=env.get("WIKIGUARD_SPARK_CATALOG_NAME", "wikiguard"))
    parser.add_argument("--checkpoint", default=env.get("WIKIGUARD_SPARK_CHECKPOINT"))
    parser.add_argument("--trigger", default=env.get("WIKIGUARD_SPARK_TRIGGER", AVAILABLE_NOW))
    max_env = env.get("WIKIGUARD_SPARK_MAX_PER_BATCH")
    parser.add_argument("--max-per-batch", type=int, default=int(max_env) if max_env else None)
    parser.add_argument("--final", action="store_true", default=env.get("WIKIGUARD_SPARK_FINAL") == "1")
    parser.add_argument("--master", default=env.get("WIKIGUARD_SPARK_MASTER"))
    args = parser.parse_args(argv)
    if settings.catalog == "glue":
        assert settings.s3_warehouse is not None
        warehouse = settings.s3_warehouse.rstrip("/")
        catalog = IcebergCatalog(args.catalog_name, "glue", warehouse)
    else:
        warehouse = str(settings.warehouse.resolve())
        catalog = IcebergCatalog(args.catalog_name, "jdbc", warehouse)
    checkpoint = args.checkpoint or f"{warehouse}/_spark_checkpoints/{job}"
    stream = StreamOptions(checkpoint, args.trigger, args.max_per_batch, args.final)
    return SparkJobConfig(job, settings, catalog, stream, args.master)


def session(config: SparkJobConfig) -> SparkSession:
    """Local mode: the session with our jars. Under spark-submit: the submitted session + our catalog."""
    if config.master is not None:
        from wikiguard.adapters.spark.session import build_spark_session

        spark = build_spark_session(
            f"wikiguard-{config.job}", warehouse=config.catalog.warehouse, master=config.master,
            catalog_name=config.catalog.name, catalog_type=config.catalog.kind,
        )  # fmt: skip
    else:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.appName(f"wikiguard-{config.job}").getOrCreate()
        config.catalog.register(spark)
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def kafka_options(settings: Settings) -> dict[str, str]:
    """Spark Kafka source options for the security mode (IAM needs aws-msk-iam-auth on the classpath)."""
    if settings.kafka_security == "tls":
        return {"kafka.security.protocol": "SSL"}
    if settings.kafka_security == "iam":
        return {
            "kafka.security.protocol": "SASL_SSL",
            "kafka.sasl.mechanism": "AWS_MSK_IAM",
            "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
            "kafka.sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
        }
    return {}


Run = Callable[[SparkJobConfig, SparkTableStore, Alerting, Any], None]


def main_for(job: str, run: Run, argv: Sequence[str] | None = None) -> int:
    """Parse, build, run one job; log an unanticipated error once and exit non-zero."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one line per callback otherwise
    try:
        config = parse(job, argv)
        spark = session(config)
        store = SparkTableStore(spark, config.catalog, ALL_TABLES)
        sinks = make_sinks(config.settings)
        clock = SystemClock()
        alerting = Alerting(
            sinks=next(sinks),
            throttle=AlertThrottle(period=config.settings.alert_throttle),
            clock=clock,
            history=store,
        )
        run(config, store, alerting, clock)
        return 0
    except WikiguardError as error:
        print(f"spark_{job}: error: {error}", file=sys.stderr)
        return 2
    except Exception:
        logger.exception("spark_%s failed", job)
        return 1
