"""Shared test configuration: where the recorded data lives (beside the project, never copied into it)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RECORDINGS = SHARED_DATA / "wikimedia"


@pytest.fixture(scope="session")
def recordings() -> Path:
    assert RECORDINGS.is_dir(), f"recorded events not found at {RECORDINGS}"
    return RECORDINGS

# Real local components, started on first use and shared by the whole run: the Kafka broker and
# one Spark session. (Contract tests run the same checks against fakes and these real adapters.)
from tests.integration.fixtures_kafka import kafka_broker, kafka_restart  # noqa: E402, F401
from tests.integration.fixtures_spark import spark, spark_warehouse  # noqa: E402, F401
