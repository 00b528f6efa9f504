"""Real local components for the integration tests: a Kafka broker, a Spark session, loopback servers."""

from tests.integration.fixtures_kafka import kafka_broker, kafka_restart  # noqa: F401
from tests.integration.fixtures_spark import spark, spark_warehouse  # noqa: F401
