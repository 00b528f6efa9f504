"""Spark job: bronze_events -> silver_events (+ silver_quarantine, quality_metrics). See spark_job.py.

spark-submit wikiguard/entrypoints/spark_silver.py --trigger "30 seconds"
"""

from __future__ import annotations

import sys
from typing import Any

from wikiguard.adapters.spark.jobs import run_silver
from wikiguard.adapters.spark.silver import SparkSilver
from wikiguard.adapters.spark.table_store import SparkTableStore
from wikiguard.application.alerting import Alerting
from wikiguard.application.silver import SilverSettings
from wikiguard.domain.rulesets import SILVER_RULES
from wikiguard.domain.windows import DEFAULT_WINDOW
from wikiguard.entrypoints.spark_job import SparkJobConfig, main_for


def run(config: SparkJobConfig, store: SparkTableStore, alerting: Alerting, clock: Any) -> None:
    s = config.settings
    settings = SilverSettings(
        dedup_horizon=s.dedup_horizon, allowed_lateness=s.allowed_lateness, window=DEFAULT_WINDOW
    )
    run_silver(SparkSilver(store, SILVER_RULES, alerting, clock, settings), config.stream)


def main(argv: list[str] | None = None) -> int:
    return main_for("silver", run, argv)


if __name__ == "__main__":
    sys.exit(main())
