"""The ingest topic and its dead-letter topic, written by one idempotent, asynchronous producer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from wikiguard.adapters.kafka.config import KafkaAdapterError
from wikiguard.application.ports import ConfirmingEventLog, DeliveryReport

log = logging.getLogger(__name__)

DLQ_REASON = "dlq_reason"


class KafkaEventLog(ConfirmingEventLog):
    """Publishes records keyed by canonical entity (one partition per key, so each entity keeps its
    order) with string headers; each record's delivery report reaches its own callback.

    Reports are served only by `poll`/`flush` on the caller's thread. `config` is a full producer
    config (see `config.producer_config`).
    """

    def __init__(self, config: Mapping[str, Any], topic: str, dlq_topic: str):
        self.topic, self.dlq_topic = topic, dlq_topic
        self._fatal: KafkaError | None = None
        try:
            self._producer = Producer({**config, "error_cb": self._on_error})
        except KafkaException as exc:
            raise KafkaAdapterError(f"cannot create a Kafka producer: {exc}") from exc

    def publish(
        self, key: str, payload: str, headers: Mapping[str, str], on_delivery: DeliveryReport | None = None
    ) -> None:
        self._produce(self.topic, key, payload, headers, on_delivery)

    def dead_letter(
        self, payload: str, reason: str, headers: Mapping[str, str], on_delivery: DeliveryReport | None = None
    ) -> None:
        key = headers.get("meta_id") or None
        self._produce(self.dlq_topic, key, payload, {**headers, DLQ_REASON: reason}, on_delivery)

    def poll(self, timeout: float = 0.0) -> int:
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float = 30.0) -> int:
        return int(self._producer.flush(timeout))

    def __len__(self) -> int:
        """Records queued or in flight (not yet reported)."""
        return len(self._producer)

    def _produce(
        self,
        topic: str,
        key: str | None,
        payload: str,
        headers: Mapping[str, str],
        on_delivery: DeliveryReport | None,
    ) -> None:
        if self._fatal is not None:
            raise KafkaAdapterError(f"the producer hit a fatal error and must be recreated: {self._fatal}")
        callback = None if on_delivery is None else _reporter(on_delivery)
        wire_headers: list[tuple[str, str | bytes | None]] = [(k, v.encode()) for k, v in headers.items()]
        while True:
            try:
                self._producer.produce(
                    topic, payload.encode(), key, headers=wire_headers, on_delivery=callback
                )
                return
            except BufferError:
                # The local queue is full (a slow or absent broker): serve reports until there is room.
                self._producer.poll(0.1)
            except KafkaException as exc:
                raise KafkaAdapterError(f"cannot produce to {topic}: {exc}") from exc

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
            log.error("kafka producer fatal error: %s", error)
        else:
            # Broker down, connection refused...: librdkafka retries by itself until delivery.timeout.ms.
            log.warning("kafka producer: %s", error)


def _reporter(on_delivery: DeliveryReport) -> Any:
    def report(error: KafkaError | None, _message: Any) -> None:
        on_delivery(None if error is None else f"{error.name()}: {error.str()}")

    return report
