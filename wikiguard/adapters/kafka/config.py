"""librdkafka configuration for each deployment shape: a local broker, MSK over TLS, MSK with IAM.

Security is configuration, not code paths: the same adapters run against all three.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from wikiguard.domain.errors import WikiguardError

SECURITY_MODES = ("plaintext", "tls", "iam")


class KafkaAdapterError(WikiguardError):
    """Kafka refused or failed an operation (wraps `KafkaException`)."""


@attrs.frozen
class TopicSpec:
    """A topic ingest needs, as `KafkaTopicAdmin.ensure_topics` creates it."""

    name: str
    partitions: int
    replication: int
    retention_ms: int


def librdkafka_logger() -> logging.Logger:
    """The logger librdkafka writes to, with repeats held back (added once)."""
    logger = logging.getLogger("wikiguard.librdkafka")
    if not any(isinstance(f, RepeatedLogFilter) for f in logger.filters):
        logger.addFilter(RepeatedLogFilter())
    return logger


class RepeatedLogFilter(logging.Filter):
    """Passes the first line of each kind per `window` seconds, then says how many it held back.

    librdkafka logs every reconnect attempt (every 0.1-10 s per broker and client): a broker that is
    down would otherwise print hundreds of identical lines a minute. Lines that differ only in their
    numbers (times, counts, ports) are of one kind.
    """

    _NUMBERS = re.compile(r"\d+")
    _MAX_KINDS = 1000

    def __init__(self, window: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window, self.clock = window, clock
        self._seen: dict[tuple[int, str], tuple[float, int]] = {}  # kind -> (passed at, held since)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.levelno, self._NUMBERS.sub("#", record.getMessage()))
        now = self.clock()
        passed_at, held = self._seen.get(kind, (None, 0))
        if passed_at is not None and now - passed_at < self.window:
            self._seen[kind] = (passed_at, held + 1)
            return False
        if len(self._seen) >= self._MAX_KINDS:
            self._seen.clear()
        self._seen[kind] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like it in the last {self.window:.0f} s)"
            record.args = ()
        return True


def client_config(
    bootstrap: str,
    security: str = "plaintext",
    *,
    region: str = "us-east-1",
    client_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings every client (producer, consumer, admin) shares."""
    if security not in SECURITY_MODES:
        raise KafkaAdapterError(
            f"kafka security must be one of {', '.join(SECURITY_MODES)}, not {security!r}"
        )
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id or f"wikiguard-{socket.gethostname()}",
        # librdkafka's own log lines go through Python logging (JSON in deployed processes).
        "logger": librdkafka_logger(),
    }
    if security == "tls":
        # MSK's TLS listener (port 9094): server-authenticated, certificates from the system store.
        config["security.protocol"] = "SSL"
    elif security == "iam":
        # MSK's IAM listener (port 9098): SASL/OAUTHBEARER with a SigV4-signed token.
        config.update(
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "OAUTHBEARER",
                "oauth_cb": msk_iam_token_callback(region),
            }
        )
    config.update(extra or {})
    return config


def msk_iam_token_callback(region: str) -> Any:
    """The `oauth_cb` librdkafka calls for a fresh MSK IAM token (credentials: the default AWS chain)."""
    # Imported only here: the signer (and botocore) are needed only when IAM auth is selected.
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider  # type: ignore[import-untyped]

    def oauth_cb(_config: str) -> tuple[str, float]:
        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return token, expiry_ms / 1000.0

    return oauth_cb


def producer_config(
    base: Mapping[str, Any], *, delivery_timeout_ms: int = 300_000, linger_ms: int = 20
) -> dict[str, Any]:
    """A producer that neither loses, duplicates nor reorders what it was given (per partition)."""
    return {
        **base,
        "enable.idempotence": True,  # implies acks=all, retries, max 5 in flight, ordered
        "acks": "all",
        "compression.type": "zstd",
        "linger.ms": linger_ms,
        "batch.size": 1_000_000,
        "delivery.timeout.ms": delivery_timeout_ms,  # then the report carries an error and we spool
        "queue.buffering.max.messages": 200_000,
        "queue.buffering.max.kbytes": 262_144,  # bounds memory while a broker is away
    }


def consumer_config(base: Mapping[str, Any], *, group_id: str) -> dict[str, Any]:
    """A consumer that only reads: positions live in the Iceberg commit, never in the group."""
    return {
        **base,
        "group.id": group_id,  # required by librdkafka even with manual assignment; never committed to
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "fetch.max.bytes": 16 * 1024 * 1024,
    }
