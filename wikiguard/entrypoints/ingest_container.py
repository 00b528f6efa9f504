"""The ingest service's wiring: SSE -> allowlist -> Kafka, with its state files in `state_dir`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from dependency_injector import containers, providers

from wikiguard.adapters.files.allowlist_yaml import AllowlistFileError, load_allowlist
from wikiguard.adapters.files.resume_store import FileResumeStore
from wikiguard.adapters.files.spool import FileSpool
from wikiguard.adapters.kafka import (
    KafkaEventLog,
    KafkaTailResumeStore,
    KafkaTopicAdmin,
    client_config,
    producer_config,
    topic_specs,
)
from wikiguard.adapters.sse.source import WikimediaSseChangeSource
from wikiguard.application.ingest import Ingest, load_resume_id
from wikiguard.domain.allowlist import Allowlist
from wikiguard.entrypoints.containers import SystemClock, packaged_allowlist
from wikiguard.entrypoints.settings import Settings

logger = logging.getLogger(__name__)

RESUME_FILE = "ingest_resume_id"
SPOOL_FILE = "ingest_spool.jsonl"
HEARTBEAT_FILE = "ingest_heartbeat.json"


class ReloadingAllowlist:
    """The allowlist file, read again when its mtime changes (looked at no more than once a second).

    A change that does not load keeps the previous allowlist and is logged once: a typo in the file
    must not stop ingest.
    """

    def __init__(
        self, path: Path, *, check_every_s: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ):
        self.path, self._every, self._monotonic = path, check_every_s, monotonic
        self._mtime = path.stat().st_mtime_ns
        self._current = load_allowlist(path)
        self._checked = monotonic()
        self.reloads = 0
        logger.info("allowlist loaded", extra={"path": str(path), "entities": len(self._current)})

    def __call__(self) -> Allowlist:
        now = self._monotonic()
        if now - self._checked >= self._every:
            self._checked = now
            self._maybe_reload()
        return self._current

    def _maybe_reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError as exc:
            logger.error("allowlist file unreadable; keeping the loaded one: %s", exc)
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self._current = load_allowlist(self.path)
        except AllowlistFileError as exc:
            logger.error("allowlist changed but cannot be used; keeping the loaded one: %s", exc)
            return
        self.reloads += 1
        logger.info("allowlist reloaded", extra={"path": str(self.path), "entities": len(self._current)})


def _event_log(config: dict[str, object], topic: str, dlq_topic: str) -> Iterator[KafkaEventLog]:
    log = KafkaEventLog(config, topic, dlq_topic)
    try:
        yield log
    finally:
        remaining = log.flush(30.0)
        if remaining:
            logger.warning(
                "%d records undelivered when the producer closed; they will be read again", remaining
            )


def _topic_admin(config: dict[str, object]) -> Iterator[KafkaTopicAdmin]:
    # The AdminClient has no close(); the Resource still bounds its life to the container's.
    yield KafkaTopicAdmin(config)


def _state_file(settings: Settings, name: str) -> Path:
    return settings.state_dir / name


def _allowlist_path(settings: Settings) -> Path:
    return settings.allowlist or packaged_allowlist()


class IngestContainer(containers.DeclarativeContainer):
    """Build a fresh one per process (and per test); `shutdown_resources()` flushes the producer."""

    settings = providers.Dependency(instance_of=Settings)

    kafka_client = providers.Singleton(
        client_config,
        bootstrap=settings.provided.kafka_bootstrap,
        security=settings.provided.kafka_security,
        region=settings.provided.aws_region,
    )
    kafka_producer = providers.Singleton(
        producer_config, kafka_client, delivery_timeout_ms=settings.provided.kafka_delivery_timeout_ms
    )
    event_log = providers.Resource(
        _event_log, kafka_producer, settings.provided.kafka_topic, settings.provided.kafka_dlq_topic
    )
    topic_admin = providers.Resource(_topic_admin, kafka_client)
    topics = providers.Callable(
        topic_specs,
        settings.provided.kafka_topic,
        settings.provided.kafka_dlq_topic,
        partitions=settings.provided.kafka_partitions,
        replication=settings.provided.kafka_replication,
        retention_ms=settings.provided.kafka_retention_ms,
    )

    resume_store = providers.Singleton(
        FileResumeStore, providers.Callable(_state_file, settings, RESUME_FILE)
    )
    tail_resume = providers.Singleton(KafkaTailResumeStore, kafka_client, settings.provided.kafka_topic)
    spool = providers.Singleton(FileSpool, providers.Callable(_state_file, settings, SPOOL_FILE))
    heartbeat_path = providers.Callable(_state_file, settings, HEARTBEAT_FILE)
    allowlist = providers.Singleton(ReloadingAllowlist, providers.Callable(_allowlist_path, settings))
    clock = providers.Singleton(SystemClock)

    source = providers.Singleton(
        WikimediaSseChangeSource,
        settings.provided.sse_url,
        user_agent=settings.provided.user_agent,
        last_event_id=providers.Callable(load_resume_id, resume_store, tail_resume),
        read_timeout=settings.provided.sse_read_timeout,
        backoff_initial=settings.provided.sse_backoff,
        require_ack=True,  # reconnects resume after the last *delivered* event, not the last read
    )
    ingest = providers.Singleton(
        Ingest,
        source=source,
        log=event_log,
        allowlist=allowlist,
        clock=clock,
        resume_store=resume_store,
        spool=spool,
    )
