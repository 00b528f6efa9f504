"""Creates the topics ingest and bronze need, as configured; never alters what already exists."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from wikiguard.adapters.kafka.config import KafkaAdapterError, TopicSpec

log = logging.getLogger(__name__)


class KafkaTopicAdmin:
    """Topic administration through the AdminClient."""

    def __init__(self, config: Mapping[str, Any], *, timeout: float = 30.0):
        self._timeout = timeout
        try:
            self._admin = AdminClient(dict(config))
        except KafkaException as exc:
            raise KafkaAdapterError(f"cannot create a Kafka admin client: {exc}") from exc

    def ensure_topics(self, specs: Sequence[TopicSpec]) -> list[str]:
        """Create every topic in `specs` that does not exist; returns the names created.

        An existing topic is left as it is (changing partitions would move keys between
        partitions), but a partition count that differs from the spec is logged.
        """
        existing = self.partitions([s.name for s in specs])
        for spec in specs:
            have = existing.get(spec.name)
            if have is not None and have != spec.partitions:
                log.warning(
                    "topic %s has %d partitions, configured %d; left as it is",
                    spec.name,
                    have,
                    spec.partitions,
                )
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(s.name, s.partitions, s.replication, config={"retention.ms": str(s.retention_ms)})
            for s in missing
        ]
        created = []
        try:
            futures = self._admin.create_topics(
                new, operation_timeout=self._timeout, request_timeout=self._timeout
            )
            for name, future in futures.items():
                try:
                    future.result(timeout=self._timeout)
                    created.append(name)
                except KafkaException as exc:
                    if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                        continue  # created concurrently by another task: fine
                    raise
        except KafkaException as exc:
            raise KafkaAdapterError(f"cannot create topics {[s.name for s in missing]}: {exc}") from exc
        log.info("created topics %s", created)
        self._wait_for_leaders([s.name for s in missing])
        return created

    def _wait_for_leaders(self, names: Sequence[str]) -> None:
        """A new topic is usable once every partition has a leader; readers fail before that."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                metadata = self._admin.list_topics(timeout=self._timeout)
            except KafkaException as exc:
                raise KafkaAdapterError(f"cannot list topics: {exc}") from exc
            ready = all(
                (t := metadata.topics.get(name)) is not None
                and t.error is None
                and t.partitions
                and all(p.leader >= 0 and p.error is None for p in t.partitions.values())
                for name in names
            )
            if ready:
                return
            if time.monotonic() > deadline:
                raise KafkaAdapterError(f"topics {list(names)} have no leader after {self._timeout:.0f}s")
            time.sleep(0.1)

    def partitions(self, names: Sequence[str]) -> dict[str, int]:
        """Partition counts of those of `names` that exist."""
        try:
            metadata = self._admin.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            raise KafkaAdapterError(f"cannot list topics: {exc}") from exc
        return {
            name: len(topic.partitions)
            for name, topic in metadata.topics.items()
            if name in names and topic.error is None
        }

    def delete_topics(self, names: Sequence[str]) -> None:
        """For tests and local resets."""
        try:
            for future in self._admin.delete_topics(list(names), operation_timeout=self._timeout).values():
                future.result(timeout=self._timeout)
        except KafkaException as exc:
            raise KafkaAdapterError(f"cannot delete topics {list(names)}: {exc}") from exc


def topic_specs(
    topic: str, dlq_topic: str, *, partitions: int, replication: int, retention_ms: int
) -> list[TopicSpec]:
    """The ingest topic and its dead-letter topic, both as configured."""
    return [TopicSpec(name, partitions, replication, retention_ms) for name in (topic, dlq_topic)]
