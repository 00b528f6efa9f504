"""The embedded deployment shape: one process, a local (or Glue) Iceberg warehouse, alert sinks.

Nothing connects at import time; clients are built when the container is asked for them.
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from dependency_injector import containers, providers

from wikiguard.adapters.files.allowlist_yaml import load_allowlist
from wikiguard.adapters.files.jsonl_source import JsonLinesChangeSource
from wikiguard.adapters.iceberg.table_store import IcebergTableStore, glue_catalog, local_catalog
from wikiguard.adapters.kafka.config import client_config
from wikiguard.adapters.kafka.consumer_source import KafkaChangeSource
from wikiguard.adapters.log_sink.alert_sink import LogAlertSink
from wikiguard.adapters.secrets import LiteralSecret
from wikiguard.adapters.secrets.secrets_manager import SecretsManagerSecret
from wikiguard.adapters.simulator import Scenario, SimulatedChangeSource
from wikiguard.adapters.slack.alert_sink import SlackAlertSink
from wikiguard.adapters.sns.alert_sink import SnsAlertSink
from wikiguard.adapters.sse.source import WikimediaSseChangeSource
from wikiguard.application.alerting import Alerting
from wikiguard.application.bronze import BronzeStage
from wikiguard.application.gold import GoldSettings, GoldStage
from wikiguard.application.pipeline import EmbeddedPipeline, PipelineSettings
from wikiguard.application.ports import AlertSink, ChangeSource, Clock
from wikiguard.application.silver import SilverSettings, SilverStage
from wikiguard.application.tables import ALL_TABLES
from wikiguard.domain.alerts import AlertThrottle
from wikiguard.domain.allowlist import Allowlist
from wikiguard.domain.rulesets import BRONZE_RULES, SILVER_RULES
from wikiguard.domain.windows import DEFAULT_WINDOW
from wikiguard.entrypoints.settings import Settings, SettingsError

logger = logging.getLogger(__name__)


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


def packaged_allowlist() -> Path:
    return Path(str(importlib.resources.files("wikiguard.entrypoints") / "default_allowlist.yaml"))


def read_allowlist(path: Path | None) -> Allowlist:
    return load_allowlist(path or packaged_allowlist())


def make_catalog(settings: Settings, *, create: bool = True) -> Any:
    """The configured catalog; `create=False` refuses a local warehouse that does not exist yet."""
    if settings.catalog == "glue":
        assert settings.s3_warehouse is not None
        return glue_catalog(
            settings.s3_warehouse,
            settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            s3_endpoint=settings.aws_endpoint_url,
        )
    return local_catalog(settings.warehouse, create=create)


def is_sse_source(kind: str) -> bool:
    """`live` or an http(s) URL: a Server-Sent Events stream."""
    return kind == "live" or kind.startswith(("http://", "https://"))


def make_source(kind: str, settings: Settings, allowlist: Allowlist, seed: int, follow: bool = False) -> ChangeSource:
    """`live`, an http(s) URL, `simulate`, `kafka` (the ingest topic), or a recorded file."""
    if kind == "kafka":
        config = client_config(settings.kafka_bootstrap, settings.kafka_security, region=settings.aws_region)
        return KafkaChangeSource(config, settings.kafka_topic, follow=follow)
    if is_sse_source(kind):
        url = settings.sse_url if kind == "live" else kind
        return WikimediaSseChangeSource(url, user_agent=settings.user_agent)
    if kind == "simulate":
        watched = [(e.wiki, e.title) for e in allowlist.entities]
        return SimulatedChangeSource(seed, entities=watched, scenarios=demo_scenarios(watched))
    path = Path(kind)
    if not path.is_file():
        raise SettingsError(f"--source {kind!r} is not live, simulate, an http(s) URL or an existing file")
    return JsonLinesChangeSource(path)


DEMO_START = datetime(2026, 1, 29, tzinfo=UTC)  # the simulator's default start of event time


def demo_scenarios(watched: list[tuple[str, str]]) -> list[Scenario]:
    """Attacks for `--source simulate`, after two hours of event time so baselines have history."""
    if not watched:
        return []
    enwiki = [page for page in watched if page[0] == "enwiki"] or watched
    at = DEMO_START + timedelta(hours=2)
    step = timedelta(minutes=20)
    page = [enwiki[i % len(enwiki)] for i in range(3)]
    return [
        Scenario("revert_wave", at=at, wiki=page[0][0], title=page[0][1]),
        Scenario("burst", at=at + step, wiki=page[1][0], title=page[1][1], events=120),
        Scenario("anonymous_surge", at=at + 2 * step, wiki=page[2][0], title=page[2][1]),
        Scenario("user_blitz", at=at + 3 * step, wiki="enwiki"),
        Scenario("cross_wiki", at=at + 4 * step),
        Scenario("mass_revert", at=at + 5 * step, wiki="enwiki"),
    ]


def _aws_client(service: str, settings: Settings) -> Any:
    return boto3.client(service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)


def make_sinks(settings: Settings) -> Iterator[dict[str, AlertSink]]:
    """The configured sinks: always the log; Slack and SNS when configured."""
    sinks: dict[str, AlertSink] = {"log": LogAlertSink()}
    if settings.slack_webhook_url:
        sinks["slack"] = SlackAlertSink(LiteralSecret(settings.slack_webhook_url, "WIKIGUARD_SLACK_WEBHOOK_URL"))
    elif settings.slack_secret_id:
        secret = SecretsManagerSecret(_aws_client("secretsmanager", settings), settings.slack_secret_id)
        sinks["slack"] = SlackAlertSink(secret)
    if settings.sns_topic_arn:
        sinks["sns"] = SnsAlertSink(_aws_client("sns", settings), settings.sns_topic_arn)
    yield sinks


class EmbeddedContainer(containers.DeclarativeContainer):
    """Wires the embedded engine. Override `settings`, `source_kind` and `run_settings` before use."""

    settings = providers.Dependency(instance_of=Settings)
    source_kind = providers.Object("live")
    seed = providers.Object(7)
    run_settings = providers.Object(PipelineSettings())

    clock = providers.Singleton(SystemClock)
    allowlist = providers.Singleton(read_allowlist, settings.provided.allowlist)
    catalog = providers.Singleton(make_catalog, settings)
    store = providers.Singleton(IcebergTableStore, catalog, ALL_TABLES)
    follow = providers.Object(False)
    source = providers.Singleton(make_source, source_kind, settings, allowlist, seed, follow)
    sinks = providers.Resource(make_sinks, settings)

    silver_settings = providers.Factory(
        SilverSettings,
        dedup_horizon=settings.provided.dedup_horizon,
        allowed_lateness=settings.provided.allowed_lateness,
        window=DEFAULT_WINDOW,
    )
    bronze = providers.Factory(BronzeStage, allowlist=allowlist.provider, rules=BRONZE_RULES)
    silver = providers.Factory(SilverStage, rules=SILVER_RULES, settings=silver_settings)
    gold = providers.Factory(GoldStage, store, providers.Factory(GoldSettings, window=DEFAULT_WINDOW))
    throttle = providers.Factory(AlertThrottle, period=settings.provided.alert_throttle)
    alerting = providers.Singleton(
        Alerting, sinks=sinks, routes=settings.provided.alert_routes, throttle=throttle, clock=clock, history=store
    )

    pipeline = providers.Factory(
        EmbeddedPipeline,
        source=source,
        store=store,
        bronze=bronze,
        silver=silver,
        gold=gold,
        alerting=alerting,
        clock=clock,
        settings=run_settings,
    )
