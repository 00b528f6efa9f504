"""Apache Kafka (MSK in production): the ingest topic, its dead-letter topic, bronze's reader."""

from wikiguard.adapters.kafka.admin import KafkaTopicAdmin, topic_specs
from wikiguard.adapters.kafka.config import (
    KafkaAdapterError,
    TopicSpec,
    client_config,
    consumer_config,
    producer_config,
)
from wikiguard.adapters.kafka.consumer_source import KafkaChangeSource, KafkaTailResumeStore
from wikiguard.adapters.kafka.event_log import KafkaEventLog

__all__ = [
    "KafkaAdapterError",
    "KafkaChangeSource",
    "KafkaEventLog",
    "KafkaTailResumeStore",
    "KafkaTopicAdmin",
    "TopicSpec",
    "client_config",
    "consumer_config",
    "producer_config",
    "topic_specs",
]
