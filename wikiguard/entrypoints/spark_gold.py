"""Spark job: silver_events -> the three gold tables (+ gold_quarantine, quality_metrics, alerts).

spark-submit wikiguard/entrypoints/spark_gold.py --trigger "60 seconds"
"""

from __future__ import annotations

import sys
from typing import Any

from wikiguard.adapters.spark.gold import SparkGold
from wikiguard.adapters.spark.jobs import run_gold
from wikiguard.adapters.spark.table_store import SparkTableStore
from wikiguard.application.alerting import Alerting
from wikiguard.application.gold import GoldSettings
from wikiguard.domain.windows import DEFAULT_WINDOW
from wikiguard.entrypoints.spark_job import SparkJobConfig, main_for


def run(config: SparkJobConfig, store: SparkTableStore, alerting: Alerting, clock: Any) -> None:
    run_gold(SparkGold(store, alerting, clock, GoldSettings(window=DEFAULT_WINDOW)), config.stream)


def main(argv: list[str] | None = None) -> int:
    return main_for("gold", run, argv)


if __name__ == "__main__":
    sys.exit(main())
