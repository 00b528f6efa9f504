"""Spark job: Kafka topic -> bronze_events (+ bronze_quarantine, quality_metrics). See spark_job.py.

spark-submit wikiguard/entrypoints/spark_bronze.py --trigger "30 seconds"
"""

from __future__ import annotations

import sys
from typing import Any

from wikiguard.adapters.spark.bronze import SparkBronze
from wikiguard.adapters.spark.jobs import run_bronze
from wikiguard.adapters.spark.table_store import SparkTableStore
from wikiguard.application.alerting import Alerting
from wikiguard.domain.rulesets import BRONZE_RULES
from wikiguard.entrypoints.containers import read_allowlist
from wikiguard.entrypoints.spark_job import SparkJobConfig, kafka_options, main_for


def run(config: SparkJobConfig, store: SparkTableStore, alerting: Alerting, clock: Any) -> None:
    settings = config.settings
    bronze = SparkBronze(store, read_allowlist(settings.allowlist), BRONZE_RULES, alerting, clock)
    run_bronze(
        bronze, settings.kafka_bootstrap, settings.kafka_topic, config.stream, kafka=kafka_options(settings)
    )


def main(argv: list[str] | None = None) -> int:
    return main_for("bronze", run, argv)


if __name__ == "__main__":
    sys.exit(main())
